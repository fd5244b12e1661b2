//! Flattening an image or sequence into a vector.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::check_width;
use crate::layer::{Layer, Pass};
use crate::shape::Shape;

/// Flattens samples of shape `Sh` into vectors of `Sh::LEN` values, like Keras's
/// `Flatten`.
///
/// Batches are kept as `[batch, Sh::LEN]` matrices in channels-last order, which is
/// already the (height, width, channels) order of Keras's flattened vector, so both passes
/// are plain copies. No parameters.
#[derive(Debug, Clone)]
pub struct Flatten<Sh: Shape> {
    name: &'static str,
    shape: PhantomData<fn() -> Sh>,
}

impl<Sh: Shape> Flatten<Sh> {
    /// Per-sample input shape, `Sh::DIMS`.
    pub const INPUT_DIMS: &'static [usize] = Sh::DIMS;
    /// Per-sample output shape, `[Sh::LEN]`.
    pub const OUTPUT_DIMS: &'static [usize] = &[Sh::LEN];

    const CHECK: () = assert!(
        Sh::LEN > 0,
        "Flatten: the input shape must have no zero size"
    );

    /// A flatten layer named `name`. It has no weights, so `seed` is unused; it is taken
    /// so that every layer is built the same way.
    pub fn new(name: &'static str, seed: u64) -> Self {
        let () = Self::CHECK;
        let _ = seed;
        Self {
            name,
            shape: PhantomData,
        }
    }
}

impl<Sh: Shape> Layer for Flatten<Sh> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn replicate(&self) -> Option<Box<dyn Layer>> {
        let (name, shape) = (self.name, PhantomData);
        Some(Box::new(Self { name, shape }))
    }

    fn input_dims(&self) -> &'static [usize] {
        Self::INPUT_DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Self::OUTPUT_DIMS
    }

    /// Copies the input.
    ///
    /// # Shapes
    /// - `input`: `[batch, Sh::LEN]`, each row a sample of shape `Sh` in row-major order
    /// - `output`: `[batch, Sh::LEN]`
    fn forward(&mut self, input: ArrayView2<'_, f32>, mut output: ArrayViewMut2<'_, f32>, _: Pass) {
        check_width(self.name, "input", input.ncols(), Sh::LEN);
        output.assign(&input);
    }

    /// Copies the output gradient.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, Sh::LEN]`
    /// - `output`, `grad_output`: `[batch, Sh::LEN]`
    fn backward(
        &mut self,
        _input: ArrayView2<'_, f32>,
        _output: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        _pass: Pass,
    ) {
        if let Some(mut grad_input) = grad_input {
            grad_input.assign(&grad_output);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use crate::layer::Mode;
    use crate::shape::Image;
    use ndarray::Array2;

    #[test]
    fn both_passes_copy_in_channels_last_order() {
        let mut layer = Flatten::<Image<2, 2, 3>>::new("flatten", 0);
        let input = random_input(3, 12, 1);
        let mut output = Array2::zeros((3, 12));
        let mut grad = random_input(3, 12, 2);
        let mut grad_input = Array2::zeros((3, 12));
        let pass = Pass::new(Mode::Train);

        layer.forward(input.view(), output.view_mut(), pass);
        layer.backward(
            input.view(),
            output.view(),
            grad.view_mut(),
            Some(grad_input.view_mut()),
            pass,
        );

        assert_eq!(output, input);
        assert_eq!(grad_input, grad);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut layer = Flatten::<Image<2, 3, 2>>::new("flatten", 0);
        let report = check(
            &mut layer,
            random_input(2, 12, 3).view(),
            &Options::default(),
        );

        assert!(report.worst_relative_error < 1e-3, "{report}");
        assert_eq!(report.checked, 24);
    }

    #[test]
    fn describes_itself_like_keras() {
        let layer = Flatten::<Image<5, 5, 64>>::new("flatten", 0);

        assert_eq!(layer.kind(), "Flatten");
        assert_eq!(layer.input_dims(), &[5, 5, 64]);
        assert_eq!(layer.output_dims(), &[1600]);
        assert_eq!(layer.param_count(), 0);
    }
}
