dropnet::model! {
    Net(50000, 50000, 1) {
        maxpool(2);
        flatten;
        dense(1);
    }
}

fn main() {}
