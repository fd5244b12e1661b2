//! Hooks into the training loop, the callbacks Keras users reach for, and the progress
//! printers built on them.
//!
//! `fit` calls every [`Callback`] at the start and end of training, of each epoch, after
//! each batch, and when a batch's loss or gradient is not finite. Each hook gets a
//! [`FitContext`] through which it can read or change the layers' parameters, adjust the
//! optimiser (for example its learning rate), write a checkpoint, or ask training to stop.
//! A hook that fails makes `fit` fail with its error: a full disk under a
//! [`ModelCheckpoint`] is an `Err`, not a panic and not a silent skip.
//!
//! Built in, with Keras's names and defaults:
//!
//! | callback | Keras |
//! | --- | --- |
//! | [`EarlyStopping`] | `EarlyStopping` |
//! | [`ModelCheckpoint`] | `ModelCheckpoint` (full checkpoints, see [`crate::checkpoint`]) |
//! | [`ReduceLrOnPlateau`] | `ReduceLROnPlateau` |
//! | [`TerminateOnNan`] | `TerminateOnNaN` |
//! | [`CsvLogger`] | `CSVLogger` |
//!
//! ```no_run
//! use dropnet_core::callback::{EarlyStopping, ModelCheckpoint};
//!
//! let mut early = EarlyStopping::new().patience(3).restore_best_weights(true);
//! let mut best = ModelCheckpoint::new("best.ckpt").save_best_only(true);
//! // model.fit(&x, &y).callback(&mut early).callback(&mut best).run()?;
//! ```
//!
//! The progress output chosen with [`Verbosity`] is itself a callback, run before the
//! user's. Apart from these printers the library writes nothing to the terminal; it reports
//! diagnostics through the `log` facade.

mod csv_logger;
mod early_stopping;
mod model_checkpoint;
mod monitor;
mod progress;
mod reduce_lr;
mod terminate_on_nan;

pub use csv_logger::CsvLogger;
pub use early_stopping::EarlyStopping;
pub use model_checkpoint::ModelCheckpoint;
pub use monitor::MonitorMode;
pub use progress::{EpochLogger, ProgressLogger};
pub use reduce_lr::ReduceLrOnPlateau;
pub use terminate_on_nan::TerminateOnNan;

use std::path::Path;

use crate::checkpoint::{self, Snapshot};
use crate::error::{Error, Result};
use crate::history::{EpochRecord, History};
use crate::layer::Layer;
use crate::metrics::ACCURACY;
use crate::optim::Optimizer;
use crate::rng::Rng;

/// How much `fit` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing.
    Silent,
    /// A progress bar per epoch on standard error, with the running loss and accuracy,
    /// throughput and time left; one line per epoch when standard error is not a terminal.
    #[default]
    ProgressBar,
    /// One line per epoch on standard output.
    EpochLine,
}

impl Verbosity {
    /// The printer for this verbosity, `None` for [`Verbosity::Silent`].
    pub fn callback(self) -> Option<Box<dyn Callback>> {
        match self {
            Verbosity::Silent => None,
            Verbosity::ProgressBar => Some(Box::new(ProgressLogger::new())),
            Verbosity::EpochLine => Some(Box::new(EpochLogger::new())),
        }
    }
}

/// What a training run will do, passed to [`Callback::on_train_begin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainBegin {
    /// The number of the last epoch to run (Keras's `epochs`).
    pub epochs: usize,
    /// Epochs counted as already done: the run trains epochs `initial_epoch + 1` to
    /// `epochs` (Keras's `initial_epoch`, 0 unless resuming).
    pub initial_epoch: usize,
    /// Number of training samples.
    pub samples: usize,
    /// Samples per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Number of validation samples, 0 without validation data.
    pub validation_samples: usize,
    /// True when accuracy is reported.
    pub classification: bool,
}

