dropnet::model! {
    Net(8) {
        dense(4611686018427387904);
    }
}

fn main() {}
