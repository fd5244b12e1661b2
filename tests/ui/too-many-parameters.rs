dropnet::model! {
    Net(28, 28, 1) {
        conv2d(64, 3) relu;
        flatten;
        dense(65536) softmax;
    }
}

fn main() {}
