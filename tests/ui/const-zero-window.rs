const WINDOW: usize = 0;
const FEATURES: usize = 1;

dropnet::model! {
    Forecaster(WINDOW, FEATURES) {
        lstm(64, return_sequences = true);
        lstm(32);
        dense(1);
    }
}

fn main() {}
