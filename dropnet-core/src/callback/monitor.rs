//! The watched metric of [`EarlyStopping`](super::EarlyStopping),
//! [`ModelCheckpoint`](super::ModelCheckpoint) and
//! [`ReduceLrOnPlateau`](super::ReduceLrOnPlateau), and what counts as an improvement.

use super::TrainBegin;
use crate::error::{Error, Result};
use crate::history::EpochRecord;

/// Whether a smaller or a larger value of a watched metric is better (Keras's `mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MonitorMode {
    /// Larger is better for accuracies, smaller for losses (Keras's `"auto"`).
    #[default]
    Auto,
    /// Smaller is better.
    Min,
    /// Larger is better.
    Max,
}

/// A metric a callback watches, and which way is better.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Monitor {
    pub(super) name: String,
    pub(super) mode: MonitorMode,
}

impl Monitor {
    /// Keras's default: the validation loss, smaller being better.
    pub(super) fn val_loss() -> Self {
        Self {
            name: "val_loss".to_owned(),
            mode: MonitorMode::Auto,
        }
    }

    /// True when a larger value is better.
    fn maximises(&self) -> bool {
        match self.mode {
            MonitorMode::Min => false,
            MonitorMode::Max => true,
            MonitorMode::Auto => self.name.ends_with("accuracy"),
        }
    }

    /// Fails with [`Error::UnknownMetric`] unless the run of `info` reports the metric.
    pub(super) fn check(&self, callback: &'static str, info: &TrainBegin) -> Result<()> {
        info.check_metric(callback, &self.name)
    }

    /// The metric's value in `record`.
    pub(super) fn value(&self, record: &EpochRecord) -> Option<f64> {
        record.get(&self.name)
    }

    /// True when `current` beats `best` by more than `min_delta` in the better direction,
    /// or when there is no best yet; never for NaN.
    pub(super) fn improves(&self, current: f64, best: Option<f64>, min_delta: f64) -> bool {
        if current.is_nan() {
            return false;
        }
        match best {
            None => true,
            Some(best) if self.maximises() => current - min_delta > best,
            Some(best) => current + min_delta < best,
        }
    }
}

/// Fails unless `value` is finite and at least 0, naming the setting `name`.
pub(super) fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        return Ok(());
    }
    let reason = format!("must be finite and at least 0, got {value}");
    Err(Error::config(name, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(name: &str, mode: MonitorMode) -> Monitor {
        Monitor {
            name: name.to_owned(),
            mode,
        }
    }

    #[test]
    fn auto_minimises_losses_and_maximises_accuracies() {
        let loss = monitor("val_loss", MonitorMode::Auto);
        let accuracy = monitor("val_accuracy", MonitorMode::Auto);

        assert!(loss.improves(0.4, Some(0.5), 0.0));
        assert!(!loss.improves(0.6, Some(0.5), 0.0));
        assert!(accuracy.improves(0.6, Some(0.5), 0.0));
        assert!(!accuracy.improves(0.4, Some(0.5), 0.0));
        assert!(monitor("loss", MonitorMode::Max).improves(0.6, Some(0.5), 0.0));
        assert!(monitor("accuracy", MonitorMode::Min).improves(0.4, Some(0.5), 0.0));
    }

    #[test]
    fn an_improvement_must_exceed_min_delta_and_nan_never_improves() {
        let loss = monitor("loss", MonitorMode::Min);

        assert!(!loss.improves(0.45, Some(0.5), 0.05));
        assert!(loss.improves(0.44, Some(0.5), 0.05));
        assert!(!loss.improves(0.5, Some(0.5), 0.0));
        assert!(loss.improves(7.0, None, 0.0));
        assert!(!loss.improves(f64::NAN, None, 0.0));
        assert!(!loss.improves(f64::NAN, Some(0.5), 0.0));
    }

    #[test]
    fn settings_must_be_finite_and_not_negative() {
        assert!(check_non_negative("min_delta", 0.0).is_ok());
        for bad in [f64::NAN, -1e-3, f64::INFINITY] {
            let err = check_non_negative("min_delta", bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidConfig {
                        name: "min_delta",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
}
