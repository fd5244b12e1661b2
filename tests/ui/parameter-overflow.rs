dropnet::model! {
    Net(4294967296) {
        dense(4294967296);
    }
}

fn main() {}
