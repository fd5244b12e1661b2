dropnet::model! {
    Net(52) {
        lstm(64);
        dense(1);
    }
}

fn main() {}
