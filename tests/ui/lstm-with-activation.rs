dropnet::model! {
    Forecaster(52, 1) {
        lstm(32) relu;
        dense(1);
    }
}

fn main() {}
