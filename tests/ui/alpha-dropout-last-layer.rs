dropnet::model! {
    Net(16) {
        dense(8) selu;
        alpha_dropout(0.1);
    }
}

fn main() {}
