//! Sizes and rates given as paths to constants, checked by const evaluation.

use std::marker::PhantomData;

use dropnet::core::{Image, Network, Sequence, Vector};

const WINDOW: usize = 12;
const FEATURES: usize = 3;
const UNITS: usize = 5;
const RATE: f32 = 0.1;

mod config {
    pub const FILTERS: usize = 4;
    pub const K: usize = 3;
    pub const STRIDE: usize = 1;
}

dropnet::model! {
    Forecaster(WINDOW, FEATURES) {
        dropout(RATE);
        flatten;
        dense(UNITS) relu;
        dense(1);
    }

    Patches(WINDOW, WINDOW, 1) {
        conv2d(config::FILTERS, config::K, strides = config::STRIDE) relu;
        maxpool(2);
        flatten;
        dense(UNITS) softmax;
    }
}

// Forecaster: 12·3 = 36 inputs, 36·5 + 5 = 185, 5·1 + 1 = 6.
const _: () = assert!(Forecaster::PARAM_COUNT == 191);
// Patches: 12 - 3 + 1 = 10, pooled to 5, 5·5·4 = 100; 3·3·1·4 + 4 = 40, 100·5 + 5 = 505.
const _: () = assert!(Patches::PARAM_COUNT == 545);

fn main() {
    let _: PhantomData<<Forecaster as Network>::Input> = PhantomData::<Sequence<12, 3>>;
    let _: PhantomData<<Forecaster as Network>::Output> = PhantomData::<Vector<1>>;
    let _: PhantomData<<Patches as Network>::Input> = PhantomData::<Image<12, 12, 1>>;
    let _: PhantomData<<Patches as Network>::Output> = PhantomData::<Vector<5>>;

    let patches = Patches::new(1);
    let outputs: Vec<Vec<usize>> = patches
        .layers()
        .iter()
        .map(|layer| layer.output_dims().to_vec())
        .collect();
    assert_eq!(
        outputs,
        [vec![10, 10, 4], vec![5, 5, 4], vec![100], vec![5]]
    );
    assert_eq!(Forecaster::INPUT_SHAPE, [WINDOW, FEATURES]);
    assert_eq!(Forecaster::new(1).layers().len(), 4);
}
