dropnet::model! {
    Net(784) {
        dense(128, 64) relu;
        dense(10) softmax;
    }
}

fn main() {}