impl TrainBegin {
    /// The names of the metrics every epoch of this run reports, in Keras's order: `loss`,
    /// then `accuracy` for classification, then the same with `val_` when there is
    /// validation data.
    pub fn metrics(&self) -> Vec<&'static str> {
        let validation = self.validation_samples > 0;
        [
            ("loss", true),
            (ACCURACY, self.classification),
            ("val_loss", validation),
            ("val_accuracy", validation && self.classification),
        ]
        .into_iter()
        .filter_map(|(name, reported)| reported.then_some(name))
        .collect()
    }

    /// Fails with [`Error::UnknownMetric`] unless this run reports the metric `name`;
    /// `callback` names the one asking, for the message.
    pub fn check_metric(&self, callback: &'static str, name: &str) -> Result<()> {
        let available = self.metrics();
        if available.contains(&name) {
            return Ok(());
        }
        Err(Error::UnknownMetric {
            callback,
            name: name.to_owned(),
            available: available.into_iter().map(str::to_owned).collect(),
        })
    }
}

/// Progress within an epoch, passed to [`Callback::on_batch_end`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchEnd {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// The batch within the epoch, counted from 1.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Samples trained on so far in this epoch.
    pub seen: usize,
    /// Samples per epoch.
    pub samples: usize,
    /// Mean loss over the samples seen so far in this epoch.
    pub loss: f64,
    /// Accuracy over the samples seen so far in this epoch, for classification losses.
    pub accuracy: Option<f64>,
}

/// A finished epoch, passed to [`Callback::on_epoch_end`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochEnd<'a> {
    /// The epoch's losses and metrics.
    pub record: &'a EpochRecord,
    /// The number of the last epoch of the run.
    pub epochs: usize,
    /// Batches run in this epoch.
    pub batches: usize,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

/// A stop request and its reason, shared by the hooks of one `fit` call.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    pub(crate) requested: bool,
    pub(crate) reason: Option<String>,
}

/// What a callback may touch while training runs.
pub struct FitContext<'a, 'l> {
    layers: &'a mut [&'l mut dyn Layer],
    optimizer: &'a mut dyn Optimizer,
    shuffle: &'a Rng,
    epoch: usize,
    model: &'static str,
    stop: &'a mut Stop,
}

impl<'a, 'l> FitContext<'a, 'l> {
    /// A context over a model's training state: its layers, optimiser and shuffling
    /// stream, the number of the last finished epoch, and the model's name.
    pub(crate) fn new(
        layers: &'a mut [&'l mut dyn Layer],
        optimizer: &'a mut dyn Optimizer,
        shuffle: &'a Rng,
        epoch: usize,
        model: &'static str,
        stop: &'a mut Stop,
    ) -> Self {
        Self {
            layers,
            optimizer,
            shuffle,
            epoch,
            model,
            stop,
        }
    }

    /// The model's layers, in order.
    pub fn layers(&self) -> &[&'l mut dyn Layer] {
        self.layers
    }

    /// The model's layers, mutably (to restore saved weights, for example).
    pub fn layers_mut(&mut self) -> &mut [&'l mut dyn Layer] {
        self.layers
    }

    /// The compiled optimiser.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer
    }

    /// The compiled optimiser, mutably (to change its learning rate, for example).
    pub fn optimizer_mut(&mut self) -> &mut dyn Optimizer {
        self.optimizer
    }

    /// The number of the last epoch that finished; before the run's first epoch ends, the
    /// model's count from earlier training ([`Runtime::epoch`](crate::Runtime::epoch)).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Writes a full checkpoint of the model as it is now (weights, optimiser state,
    /// random streams and [`FitContext::epoch`]) to `path`, atomically; see
    /// [`crate::checkpoint`] for the format. Fails with [`Error::Io`] naming `path` when
    /// it cannot be written.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let snapshot = Snapshot {
            model: self.model,
            layers: self
                .layers
                .iter()
                .map(|layer| &**layer as &dyn Layer)
                .collect(),
            optimizer: &*self.optimizer,
            shuffle: self.shuffle,
            epoch: self.epoch,
        };
        checkpoint::save(&snapshot, path)
    }

    /// Writes the model's weights as they are now to `path` as a weight file (see
    /// [`crate::weights`]), atomically.
    pub fn save_weights(&self, path: &Path) -> Result<()> {
        let layers: Vec<&dyn Layer> = self.layers.iter().map(|layer| &**layer as _).collect();
        crate::weights::save_layers(self.model, &layers, path)
    }

    /// Asks training to stop: after this batch when called from
    /// [`Callback::on_batch_end`] or [`Callback::on_non_finite`] (the epoch is then closed
    /// with what it has seen), after this epoch when called from
    /// [`Callback::on_epoch_end`]. [`History::stop_reason`] will say that a callback
    /// stopped training; [`FitContext::stop_training_because`] gives a reason.
    pub fn stop_training(&mut self) {
        self.stop.requested = true;
    }

    /// [`FitContext::stop_training`], with the reason [`History::stop_reason`] will give
    /// (the first reason given wins).
    pub fn stop_training_because(&mut self, reason: impl Into<String>) {
        self.stop.requested = true;
        self.stop.reason.get_or_insert_with(|| reason.into());
    }

    /// True once some callback asked training to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.requested
    }
}

