//! Inverted dropout.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::noise::TRAINING;
use super::{check_width, prefix, row_major, with_reshaped};
use crate::error::{Error, Result};
use crate::layer::{Layer, Mode, Pass};
use crate::rng::{self, Rng};
use crate::shape::Shape;

/// Inverted dropout over samples of shape `Sh`, like Keras's `Dropout(rate)`.
///
/// In training each value is zeroed with probability `rate` and the survivors are scaled by
/// `1 / (1 − rate)`, so the expected output equals the input and inference needs no
/// rescaling. In inference the layer copies its input bit for bit. Monte Carlo passes drop
/// like training does, but from a stream of their own.
///
/// Masks come from the streams `(seed, name, "dropout")` for training and
/// `(seed, name, "mc")` for Monte Carlo sampling; each pass draws one 32-bit number per
/// value, in row-major order, and drops the value when that number is below
/// `rate · 2³²` (rounded). A rate of 0 draws nothing and is the identity in every mode;
/// such a layer reports [`Layer::is_stochastic`] as false, because it cannot make two
/// passes differ.
///
/// With [`Dropout::with_noise_shape`] one mask value is drawn per cell of a smaller noise
/// shape and shared along the axes where that shape has size 1 (Keras's `noise_shape`);
/// each pass then draws one number per sample and noise cell instead.
///
/// For gradient checks, [`Dropout::freeze_mask`] makes training passes replay the last
/// mask instead of drawing a new one.
#[derive(Debug, Clone)]
pub struct Dropout<Sh: Shape> {
    name: &'static str,
    rate: f32,
    /// Multiplier of the survivors, `1 / (1 − rate)` rounded once to `f32`.
    scale: f32,
    /// Values whose 32-bit draw is below this are dropped: `rate · 2³²`, rounded.
    threshold: u64,
    train_rng: Rng,
    mc_rng: Rng,
    /// The last training mask as multipliers (0 or `scale`), `[batch, Sh::LEN]`.
    mask: Vec<f32>,
    /// Scratch for the random numbers of one pass, `[batch, cells]`.
    draws: Vec<u32>,
    /// The last Monte Carlo mask, kept apart from the training one, `[batch, Sh::LEN]`.
    mc_mask: Vec<f32>,
    /// For a noise shape, the noise cell of each value of a sample (`[Sh::LEN]`); empty
    /// when every value has a cell of its own.
    cell_of: Vec<usize>,
    /// Noise cells per sample: `Sh::LEN` unless a noise shape shares them.
    cells: usize,
    /// Batch size whose mask `mask` holds, set by a training forward.
    cached_batch: Option<usize>,
    frozen: bool,
    shape: PhantomData<fn() -> Sh>,
}

impl<Sh: Shape> Dropout<Sh> {
    /// Per-sample input and output shape.
    pub const DIMS: &'static [usize] = Sh::DIMS;

    const CHECK: () = assert!(
        Sh::LEN > 0,
        "Dropout: the input shape must have no zero size"
    );

