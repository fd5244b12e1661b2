dropnet::model! {
    Net(4, 10, 1) {
        conv2d(8, 5) relu;
        flatten;
        dense(2);
    }
}

fn main() {}
