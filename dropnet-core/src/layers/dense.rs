//! Fully connected layer.

use std::marker::PhantomData;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

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
#[derive(Debug, Clone)]
pub struct Dense<const IN: usize, const OUT: usize, A: Activation> {
    name: &'static str,
    kernel: Param,
    bias: Param,
    activation: PhantomData<A>,
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
        let kernel = init::glorot_uniform(&[IN, OUT], &mut rng::stream(seed, name, "init"));
        Self {
            name,
            kernel: Param::new("kernel", kernel),
            bias: Param::new("bias", init::zeros(&[OUT])),
            activation: PhantomData,
        }
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Layer for Dense<IN, OUT, A> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "Dense"
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
    fn forward(
        &mut self,
        input: ArrayView2<'_, f32>,
        mut output: ArrayViewMut2<'_, f32>,
        pass: Pass,
    ) {
        check_width(self.name, "input", input.ncols(), IN);
        check_width(self.name, "output", output.ncols(), OUT);
        let kernel = param_matrix(&self.kernel.value, IN, OUT);
        let bias = param_matrix(&self.bias.value, 1, OUT);

        output.assign(&bias.row(0));
        general_mat_mul(1.0, &input, &kernel, 1.0, &mut output);

        if !pass.logits {
            A::apply(output);
        }
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
        mut grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        pass: Pass,
    ) {
        check_width(self.name, "grad_output", grad_output.ncols(), OUT);
        if !pass.logits {
            A::backward(output, grad_output.view_mut());
        }

        let mut kernel_grad = grad_matrix(&mut self.kernel.grad, IN, OUT);
        general_mat_mul(1.0, &input.t(), &grad_output, 1.0, &mut kernel_grad);
        add_column_sums(&grad_output, &mut self.bias.grad);

        if let Some(mut grad_input) = grad_input {
            let kernel = param_matrix(&self.kernel.value, IN, OUT);
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
