//! Dropout of whole feature maps.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2};

use super::check_width;
use super::noise::{self, Noise};
use crate::error::Result;
use crate::layer::{Layer, Mode, Pass};
use crate::rng::Rng;
use crate::shape::Shape;

/// Spatial dropout over image samples `Sh = Image<H, W, C>`, like Keras's
/// `SpatialDropout2D(rate)` on channels-last data.
///
/// Neighbouring pixels of a feature map are strongly correlated, so dropping them one by
/// one hardly removes any information; this layer instead drops whole channels. In training
/// each channel of each sample is zeroed with probability `rate` (every pixel of it
/// together) and the surviving channels are scaled by `1 / (1 − rate)`. Inference copies the
/// input bit for bit; Monte Carlo passes drop like training, drawing from the stream
/// `(seed, name, "mc")` instead of `(seed, name, "dropout")`. Each pass draws one 32-bit
/// number per (sample, channel), in row-major order. A rate of 0 is the identity in every
/// mode and not stochastic.
#[derive(Debug, Clone)]
pub struct SpatialDropout2d<Sh: Shape> {
    name: &'static str,
    rate: f32,
    /// Multiplier of the survivors, `1 / (1 − rate)` rounded once to `f32`.
    scale: f32,
    /// Draws below this drop their channel: `rate · 2³²`, rounded.
    threshold: u64,
    noise: Noise,
    shape: PhantomData<fn() -> Sh>,
}

impl<Sh: Shape> SpatialDropout2d<Sh> {
    const CHECK: () = assert!(
        Sh::DIMS.len() == 3 && Sh::LEN > 0,
        "SpatialDropout2d: the input must be an image with no zero size"
    );

    /// Channels per pixel: the last dimension of the image.
    const CHANNELS: usize = Sh::DIMS[Sh::DIMS.len() - 1];

