//! What `fit` and `evaluate` return: per-epoch losses and metrics.
//!
//! Metric names are Keras's: `loss`, `accuracy`, and the same prefixed with `val_` for the
//! validation set. [`History::get`] returns one of them over all epochs, like Keras's
//! `history.history["val_loss"]`; [`History::records`] gives typed per-epoch records.
//!
//! Wall-clock seconds are kept apart from the metrics and take no part in equality, so two
//! histories from runs with the same seed compare equal exactly when every loss and metric
//! is the same.
//!
//! A history can be saved as CSV ([`History::to_csv`]) or JSON ([`History::to_json`]), and,
//! with the `plot` feature, drawn as loss curves (`History::plot`).

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::Path;

use crate::error::Result;
use crate::metrics::ACCURACY;
use crate::weights::write_atomically;

/// The losses and metrics of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// The epoch, counted from 1 within its `fit` call.
    pub epoch: usize,
    /// Mean training loss over the epoch's samples (each batch weighted by its size).
    pub loss: f64,
    /// Training accuracy over the epoch, for classification losses.
    pub accuracy: Option<f64>,
    /// Loss on the validation set after the epoch, if one was given.
    pub val_loss: Option<f64>,
    /// Accuracy on the validation set after the epoch, for classification losses.
    pub val_accuracy: Option<f64>,
}

impl EpochRecord {
    /// The value of the metric called `name` (`loss`, `accuracy`, `val_loss`,
    /// `val_accuracy`), if this epoch has it.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The metrics this epoch has, as `(name, value)` pairs in Keras's order.
    pub fn metrics(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        let all = [
            ("loss", Some(self.loss)),
            (ACCURACY, self.accuracy),
            ("val_loss", self.val_loss),
            ("val_accuracy", self.val_accuracy),
        ];
        all.into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
    }
}

impl fmt::Display for EpochRecord {
    /// Keras's epoch summary: `loss: 0.3012 - accuracy: 0.9062 - val_loss: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.metrics().enumerate() {
            let separator = if i == 0 { "" } else { " - " };
            write!(f, "{separator}{name}: {value:.4}")?;
        }
        Ok(())
    }
}

/// The result of `evaluate`: the mean loss and metrics over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean loss over all samples.
    pub loss: f64,
    /// Fraction of samples classified right, for classification losses.
    pub accuracy: Option<f64>,
}

impl Evaluation {
    /// The value of the metric called `name` (`loss` or `accuracy`), if present.
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            ACCURACY => self.accuracy,
            _ => None,
        }
    }
}

/// Per-epoch losses and metrics of one `fit` call.
///
/// Equality compares every epoch's losses and metrics and ignores the timings and the stop
/// reason.
#[derive(Debug, Clone, Default)]
pub struct History {
    records: Vec<EpochRecord>,
    seconds: Vec<f64>,
    stop_reason: Option<String>,
    loss: Vec<f64>,
    accuracy: Vec<f64>,
    val_loss: Vec<f64>,
    val_accuracy: Vec<f64>,
}

impl PartialEq for History {
    fn eq(&self, other: &Self) -> bool {
        self.records == other.records
    }
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an epoch and the wall-clock seconds it took.
    pub fn push(&mut self, record: EpochRecord, seconds: f64) {
        self.loss.push(record.loss);
        self.accuracy.extend(record.accuracy);
        self.val_loss.extend(record.val_loss);
        self.val_accuracy.extend(record.val_accuracy);
        self.records.push(record);
        self.seconds.push(seconds);
    }

    /// The metric called `name` over all epochs, like Keras's `history.history[name]`.
    ///
    /// `loss` is always present; `accuracy` for classification losses; `val_loss` and
    /// `val_accuracy` when validation data was given. Any other name gives `None`.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        let column = match name {
            "loss" => return Some(&self.loss),
            ACCURACY => &self.accuracy,
            "val_loss" => &self.val_loss,
            "val_accuracy" => &self.val_accuracy,
            _ => return None,
        };
        (!column.is_empty()).then_some(column.as_slice())
    }

    /// The names [`History::get`] answers, in Keras's order.
    pub fn keys(&self) -> Vec<&'static str> {
        ["loss", ACCURACY, "val_loss", "val_accuracy"]
            .into_iter()
            .filter(|name| self.get(name).is_some())
            .collect()
    }

    /// One record per epoch, in order.
    pub fn records(&self) -> &[EpochRecord] {
        &self.records
    }

    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.records.last()
    }

    /// Wall-clock seconds of each epoch, validation included.
    pub fn seconds(&self) -> &[f64] {
        &self.seconds
    }

    /// Number of epochs run.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no epoch ran.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Why training ended before its last epoch, when a callback stopped it (early
    /// stopping, a NaN loss under [`TerminateOnNan`](crate::callback::TerminateOnNan), …);
    /// `None` when every requested epoch ran.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    /// Records why training stopped early.
    pub(crate) fn set_stop_reason(&mut self, reason: Option<String>) {
        self.stop_reason = reason;
    }

    /// Writes the history to `path` as CSV: a header `epoch,loss,accuracy,val_loss,…` (the
    /// columns of [`History::keys`]), then one row per epoch, the epoch counted from 1 as in
    /// the records. Values are written in full (they read back as the same `f64`); NaN and
    /// infinities as `NaN`, `inf` and `-inf`.
    ///
    /// The file is replaced atomically, as weight files are (see
    /// [`crate::weights::save`]).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) naming `path` when it cannot be written.
    pub fn to_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let keys = self.keys();
        let mut text = csv_header(&keys);
        for record in &self.records {
            text.push_str(&csv_row(record, &keys));
        }
        write_atomically(path.as_ref(), |file| file.write_all(text.as_bytes()))
    }

    /// Writes the history to `path` as a JSON object like Keras's `history.history`, with
    /// the epochs and the stop reason added:
    /// `{"epoch": [1, 2], "loss": [0.5, 0.25], …, "stop_reason": null}`. NaN and infinities,
    /// which JSON cannot hold, are written as `null`. The file is replaced atomically.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) naming `path` when it cannot be written.
    pub fn to_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = self.json();
        write_atomically(path.as_ref(), |file| file.write_all(text.as_bytes()))
    }

    /// The text [`History::to_json`] writes.
    fn json(&self) -> String {
        let epochs: Vec<String> = self.records.iter().map(|r| r.epoch.to_string()).collect();
        let mut text = format!("{{\n  \"epoch\": [{}]", epochs.join(", "));
        for key in self.keys() {
            let values: Vec<String> = self
                .records
                .iter()
                .map(|r| r.get(key).filter(|v| v.is_finite()))
                .map(|v| v.map_or_else(|| "null".to_owned(), |v| v.to_string()))
                .collect();
            let _ = write!(text, ",\n  \"{key}\": [{}]", values.join(", "));
        }
        // Serialising a string cannot fail; `null` keeps the file valid regardless.
        let reason = serde_json::to_string(&self.stop_reason).unwrap_or_else(|_| "null".into());
        let _ = write!(text, ",\n  \"stop_reason\": {reason}\n}}\n");
        text
    }
}

