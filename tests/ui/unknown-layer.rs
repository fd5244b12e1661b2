dropnet::model! {
    Net(28, 28, 1) {
        conv3d(32, 3) relu;
        flatten;
        dense(10) softmax;
    }
}

fn main() {}
