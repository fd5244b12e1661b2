dropnet::model! {
    Net(2, 28, 28, 1) {
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
