//! Inverted dropout.

use std::marker::PhantomData;

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use rand::RngCore as _;

use super::{check_width, prefix};
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
            train_rng: rng::stream(seed, name, "dropout"),
            mc_rng: rng::stream(seed, name, "mc"),
            mask: Vec::new(),
            cached_batch: None,
            frozen: false,
            shape: PhantomData,
        })
    }

    /// The probability of dropping a value.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// While frozen, a training forward reuses the previous training mask when it has the
    /// same batch size, instead of drawing a new one; it still draws when there is none.
    ///
    /// Gradient checks need this: every evaluation of the perturbed loss must see the
    /// same mask. Training never freezes.
    pub fn freeze_mask(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// Fills `mask` with 0 (dropped) or `scale` (kept), one draw from `rng` per value.
    fn draw(rng: &mut Rng, threshold: u64, scale: f32, mask: &mut [f32]) {
        for m in mask {
            let dropped = u64::from(rng.next_u32()) < threshold;
            *m = if dropped { 0.0 } else { scale };
        }
    }

    /// Training forward: draws (or replays) the mask, keeps it, applies it.
    ///
    /// # Shapes
    /// `input`, `output`: `[batch, Sh::LEN]`
    fn forward_train(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>) {
        let batch = input.nrows();
        let replay = self.frozen && self.cached_batch == Some(batch);
        let mask = prefix(&mut self.mask, batch * Sh::LEN);
        if !replay {
            Self::draw(&mut self.train_rng, self.threshold, self.scale, mask);
        }
        self.cached_batch = Some(batch);

        let mask = ArrayView2::from_shape((batch, Sh::LEN), &*mask).expect("mask is batch × len");
        Zip::from(output)
            .and(&input)
            .and(&mask)
            .for_each(|y, &x, &m| *y = x * m);
    }

    /// Monte Carlo forward: drops from the Monte Carlo stream and keeps nothing, so the
    /// training mask and stream are left as they were.
    ///
    /// # Shapes
    /// `input`, `output`: `[batch, Sh::LEN]`
    fn forward_monte_carlo(
        &mut self,
        input: ArrayView2<'_, f32>,
        mut output: ArrayViewMut2<'_, f32>,
    ) {
        // Rows and then values, so the draws follow row-major order whatever the layouts.
        for (mut out_row, in_row) in output.rows_mut().into_iter().zip(input.rows()) {
            for (y, &x) in out_row.iter_mut().zip(in_row.iter()) {
                let dropped = u64::from(self.mc_rng.next_u32()) < self.threshold;
                *y = x * if dropped { 0.0 } else { self.scale };
            }
        }
    }
}

impl<Sh: Shape> Layer for Dropout<Sh> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "Dropout"
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

        let mask = ArrayView2::from_shape((batch, Sh::LEN), &self.mask[..batch * Sh::LEN])
            .expect("mask is batch × len");
        Zip::from(grad_input)
            .and(&grad_output)
            .and(&mask)
            .for_each(|d, &g, &m| *d = g * m);
    }
}
