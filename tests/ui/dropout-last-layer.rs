dropnet::model! {
    Net(784) {
        dense(10) softmax;
        dropout(0.5);
    }
}

fn main() {}
