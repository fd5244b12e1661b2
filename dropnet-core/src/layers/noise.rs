//! Random streams and noise buffers shared by the dropout family.
//!
//! Every stochastic layer draws its training noise from `(seed, name, "dropout")` and its
//! Monte Carlo noise from `(seed, name, "mc")`, keeps the training noise of the last pass
//! for backward, and can freeze it for gradient checks. Only how a value of noise is drawn
//! and applied differs between layers, so that part is passed in as a closure.

use rand::Rng as _;

use crate::error::{Error, Result};
use crate::layer::Mode;
use crate::rng::{self, Rng};

/// The purpose of the training stream of every layer of the dropout family.
pub(super) const TRAINING: &str = "dropout";

/// The two streams of a stochastic layer and the noise of its last training pass.
#[derive(Debug, Clone)]
pub(super) struct Noise {
    name: &'static str,
    train_rng: Rng,
    mc_rng: Rng,
    /// Noise of the last training pass, `[batch, per_sample]`.
    cached: Vec<f32>,
    /// Noise of the last Monte Carlo pass, kept apart so sampling never touches `cached`.
    scratch: Vec<f32>,
    /// Batch size whose noise `cached` holds, set by a training pass.
    cached_batch: Option<usize>,
    frozen: bool,
}

impl Noise {
    /// The streams of the layer `name` under the model seed `seed`.
    pub(super) fn new(name: &'static str, seed: u64) -> Self {
        Self {
            name,
            train_rng: rng::stream(seed, name, TRAINING),
            mc_rng: rng::stream(seed, name, "mc"),
            cached: Vec::new(),
            scratch: Vec::new(),
            cached_batch: None,
            frozen: false,
        }
    }

    /// The training stream with its purpose, for checkpoints.
    pub(super) fn training_stream(&self) -> (&'static str, &Rng) {
        (TRAINING, &self.train_rng)
    }

    /// The training stream with its purpose, mutably, for restoring a checkpoint.
    pub(super) fn training_stream_mut(&mut self) -> (&'static str, &mut Rng) {
        (TRAINING, &mut self.train_rng)
    }

    /// Restarts the Monte Carlo stream as `(seed, name, "mc")`.
    pub(super) fn reseed_monte_carlo(&mut self, seed: u64) {
        self.mc_rng = rng::stream(seed, self.name, "mc");
    }

    /// See the layers' `freeze_noise`: training passes replay the cached noise.
    pub(super) fn freeze(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// The noise for a pass in `mode` (training or Monte Carlo) over `batch` samples of
    /// `per_sample` values each, drawn by `draw` unless a frozen training pass replays it.
    ///
    /// # Shapes
    /// Returns `[batch, per_sample]` in row-major order.
    pub(super) fn draw(
        &mut self,
        mode: Mode,
        batch: usize,
        per_sample: usize,
        draw: impl FnMut(&mut Rng) -> f32,
    ) -> &[f32] {
        let len = batch * per_sample;
        if mode != Mode::Train {
            return fill(&mut self.mc_rng, &mut self.scratch, len, draw);
        }
        if !(self.frozen && self.cached_batch == Some(batch)) {
            fill(&mut self.train_rng, &mut self.cached, len, draw);
        }
        self.cached_batch = Some(batch);
        &self.cached[..len]
    }

    /// The noise of the last training pass, which must have had `batch` samples.
    ///
    /// # Panics
    /// If no training pass of this batch size came before, as the noise is then unknown.
    pub(super) fn cached(&self, batch: usize, per_sample: usize) -> &[f32] {
        assert_eq!(
            self.cached_batch,
            Some(batch),
            "layer `{}`: backward needs a training forward of the same batch first",
            self.name
        );
        &self.cached[..batch * per_sample]
    }
}

/// Draws `len` values into the front of `buffer`, growing it when too short.
fn fill<'a>(
    rng: &mut Rng,
    buffer: &'a mut Vec<f32>,
    len: usize,
    mut draw: impl FnMut(&mut Rng) -> f32,
) -> &'a [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    buffer[..len].iter_mut().for_each(|v| *v = draw(rng));
    &buffer[..len]
}

