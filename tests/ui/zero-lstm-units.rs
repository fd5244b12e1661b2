dropnet::model! {
    Forecaster(52, 1) {
        lstm(0);
        dense(1);
    }
}

fn main() {}
