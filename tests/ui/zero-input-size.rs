dropnet::model! {
    Net(28, 0, 1) {
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
