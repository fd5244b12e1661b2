dropnet::model! {
    Net(28, 28, 1) {
        conv2d(32, 3) relu;
        maxpool(2);
        dropout(0.25);
        conv2d(64, 3) relu;
        maxpool(2);
        dropout(0.25);
        dense(10) softmax;
    }
}

fn main() {}
