//! Stopping training once a watched metric stops improving.

use ndarray::ArrayD;

use super::monitor::{check_non_negative, Monitor};
use super::{Callback, EpochEnd, FitContext, MonitorMode, TrainBegin};
use crate::error::Result;
use crate::history::History;

/// Stops training when a metric has not improved for `patience` epochs, like Keras's
/// `EarlyStopping`.
///
/// After each epoch the monitored metric is compared with the best value so far: it
/// improves when it beats the best by more than `min_delta` (lower for losses, higher for
/// accuracies, see [`MonitorMode`]). Each epoch without improvement adds one to a count that
/// an improvement resets; when the count reaches `patience`, training stops after that
/// epoch and [`History::stop_reason`] says why. With `restore_best_weights`, the weights of
/// the best epoch are put back when training ends, whether it stopped early or not.
///
/// Defaults as in Keras: monitor `val_loss`, patience 0, min delta 0, mode auto, weights
/// not restored. The state is reset at the start of every `fit`; it is not part of a
/// checkpoint.
///
/// ```
/// use dropnet_core::callback::EarlyStopping;
/// let early = EarlyStopping::new()
///     .monitor("val_loss")
///     .patience(3)
///     .min_delta(1e-3)
///     .restore_best_weights(true);
/// ```
///
/// # Errors
/// When training begins, `fit` fails with [`Error::UnknownMetric`](crate::Error::UnknownMetric)
/// for a metric the run does not report, and with
/// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for a `min_delta` that is negative,
/// infinite or NaN.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    min_delta: f64,
    restore_best_weights: bool,
    best: Option<(usize, f64)>,
    wait: usize,
    best_weights: Option<Vec<ArrayD<f32>>>,
    stopped_epoch: Option<usize>,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self::new()
    }
}

impl EarlyStopping {
    /// Early stopping with Keras's defaults.
    pub fn new() -> Self {
        Self {
            monitor: Monitor::val_loss(),
            patience: 0,
            min_delta: 0.0,
            restore_best_weights: false,
            best: None,
            wait: 0,
            best_weights: None,
            stopped_epoch: None,
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

    /// Epochs without improvement after which training stops (default 0: stop at the
    /// first epoch that does not improve).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// How much the metric must beat the best value by to count as an improvement
    /// (default 0).
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Whether to put the best epoch's weights back when training ends (default false).
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }

    /// The epoch after which the last run stopped early, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }

    /// The best epoch of the last run and its value of the metric.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.best
    }
}

impl Callback for EarlyStopping {
    fn on_train_begin(&mut self, info: &TrainBegin, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        check_non_negative("min_delta", self.min_delta)?;
        self.monitor.check("EarlyStopping", info)?;
        self.best = None;
        self.wait = 0;
        self.best_weights = None;
        self.stopped_epoch = None;
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let Some(current) = self.monitor.value(epoch.record) else {
            return Ok(());
        };
        let best = self.best.map(|(_, value)| value);
        if self.monitor.improves(current, best, self.min_delta) {
            self.best = Some((epoch.record.epoch, current));
            self.wait = 0;
            if self.restore_best_weights {
                self.best_weights = Some(weights(ctx));
            }
            return Ok(());
        }

        self.wait += 1;
        if self.wait >= self.patience {
            self.stopped_epoch = Some(epoch.record.epoch);
            let best = match self.best {
                Some((at, value)) => format!("best {value:.4} at epoch {at}"),
                None => "no finite value yet".to_owned(),
            };
            ctx.stop_training_because(format!(
                "early stopping: `{}` has not improved by more than {} for {} epochs ({best})",
                self.monitor.name, self.min_delta, self.wait
            ));
        }
        Ok(())
    }

    fn on_train_end(&mut self, _history: &History, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let Some(best) = self.best_weights.take() else {
            return Ok(());
        };
        let mut saved = best.into_iter();
        for layer in ctx.layers_mut() {
            for param in layer.params_mut() {
                if let Some(value) = saved.next() {
                    param.value.assign(&value);
                }
            }
        }
        if let Some((epoch, _)) = self.best {
            log::debug!("EarlyStopping restored the weights of epoch {epoch}");
        }
        Ok(())
    }
}

/// A copy of every parameter of the model, layers and params in order.
fn weights(ctx: &FitContext<'_, '_>) -> Vec<ArrayD<f32>> {
    ctx.layers()
        .iter()
        .flat_map(|layer| layer.params())
        .map(|param| param.value.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::Stop;
    use crate::history::EpochRecord;
    use crate::optim::Sgd;

    /// The epoch after which `early` asks to stop when `val_loss` takes `values`.
    fn stops_after(early: &mut EarlyStopping, values: &[f64]) -> Option<usize> {
        let (mut optimizer, mut stop) = (Sgd::default(), Stop::default());
        let shuffle = crate::rng::stream(0, "fit", "shuffle");
        let mut ctx = FitContext::new(&mut [], &mut optimizer, &shuffle, 0, "Net", &mut stop);
        let info = TrainBegin {
            epochs: values.len(),
            initial_epoch: 0,
            samples: 4,
            batch_size: 4,
            batches: 1,
            validation_samples: 2,
            classification: true,
        };
        early.on_train_begin(&info, &mut ctx).unwrap();
        for (i, &value) in values.iter().enumerate() {
            let record = EpochRecord {
                epoch: i + 1,
                loss: 1.0,
                accuracy: Some(1.0 - value),
                val_loss: Some(value),
                val_accuracy: Some(1.0 - value),
            };
            let end = EpochEnd {
                record: &record,
                epochs: values.len(),
                batches: 1,
                seconds: 0.0,
            };
            early.on_epoch_end(&end, &mut ctx).unwrap();
            if ctx.stop_requested() {
                return Some(i + 1);
            }
        }
        None
    }

    #[test]
    fn patience_counts_the_epochs_without_improvement() {
        let values = [1.0, 0.5, 0.6, 0.55, 0.7, 0.8];

        assert_eq!(stops_after(&mut EarlyStopping::new(), &values), Some(3));
        assert_eq!(
            stops_after(&mut EarlyStopping::new().patience(2), &values),
            Some(4)
        );
        assert_eq!(
            stops_after(&mut EarlyStopping::new().patience(9), &values),
            None
        );
        let mut early = EarlyStopping::new().patience(1);
        assert_eq!(stops_after(&mut early, &[1.0, 0.5, 0.45, 0.44]), None);
        assert_eq!(early.best(), Some((4, 0.44)));
        let mut strict = EarlyStopping::new().patience(1).min_delta(0.02);
        assert_eq!(stops_after(&mut strict, &[1.0, 0.5, 0.49, 0.485]), Some(3));
        let mut accuracy = EarlyStopping::new().monitor("val_accuracy").patience(1);
        assert_eq!(stops_after(&mut accuracy, &[1.0, 0.5, 0.6]), Some(3));
    }
}
