//! Hand-built networks (what `model!` would generate) for the tests of the training loop.

use ndarray::ArrayD;
use rand::Rng as _;

use crate::activation::{Activation, Relu, Softmax, Tanh};
use crate::layer::Layer;
use crate::layers::{Conv2d, Dense, Dropout, Flatten, MaxPool2d};
use crate::network::Network;
use crate::rng;
use crate::runtime::Runtime;
use crate::shape::{Image, Labels, Samples, Vector};

/// `Vector<2>` → dense(8) with activation `H` (tanh by default) → dense(3) with activation
/// `A`.
pub(crate) struct Net<A: Activation = Softmax, H: Activation = Tanh> {
    pub(crate) dense: Dense<2, 8, H>,
    pub(crate) dense_1: Dense<8, 3, A>,
    pub(crate) runtime: Runtime,
}

impl<A: Activation, H: Activation> Net<A, H> {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            dense: Dense::new("dense", seed),
            dense_1: Dense::new("dense_1", seed),
            runtime: Runtime::new(seed),
        }
    }

    /// Every parameter value, layer by layer.
    pub(crate) fn weights(&self) -> Vec<ArrayD<f32>> {
        self.layers()
            .iter()
            .flat_map(|l| l.params())
            .map(|p| p.value.clone())
            .collect()
    }
}

impl<A: Activation, H: Activation> Network for Net<A, H> {
    type Input = Vector<2>;
    type Output = Vector<3>;
    const NAME: &'static str = "Net";
    const PARAM_COUNT: usize = 2 * 8 + 8 + 8 * 3 + 3;

    fn layers(&self) -> Vec<&dyn Layer> {
        vec![&self.dense, &self.dense_1]
    }

    fn parts_mut(&mut self) -> (Vec<&mut dyn Layer>, &mut Runtime) {
        (vec![&mut self.dense, &mut self.dense_1], &mut self.runtime)
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

/// `n` points around three well separated centres, labelled by centre, in a fixed order.
pub(crate) fn clusters(n: usize, seed: u64) -> (Samples<Vector<2>>, Labels) {
    let centres = [(2.0_f32, 0.0_f32), (-1.0, 1.7), (-1.0, -1.7)];
    let mut rng = rng::stream(seed, "test", "clusters");
    let mut values = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = i % 3;
        let (cx, cy) = centres[label];
        values.push(cx + rng.random_range(-0.6..0.6));
        values.push(cy + rng.random_range(-0.6..0.6));
        labels.push(label as u32);
    }
    (Samples::from_vec(n, values).unwrap(), Labels::new(labels))
}

/// The seed CNN of the README, wired by hand:
/// conv2d(32, 3) relu; maxpool(2); dropout(0.25); conv2d(64, 3) relu; maxpool(2);
/// dropout(0.25); flatten; dense(10) softmax.
pub(crate) struct MnistCnn {
    conv2d: Conv2d<28, 28, 1, 32, 3, 1, false, Relu>,
    max_pooling2d: MaxPool2d<26, 26, 32, 2, 2>,
    dropout: Dropout<Image<13, 13, 32>>,
    conv2d_1: Conv2d<13, 13, 32, 64, 3, 1, false, Relu>,
    max_pooling2d_1: MaxPool2d<11, 11, 64, 2, 2>,
    dropout_1: Dropout<Image<5, 5, 64>>,
    flatten: Flatten<Image<5, 5, 64>>,
    dense: Dense<1600, 10, Softmax>,
    runtime: Runtime,
}

impl MnistCnn {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            conv2d: Conv2d::new("conv2d", seed),
            max_pooling2d: MaxPool2d::new("max_pooling2d", seed),
            dropout: Dropout::new("dropout", seed, 0.25),
            conv2d_1: Conv2d::new("conv2d_1", seed),
            max_pooling2d_1: MaxPool2d::new("max_pooling2d_1", seed),
            dropout_1: Dropout::new("dropout_1", seed, 0.25),
            flatten: Flatten::new("flatten", seed),
            dense: Dense::new("dense", seed),
            runtime: Runtime::new(seed),
        }
    }
}

