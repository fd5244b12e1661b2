//! An `lstm` that returns every step, flattened into a dense head, with the bare word
//! `return_sequences`.

use std::marker::PhantomData;

use dropnet::core::layers::{Flatten, Lstm};
use dropnet::core::{Layer, Network, Sequence, Vector};

dropnet::model! {
    Tagger(10, 3) {
        lstm(4, return_sequences);
        flatten;
        dense(2) softmax;
    }
}

// 4·4·(3 + 4 + 1) = 128; 10×4 = 40 flattened values, 40·2 + 2 = 82.
const _: () = assert!(Tagger::PARAM_COUNT == 210);

fn main() {
    let _: PhantomData<<Tagger as Network>::Input> = PhantomData::<Sequence<10, 3>>;
    let _: PhantomData<<Tagger as Network>::Output> = PhantomData::<Vector<2>>;

    let model = Tagger::new(7);
    let lstm: &Lstm<10, 3, 4, true> = &model.lstm;
    let flatten: &Flatten<Sequence<10, 4>> = &model.flatten;

    assert_eq!(lstm.output_dims(), [10, 4]);
    assert_eq!(flatten.output_dims(), [40]);
    let counted: usize = model.layers().iter().map(|layer| layer.param_count()).sum();
    assert_eq!(counted, Tagger::PARAM_COUNT);
}
