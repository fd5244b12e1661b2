dropnet::model! {
    Net(52, 1) {
        lstm(64, dropout = 0.2, recurrent_dropout = 1.0);
        dense(1);
    }
}

fn main() {}
