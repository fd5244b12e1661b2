//! `lstm(units, dropout = r, recurrent_dropout = r)` builds the layer with both rates, from
//! literals or constants; an omitted rate is 0.

use dropnet::core::layers::Lstm;

const RECURRENT: f32 = 0.25;

dropnet::model! {
    Forecaster(12, 2) {
        lstm(8, return_sequences, dropout = 0.2, recurrent_dropout = RECURRENT);
        lstm(4, recurrent_dropout = 0.5);
        dense(1);
    }
    Plain(12, 2) {
        lstm(3, dropout = 0);
        dense(1);
    }
}

fn main() {
    let model = Forecaster::new(5);
    let first: &Lstm<12, 2, 8, true> = &model.lstm;
    let second: &Lstm<12, 8, 4, false> = &model.lstm_1;
    assert_eq!(first.dropout_rates(), (0.2, 0.25));
    assert_eq!(second.dropout_rates(), (0.0, 0.5));

    let plain = Plain::new(5);
    assert_eq!(plain.lstm.dropout_rates(), (0.0, 0.0));
}