    /// A spatial dropout layer named `name` that drops each channel with probability `rate`.
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1)`. `model!` checks the rate at compile time; use
    /// [`SpatialDropout2d::try_new`] for a rate known only at run time.
    pub fn new(name: &'static str, seed: u64, rate: f32) -> Self {
        match Self::try_new(name, seed, rate) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`SpatialDropout2d::new`], but returns [`crate::Error::InvalidConfig`] for a
    /// rate outside `[0, 1)`.
    pub fn try_new(name: &'static str, seed: u64, rate: f32) -> Result<Self> {
        let () = Self::CHECK;
        noise::check_rate(name, rate)?;
        Ok(Self {
            name,
            rate,
            scale: (1.0 / (1.0 - f64::from(rate))) as f32,
            threshold: noise::drop_threshold(rate),
            noise: Noise::new(name, seed),
            shape: PhantomData,
        })
    }

    /// The probability of dropping a channel.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// While frozen, a training forward replays the previous mask when the batch size is
    /// the same, so that gradient checks see one function. Training never freezes.
    pub fn freeze_noise(&mut self, frozen: bool) {
        self.noise.freeze(frozen);
    }
}

impl<Sh: Shape> Layer for SpatialDropout2d<Sh> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "SpatialDropout2D"
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

    /// Drops whole channels in training and Monte Carlo passes; copies in inference.
    ///
    /// # Shapes
    /// - `input`, `output`: `[batch, H·W·C]`, channels last
    /// - the mask: `[batch, C]`, shared by the `H·W` pixels of each channel
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

        let (threshold, scale, c) = (self.threshold, self.scale, Self::CHANNELS);
        let mask = self.noise.draw(pass.mode, input.nrows(), c, |rng| {
            if noise::keep(rng, threshold) {
                scale
            } else {
                0.0
            }
        });
        // Channels last: value `j` of a sample belongs to channel `j mod C`.
        noise::apply(input, output, mask, c, |j| j % c, |x, m| x * m);
    }

    /// Multiplies the output gradient by the channel mask of the last training forward.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, H·W·C]`
    /// - `output`, `grad_output`: `[batch, H·W·C]`
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
        let c = Self::CHANNELS;
        let mask = self.noise.cached(input.nrows(), c);
        noise::apply(
            grad_output.view(),
            grad_input,
            mask,
            c,
            |j| j % c,
            |g, m| g * m,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use crate::layers::noise::testing::{backward, bits, odd_input, run, TRAIN};
    use crate::shape::Image;
    use ndarray::{Array2, Array4};

    /// The output of a training pass on all-ones images, as `[batch, H, W, C]`.
    fn ones_output<const C: usize>(batch: usize, rate: f32) -> Array4<f32> {
        let mut layer = SpatialDropout2d::<Image<3, 4, C>>::new("spatial_dropout2d", 7, rate);
        let output = run(&mut layer, &Array2::ones((batch, 12 * C)), TRAIN);
        output.into_shape_with_order((batch, 3, 4, C)).unwrap()
    }

    #[test]
    fn every_pixel_of_a_channel_shares_its_fate_and_survivors_are_scaled() {
        let output = ones_output::<20>(6, 0.4);
        let survivor = (1.0_f64 / 0.6) as f32;

        for b in 0..6 {
            for c in 0..20 {
                let first = output[[b, 0, 0, c]];
                assert!(first == 0.0 || first == survivor, "{first}");
                assert!(output
                    .slice(ndarray::s![b, .., .., c])
                    .iter()
                    .all(|&v| v == first));
            }
        }
        // Fates differ between channels and between samples.
        let channel = |b, c| output[[b, 0, 0, c]];
        assert!((1..20).any(|c| channel(0, c) != channel(0, 0)));
        assert!((1..6).any(|b| channel(b, 3) != channel(0, 3)));
    }

    #[test]
    fn drops_the_rate_of_channels() {
        let output = ones_output::<500>(40, 0.25);
        let fates = output.slice(ndarray::s![.., 1, 2, ..]);

        // 20,000 channels: the standard error of the dropped fraction is
        // √(0.25 · 0.75 / 20,000) ≈ 0.0031.
        let dropped = fates.iter().filter(|&&v| v == 0.0).count() as f64 / fates.len() as f64;
        assert!((dropped - 0.25).abs() < 5.0 * 0.0031, "{dropped}");
    }

    #[test]
    fn works_for_a_batch_of_one() {
        let output = ones_output::<200>(1, 0.5);
        let dropped = output.iter().filter(|&&v| v == 0.0).count() / 12;

        // 200 channels at rate 0.5: 100 ± 7 dropped; far from none and from all.
        assert!((65..=135).contains(&dropped), "{dropped}");
    }

    #[test]
    fn inference_copies_and_backward_uses_the_training_mask() {
        let mut layer = SpatialDropout2d::<Image<2, 2, 3>>::new("spatial_dropout2d", 1, 0.5);
        let input = odd_input(3, 12);
        assert_eq!(
            bits(&run(&mut layer, &input, Pass::new(Mode::Infer))),
            bits(&input)
        );

        let ones = Array2::ones((3, 12));
        let trained = run(&mut layer, &ones, TRAIN);
        let _ = run(&mut layer, &ones, Pass::new(Mode::MonteCarlo));
        assert_eq!(backward(&mut layer, &ones, &ones), trained);
    }

    #[test]
    fn monte_carlo_reseeding_repeats_and_training_is_untouched() {
        let ones = Array2::ones((2, 12 * 16));
        let mc = Pass::new(Mode::MonteCarlo);
        let mut layer = SpatialDropout2d::<Image<3, 4, 16>>::new("spatial_dropout2d", 5, 0.5);
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
        let mut layer = SpatialDropout2d::<Image<2, 2, 3>>::new("spatial_dropout2d", 5, 0.3);
        layer.freeze_noise(true);
        let report = check(
            &mut layer,
            random_input(2, 12, 4).view(),
            &Options::default(),
        );
        assert!(report.worst_relative_error < 1e-3, "{report}");
    }

    #[test]
    fn rate_zero_is_the_identity_and_bad_rates_are_refused() {
        let mut layer = SpatialDropout2d::<Image<1, 2, 2>>::new("spatial_dropout2d", 1, 0.0);
        let input = random_input(2, 4, 1);
        assert_eq!(run(&mut layer, &input, TRAIN), input);
        assert!(!layer.is_stochastic());
        for rate in [1.0, -0.1, f32::NAN] {
            assert!(SpatialDropout2d::<Image<1, 1, 1>>::try_new("s", 0, rate).is_err());
        }
        assert_eq!(layer.kind(), "SpatialDropout2D");
        assert_eq!(layer.output_dims(), &[1, 2, 2]);
    }
}
