dropnet::model! {
    Net(784) {
        dense([4]) relu;
        dense(((2))) softmax;
    }
}

fn main() {}
