dropnet::model! {
    Net(52, 8) {
        dropout(0.1);
        maxpool(2);
        flatten;
        dense(1);
    }
}

fn main() {}
