//! Additive Gaussian noise.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::check_width;
use super::noise::{self, Noise};
use crate::error::{Error, Result};
use crate::layer::{Layer, Mode, Pass};
use crate::rng::Rng;
use crate::shape::Shape;

/// Additive Gaussian noise over samples of shape `Sh`, like Keras's `GaussianNoise(stddev)`.
///
/// In training each value gets its own draw of `N(0, stddev²)` added, a regulariser that
/// also serves as data augmentation for real-valued inputs. Inference copies the input bit
/// for bit; Monte Carlo passes add noise like training, drawing from the stream
/// `(seed, name, "mc")` instead of `(seed, name, "dropout")`. A standard deviation of 0 is
/// the identity in every mode and not stochastic.
#[derive(Debug, Clone)]
pub struct GaussianNoise<Sh: Shape> {
    name: &'static str,
    stddev: f32,
    noise: Noise,
    shape: PhantomData<fn() -> Sh>,
}

impl<Sh: Shape> GaussianNoise<Sh> {
    const CHECK: () = assert!(
        Sh::LEN > 0,
        "GaussianNoise: the input shape must have no zero size"
    );

    /// A layer named `name` that adds noise of standard deviation `stddev` in training.
    ///
    /// # Panics
    /// If `stddev` is negative or not finite. `model!` checks it at compile time; use
    /// [`GaussianNoise::try_new`] for a value known only at run time.
    pub fn new(name: &'static str, seed: u64, stddev: f32) -> Self {
        match Self::try_new(name, seed, stddev) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`GaussianNoise::new`], but returns [`Error::InvalidConfig`] for a negative or
    /// non-finite `stddev`.
    pub fn try_new(name: &'static str, seed: u64, stddev: f32) -> Result<Self> {
        let () = Self::CHECK;
        if !(stddev.is_finite() && stddev >= 0.0) {
            let reason = format!(
                "noise stddev must be finite and at least 0, got {stddev} in layer `{name}`"
            );
            return Err(Error::config("stddev", reason));
        }
        Ok(Self {
            name,
            stddev,
            noise: Noise::new(name, seed),
            shape: PhantomData,
        })
    }

    /// The standard deviation of the added noise.
    pub fn stddev(&self) -> f32 {
        self.stddev
    }

    /// While frozen, a training forward replays the previous noise when the batch size is
    /// the same, so that gradient checks see one function. Training never freezes.
    pub fn freeze_noise(&mut self, frozen: bool) {
        self.noise.freeze(frozen);
    }
}

impl<Sh: Shape> Layer for GaussianNoise<Sh> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "GaussianNoise"
    }

    fn input_dims(&self) -> &'static [usize] {
        Sh::DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Sh::DIMS
    }

    /// True unless the standard deviation is 0.
    fn is_stochastic(&self) -> bool {
        self.stddev > 0.0
    }

    fn reseed_monte_carlo(&mut self, seed: u64) {
        self.noise.reseed_monte_carlo(seed);
    }

    fn training_streams(&self) -> Vec<(&'static str, &Rng)> {
        vec![self.noise.training_stream()]
    }

    fn training_streams_mut(&mut self) -> Vec<(&'static str, &mut Rng)> {
        vec![self.noise.training_stream_mut()]
    }

    /// Adds fresh noise in training and Monte Carlo passes; copies in inference.
    ///
    /// # Shapes
    /// - `input`, `output`: `[batch, Sh::LEN]`
    fn forward(
        &mut self,
        input: ArrayView2<'_, f32>,
        mut output: ArrayViewMut2<'_, f32>,
        pass: Pass,
    ) {
        check_width(self.name, "input", input.ncols(), Sh::LEN);
        check_width(self.name, "output", output.ncols(), Sh::LEN);
        if pass.mode == Mode::Infer || self.stddev == 0.0 {
            output.assign(&input);
            return;
        }

        let stddev = self.stddev;
        let added = self.noise.draw(pass.mode, input.nrows(), Sh::LEN, |rng| {
            stddev * noise::normal(rng)
        });
        noise::apply(input, output, added, Sh::LEN, |j| j, |x, n| x + n);
    }

    /// Passes the gradient through: the noise does not depend on the input.
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
    use crate::layers::noise::testing::{bits, moments, odd_input, run, TRAIN};
    use crate::shape::{Image, Vector};
    use ndarray::Array2;

    #[test]
    fn added_noise_has_mean_zero_and_the_given_stddev() {
        let mut layer = GaussianNoise::<Vector<1000>>::new("gaussian_noise", 42, 0.5);
        let input = Array2::from_elem((200, 1000), 3.0_f32);
        let output = run(&mut layer, &input, TRAIN);

        // n = 200,000 draws of N(0, 0.25): standard errors 0.5 / √n ≈ 0.0011 for the
        // mean and 0.25 · √(2 / n) ≈ 0.0008 for the variance.
        let (mean, var) = moments(&(&output - &input));
        assert!(mean.abs() < 5.0 * 0.5 / 2e5_f64.sqrt(), "{mean}");
        assert!(
            (var - 0.25).abs() < 5.0 * 0.25 * (2.0 / 2e5_f64).sqrt(),
            "{var}"
        );
    }

    #[test]
    fn inference_copies_the_input_bit_for_bit() {
        let mut layer = GaussianNoise::<Vector<7>>::new("gaussian_noise", 1, 2.0);
        let input = odd_input(3, 7);
        let output = run(&mut layer, &input, Pass::new(Mode::Infer));
        assert_eq!(bits(&output), bits(&input));
    }

    #[test]
    fn monte_carlo_reseeding_repeats_and_training_is_untouched() {
        let zeros = Array2::zeros((2, 40));
        let mc = Pass::new(Mode::MonteCarlo);
        let mut layer = GaussianNoise::<Vector<40>>::new("gaussian_noise", 5, 0.2);
        let mut reference = layer.clone();

        layer.reseed_monte_carlo(11);
        let first = run(&mut layer, &zeros, mc);
        layer.reseed_monte_carlo(11);
        assert_eq!(run(&mut layer, &zeros, mc), first);
        layer.reseed_monte_carlo(12);
        assert_ne!(run(&mut layer, &zeros, mc), first);
        let trained = run(&mut layer, &zeros, TRAIN);
        assert_eq!(trained, run(&mut reference, &zeros, TRAIN));
        assert_ne!(trained, first);
    }

    #[test]
    fn gradients_match_finite_differences_with_frozen_noise() {
        let mut layer = GaussianNoise::<Image<2, 3, 2>>::new("gaussian_noise", 5, 0.3);
        layer.freeze_noise(true);
        let report = check(
            &mut layer,
            random_input(3, 12, 4).view(),
            &Options::default(),
        );
        assert!(report.worst_relative_error < 1e-3, "{report}");
    }

    #[test]
    fn zero_stddev_is_the_identity_and_bad_values_are_refused() {
        let mut layer = GaussianNoise::<Vector<5>>::new("gaussian_noise", 1, 0.0);
        let input = random_input(2, 5, 1);
        assert_eq!(run(&mut layer, &input, TRAIN), input);
        assert!(!layer.is_stochastic());
        assert!(GaussianNoise::<Vector<5>>::new("g", 1, 0.1).is_stochastic());
        for stddev in [-0.1, f32::INFINITY, f32::NAN] {
            let error = GaussianNoise::<Vector<3>>::try_new("g", 0, stddev).unwrap_err();
            assert!(error.to_string().contains("stddev"), "{error}");
        }
        assert_eq!(layer.kind(), "GaussianNoise");
    }
}