impl Network for MnistCnn {
    type Input = Image<28, 28, 1>;
    type Output = Vector<10>;
    const NAME: &'static str = "MnistCnn";
    const PARAM_COUNT: usize = 34_826;

    fn layers(&self) -> Vec<&dyn Layer> {
        vec![
            &self.conv2d,
            &self.max_pooling2d,
            &self.dropout,
            &self.conv2d_1,
            &self.max_pooling2d_1,
            &self.dropout_1,
            &self.flatten,
            &self.dense,
        ]
    }

    fn parts_mut(&mut self) -> (Vec<&mut dyn Layer>, &mut Runtime) {
        let layers: Vec<&mut dyn Layer> = vec![
            &mut self.conv2d,
            &mut self.max_pooling2d,
            &mut self.dropout,
            &mut self.conv2d_1,
            &mut self.max_pooling2d_1,
            &mut self.dropout_1,
            &mut self.flatten,
            &mut self.dense,
        ];
        (layers, &mut self.runtime)
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

/// A small CNN for 6×6 single-channel images: conv2d(4, 3) relu; maxpool(2);
/// dropout(RATE); flatten; dense(2) softmax. Rate 0 is the identity.
pub(crate) struct TinyCnn {
    conv2d: Conv2d<6, 6, 1, 4, 3, 1, false, Relu>,
    max_pooling2d: MaxPool2d<4, 4, 4, 2, 2>,
    dropout: Option<Dropout<Image<2, 2, 4>>>,
    flatten: Flatten<Image<2, 2, 4>>,
    dense: Dense<16, 2, Softmax>,
    runtime: Runtime,
}

impl TinyCnn {
    /// The model, with a dropout layer of `rate` when `rate` is given.
    pub(crate) fn new(seed: u64, rate: Option<f32>) -> Self {
        Self {
            conv2d: Conv2d::new("conv2d", seed),
            max_pooling2d: MaxPool2d::new("max_pooling2d", seed),
            dropout: rate.map(|rate| Dropout::new("dropout", seed, rate)),
            flatten: Flatten::new("flatten", seed),
            dense: Dense::new("dense", seed),
            runtime: Runtime::new(seed),
        }
    }

    /// Every parameter value, layer by layer.
    pub(crate) fn weights(&self) -> Vec<ArrayD<f32>> {
        self.layers()
            .iter()
            .flat_map(|l| l.params())
            .map(|p| p.value.clone())
            .collect()
    }
}

impl Network for TinyCnn {
    type Input = Image<6, 6, 1>;
    type Output = Vector<2>;
    const NAME: &'static str = "TinyCnn";
    const PARAM_COUNT: usize = 3 * 3 * 4 + 4 + 16 * 2 + 2;

    fn layers(&self) -> Vec<&dyn Layer> {
        let mut layers: Vec<&dyn Layer> = vec![&self.conv2d, &self.max_pooling2d];
        if let Some(dropout) = &self.dropout {
            layers.push(dropout);
        }
        layers.extend([&self.flatten as &dyn Layer, &self.dense]);
        layers
    }

    fn parts_mut(&mut self) -> (Vec<&mut dyn Layer>, &mut Runtime) {
        let mut layers: Vec<&mut dyn Layer> = vec![&mut self.conv2d, &mut self.max_pooling2d];
        if let Some(dropout) = &mut self.dropout {
            layers.push(dropout);
        }
        layers.push(&mut self.flatten);
        layers.push(&mut self.dense);
        (layers, &mut self.runtime)
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

/// `n` 6×6 images holding either a horizontal (label 0) or a vertical (label 1) bar at a
/// random position, on faint noise.
pub(crate) fn bars(n: usize, seed: u64) -> (Samples<Image<6, 6, 1>>, Labels) {
    let mut rng = rng::stream(seed, "test", "bars");
    let mut values = Vec::with_capacity(36 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (vertical, at) = (i % 2 == 1, rng.random_range(0..6));
        for row in 0..6 {
            for col in 0..6 {
                let on = if vertical { col == at } else { row == at };
                values.push(if on { 1.0 } else { rng.random_range(0.0..0.2) });
            }
        }
        labels.push(u32::from(vertical));
    }
    (Samples::from_vec(n, values).unwrap(), Labels::new(labels))
}
