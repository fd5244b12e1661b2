//! Fully connected layer.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::matmul::matmul;
use super::{add_column_sums, check_width, grad_matrix, param_matrix};
use crate::activation::{Activation, ActivationKind};
use crate::init;
use crate::layer::{Layer, Param, Pass};
use crate::rng;

/// A fully connected layer from `IN` to `OUT` units with the fused activation `A`, like
/// Keras's `Dense(OUT, activation=...)`.
///
/// `output = A(input · kernel + bias)`.
///
/// Parameters, in Keras's names and layouts: `kernel` `[IN, OUT]` (Glorot uniform) and
/// `bias` `[OUT]` (zeros).
///
/// The type parameters fix the shapes for the compiler; the work is done by code that
/// takes the sizes as values and is compiled once in this crate, so a model with new
/// shapes adds almost nothing to its crate's build time.
#[derive(Debug, Clone)]
pub struct Dense<const IN: usize, const OUT: usize, A: Activation> {
    engine: Engine,
    activation: PhantomData<A>,
}

/// A dense layer with every size a value: everything a [`Dense`] holds, whose `Layer`
/// methods only hand over to it. Its functions are not generic, so they are compiled once
/// in this crate rather than again for every layer shape in every crate declaring a model.
#[derive(Debug, Clone)]
struct Engine {
    name: &'static str,
    inputs: usize,
    units: usize,
    activation: ActivationKind,
    kernel: Param,
    bias: Param,
}

impl Engine {
    /// A dense layer named `name`, with a Glorot uniform kernel drawn from the stream
    /// `(seed, name, "init")` and a zero bias.
    fn new(
        name: &'static str,
        seed: u64,
        (inputs, units): (usize, usize),
        a: ActivationKind,
    ) -> Self {
        let kernel = init::glorot_uniform(&[inputs, units], &mut rng::stream(seed, name, "init"));
        Self {
            name,
            inputs,
            units,
            activation: a,
            kernel: Param::new("kernel", kernel),
            bias: Param::new("bias", init::zeros(&[units])),
        }
    }

    /// See [`Dense`]'s [`Layer::forward`].
    fn forward(&self, input: ArrayView2<'_, f32>, mut output: ArrayViewMut2<'_, f32>, pass: Pass) {
        check_width(self.name, "input", input.ncols(), self.inputs);
        check_width(self.name, "output", output.ncols(), self.units);
        let kernel = param_matrix(&self.kernel.value, self.inputs, self.units);
        let bias = param_matrix(&self.bias.value, 1, self.units);

        output.assign(&bias.row(0));
        matmul(&input, &kernel.view(), &mut output, true);

        if !pass.logits {
            self.activation.apply(output);
        }
    }

    /// See [`Dense`]'s [`Layer::backward`].
    fn backward(
        &mut self,
        (input, output): (ArrayView2<'_, f32>, ArrayView2<'_, f32>),
        mut grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        pass: Pass,
    ) {
        check_width(self.name, "grad_output", grad_output.ncols(), self.units);
        if !pass.logits {
            self.activation.backward(output, grad_output.view_mut());
        }

        let mut kernel_grad = grad_matrix(&mut self.kernel.grad, self.inputs, self.units);
        matmul(&input.t(), &grad_output.view(), &mut kernel_grad, true);
        add_column_sums(&grad_output, &mut self.bias.grad);

        if let Some(mut grad_input) = grad_input {
            let kernel = param_matrix(&self.kernel.value, self.inputs, self.units);
            matmul(&grad_output.view(), &kernel.t(), &mut grad_input, false);
        }
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Dense<IN, OUT, A> {
    /// Per-sample input shape `[IN]`.
    pub const INPUT_DIMS: &'static [usize] = &[IN];
    /// Per-sample output shape `[OUT]`.
    pub const OUTPUT_DIMS: &'static [usize] = &[OUT];
    /// Number of trainable scalars: `IN·OUT + OUT`.
    pub const PARAM_COUNT: usize = IN * OUT + OUT;

    /// Re-checks at compile time what the macro checks, for hand-written instantiations.
    const CHECK: () = {
        assert!(IN > 0, "Dense: the input size must be > 0");
        assert!(OUT > 0, "Dense: the number of units must be > 0");
    };

    /// A dense layer named `name` (its Keras name), with a Glorot uniform kernel drawn from
    /// the stream `(seed, name, "init")` and a zero bias.
    pub fn new(name: &'static str, seed: u64) -> Self {
        let () = Self::CHECK;
        Self {
            engine: Engine::new(name, seed, (IN, OUT), A::KIND),
            activation: PhantomData,
        }
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Layer for Dense<IN, OUT, A> {
    fn name(&self) -> &str {
        self.engine.name
    }

    fn kind(&self) -> &'static str {
        "Dense"
    }

    fn replicate(&self) -> Option<Box<dyn Layer>> {
        Some(Box::new(self.clone()))
    }

    fn input_dims(&self) -> &'static [usize] {
        Self::INPUT_DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Self::OUTPUT_DIMS
    }

    fn activation(&self) -> ActivationKind {
        A::KIND
    }

    /// `output = A(input · kernel + bias)`, without `A` when `pass.logits`.
    ///
    /// # Shapes
    /// - `input`: `[batch, IN]`
    /// - `output`: `[batch, OUT]`
    fn forward(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>, pass: Pass) {
        self.engine.forward(input, output, pass);
    }

    /// With `g` the gradient of the pre-activation (written over `grad_output`):
    /// `kernel.grad += inputᵀ · g`, `bias.grad += Σ_rows g`, `grad_input = g · kernelᵀ`.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, IN]`
    /// - `output`, `grad_output`: `[batch, OUT]`
    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        output: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        pass: Pass,
    ) {
        self.engine
            .backward((input, output), grad_output, grad_input, pass);
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.engine.kernel, &self.engine.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.engine.kernel, &mut self.engine.bias]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Softmax, Tanh};
    use crate::gradcheck::{check, random_input, Options};
    use crate::layer::Mode;
    use ndarray::Array2;

