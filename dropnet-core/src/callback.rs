//! Hooks into the training loop, and the progress printers built on them.
//!
//! `fit` calls every [`Callback`] at the start and end of training, of each epoch, and after
//! each batch. Each hook gets a [`FitContext`] through which it can read or change the
//! layers' parameters, adjust the optimiser (for example its learning rate), or ask training
//! to stop, which is what early stopping, checkpoints and schedules need.
//!
//! The progress output chosen with [`Verbosity`] is itself a callback, run before the
//! user's. Apart from these printers the library writes nothing to the terminal.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use crate::history::{EpochRecord, History};
use crate::layer::Layer;
use crate::optim::Optimizer;

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
    /// Number of epochs requested.
    pub epochs: usize,
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
    /// Number of epochs requested.
    pub epochs: usize,
    /// Batches run in this epoch.
    pub batches: usize,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

/// What a callback may touch while training runs.
pub struct FitContext<'a, 'l> {
    layers: &'a mut [&'l mut dyn Layer],
    optimizer: &'a mut dyn Optimizer,
    stop: &'a mut bool,
}

impl<'a, 'l> FitContext<'a, 'l> {
    /// A context over the model's layers and optimiser; `stop` records a stop request.
    pub fn new(
        layers: &'a mut [&'l mut dyn Layer],
        optimizer: &'a mut dyn Optimizer,
        stop: &'a mut bool,
    ) -> Self {
        Self {
            layers,
            optimizer,
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

    /// Asks training to stop: after this batch when called from
    /// [`Callback::on_batch_end`] (the epoch is then closed with what it has seen), after
    /// this epoch when called from [`Callback::on_epoch_end`].
    pub fn stop_training(&mut self) {
        *self.stop = true;
    }

    /// True once some callback asked training to stop.
    pub fn stop_requested(&self) -> bool {
        *self.stop
    }
}

/// Hooks called by `fit`. Every method does nothing by default.
///
/// Callbacks run in the order they were added, after the progress printer.
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, info: &TrainBegin, ctx: &mut FitContext<'_, '_>) {
        let _ = (info, ctx);
    }

    /// Before each epoch (`epoch` counted from 1).
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut FitContext<'_, '_>) {
        let _ = (epoch, ctx);
    }

    /// After each batch's update.
    fn on_batch_end(&mut self, batch: &BatchEnd, ctx: &mut FitContext<'_, '_>) {
        let _ = (batch, ctx);
    }

    /// After each epoch and its validation.
    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) {
        let _ = (epoch, ctx);
    }

    /// After the last epoch (also after a requested stop, not after an error).
    fn on_train_end(&mut self, history: &History, ctx: &mut FitContext<'_, '_>) {
        let _ = (history, ctx);
    }
}

/// Prints one line per epoch on standard output:
/// `Epoch 2/5 - 250 batches - 2.4s - loss: 0.3012 - accuracy: 0.9062`.
#[derive(Debug, Clone, Default)]
pub struct EpochLogger;

impl EpochLogger {
    /// A new printer.
    pub fn new() -> Self {
        Self
    }
}

impl Callback for EpochLogger {
    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, _ctx: &mut FitContext<'_, '_>) {
        // Losing a progress line (closed pipe) is no reason to abort training.
        let _ = writeln!(std::io::stdout().lock(), "{}", epoch_line(epoch));
    }
}

fn epoch_line(epoch: &EpochEnd<'_>) -> String {
    format!(
        "Epoch {}/{} - {} batches - {:.1}s - {}",
        epoch.record.epoch, epoch.epochs, epoch.batches, epoch.seconds, epoch.record
    )
}

/// Draws a progress bar per epoch on standard error; prints what [`EpochLogger`] prints
/// instead when standard error is not a terminal (logs, CI, pipes).
#[derive(Debug, Default)]
pub struct ProgressLogger {
    bar: Option<ProgressBar>,
    terminal: bool,
    epochs: usize,
    samples: usize,
}

impl ProgressLogger {
    /// A new printer; whether to draw is decided when training begins.
    pub fn new() -> Self {
        Self::default()
    }

    fn style() -> ProgressStyle {
        let template = "{prefix} [{bar:30}] {pos}/{len} {elapsed}<{eta} {rate} {msg}";
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} samples/s", state.per_sec());
                },
            )
            .progress_chars("=> ")
    }
}

impl Callback for ProgressLogger {
    fn on_train_begin(&mut self, info: &TrainBegin, _ctx: &mut FitContext<'_, '_>) {
        self.terminal = std::io::stderr().is_terminal();
        self.epochs = info.epochs;
        self.samples = info.samples;
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut FitContext<'_, '_>) {
        if self.terminal {
            let bar = ProgressBar::new(self.samples as u64).with_style(Self::style());
            bar.set_prefix(format!("Epoch {epoch}/{}", self.epochs));
            self.bar = Some(bar);
        }
    }

    fn on_batch_end(&mut self, batch: &BatchEnd, _ctx: &mut FitContext<'_, '_>) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch.seen as u64);
            let message = match batch.accuracy {
                Some(accuracy) => format!("loss: {:.4} - accuracy: {accuracy:.4}", batch.loss),
                None => format!("loss: {:.4}", batch.loss),
            };
            bar.set_message(message);
        }
    }

    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) {
        match self.bar.take() {
            Some(bar) => {
                bar.finish_with_message(format!("{:.1}s - {}", epoch.seconds, epoch.record))
            }
            None => EpochLogger.on_epoch_end(epoch, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_line_reads_like_keras() {
        let record = EpochRecord {
            epoch: 2,
            loss: 0.30123,
            accuracy: Some(0.90624),
            val_loss: None,
            val_accuracy: None,
        };
        let end = EpochEnd {
            record: &record,
            epochs: 5,
            batches: 250,
            seconds: 2.44,
        };

        assert_eq!(
            epoch_line(&end),
            "Epoch 2/5 - 250 batches - 2.4s - loss: 0.3012 - accuracy: 0.9062"
        );
    }

    #[test]
    fn silent_has_no_printer() {
        assert!(Verbosity::Silent.callback().is_none());
        assert!(Verbosity::EpochLine.callback().is_some());
    }
}
