dropnet::model! {
    Net(784) {
        dense(128) relu;
        dropout(0.99999999);
        dense(10) softmax;
    }
}

fn main() {}
