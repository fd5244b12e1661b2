dropnet::model! {
    Forecaster(52, 1) {
        lstm(64, return_sequences);
        dropout(0.3);
        dense(1);
    }
}

fn main() {}
