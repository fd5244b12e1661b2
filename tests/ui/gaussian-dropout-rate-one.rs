dropnet::model! {
    Net(784) {
        dense(128) relu;
        gaussian_dropout(1.0);
        dense(10) softmax;
    }
}

fn main() {}
