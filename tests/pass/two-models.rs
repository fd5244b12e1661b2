//! Several models in one call, each with its own visibility and attributes.

use std::marker::PhantomData;

use dropnet::core::{Network, Vector};

dropnet::model! {
    /// A linear classifier on flat inputs.
    #[derive(Debug)]
    pub Linear(784) {
        flatten;
        dense(10) softmax;
    }

    pub(crate) Mlp(784) {
        dense(128) relu;
        dropout(0.0);
        dense(64) tanh;
        dropout(0.5);
        dense(1) sigmoid;
    }
}

fn main() {
    let _: PhantomData<<Linear as Network>::Output> = PhantomData::<Vector<10>>;
    let _: PhantomData<<Mlp as Network>::Output> = PhantomData::<Vector<1>>;
    let mlp = Mlp::new(3);

    // flatten of a vector is the identity: 784·10 + 10
    assert_eq!(Linear::PARAM_COUNT, 7850);
    // 784·128 + 128, 128·64 + 64, 64·1 + 1
    assert_eq!(Mlp::PARAM_COUNT, 100_480 + 8256 + 65);
    let names: Vec<&str> = mlp.layers().iter().map(|layer| layer.name()).collect();
    assert_eq!(
        names,
        ["dense", "dropout", "dense_1", "dropout_1", "dense_2"]
    );
    assert!(format!("{:?}", Linear::new(0)).starts_with("Linear"));
}
