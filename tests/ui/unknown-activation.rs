dropnet::model! {
    Net(28, 28, 1) {
        conv2d(32, 3) relux;
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
