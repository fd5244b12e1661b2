//! Alpha dropout for self-normalising networks.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::check_width;
use super::noise::{self, Noise};
use crate::activation::Selu;
use crate::error::Result;
use crate::layer::{Layer, Mode, Pass};
use crate::rng::Rng;
use crate::shape::Shape;

/// Alpha dropout over samples of shape `Sh`, like Keras's `AlphaDropout(rate)`.
///
/// Plain dropout sets values to 0, which shifts the mean and variance a SELU network relies
/// on. Alpha dropout sets dropped values to SELU's negative saturation `α' = −λα` instead,
/// then applies the affine map that restores mean 0 and variance 1 for an input with mean
/// 0 and variance 1. With `q = 1 − rate` kept and `k` the keep mask (1 kept, 0 dropped):
///
/// ```text
/// a = (q + α'² q (1 − q))^(−1/2)      b = −a α' (1 − q)
/// y = a (x k + α' (1 − k)) + b
/// ```
///
/// Inference copies the input bit for bit; Monte Carlo passes drop like training, drawing
/// from the stream `(seed, name, "mc")` instead of `(seed, name, "dropout")`, one 32-bit
/// number per value. A rate of 0 is the identity in every mode and not stochastic.
#[derive(Debug, Clone)]
pub struct AlphaDropout<Sh: Shape> {
    name: &'static str,
    rate: f32,
    /// Draws below this drop their value: `rate · 2³²`, rounded.
    threshold: u64,
    /// The affine map's slope `a`.
    a: f32,
    /// What a dropped value becomes: `a α' + b`.
    dropped: f32,
    /// What is added to a kept value: `b`.
    b: f32,
    noise: Noise,
    shape: PhantomData<fn() -> Sh>,
}

impl<Sh: Shape> AlphaDropout<Sh> {
    const CHECK: () = assert!(
        Sh::LEN > 0,
        "AlphaDropout: the input shape must have no zero size"
    );

