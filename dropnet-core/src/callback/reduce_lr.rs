//! Lowering the learning rate when a watched metric stops improving.

use super::monitor::{check_non_negative, Monitor};
use super::{Callback, EpochEnd, FitContext, MonitorMode, TrainBegin};
use crate::error::{Error, Result};

/// Multiplies the learning rate by `factor` when a metric has not improved for `patience`
/// epochs, like Keras's `ReduceLROnPlateau`.
///
/// After each epoch the metric is compared with the best value so far (an improvement
/// beats it by more than `min_delta`). Each epoch without improvement adds one to a count
/// that an improvement resets; when the count reaches `patience`, the rate becomes
/// `max(lr · factor, min_lr)` (unless it is already at `min_lr`) and the count restarts.
/// A reduction starts a cooldown of `cooldown` epochs, counted down before each epoch is
/// judged as in Keras, so the `cooldown − 1` epochs after a reduction are not counted.
///
/// Defaults as in Keras: monitor `val_loss`, factor 0.1, patience 10, min delta 1e-4,
/// cooldown 0, min lr 0, mode auto. The state is reset at the start of every `fit` and is
/// not part of a checkpoint (the learning rate it set is). Each reduction is logged at the
/// `info` level of the `log` facade.
///
/// ```
/// use dropnet_core::callback::ReduceLrOnPlateau;
/// let plateau = ReduceLrOnPlateau::new().factor(0.5).patience(2).min_lr(1e-5);
/// ```
///
/// # Errors
/// When training begins, `fit` fails with
/// [`Error::UnknownMetric`] for a metric the run does not report and with
/// [`Error::InvalidConfig`] for a factor outside (0, 1) or a `min_delta` or `min_lr` that
/// is negative, infinite or NaN.
#[derive(Debug, Clone)]
pub struct ReduceLrOnPlateau {
    monitor: Monitor,
    factor: f32,
    patience: usize,
    min_delta: f64,
    cooldown: usize,
    min_lr: f32,
    best: Option<f64>,
    wait: usize,
    cooldown_left: usize,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        Self::new()
    }
}

impl ReduceLrOnPlateau {
    /// The schedule with Keras's defaults.
    pub fn new() -> Self {
        Self {
            monitor: Monitor::val_loss(),
            factor: 0.1,
            patience: 10,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            best: None,
            wait: 0,
            cooldown_left: 0,
        }
    }

    /// The metric to watch: `loss`, `accuracy`, `val_loss` (default) or `val_accuracy`.
    pub fn monitor(mut self, name: impl Into<String>) -> Self {
        self.monitor.name = name.into();
        self
    }

    /// Whether lower or higher is better (default [`MonitorMode::Auto`]).
    pub fn mode(mut self, mode: MonitorMode) -> Self {
        self.monitor.mode = mode;
        self
    }

    /// What the learning rate is multiplied by, in (0, 1) (default 0.1).
    pub fn factor(mut self, factor: f32) -> Self {
        self.factor = factor;
        self
    }

    /// Epochs without improvement before the rate is lowered (default 10).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// How much the metric must beat the best value by to count as an improvement
    /// (default 1e-4).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Epochs after a reduction during which no epoch is counted (default 0).
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The rate is never lowered below this (default 0).
    pub fn min_lr(mut self, min_lr: f32) -> Self {
        self.min_lr = min_lr;
        self
    }

    fn check(&self) -> Result<()> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            let reason = format!("must lie strictly between 0 and 1, got {}", self.factor);
            return Err(Error::config("factor", reason));
        }
        check_non_negative("min_delta", self.min_delta)?;
        check_non_negative("min_lr", f64::from(self.min_lr))
    }
}

impl Callback for ReduceLrOnPlateau {
    fn on_train_begin(&mut self, info: &TrainBegin, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.check()?;
        self.monitor.check("ReduceLrOnPlateau", info)?;
        self.best = None;
        self.wait = 0;
        self.cooldown_left = 0;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let Some(current) = self.monitor.value(epoch.record) else {
            return Ok(());
        };
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.monitor.improves(current, self.best, self.min_delta) {
            self.best = Some(current);
            self.wait = 0;
            return Ok(());
        }
        if self.cooldown_left > 0 {
            return Ok(());
        }

        self.wait += 1;
        let old = ctx.optimizer().learning_rate();
        if self.wait >= self.patience && old > self.min_lr {
            let new = (old * self.factor).max(self.min_lr);
            // A rate that underflows to 0 would make the next `fit` refuse the optimiser.
            if new > 0.0 {
                ctx.optimizer_mut().set_learning_rate(new);
                log::info!(
                    "epoch {}: ReduceLrOnPlateau lowered the learning rate from {old} to {new}",
                    epoch.record.epoch
                );
            }
            self.cooldown_left = self.cooldown;
            self.wait = 0;
        }
        Ok(())
    }
}
