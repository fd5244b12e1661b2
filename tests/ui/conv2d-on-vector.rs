dropnet::model! {
    Net(784) {
        conv2d(32, 3) relu;
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
