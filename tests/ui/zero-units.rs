dropnet::model! {
    Net(784) {
        dense(0) relu;
        dense(10) softmax;
    }
}

fn main() {}
