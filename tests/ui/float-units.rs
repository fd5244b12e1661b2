dropnet::model! {
    Net(784) {
        dense(1.5) relu;
        dense(10) softmax;
    }
}

fn main() {}
