dropnet::model! {
    Net(4294967296, 4294967296, 2) {
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