    /// A dropout layer named `name` that drops each value with probability `rate`.
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1)`. `model!` checks the rate at compile time; use
    /// [`Dropout::try_new`] for a rate known only at run time.
    pub fn new(name: &'static str, seed: u64, rate: f32) -> Self {
        match Self::try_new(name, seed, rate) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`Dropout::new`], but returns [`Error::InvalidConfig`] for a rate outside
    /// `[0, 1)` (1 would drop everything and scale by infinity).
    pub fn try_new(name: &'static str, seed: u64, rate: f32) -> Result<Self> {
        let () = Self::CHECK;
        if !(0.0..1.0).contains(&rate) {
            let reason = format!("dropout rate must be in [0, 1), got {rate} in layer `{name}`");
            return Err(Error::config("rate", reason));
        }
        Ok(Self {
            name,
            rate,
            scale: (1.0 / (1.0 - f64::from(rate))) as f32,
            threshold: (f64::from(rate) * 4_294_967_296.0).round() as u64,
            train_rng: rng::stream(seed, name, TRAINING),
            mc_rng: rng::stream(seed, name, "mc"),
            mask: Vec::new(),
            draws: Vec::new(),
            mc_mask: Vec::new(),
            cell_of: Vec::new(),
            cells: Sh::LEN,
            cached_batch: None,
            frozen: false,
            shape: PhantomData,
        })
    }

    /// The probability of dropping a value.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// Changes the probability of dropping a value, so that one declared model can be run
    /// at several rates. The streams go on where they were; the next pass uses the new
    /// rate, while a mask already drawn for backward is kept.
    ///
    /// Fails with [`Error::InvalidConfig`] for a rate outside `[0, 1)`, leaving the layer
    /// unchanged.
    pub fn set_rate(&mut self, rate: f32) -> Result<()> {
        // The constructor checks the rate and rounds the scale and threshold; reuse it so
        // a changed layer is exactly a layer built with that rate.
        let fresh = Self::try_new(self.name, 0, rate)?;
        self.rate = fresh.rate;
        self.scale = fresh.scale;
        self.threshold = fresh.threshold;
        Ok(())
    }

    /// While frozen, a training forward reuses the previous training mask when it has the
    /// same batch size, instead of drawing a new one; it still draws when there is none.
    ///
    /// Gradient checks need this: every evaluation of the perturbed loss must see the
    /// same mask. Training never freezes.
    pub fn freeze_mask(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// The same layer with its mask shared along the axes where `noise_shape` is 1, like
    /// Keras's `Dropout(rate, noise_shape=...)` without the batch axis: `noise_shape` has
    /// one entry per axis of `Sh`, each 1 (one mask value for the whole axis) or the axis
    /// size (a value per index). `(1, 1, 32)` on a 13×13×32 image drops whole channels.
    ///
    /// # Panics
    /// If `noise_shape` does not fit `Sh` as above. `model!` rejects such a shape at compile
    /// time; use [`Dropout::try_with_noise_shape`] for one known only at run time.
    pub fn with_noise_shape(self, noise_shape: &[usize]) -> Self {
        match self.try_with_noise_shape(noise_shape) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`Dropout::with_noise_shape`], but returns [`Error::InvalidConfig`] for a
    /// noise shape that does not fit `Sh`.
    pub fn try_with_noise_shape(mut self, noise_shape: &[usize]) -> Result<Self> {
        let dims = Sh::DIMS;
        let fits = noise_shape.len() == dims.len()
            && noise_shape
                .iter()
                .zip(dims)
                .all(|(&n, &d)| n == 1 || n == d);
        if !fits {
            let reason = format!(
                "noise shape {noise_shape:?} does not fit the input {dims:?} of layer `{}`: \
                 each entry must be 1 or the size of its axis",
                self.name
            );
            return Err(Error::config("noise_shape", reason));
        }

        // Row-major strides of the noise shape, 0 along shared axes, so that a value's cell
        // is the dot product of its index with them.
        let mut strides = vec![0; dims.len()];
        let mut stride = 1;
        for (axis, &n) in noise_shape.iter().enumerate().rev() {
            strides[axis] = if n == 1 { 0 } else { stride };
            stride *= n;
        }
        self.cells = stride;
        self.cell_of = (0..Sh::LEN)
            .map(|mut j| {
                // Peel the axis indices off the flat position, innermost axis first.
                let mut cell = 0;
                for (&d, &s) in dims.iter().zip(&strides).rev() {
                    cell += (j % d) * s;
                    j /= d;
                }
                cell
            })
            .collect();
        Ok(self)
    }

    /// Draws one 32-bit number per sample and noise cell from `rng` and writes the
    /// multipliers they give into `mask`: 0 (dropped) or `scale` (kept).
    ///
    /// # Shapes
    /// - `mask`: `[batch, Sh::LEN]`
    /// - `draws`: scratch for `[batch, cells]`
    fn fill_mask(&mut self, monte_carlo: bool, batch: usize) {
        let (threshold, scale) = (self.threshold, self.scale);
        let multiplier = move |d: u32| if u64::from(d) < threshold { 0.0 } else { scale };
        let len = batch * self.cells;
        if self.draws.len() < len {
            self.draws.resize(len, 0);
        }
        let (rng, mask) = match monte_carlo {
            true => (&mut self.mc_rng, &mut self.mc_mask),
            false => (&mut self.train_rng, &mut self.mask),
        };
        // Bulk fills keep the generator in its fast block path.
        rng::fill_parallel(rng, &mut self.draws[..len]);
        let (draws, mask) = (&self.draws[..len], prefix(mask, batch * Sh::LEN));

        if self.cell_of.is_empty() {
            mask.par_chunks_mut(PARALLEL_CHUNK)
                .zip(draws.par_chunks(PARALLEL_CHUNK))
                .for_each(|(mask, draws)| {
                    mask.iter_mut()
                        .zip(draws)
                        .for_each(|(m, &d)| *m = multiplier(d));
                });
            return;
        }
        let rows = mask
            .chunks_exact_mut(Sh::LEN)
            .zip(draws.chunks_exact(self.cells));
        for (mask_row, row_draws) in rows {
            for (m, &cell) in mask_row.iter_mut().zip(&self.cell_of) {
                *m = multiplier(row_draws[cell]);
            }
        }
    }

    /// Training forward: draws (or replays) the mask, keeps it, applies it.
    ///
    /// # Shapes
    /// `input`, `output`: `[batch, Sh::LEN]`
    fn forward_train(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>) {
        let batch = input.nrows();
        let replay = self.frozen && self.cached_batch == Some(batch);
        if !replay {
            self.fill_mask(false, batch);
        }
        self.cached_batch = Some(batch);

        multiply(input, &self.mask[..batch * Sh::LEN], output);
    }

    /// Monte Carlo forward: drops from the Monte Carlo stream and keeps nothing, so the
    /// training mask and stream are left as they were.
    ///
    /// # Shapes
    /// `input`, `output`: `[batch, Sh::LEN]`
    fn forward_monte_carlo(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>) {
        let batch = input.nrows();
        self.fill_mask(true, batch);

        multiply(input, &self.mc_mask[..batch * Sh::LEN], output);
    }
}

/// Values per task when a mask is made or applied on rayon's threads.
const PARALLEL_CHUNK: usize = 1 << 14;

/// `output = values ⊙ mask`, element by element, in parallel parts.
///
/// # Shapes
/// `values`, `output`: `[batch, len]`; `mask`: `batch · len` values, row-major.
fn multiply(values: ArrayView2<'_, f32>, mask: &[f32], output: ArrayViewMut2<'_, f32>) {
    let (rows, cols) = values.dim();
    let values = row_major(&values);
    with_reshaped(output, rows, cols, |mut output| {
        let output = output
            .as_slice_mut()
            .expect("with_reshaped gives a standard layout");
        output
            .par_chunks_mut(PARALLEL_CHUNK)
            .zip(values.par_chunks(PARALLEL_CHUNK))
            .zip(mask.par_chunks(PARALLEL_CHUNK))
            .for_each(|((y, x), m)| {
                y.iter_mut()
                    .zip(x)
                    .zip(m)
                    .for_each(|((y, &x), &m)| *y = x * m);
            });
    });
}

impl<Sh: Shape> Layer for Dropout<Sh> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "Dropout"
    }

    /// A frozen mask belongs to the whole batch, so a frozen layer gives no copy.
    fn replicate(&self) -> Option<Box<dyn Layer>> {
        if self.frozen {
            return None;
        }
        // The masks and draws belong to this layer's last batch; a copy sizes its own.
        Some(Box::new(Self {
            train_rng: self.train_rng.clone(),
            mc_rng: self.mc_rng.clone(),
            mask: Vec::new(),
            draws: Vec::new(),
            mc_mask: Vec::new(),
            cell_of: self.cell_of.clone(),
            cached_batch: None,
            ..*self
        }))
    }

    /// One word per cell of a sample (a value, or a channel under a noise shape), unless
    /// the mask is frozen: then nothing is drawn.
    fn words_per_sample(&self) -> Option<u64> {
        match self.frozen || !self.is_stochastic() {
            true => Some(0),
            false => Some(self.cells as u64),
        }
    }

    fn input_dims(&self) -> &'static [usize] {
        Sh::DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Sh::DIMS
    }

    /// True unless the rate is 0, which makes the layer the identity in every mode.
    fn is_stochastic(&self) -> bool {
        self.rate > 0.0
    }

    fn reseed_monte_carlo(&mut self, seed: u64) {
        self.mc_rng = rng::stream(seed, self.name, "mc");
    }

    fn training_streams(&self) -> Vec<(&'static str, &Rng)> {
        vec![(TRAINING, &self.train_rng)]
    }

    fn training_streams_mut(&mut self) -> Vec<(&'static str, &mut Rng)> {
        vec![(TRAINING, &mut self.train_rng)]
    }

    /// Drops and rescales in training and Monte Carlo passes; copies in inference.
    ///
    /// # Shapes
    /// - `input`: `[batch, Sh::LEN]`
    /// - `output`: `[batch, Sh::LEN]`
    fn forward(
        &mut self,
        input: ArrayView2<'_, f32>,
        mut output: ArrayViewMut2<'_, f32>,
        pass: Pass,
    ) {
        check_width(self.name, "input", input.ncols(), Sh::LEN);
        check_width(self.name, "output", output.ncols(), Sh::LEN);

        match pass.mode {
            _ if self.rate == 0.0 => output.assign(&input),
            Mode::Infer => output.assign(&input),
            Mode::Train => self.forward_train(input, output),
            Mode::MonteCarlo => self.forward_monte_carlo(input, output),
        }
    }

    /// Multiplies the output gradient by the mask of the last training forward.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, Sh::LEN]`
    /// - `output`, `grad_output`: `[batch, Sh::LEN]`
    ///
    /// # Panics
    /// If no training forward of this batch size came before (with a nonzero rate), as
    /// the mask is then unknown.
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
        let batch = input.nrows();
        assert_eq!(
            self.cached_batch,
            Some(batch),
            "layer `{}`: backward needs a training forward of the same batch first",
            self.name
        );

        multiply(
            grad_output.view(),
            &self.mask[..batch * Sh::LEN],
            grad_input,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use crate::shape::{Image, Vector};
    use ndarray::Array2;

    const TRAIN: Pass = Pass {
        mode: Mode::Train,
        logits: false,
    };

    fn run(layer: &mut dyn Layer, input: &Array2<f32>, pass: Pass) -> Array2<f32> {
        let mut output = Array2::from_elem(input.raw_dim(), f32::NAN);
        layer.forward(input.view(), output.view_mut(), pass);
        output
    }

    #[test]
    fn drops_seventy_percent_and_scales_survivors_by_one_over_point_three() {
        let mut layer = Dropout::<Vector<1000>>::new("dropout", 42, 0.7);
        let output = run(&mut layer, &Array2::ones((1000, 1000)), TRAIN);

        let zeros = output.iter().filter(|&&v| v == 0.0).count() as f64 / output.len() as f64;
        assert!((zeros - 0.7).abs() < 0.005, "{zeros}");
        let survivor = (1.0_f64 / 0.3) as f32;
        assert!(output.iter().all(|&v| v == 0.0 || v == survivor));
    }

    #[test]
    fn inference_copies_the_input_bit_for_bit() {
        let mut layer = Dropout::<Vector<6>>::new("dropout", 1, 0.5);
        let odd = [
            f32::NAN,
            -0.0,
            f32::MIN_POSITIVE / 4.0,
            f32::INFINITY,
            1e30,
            -3.5,
        ];
        let input = Array2::from_shape_fn((3, 6), |(_, j)| odd[j]);

        let output = run(&mut layer, &input, Pass::new(Mode::Infer));

        let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&output), bits(&input));
    }

    #[test]
    fn rate_zero_is_the_identity_in_training_and_not_stochastic() {
        let mut layer = Dropout::<Image<2, 3, 4>>::new("dropout", 1, 0.0);
        let input = random_input(5, 24, 1);
        let output = run(&mut layer, &input, TRAIN);
        let mut grad = random_input(5, 24, 2);
        let mut grad_input = Array2::zeros((5, 24));
        layer.backward(
            input.view(),
            output.view(),
            grad.view_mut(),
            Some(grad_input.view_mut()),
            TRAIN,
        );

        assert_eq!(output, input);
        assert_eq!(grad_input, grad);
        assert!(!layer.is_stochastic());
        assert!(Dropout::<Vector<3>>::new("dropout", 1, 0.1).is_stochastic());
    }

    #[test]
    fn masks_repeat_by_seed_and_name_and_change_between_batches() {
        let input = Array2::ones((4, 50));
        let masks = |name, seed| {
            let mut layer = Dropout::<Vector<50>>::new(name, seed, 0.5);
            [
                run(&mut layer, &input, TRAIN),
                run(&mut layer, &input, TRAIN),
            ]
        };
        let [first, second] = masks("dropout", 7);

        assert_eq!(masks("dropout", 7), [first.clone(), second.clone()]);
        assert_ne!(first, second);
        assert_ne!(masks("dropout_1", 7)[0], first);
        assert_ne!(masks("dropout", 8)[0], first);
    }

    #[test]
    fn monte_carlo_passes_leave_training_masks_unchanged() {
        let input = Array2::ones((4, 50));
        let mut plain = Dropout::<Vector<50>>::new("dropout", 3, 0.4);
        let mut sampled = plain.clone();
        let mc = Pass::new(Mode::MonteCarlo);

        let expected = [
            run(&mut plain, &input, TRAIN),
            run(&mut plain, &input, TRAIN),
        ];
        let first = run(&mut sampled, &input, TRAIN);
        let sample = run(&mut sampled, &input, mc);
        let second = run(&mut sampled, &input, TRAIN);

        assert_eq!([first.clone(), second], expected);
        assert_ne!(sample, first);
        assert!(sample.iter().any(|&v| v == 0.0) && sample.iter().any(|&v| v > 1.0));
        // Backward uses the mask of the last training pass, not the Monte Carlo one.
        let mut grad = Array2::ones((4, 50));
        let mut grad_input = Array2::zeros((4, 50));
        sampled.backward(
            input.view(),
            first.view(),
            grad.view_mut(),
            Some(grad_input.view_mut()),
            TRAIN,
        );
        assert_eq!(grad_input, expected[1]);
    }

    #[test]
    fn reseeding_monte_carlo_repeats_its_masks_and_leaves_training_alone() {
        let input = Array2::ones((4, 50));
        let mc = Pass::new(Mode::MonteCarlo);
        let mut layer = Dropout::<Vector<50>>::new("dropout", 3, 0.4);
        let mut reference = layer.clone();

        layer.reseed_monte_carlo(9);
        let first = run(&mut layer, &input, mc);
        let _ = run(&mut layer, &input, mc);
        layer.reseed_monte_carlo(9);
        let again = run(&mut layer, &input, mc);
        layer.reseed_monte_carlo(10);
        let other = run(&mut layer, &input, mc);

        assert_eq!(first, again);
        assert_ne!(first, other);
        // A fresh layer built with seed 9 samples the same first Monte Carlo mask.
        let mut fresh = Dropout::<Vector<50>>::new("dropout", 9, 0.4);
        assert_eq!(run(&mut fresh, &input, mc), first);
        assert_eq!(
            run(&mut layer, &input, TRAIN),
            run(&mut reference, &input, TRAIN)
        );
    }

    #[test]
    fn gradients_match_finite_differences_with_a_frozen_mask() {
        let mut layer = Dropout::<Image<3, 3, 2>>::new("dropout", 5, 0.3);
        layer.freeze_mask(true);
        let report = check(
            &mut layer,
            random_input(3, 18, 4).view(),
            &Options::default(),
        );

        assert!(report.worst_relative_error < 1e-3, "{report}");
        assert_eq!(report.checked, 3 * 18);
    }

    #[test]
    fn gradient_check_notices_a_mask_that_changes() {
        let mut layer = Dropout::<Vector<20>>::new("dropout", 5, 0.3);
        let report = check(
            &mut layer,
            random_input(3, 20, 4).view(),
            &Options::default(),
        );

        assert_eq!(report.worst_relative_error, f64::INFINITY, "{report}");
    }

    #[test]
    fn a_smaller_batch_after_a_larger_one_uses_a_prefix() {
        let mut layer = Dropout::<Vector<10>>::new("dropout", 2, 0.5);
        let big = run(&mut layer, &Array2::ones((6, 10)), TRAIN);
        let input = random_input(2, 10, 1);
        let small = run(&mut layer, &input, TRAIN);
        let mut grad = Array2::ones((2, 10));
        let mut grad_input = Array2::zeros((2, 10));
        layer.backward(
            input.view(),
            small.view(),
            grad.view_mut(),
            Some(grad_input.view_mut()),
            TRAIN,
        );

        assert_eq!(big.dim(), (6, 10));
        // The small batch's own mask, not the big batch's first rows, drives backward.
        let mask = grad_input.clone();
        assert_eq!(small, &input * &mask);
    }

    #[test]
    fn a_noise_shape_shares_the_mask_along_its_unit_axes_only() {
        // Image 4×5×30 with noise shape (1, 5, 30): one mask per (column, channel), the
        // same in all 4 rows.
        let mut layer =
            Dropout::<Image<4, 5, 30>>::new("dropout", 3, 0.5).with_noise_shape(&[1, 5, 30]);
        let output = run(&mut layer, &Array2::ones((3, 600)), TRAIN);
        let output = output.into_shape_with_order((3, 4, 5, 30)).unwrap();

        for b in 0..3 {
            let row0 = output.slice(ndarray::s![b, 0, .., ..]);
            for r in 1..4 {
                assert_eq!(output.slice(ndarray::s![b, r, .., ..]), row0);
            }
            // Varies along the unshared axes: columns and channels.
            assert!((1..5).any(|c| output[[b, 0, c, 0]] != output[[b, 0, 0, 0]]));
            assert!((1..30).any(|k| output[[b, 0, 0, k]] != output[[b, 0, 0, 0]]));
        }
        assert_ne!(
            output.slice(ndarray::s![0, 0, .., ..]),
            output.slice(ndarray::s![1, 0, .., ..])
        );
        let dropped = output.iter().filter(|&&v| v == 0.0).count() as f64 / 1800.0;
        // 450 independent cells at rate 0.5: standard error √(0.25 / 450) ≈ 0.024.
        assert!((dropped - 0.5).abs() < 5.0 * 0.024, "{dropped}");
    }

    #[test]
    fn a_channel_noise_shape_applies_in_monte_carlo_and_backward() {
        let mut layer =
            Dropout::<Image<2, 2, 40>>::new("dropout", 1, 0.5).with_noise_shape(&[1, 1, 40]);
        let ones = Array2::ones((2, 160));
        let channels = |a: &Array2<f32>| {
            let a = a.clone().into_shape_with_order((2, 4, 40)).unwrap();
            (0..4).all(|p| a.slice(ndarray::s![.., p, ..]) == a.slice(ndarray::s![.., 0, ..]))
        };
        let trained = run(&mut layer, &ones, TRAIN);
        let sampled = run(&mut layer, &ones, Pass::new(Mode::MonteCarlo));
        let mut grad = ones.clone();
        let mut grad_input = Array2::zeros((2, 160));
        let (i, o) = (ones.view(), trained.view());
        layer.backward(i, o, grad.view_mut(), Some(grad_input.view_mut()), TRAIN);

        assert!(channels(&trained) && channels(&sampled));
        assert_ne!(trained, sampled);
        assert_eq!(grad_input, trained);
    }

    #[test]
    fn a_full_noise_shape_draws_what_no_noise_shape_draws() {
        let ones = Array2::ones((3, 24));
        let mut plain = Dropout::<Image<2, 3, 4>>::new("dropout", 8, 0.5);
        let mut full = plain.clone().with_noise_shape(&[2, 3, 4]);
        assert_eq!(run(&mut full, &ones, TRAIN), run(&mut plain, &ones, TRAIN));
    }

    #[test]
    fn noise_shapes_that_do_not_fit_are_refused() {
        for shape in [&[1, 1][..], &[1, 1, 3, 1], &[2, 1, 4], &[1, 0, 4]] {
            let layer = Dropout::<Image<3, 3, 4>>::new("dropout", 0, 0.5);
            let error = layer.try_with_noise_shape(shape).unwrap_err();
            assert!(error.to_string().contains("noise shape"), "{error}");
        }
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        for rate in [1.0, 1.5, -0.1, f32::NAN] {
            let error = Dropout::<Vector<3>>::try_new("dropout", 0, rate).unwrap_err();
            assert!(error.to_string().contains("rate"), "{error}");
        }
        assert_eq!(
            Dropout::<Vector<3>>::try_new("dropout", 0, 0.25)
                .unwrap()
                .rate(),
            0.25
        );
    }

    #[test]
    fn describes_itself_like_keras() {
        let layer = Dropout::<Image<13, 13, 32>>::new("dropout", 0, 0.25);

        assert_eq!(layer.kind(), "Dropout");
        assert_eq!(layer.input_dims(), &[13, 13, 32]);
        assert_eq!(layer.output_dims(), &[13, 13, 32]);
        assert_eq!(layer.param_count(), 0);
    }

    #[test]
    fn set_rate_makes_the_layer_a_layer_built_with_that_rate() {
        let input = Array2::ones((4, 50));
        let mut changed = Dropout::<Vector<50>>::new("dropout", 6, 0.25);
        let mut built = Dropout::<Vector<50>>::new("dropout", 6, 0.6);

        changed.set_rate(0.6).unwrap();
        let error = changed.set_rate(1.0).unwrap_err();

        assert!(error.to_string().contains("rate"), "{error}");
        assert_eq!(changed.rate(), 0.6);
        let expected = run(&mut built, &input, TRAIN);
        assert_eq!(run(&mut changed, &input, TRAIN), expected);
        changed.set_rate(0.0).unwrap();
        assert!(!changed.is_stochastic());
        assert_eq!(run(&mut changed, &input, TRAIN), input);
    }
}