/// The header line of a history CSV with the metric columns `keys`.
pub(crate) fn csv_header(keys: &[&str]) -> String {
    format!("epoch,{}\n", keys.join(","))
}

/// The line of `record` in a history CSV with the metric columns `keys`; a metric the
/// record lacks is an empty field.
pub(crate) fn csv_row(record: &EpochRecord, keys: &[&str]) -> String {
    let mut line = record.epoch.to_string();
    for key in keys {
        line.push(',');
        if let Some(value) = record.get(key) {
            let _ = write!(line, "{value}");
        }
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, loss: f64, val: bool) -> EpochRecord {
        EpochRecord {
            epoch,
            loss,
            accuracy: Some(0.5),
            val_loss: val.then_some(loss + 1.0),
            val_accuracy: val.then_some(0.25),
        }
    }

    #[test]
    fn columns_like_keras() {
        let mut history = History::new();
        history.push(record(1, 2.0, true), 1.5);
        history.push(record(2, 1.0, true), 1.25);

        assert_eq!(history.get("loss"), Some(&[2.0, 1.0][..]));
        assert_eq!(history.get("val_loss"), Some(&[3.0, 2.0][..]));
        assert_eq!(history.get("val_accuracy"), Some(&[0.25, 0.25][..]));
        assert_eq!(history.get("mae"), None);
        assert_eq!(
            history.keys(),
            ["loss", "accuracy", "val_loss", "val_accuracy"]
        );
        assert_eq!(history.last().and_then(|r| r.get("val_loss")), Some(2.0));
        assert_eq!(history.seconds(), &[1.5, 1.25]);
        assert_eq!(
            history.records()[0].to_string(),
            "loss: 2.0000 - accuracy: 0.5000 - val_loss: 3.0000 - val_accuracy: 0.2500"
        );
    }

    #[test]
    fn validation_columns_are_absent_without_validation() {
        let mut history = History::new();
        history.push(record(1, 2.0, false), 1.0);

        assert_eq!(history.get("val_loss"), None);
        assert_eq!(history.keys(), ["loss", "accuracy"]);
    }

    #[test]
    fn equality_ignores_seconds_but_not_metrics() {
        let (mut a, mut b, mut c) = (History::new(), History::new(), History::new());
        a.push(record(1, 2.0, true), 1.0);
        b.push(record(1, 2.0, true), 9.0);
        c.push(record(1, 2.0 + 1e-12, true), 1.0);

        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn csv_and_json_hold_every_epoch_and_metric_exactly() {
        let dir = crate::weights::tests::Scratch::new("history-files");
        let (csv, json) = (dir.0.join("h.csv"), dir.0.join("h.json"));
        let mut history = History::new();
        history.push(record(1, 0.1 + 0.2, true), 1.0);
        history.push(record(2, f64::NAN, true), 1.0);
        history.set_stop_reason(Some("loss is \"NaN\"".into()));

        history.to_csv(&csv).unwrap();
        history.to_json(&json).unwrap();

        assert_eq!(
            std::fs::read_to_string(&csv).unwrap(),
            "epoch,loss,accuracy,val_loss,val_accuracy\n\
             1,0.30000000000000004,0.5,1.3,0.25\n\
             2,NaN,0.5,NaN,0.25\n"
        );
        assert_eq!(
            std::fs::read_to_string(&json).unwrap(),
            "{\n  \"epoch\": [1, 2],\n  \"loss\": [0.30000000000000004, null],\n  \
             \"accuracy\": [0.5, 0.5],\n  \"val_loss\": [1.3, null],\n  \
             \"val_accuracy\": [0.25, 0.25],\n  \"stop_reason\": \"loss is \\\"NaN\\\"\"\n}\n"
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(parsed["loss"][0].as_f64(), Some(0.1 + 0.2));
        assert!(history.to_csv(dir.0.join("missing").join("h.csv")).is_err());
    }
}
