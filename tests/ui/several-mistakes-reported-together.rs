dropnet::model! {
    Net(28, 28, 1) {
        conv2d(0, 3) relu;
        maxpool(2);
        dropout(1.5);
        flatten;
        dense(10) softmax;
    }

    Other(10) {
        dense(8) relux;
        dense(0);
    }
}

fn main() {}
