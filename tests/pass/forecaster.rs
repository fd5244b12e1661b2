//! The time-series model: two stacked LSTMs with dropout and a one-unit head, with
//! Keras's shapes, names and parameter count checked by the compiler.

use std::marker::PhantomData;

use dropnet::core::layers::{Dropout, Lstm};
use dropnet::core::{Layer, Network, Sequence, Vector};

dropnet::model! {
    /// Forecasts the next value of a series from a 52-step window of one feature.
    pub Forecaster(52, 1) {
        lstm(64, return_sequences = true);
        dropout(0.3);
        lstm(32);
        dropout(0.3);
        dense(1);
    }
}

// 4·64·(1 + 64 + 1) = 16 896, 4·32·(64 + 32 + 1) = 12 416, 32·1 + 1 = 33 (Keras's summary)
const _: () = assert!(Forecaster::PARAM_COUNT == 29_345);
const _: () = assert!(<Forecaster as Network>::PARAM_COUNT == 16_896 + 12_416 + 33);

/// Compiles only if the model's output is one value per sample.
fn output_type(_: PhantomData<<Forecaster as Network>::Output>) -> PhantomData<Vector<1>> {
    PhantomData
}

fn main() {
    let _: PhantomData<<Forecaster as Network>::Input> = PhantomData::<Sequence<52, 1>>;
    let _: PhantomData<Vector<1>> = output_type(PhantomData);

    let model = Forecaster::new(42);
    // The first lstm returns every step, so the dropout after it keeps the 52×64 sequence.
    let first: &Lstm<52, 1, 64, true> = &model.lstm;
    let between: &Dropout<Sequence<52, 64>> = &model.dropout;
    let second: &Lstm<52, 64, 32, false> = &model.lstm_1;
    let after: &Dropout<Vector<32>> = &model.dropout_1;

    assert_eq!(first.output_dims(), [52, 64]);
    assert_eq!(between.output_dims(), [52, 64]);
    assert_eq!(second.output_dims(), [32]);
    assert_eq!(after.output_dims(), [32]);
    assert_eq!(first.param_count(), 16_896);
    assert_eq!(second.param_count(), 12_416);
    assert_eq!(Forecaster::INPUT_SHAPE, [52, 1]);
    assert_eq!(Forecaster::OUTPUT_SHAPE, [1]);

    let names: Vec<&str> = model.layers().iter().map(|layer| layer.name()).collect();
    assert_eq!(names, ["lstm", "dropout", "lstm_1", "dropout_1", "dense"]);
    let counted: usize = model.layers().iter().map(|layer| layer.param_count()).sum();
    assert_eq!(counted, Forecaster::PARAM_COUNT);
}
