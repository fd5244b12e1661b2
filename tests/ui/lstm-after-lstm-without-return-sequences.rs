dropnet::model! {
    Forecaster(52, 1) {
        lstm(64);
        dropout(0.3);
        lstm(32);
        dropout(0.3);
        dense(1);
    }
}

fn main() {}
