//! Strides and same padding follow Keras's output sizes.

use std::marker::PhantomData;

use dropnet::core::{Image, Network, Vector};

dropnet::model! {
    Strided(32, 32, 3) {
        conv2d(16, 3, strides = 2, padding = same) relu;
        conv2d(8, 5, padding = same) tanh;
        conv2d(8, 3, strides = 2) sigmoid;
        maxpool(3, strides = 2);
        flatten;
        dense(4);
    }
}

fn main() {
    let _: PhantomData<<Strided as Network>::Input> = PhantomData::<Image<32, 32, 3>>;
    let _: PhantomData<<Strided as Network>::Output> = PhantomData::<Vector<4>>;
    let model = Strided::new(7);

    let outputs: Vec<Vec<usize>> = model
        .layers()
        .iter()
        .map(|layer| layer.output_dims().to_vec())
        .collect();
    let expected: [&[usize]; 6] = [
        &[16, 16, 16], // same, stride 2: ceil(32 / 2)
        &[16, 16, 8],  // same, stride 1: unchanged
        &[7, 7, 8],    // valid, stride 2: (16 - 3) / 2 + 1
        &[3, 3, 8],    // pool 3, stride 2: (7 - 3) / 2 + 1
        &[72],         // 3·3·8
        &[4],
    ];
    assert_eq!(outputs, expected);
    // 3·3·3·16 + 16 = 448, 5·5·16·8 + 8 = 3208, 3·3·8·8 + 8 = 584, 72·4 + 4 = 292
    assert_eq!(Strided::PARAM_COUNT, 448 + 3208 + 584 + 292);
}
