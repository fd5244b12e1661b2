dropnet::model! {
    Net(16) {
        dense(8);
        dropout(0.1) selu;
        dense(1);
    }
}

fn main() {}
