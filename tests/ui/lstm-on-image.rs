dropnet::model! {
    Net(28, 28, 1) {
        lstm(64);
        dense(10) softmax;
    }
}

fn main() {}
