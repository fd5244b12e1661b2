//! The seed CNN: Keras's shapes, names and parameter count, checked by the compiler.

use std::marker::PhantomData;

use dropnet::core::layers::Flatten;
use dropnet::core::{Image, Layer, Network, Vector};

dropnet::model! {
    /// The classic Keras MNIST classifier.
    pub MnistCnn(28, 28, 1) {
        conv2d(32, 3) relu;
        maxpool(2);
        dropout(0.25);
        conv2d(64, 3) relu;
        maxpool(2);
        dropout(0.25);
        flatten;
        dense(10) softmax;
    }
}

// 3·3·1·32 + 32 = 320, 3·3·32·64 + 64 = 18 496, 1600·10 + 10 = 16 010
const _: () = assert!(MnistCnn::PARAM_COUNT == 34_826);
const _: () = assert!(<MnistCnn as Network>::PARAM_COUNT == 34_826);

fn main() {
    // These only compile if the macro inferred the shapes Keras has.
    let _: PhantomData<<MnistCnn as Network>::Input> = PhantomData::<Image<28, 28, 1>>;
    let _: PhantomData<<MnistCnn as Network>::Output> = PhantomData::<Vector<10>>;
    let model = MnistCnn::new(42);
    // 28 → 26 → 13 → 11 → 5 (rounding down), so flatten sees 5×5×64 = 1600 values.
    let flatten: &Flatten<Image<5, 5, 64>> = &model.flatten;

    assert_eq!(flatten.output_dims(), [1600]);
    assert_eq!(MnistCnn::INPUT_SHAPE, [28, 28, 1]);
    assert_eq!(MnistCnn::OUTPUT_SHAPE, [10]);
    assert_eq!(<MnistCnn as Network>::NAME, "MnistCnn");
    let names: Vec<&str> = model.layers().iter().map(|layer| layer.name()).collect();
    let expected = [
        "conv2d",
        "max_pooling2d",
        "dropout",
        "conv2d_1",
        "max_pooling2d_1",
        "dropout_1",
        "flatten",
        "dense",
    ];
    assert_eq!(names, expected);
    let counted: usize = model.layers().iter().map(|layer| layer.param_count()).sum();
    assert_eq!(counted, MnistCnn::PARAM_COUNT);
    assert_eq!(model.runtime().seed(), 42);
}
