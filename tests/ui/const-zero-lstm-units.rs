const WINDOW: usize = 52;
const FEATURES: usize = 1;
const UNITS: usize = 0;

dropnet::model! {
    Forecaster(WINDOW, FEATURES) {
        lstm(UNITS);
        dense(1);
    }
}

fn main() {}