/// A Bernoulli draw: true (keep) with probability `1 − rate`, where `threshold` is
/// [`drop_threshold`] of the rate. One 32-bit number per draw, like `Dropout`.
pub(super) fn keep(rng: &mut Rng, threshold: u64) -> bool {
    u64::from(rng.random::<u32>()) >= threshold
}

/// The 32-bit draws below which a value is dropped: `rate · 2³²`, rounded.
pub(super) fn drop_threshold(rate: f32) -> u64 {
    (f64::from(rate) * 4_294_967_296.0).round() as u64
}

/// A standard normal draw.
pub(super) fn normal(rng: &mut Rng) -> f32 {
    rng.sample(rand_distr::StandardNormal)
}

/// [`Error::InvalidConfig`] unless `rate` is in `[0, 1)`.
pub(super) fn check_rate(name: &str, rate: f32) -> Result<()> {
    if (0.0..1.0).contains(&rate) {
        return Ok(());
    }
    let reason = format!("dropout rate must be in [0, 1), got {rate} in layer `{name}`");
    Err(Error::config("rate", reason))
}

/// Writes `f(x, noise)` for each value `x` of `input` into `output`.
///
/// `index(j)` maps the position `j` of a value within its sample to the position of its
/// noise value within that sample's noise row: the identity for element-wise noise, the
/// channel for noise shared by every pixel of a feature map.
///
/// # Shapes
/// - `input`, `output`: `[batch, len]`
/// - `noise`: `[batch, per_sample]`, row-major
pub(super) fn apply(
    input: ndarray::ArrayView2<'_, f32>,
    mut output: ndarray::ArrayViewMut2<'_, f32>,
    noise: &[f32],
    per_sample: usize,
    index: impl Fn(usize) -> usize,
    f: impl Fn(f32, f32) -> f32,
) {
    let rows = output.rows_mut().into_iter().zip(input.rows());
    for ((mut out_row, in_row), row_noise) in rows.zip(noise.chunks_exact(per_sample.max(1))) {
        for (j, (y, &x)) in out_row.iter_mut().zip(in_row.iter()).enumerate() {
            *y = f(x, row_noise[index(j)]);
        }
    }
}

/// Helpers shared by the tests of the dropout family.
#[cfg(test)]
pub(super) mod testing {
    use ndarray::Array2;

    use crate::layer::{Layer, Mode, Pass};

    /// A training pass.
    pub const TRAIN: Pass = Pass {
        mode: Mode::Train,
        logits: false,
    };

    /// The output of one forward pass, starting from a NaN-filled buffer so that a value
    /// the layer forgot to write shows.
    pub fn run(layer: &mut dyn Layer, input: &Array2<f32>, pass: Pass) -> Array2<f32> {
        let mut output = Array2::from_elem(input.raw_dim(), f32::NAN);
        layer.forward(input.view(), output.view_mut(), pass);
        output
    }

    /// The gradient with respect to the input for an upstream gradient `grad`.
    pub fn backward(layer: &mut dyn Layer, input: &Array2<f32>, grad: &Array2<f32>) -> Array2<f32> {
        let output = Array2::zeros(input.raw_dim());
        let mut grad = grad.clone();
        let mut grad_input = Array2::from_elem(input.raw_dim(), f32::NAN);
        let (out, g, gi) = (output.view(), grad.view_mut(), Some(grad_input.view_mut()));
        layer.backward(input.view(), out, g, gi, TRAIN);
        grad_input
    }

    /// Sample mean and (population) variance, in f64.
    pub fn moments<'a>(values: impl IntoIterator<Item = &'a f32>) -> (f64, f64) {
        let values: Vec<f64> = values.into_iter().map(|&v| f64::from(v)).collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    /// The bit patterns of `a`, so NaNs and signed zeros compare exactly.
    pub fn bits(a: &Array2<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    /// A batch of awkward values (NaN, −0, subnormal, ∞, huge) for bit-exact identity tests.
    pub fn odd_input(rows: usize, cols: usize) -> Array2<f32> {
        let odd = [
            f32::NAN,
            -0.0,
            f32::MIN_POSITIVE / 4.0,
            f32::INFINITY,
            1e30,
            -3.5,
        ];
        Array2::from_shape_fn((rows, cols), |(i, j)| odd[(i + j) % odd.len()])
    }
}
