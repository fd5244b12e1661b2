dropnet::model! {
    Forecaster(52, 1) {
        lstm(64, return_sequence = true);
        lstm(32);
        dense(1);
    }
}

fn main() {}