    /// An alpha dropout layer named `name` that drops each value with probability `rate`.
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1)`. `model!` checks the rate at compile time; use
    /// [`AlphaDropout::try_new`] for a rate known only at run time.
    pub fn new(name: &'static str, seed: u64, rate: f32) -> Self {
        match Self::try_new(name, seed, rate) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`AlphaDropout::new`], but returns [`crate::Error::InvalidConfig`] for a rate
    /// outside `[0, 1)`.
    pub fn try_new(name: &'static str, seed: u64, rate: f32) -> Result<Self> {
        let () = Self::CHECK;
        noise::check_rate(name, rate)?;

        // In f64 from Keras's full constants, rounded once at the end.
        let alpha_p = -1.050_700_987_355_480_5_f64 * 1.673_263_242_354_377_3;
        let q = 1.0 - f64::from(rate);
        let a = (q + alpha_p * alpha_p * q * (1.0 - q)).powf(-0.5);
        let b = -a * alpha_p * (1.0 - q);
        debug_assert!((alpha_p as f32 + Selu::SCALE * Selu::ALPHA).abs() < 1e-6);
        Ok(Self {
            name,
            rate,
            threshold: noise::drop_threshold(rate),
            a: a as f32,
            dropped: (a * alpha_p + b) as f32,
            b: b as f32,
            noise: Noise::new(name, seed),
            shape: PhantomData,
        })
    }

    /// The probability of dropping a value.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// While frozen, a training forward replays the previous mask when the batch size is
    /// the same, so that gradient checks see one function. Training never freezes.
    pub fn freeze_noise(&mut self, frozen: bool) {
        self.noise.freeze(frozen);
    }
}

impl<Sh: Shape> Layer for AlphaDropout<Sh> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "AlphaDropout"
    }

    fn input_dims(&self) -> &'static [usize] {
        Sh::DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Sh::DIMS
    }

    /// True unless the rate is 0.
    fn is_stochastic(&self) -> bool {
        self.rate > 0.0
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

    /// Drops to the saturation value and renormalises in training and Monte Carlo passes;
    /// copies in inference.
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
        if pass.mode == Mode::Infer || self.rate == 0.0 {
            output.assign(&input);
            return;
        }

        let threshold = self.threshold;
        let (a, b, dropped) = (self.a, self.b, self.dropped);
        // The mask holds 1 for a kept value and 0 for a dropped one.
        let mask = self.noise.draw(pass.mode, input.nrows(), Sh::LEN, |rng| {
            f32::from(u8::from(noise::keep(rng, threshold)))
        });
        let f = |x: f32, k: f32| if k > 0.0 { a * x + b } else { dropped };
        noise::apply(input, output, mask, Sh::LEN, |j| j, f);
    }

    /// The gradient is `a` for kept values and 0 for dropped ones (their output is a
    /// constant), from the mask of the last training forward.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, Sh::LEN]`
    /// - `output`, `grad_output`: `[batch, Sh::LEN]`
    ///
    /// # Panics
    /// If no training forward of this batch size came before (with a nonzero rate).
    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        _output: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        _pass: Pass,
    ) {
        let Some(mut grad_input) = grad_input else {
            return;
        };
        if self.rate == 0.0 {
            grad_input.assign(&grad_output);
            return;
        }
        let a = self.a;
        let mask = self.noise.cached(input.nrows(), Sh::LEN);
        noise::apply(
            grad_output.view(),
            grad_input,
            mask,
            Sh::LEN,
            |j| j,
            |g, k| g * a * k,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use crate::layers::noise::testing::{backward, bits, moments, odd_input, run, TRAIN};
    use crate::shape::{Image, Vector};
    use ndarray::Array2;

    fn standard_normal(rows: usize, cols: usize) -> Array2<f32> {
        let mut rng = crate::rng::stream(3, "alpha_dropout", "test");
        Array2::from_shape_fn((rows, cols), |_| noise::normal(&mut rng))
    }

    #[test]
    fn keeps_mean_zero_and_variance_one_of_a_standard_normal_input() {
        let mut layer = AlphaDropout::<Vector<1000>>::new("alpha_dropout", 42, 0.2);
        let output = run(&mut layer, &standard_normal(200, 1000), TRAIN);

        // n = 200,000 values of variance 1: the mean's standard error is 1/√n ≈ 0.0022; the
        // output mixes a scaled normal with a point mass, whose fourth moment stays below 4,
        // so the variance's standard error is below √(3 / n) ≈ 0.0039.
        let (mean, var) = moments(&output);
        assert!(mean.abs() < 5.0 / 2e5_f64.sqrt(), "{mean}");
        assert!((var - 1.0).abs() < 5.0 * (3.0 / 2e5_f64).sqrt(), "{var}");
    }

    #[test]
    fn dropped_values_take_the_saturation_value_at_the_rate() {
        let mut layer = AlphaDropout::<Vector<1000>>::new("alpha_dropout", 1, 0.2);
        let output = run(&mut layer, &Array2::from_elem((20, 1000), 7.0), TRAIN);

        // Keras's a and b for rate 0.2, computed independently in f64.
        let alpha_p = -1.0507009873554805_f64 * 1.6732632423543772;
        let a = (0.8 * (1.0 + 0.2 * alpha_p * alpha_p)).powf(-0.5);
        let b = -a * alpha_p * 0.2;
        let (kept, dropped) = ((a * 7.0 + b) as f32, (a * alpha_p + b) as f32);
        assert!(output
            .iter()
            .all(|&v| (v - kept).abs() < 1e-5 || (v - dropped).abs() < 1e-6));
        let share = output
            .iter()
            .filter(|&&v| (v - dropped).abs() < 1e-6)
            .count() as f64
            / 2e4;
        // Standard error √(0.2 · 0.8 / 20,000) ≈ 0.0028.
        assert!((share - 0.2).abs() < 5.0 * 0.0028, "{share}");
    }

    #[test]
    fn inference_copies_and_backward_uses_the_training_mask() {
        let mut layer = AlphaDropout::<Vector<30>>::new("alpha_dropout", 1, 0.5);
        let input = odd_input(3, 30);
        assert_eq!(
            bits(&run(&mut layer, &input, Pass::new(Mode::Infer))),
            bits(&input)
        );

        let (zeros, ones) = (Array2::zeros((3, 30)), Array2::ones((3, 30)));
        let trained = run(&mut layer, &zeros, TRAIN);
        let _ = run(&mut layer, &zeros, Pass::new(Mode::MonteCarlo));
        let grad = backward(&mut layer, &zeros, &ones);
        // Kept values (output b) have slope a; dropped ones (output a α' + b) slope 0.
        for (g, y) in grad.iter().zip(&trained) {
            assert_eq!(*g, if *y == layer.b { layer.a } else { 0.0 });
        }
        assert!(grad.iter().any(|&g| g == 0.0) && grad.iter().any(|&g| g > 0.0));
    }

    #[test]
    fn monte_carlo_reseeding_repeats_and_training_is_untouched() {
        let ones = Array2::ones((2, 40));
        let mc = Pass::new(Mode::MonteCarlo);
        let mut layer = AlphaDropout::<Vector<40>>::new("alpha_dropout", 5, 0.3);
        let mut reference = layer.clone();

        layer.reseed_monte_carlo(11);
        let first = run(&mut layer, &ones, mc);
        layer.reseed_monte_carlo(11);
        assert_eq!(run(&mut layer, &ones, mc), first);
        layer.reseed_monte_carlo(12);
        assert_ne!(run(&mut layer, &ones, mc), first);
        assert_eq!(
            run(&mut layer, &ones, TRAIN),
            run(&mut reference, &ones, TRAIN)
        );
    }

    #[test]
    fn gradients_match_finite_differences_with_a_frozen_mask() {
        let mut layer = AlphaDropout::<Image<2, 3, 2>>::new("alpha_dropout", 5, 0.3);
        layer.freeze_noise(true);
        let report = check(
            &mut layer,
            random_input(3, 12, 4).view(),
            &Options::default(),
        );
        assert!(report.worst_relative_error < 1e-3, "{report}");
    }

    #[test]
    fn rate_zero_is_the_identity_and_bad_rates_are_refused() {
        let mut layer = AlphaDropout::<Vector<5>>::new("alpha_dropout", 1, 0.0);
        let input = random_input(2, 5, 1);
        assert_eq!(run(&mut layer, &input, TRAIN), input);
        assert!(!layer.is_stochastic());
        for rate in [1.0, -0.1, f32::NAN] {
            assert!(AlphaDropout::<Vector<3>>::try_new("a", 0, rate).is_err());
        }
        assert_eq!(layer.kind(), "AlphaDropout");
    }
}