/// Hooks called by `fit`. Every method does nothing and succeeds by default.
///
/// Callbacks run in the order they were added, after the progress printer. When a hook
/// returns an error, the hooks after it are not called for that event and `fit` returns
/// the error; the epochs trained so far keep their updates, and `on_train_end` is not
/// called.
pub trait Callback {
    /// Before the first epoch, after `fit` has checked its data and settings and before
    /// any weight changes; the place to check a callback's own settings.
    fn on_train_begin(&mut self, info: &TrainBegin, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let _ = (info, ctx);
        Ok(())
    }

    /// Before each epoch (`epoch` counted from 1).
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let _ = (epoch, ctx);
        Ok(())
    }

    /// After each batch's update.
    fn on_batch_end(&mut self, batch: &BatchEnd, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let _ = (batch, ctx);
        Ok(())
    }

    /// A batch's loss or a parameter gradient is NaN or infinite; `error` is the
    /// [`Error::NonFiniteLoss`] or [`Error::NonFiniteGradient`] saying which, and the
    /// batch's update has not been applied. Or the update overflowed a weight or the
    /// optimiser's state for one ([`Error::NonFiniteWeight`]), found after the update.
    ///
    /// When no hook asks to stop here, `fit` fails with `error`. When one does (as
    /// [`TerminateOnNan`] does), training ends gracefully: the epoch is closed with the
    /// batches it has seen, the bad one included (so a non-finite loss shows in the
    /// epoch's `loss`), validated, and `fit` returns the history.
    fn on_non_finite(&mut self, error: &Error, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let _ = (error, ctx);
        Ok(())
    }

    /// After each epoch and its validation.
    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let _ = (epoch, ctx);
        Ok(())
    }

    /// After the last epoch (also after a requested stop, not after an error).
    fn on_train_end(&mut self, history: &History, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let _ = (history, ctx);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn begin(validation_samples: usize, classification: bool) -> TrainBegin {
        TrainBegin {
            epochs: 3,
            initial_epoch: 0,
            samples: 10,
            batch_size: 4,
            batches: 3,
            validation_samples,
            classification,
        }
    }

    #[test]
    fn metrics_follow_the_loss_and_the_validation_data() {
        assert_eq!(begin(0, false).metrics(), ["loss"]);
        assert_eq!(begin(0, true).metrics(), ["loss", "accuracy"]);
        assert_eq!(begin(5, false).metrics(), ["loss", "val_loss"]);
        assert_eq!(
            begin(5, true).metrics(),
            ["loss", "accuracy", "val_loss", "val_accuracy"]
        );
    }

    #[test]
    fn an_unreported_metric_is_named_with_the_ones_there_are() {
        let err = begin(0, true)
            .check_metric("EarlyStopping", "val_loss")
            .unwrap_err();

        assert!(
            matches!(&err, Error::UnknownMetric { callback: "EarlyStopping", name, available }
                if name == "val_loss" && available == &["loss", "accuracy"]),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "`EarlyStopping` uses the metric `val_loss`, which this run does not report; it \
             reports `loss`, `accuracy` (`val_` metrics need validation data or a split)"
        );
        assert!(begin(2, true).check_metric("x", "val_accuracy").is_ok());
    }

    #[test]
    fn silent_has_no_printer() {
        assert!(Verbosity::Silent.callback().is_none());
        assert!(Verbosity::EpochLine.callback().is_some());
    }
}
