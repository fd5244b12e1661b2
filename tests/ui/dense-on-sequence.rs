dropnet::model! {
    Net(52, 8) {
        dropout(0.1);
        dense(1);
    }
}

fn main() {}
