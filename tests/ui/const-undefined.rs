dropnet::model! {
    Net(28, 28, 1) {
        conv2d(4, KERNEL) relu;
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
