//! Variational dropout masks for the LSTM layer.
//!
//! Gal and Ghahramani (2016) showed that dropout on a recurrent layer works when each
//! sequence keeps one mask for its whole length: a fresh mask per step adds noise to the
//! recurrence at every step and drowns the memory. Each sample of a batch therefore gets
//! one input mask (`[F]`) and one recurrent mask (`[U]`), drawn once per pass and applied
//! at every step.

use rand::Rng as _;

use super::noise;
use crate::error::Result;
use crate::layer::Mode;
use crate::rng::{self, Rng};

/// The masks of one pass, as multipliers `0` or `1 / (1 − rate)`.
///
/// An empty vector means that kind of dropout is off.
#[derive(Debug, Clone, Default)]
pub(super) struct Masks {
    /// `[batch, F]`: multiplies `x_t` before the input projection.
    pub(super) input: Vec<f32>,
    /// `[batch, U]`: multiplies `h_{t-1}` before the recurrent product.
    pub(super) recurrent: Vec<f32>,
    /// Batch size the masks were drawn for.
    pub(super) batch: Option<usize>,
}

impl Masks {
    /// The input mask, `[batch, F]`, when input dropout is on.
    pub(super) fn input(&self) -> Option<&[f32]> {
        (!self.input.is_empty()).then_some(&self.input[..])
    }

    /// The recurrent mask, `[batch, U]`, when recurrent dropout is on.
    pub(super) fn recurrent(&self) -> Option<&[f32]> {
        (!self.recurrent.is_empty()).then_some(&self.recurrent[..])
    }
}

/// The dropout settings of an LSTM, its two streams and its masks.
#[derive(Debug, Clone)]
pub(super) struct Variational {
    name: &'static str,
    /// The rates of the input and recurrent dropout.
    pub(super) rates: (f32, f32),
    train_rng: Rng,
    mc_rng: Rng,
    /// The masks of the last training pass, which backward uses.
    train: Masks,
    /// The masks of the last Monte Carlo pass.
    mc: Masks,
    frozen: bool,
}

impl Variational {
    /// No dropout, with the streams of the layer `name` under the model seed `seed`.
    pub(super) fn new(name: &'static str, seed: u64) -> Self {
        Self {
            name,
            rates: (0.0, 0.0),
            train_rng: rng::stream(seed, name, "dropout"),
            mc_rng: rng::stream(seed, name, "mc"),
            train: Masks::default(),
            mc: Masks::default(),
            frozen: false,
        }
    }

    /// Sets both rates after checking that each is in `[0, 1)`.
    pub(super) fn set_rates(&mut self, dropout: f32, recurrent: f32) -> Result<()> {
        noise::check_rate(self.name, dropout)?;
        noise::check_rate(self.name, recurrent)?;
        self.rates = (dropout, recurrent);
        self.train = Masks::default();
        self.mc = Masks::default();
        Ok(())
    }

    /// True when either rate is nonzero.
    pub(super) fn is_on(&self) -> bool {
        self.rates != (0.0, 0.0)
    }

    /// Restarts the Monte Carlo stream as `(seed, name, "mc")`.
    pub(super) fn reseed_monte_carlo(&mut self, seed: u64) {
        self.mc_rng = rng::stream(seed, self.name, "mc");
    }

    /// See `Lstm::freeze_dropout_masks`.
    pub(super) fn freeze(&mut self, frozen: bool) {
        self.frozen = frozen;
    }

    /// Takes out the masks a pass in `mode` over `batch` samples uses, drawing new ones
    /// first unless `redraw` is false and masks of this batch size exist (or, in training,
    /// the masks are frozen). Inference gets no masks. Give them back with
    /// [`Variational::give_back`].
    pub(super) fn take<const F: usize, const U: usize>(
        &mut self,
        mode: Mode,
        batch: usize,
        redraw: bool,
    ) -> Masks {
        let rates = self.rates;
        let (rng, masks, keep) = match mode {
            Mode::Infer => return Masks::default(),
            Mode::Train => (&mut self.train_rng, &mut self.train, !redraw || self.frozen),
            Mode::MonteCarlo => (&mut self.mc_rng, &mut self.mc, false),
        };
        if !(keep && masks.batch == Some(batch)) {
            draw(rng, &mut masks.input, batch * F, rates.0);
            draw(rng, &mut masks.recurrent, batch * U, rates.1);
            masks.batch = Some(batch);
        }
        std::mem::take(masks)
    }

    /// Puts back the masks [`Variational::take`] gave out for `mode`.
    pub(super) fn give_back(&mut self, mode: Mode, masks: Masks) {
        match mode {
            Mode::Infer => {}
            Mode::Train => self.train = masks,
            Mode::MonteCarlo => self.mc = masks,
        }
    }
}

/// Fills `mask` with `len` multipliers at `rate`, one 32-bit draw each, or empties it
/// when the rate is 0.
fn draw(rng: &mut Rng, mask: &mut Vec<f32>, len: usize, rate: f32) {
    mask.clear();
    if rate == 0.0 {
        return;
    }
    let threshold = noise::drop_threshold(rate);
    let scale = (1.0 / (1.0 - f64::from(rate))) as f32;
    mask.extend((0..len).map(|_| {
        if u64::from(rng.random::<u32>()) < threshold {
            0.0
        } else {
            scale
        }
    }));
}
