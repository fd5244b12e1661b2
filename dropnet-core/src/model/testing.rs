//! Small hand-built networks for the tests of the training loop.

use std::marker::PhantomData;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayD, ArrayView2, ArrayViewMut2, Axis, Ix2, IxDyn};
use rand::Rng as _;

use crate::activation::{Activation, ActivationKind, Softmax, Tanh};
use crate::layer::{Layer, Param, Pass};
use crate::network::Network;
use crate::rng;
use crate::runtime::Runtime;
use crate::shape::{Labels, Samples, Vector};

/// A dense layer kept minimal so these tests do not depend on the real layers.
pub(crate) struct TestDense<const IN: usize, const OUT: usize, A: Activation> {
    name: &'static str,
    kernel: Param,
    bias: Param,
    activation: PhantomData<A>,
}

impl<const IN: usize, const OUT: usize, A: Activation> TestDense<IN, OUT, A> {
    const IN_DIMS: &'static [usize] = &[IN];
    const OUT_DIMS: &'static [usize] = &[OUT];

    pub(crate) fn new(name: &'static str, seed: u64) -> Self {
        let mut rng = rng::stream(seed, name, "init");
        let limit = (6.0 / (IN + OUT) as f32).sqrt();
        let kernel = ArrayD::from_shape_fn(IxDyn(&[IN, OUT]), |_| rng.random_range(-limit..limit));
        Self {
            name,
            kernel: Param::new("kernel", kernel),
            bias: Param::new("bias", ArrayD::zeros(IxDyn(&[OUT]))),
            activation: PhantomData,
        }
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Layer for TestDense<IN, OUT, A> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "Dense"
    }

    fn input_dims(&self) -> &'static [usize] {
        Self::IN_DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Self::OUT_DIMS
    }

    fn activation(&self) -> ActivationKind {
        A::KIND
    }

    fn forward(
        &mut self,
        input: ArrayView2<'_, f32>,
        mut output: ArrayViewMut2<'_, f32>,
        pass: Pass,
    ) {
        let kernel = self
            .kernel
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .unwrap();
        output.assign(
            &self
                .bias
                .value
                .view()
                .into_dimensionality::<ndarray::Ix1>()
                .unwrap(),
        );
        general_mat_mul(1.0, &input, &kernel, 1.0, &mut output);
        if !pass.logits {
            A::apply(output);
        }
    }

    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        output: ArrayView2<'_, f32>,
        mut grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        pass: Pass,
    ) {
        if !pass.logits {
            A::backward(output, grad_output.view_mut());
        }
        let mut kernel_grad = self
            .kernel
            .grad
            .view_mut()
            .into_dimensionality::<Ix2>()
            .unwrap();
        general_mat_mul(1.0, &input.t(), &grad_output, 1.0, &mut kernel_grad);
        self.bias.grad += &grad_output.sum_axis(Axis(0)).into_dyn();
        if let Some(mut grad_input) = grad_input {
            let kernel = self
                .kernel
                .value
                .view()
                .into_dimensionality::<Ix2>()
                .unwrap();
            general_mat_mul(1.0, &grad_output, &kernel.t(), 0.0, &mut grad_input);
        }
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.kernel, &self.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.kernel, &mut self.bias]
    }
}

/// `Vector<2>` → dense(8) tanh → dense(3) with activation `A`.
pub(crate) struct Net<A: Activation = Softmax> {
    pub(crate) dense: TestDense<2, 8, Tanh>,
    pub(crate) dense_1: TestDense<8, 3, A>,
    pub(crate) runtime: Runtime,
}

impl<A: Activation> Net<A> {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            dense: TestDense::new("dense", seed),
            dense_1: TestDense::new("dense_1", seed),
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

impl<A: Activation> Network for Net<A> {
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
