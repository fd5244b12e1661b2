//! A sequence model sized by constants: the window, the features per step and the units
//! are only known to the compiler, which still checks the shapes.

use std::marker::PhantomData;

use dropnet::core::layers::Lstm;
use dropnet::core::{Network, Sequence, Vector};

const WINDOW: usize = 12;
const FEATURES: usize = 3;
const UNITS: usize = 8;
const RATE: f32 = 0.2;

dropnet::model! {
    Forecaster(WINDOW, FEATURES) {
        lstm(UNITS, return_sequences = true);
        dropout(RATE);
        lstm(UNITS);
        dense(1);
    }
}

// 4·8·(3 + 8 + 1) = 384, 4·8·(8 + 8 + 1) = 544, 8·1 + 1 = 9.
const _: () = assert!(Forecaster::PARAM_COUNT == 937);

fn main() {
    let _: PhantomData<<Forecaster as Network>::Input> = PhantomData::<Sequence<12, 3>>;
    let _: PhantomData<<Forecaster as Network>::Output> = PhantomData::<Vector<1>>;

    let model = Forecaster::new(1);
    let _: &Lstm<WINDOW, FEATURES, UNITS, true> = &model.lstm;
    let _: &Lstm<WINDOW, UNITS, UNITS, false> = &model.lstm_1;

    assert_eq!(Forecaster::INPUT_SHAPE, [WINDOW, FEATURES]);
    assert_eq!(Forecaster::OUTPUT_SHAPE, [1]);
    assert_eq!(model.layers().len(), 4);
}
