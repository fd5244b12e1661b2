dropnet::model! {
    pub Net(784) {
        dense(10) softmax;
    }

    pub Net(28, 28, 1) {
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