    fn spread_bias(layer: &mut dyn Layer) {
        let bias = &mut layer.params_mut()[1].value;
        bias.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = 0.2 * i as f32 - 0.3);
    }

    #[test]
    fn forward_is_input_times_kernel_plus_bias() {
        let mut layer = Dense::<4, 3, Linear>::new("dense", 1);
        spread_bias(&mut layer);
        let input = random_input(5, 4, 2);
        let mut output = Array2::zeros((5, 3));

        layer.forward(input.view(), output.view_mut(), Pass::new(Mode::Infer));

        let kernel = &layer.engine.kernel.value;
        for ((b, j), &got) in output.indexed_iter() {
            let sum: f32 = (0..4).map(|i| input[[b, i]] * kernel[[i, j]]).sum();
            let want = sum + layer.engine.bias.value[[j]];
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    fn gradients_match<A: Activation>(logits: bool) {
        let mut layer = Dense::<6, 4, A>::new("dense", 3);
        spread_bias(&mut layer);
        let input = random_input(3, 6, 4);
        let report = check(
            &mut layer,
            input.view(),
            &Options {
                logits,
                ..Options::default()
            },
        );

        assert!(
            report.worst_relative_error < 1e-2,
            "{:?}: {report}",
            A::KIND
        );
        assert!(report.skipped * 10 <= report.checked, "{report}");
    }

    #[test]
    fn gradients_match_finite_differences_for_each_activation() {
        gradients_match::<Linear>(false);
        gradients_match::<Relu>(false);
        gradients_match::<Sigmoid>(false);
        gradients_match::<Tanh>(false);
        gradients_match::<Softmax>(false);
        gradients_match::<Softmax>(true);
    }

    #[test]
    fn logits_pass_skips_the_activation() {
        let mut softmax = Dense::<5, 3, Softmax>::new("dense", 2);
        let mut linear = Dense::<5, 3, Linear>::new("dense", 2);
        let input = random_input(2, 5, 3);
        let (mut a, mut b) = (Array2::zeros((2, 3)), Array2::zeros((2, 3)));

        softmax.forward(
            input.view(),
            a.view_mut(),
            Pass {
                mode: Mode::Train,
                logits: true,
            },
        );
        linear.forward(input.view(), b.view_mut(), Pass::new(Mode::Train));

        assert_eq!(a, b);
    }

    #[test]
    fn kernel_is_glorot_uniform_and_bias_zero() {
        let layer = Dense::<1600, 10, Softmax>::new("dense", 42);
        let limit = (6.0_f64 / 1610.0).sqrt() as f32;

        assert_eq!(layer.engine.kernel.value.shape(), &[1600, 10]);
        assert!(layer.engine.kernel.value.iter().all(|v| v.abs() <= limit));
        assert!(layer
            .engine
            .kernel
            .value
            .iter()
            .any(|v| v.abs() > 0.99 * limit));
        assert!(layer.engine.bias.value.iter().all(|&v| v == 0.0));
        assert_eq!(
            Dense::<1600, 10, Softmax>::new("dense", 42).engine.kernel,
            layer.engine.kernel
        );
        assert_ne!(
            Dense::<1600, 10, Softmax>::new("dense_1", 42).engine.kernel,
            layer.engine.kernel
        );
    }

    #[test]
    fn a_smaller_batch_after_a_larger_one_works() {
        let mut layer = Dense::<3, 2, Tanh>::new("dense", 1);
        let input = random_input(4, 3, 5);
        let (mut big, mut small) = (Array2::zeros((4, 2)), Array2::zeros((1, 2)));
        let pass = Pass::new(Mode::Train);

        layer.forward(input.view(), big.view_mut(), pass);
        layer.forward(input.slice(ndarray::s![..1, ..]), small.view_mut(), pass);

        assert_eq!(small.row(0), big.row(0));
    }

    #[test]
    fn describes_itself_like_keras() {
        let layer = Dense::<1600, 10, Softmax>::new("dense", 0);
        let names: Vec<_> = layer.params().iter().map(|p| p.name).collect();

        assert_eq!(layer.kind(), "Dense");
        assert_eq!(layer.input_dims(), &[1600]);
        assert_eq!(layer.output_dims(), &[10]);
        assert_eq!(layer.activation(), ActivationKind::Softmax);
        assert_eq!(names, ["kernel", "bias"]);
        assert_eq!(layer.param_count(), 16_010);
    }
}
