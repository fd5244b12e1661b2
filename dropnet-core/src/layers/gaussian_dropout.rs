//! Multiplicative Gaussian noise.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::check_width;
use super::noise::{self, Noise};
use crate::error::Result;
use crate::layer::{Layer, Mode, Pass};
use crate::rng::Rng;
use crate::shape::Shape;

/// Gaussian dropout over samples of shape `Sh`, like Keras's `GaussianDropout(rate)`.
///
/// In training each value is multiplied by its own draw of `N(1, rate / (1 − rate))`: the
/// same mean and variance as the multiplier of inverted dropout at that rate, but
/// continuous. Inference copies the input bit for bit; Monte Carlo passes multiply like
/// training, drawing from the stream `(seed, name, "mc")` instead of
/// `(seed, name, "dropout")`. A rate of 0 is the identity in every mode and not stochastic.
#[derive(Debug, Clone)]
pub struct GaussianDropout<Sh: Shape> {
    name: &'static str,
    rate: f32,
    /// Standard deviation of the multiplier, `√(rate / (1 − rate))`.
    stddev: f32,
    noise: Noise,
    shape: PhantomData<fn() -> Sh>,
}

impl<Sh: Shape> GaussianDropout<Sh> {
    const CHECK: () = assert!(
        Sh::LEN > 0,
        "GaussianDropout: the input shape must have no zero size"
    );

    /// A Gaussian dropout layer named `name` with multiplier variance `rate / (1 − rate)`.
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1)`. `model!` checks the rate at compile time; use
    /// [`GaussianDropout::try_new`] for a rate known only at run time.
    pub fn new(name: &'static str, seed: u64, rate: f32) -> Self {
        match Self::try_new(name, seed, rate) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`GaussianDropout::new`], but returns [`crate::Error::InvalidConfig`] for a
    /// rate outside `[0, 1)`.
    pub fn try_new(name: &'static str, seed: u64, rate: f32) -> Result<Self> {
        let () = Self::CHECK;
        noise::check_rate(name, rate)?;
        let rate64 = f64::from(rate);
        Ok(Self {
            name,
            rate,
            stddev: (rate64 / (1.0 - rate64)).sqrt() as f32,
            noise: Noise::new(name, seed),
            shape: PhantomData,
        })
    }

    /// The rate the multiplier's variance is derived from.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// While frozen, a training forward replays the previous multipliers when the batch
    /// size is the same, so that gradient checks see one function. Training never freezes.
    pub fn freeze_noise(&mut self, frozen: bool) {
        self.noise.freeze(frozen);
    }
}

impl<Sh: Shape> Layer for GaussianDropout<Sh> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "GaussianDropout"
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

    /// Multiplies by fresh noise in training and Monte Carlo passes; copies in inference.
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

        let stddev = self.stddev;
        let multipliers = self.noise.draw(pass.mode, input.nrows(), Sh::LEN, |rng| {
            1.0 + stddev * noise::normal(rng)
        });
        noise::apply(input, output, multipliers, Sh::LEN, |j| j, |x, m| x * m);
    }

    /// Multiplies the output gradient by the multipliers of the last training forward.
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
        let multipliers = self.noise.cached(input.nrows(), Sh::LEN);
        let view = grad_output.view();
        noise::apply(view, grad_input, multipliers, Sh::LEN, |j| j, |g, m| g * m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use crate::layers::noise::testing::{backward, bits, moments, odd_input, run, TRAIN};
    use crate::shape::{Image, Vector};
    use ndarray::Array2;

    #[test]
    fn multiplier_has_mean_one_and_variance_rate_over_one_minus_rate() {
        let mut layer = GaussianDropout::<Vector<1000>>::new("gaussian_dropout", 42, 0.3);
        let output = run(&mut layer, &Array2::ones((200, 1000)), TRAIN);

        // n = 200,000; the multiplier is N(1, 0.3 / 0.7), so the standard error of the
        // mean is √(0.4286 / n) ≈ 0.0015 and of the variance 0.4286 · √(2 / n) ≈ 0.0014.
        let (mean, var) = moments(&output);
        let expected = 0.3 / 0.7;
        assert!(
            (mean - 1.0).abs() < 5.0 * (expected / 2e5_f64).sqrt(),
            "{mean}"
        );
        assert!(
            (var - expected).abs() < 5.0 * expected * (2.0 / 2e5_f64).sqrt(),
            "{var}"
        );
    }

    #[test]
    fn inference_copies_the_input_bit_for_bit() {
        let mut layer = GaussianDropout::<Vector<7>>::new("gaussian_dropout", 1, 0.5);
        let input = odd_input(3, 7);
        let output = run(&mut layer, &input, Pass::new(Mode::Infer));
        assert_eq!(bits(&output), bits(&input));
    }

    #[test]
    fn backward_multiplies_by_the_training_noise_not_the_monte_carlo_noise() {
        let mut layer = GaussianDropout::<Vector<30>>::new("gaussian_dropout", 3, 0.4);
        let ones = Array2::ones((4, 30));
        let trained = run(&mut layer, &ones, TRAIN);
        let sampled = run(&mut layer, &ones, Pass::new(Mode::MonteCarlo));

        assert_ne!(sampled, trained);
        assert_eq!(backward(&mut layer, &ones, &ones), trained);
    }

    #[test]
    fn monte_carlo_reseeding_repeats_and_training_is_untouched() {
        let ones = Array2::ones((2, 40));
        let mc = Pass::new(Mode::MonteCarlo);
        let mut layer = GaussianDropout::<Vector<40>>::new("gaussian_dropout", 5, 0.2);
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
    fn gradients_match_finite_differences_with_frozen_noise() {
        let mut layer = GaussianDropout::<Image<2, 3, 2>>::new("gaussian_dropout", 5, 0.3);
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
        let mut layer = GaussianDropout::<Vector<5>>::new("gaussian_dropout", 1, 0.0);
        let input = random_input(2, 5, 1);
        assert_eq!(run(&mut layer, &input, TRAIN), input);
        assert!(!layer.is_stochastic());
        assert!(GaussianDropout::<Vector<5>>::new("g", 1, 0.1).is_stochastic());
        for rate in [1.0, -0.1, f32::NAN] {
            assert!(GaussianDropout::<Vector<3>>::try_new("g", 0, rate).is_err());
        }
        assert_eq!(layer.kind(), "GaussianDropout");
        assert_eq!(layer.param_count(), 0);
    }
}
