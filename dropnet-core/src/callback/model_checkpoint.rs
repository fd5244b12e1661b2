//! Saving checkpoints as training goes.

use std::path::{Path, PathBuf};

use super::monitor::Monitor;
use super::{Callback, EpochEnd, FitContext, MonitorMode, TrainBegin};
use crate::error::{Error, Result};
use crate::history::EpochRecord;

/// Saves a checkpoint after every epoch, or only after those that improve a metric, like
/// Keras's `ModelCheckpoint`.
///
/// Each save is a full checkpoint (weights, optimiser state, random streams and epoch, see
/// [`crate::checkpoint`]) that [`Model::load_checkpoint`](crate::Model::load_checkpoint)
/// resumes from, or, with [`ModelCheckpoint::save_weights_only`], a weight file for
/// [`Model::load_weights`](crate::Model::load_weights). Either is written atomically: a
/// crash or a full disk during a save leaves the previous file whole, and the failure
/// ends `fit` with its error.
///
/// The path may hold placeholders, filled in from the epoch's record: `{epoch}` (the epoch
/// number), `{epoch:03d}` (zero-padded to 3 digits), and any reported metric,
/// `{val_loss}` or `{val_loss:.4f}` (4 decimals). `{{` and `}}` stand for braces. Without a
/// placeholder every save replaces the same file.
///
/// Defaults as in Keras: monitor `val_loss`, mode auto, every epoch saved. With
/// [`ModelCheckpoint::save_best_only`], an epoch is saved only when the metric beats the
/// best value seen by this callback (the best is kept across `fit` calls, as in Keras).
///
/// ```
/// use dropnet_core::callback::ModelCheckpoint;
/// let every = ModelCheckpoint::new("ckpt/epoch-{epoch:02d}.ckpt");
/// let best = ModelCheckpoint::new("best.ckpt").monitor("val_accuracy").save_best_only(true);
/// ```
///
/// # Errors
/// When training begins, `fit` fails with [`Error::InvalidConfig`] for a malformed
/// placeholder and with [`Error::UnknownMetric`] for a placeholder or (with
/// `save_best_only`) a monitored metric the run does not report. After an epoch it fails
/// with [`Error::Io`] when the file cannot be written.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    path: PathBuf,
    monitor: Monitor,
    save_best_only: bool,
    save_weights_only: bool,
    template: Option<Template>,
    best: Option<f64>,
    last_saved: Option<PathBuf>,
}

impl ModelCheckpoint {
    /// Checkpoints written to `path`, which may hold placeholders.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            monitor: Monitor::val_loss(),
            save_best_only: false,
            save_weights_only: false,
            template: None,
            best: None,
            last_saved: None,
        }
    }

    /// The metric that decides which epoch is best: `loss`, `accuracy`, `val_loss`
    /// (default) or `val_accuracy`.
    pub fn monitor(mut self, name: impl Into<String>) -> Self {
        self.monitor.name = name.into();
        self
    }

    /// Whether lower or higher is better (default [`MonitorMode::Auto`]).
    pub fn mode(mut self, mode: MonitorMode) -> Self {
        self.monitor.mode = mode;
        self
    }

    /// Saves only epochs that improve the monitored metric (default false).
    pub fn save_best_only(mut self, best_only: bool) -> Self {
        self.save_best_only = best_only;
        self
    }

    /// Writes weight files instead of full checkpoints (default false).
    pub fn save_weights_only(mut self, weights_only: bool) -> Self {
        self.save_weights_only = weights_only;
        self
    }

    /// The file written last, if any.
    pub fn last_saved(&self) -> Option<&Path> {
        self.last_saved.as_deref()
    }

    /// The best value of the monitored metric saved so far, with `save_best_only`.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
}

impl Callback for ModelCheckpoint {
    fn on_train_begin(&mut self, info: &TrainBegin, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let template = Template::parse(&self.path)?;
        // A missing folder would otherwise surface only after the first epoch had trained.
        // Folders named by placeholders are only known at the save.
        let folder = self
            .path
            .parent()
            .map(|p| p.to_string_lossy().contains('{'));
        if folder == Some(false) {
            crate::weights::check_folder(&self.path)?;
        }
        for name in template.metrics() {
            info.check_metric("ModelCheckpoint", name)?;
        }
        if self.save_best_only {
            self.monitor.check("ModelCheckpoint", info)?;
        }
        self.template = Some(template);
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        if self.save_best_only {
            let Some(current) = self.monitor.value(epoch.record) else {
                return Ok(());
            };
            if !self.monitor.improves(current, self.best, 0.0) {
                return Ok(());
            }
            self.best = Some(current);
        }

        let path = match &self.template {
            Some(template) => template.render(epoch.record),
            None => self.path.clone(),
        };
        if self.save_weights_only {
            ctx.save_weights(&path)?;
        } else {
            ctx.save_checkpoint(&path)?;
        }
        log::debug!(
            "ModelCheckpoint saved epoch {} to {}",
            epoch.record.epoch,
            path.display()
        );
        self.last_saved = Some(path);
        Ok(())
    }
}

/// A path with placeholders, parsed.
#[derive(Debug, Clone, PartialEq)]
struct Template {
    parts: Vec<Part>,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Text copied as it is.
    Text(String),
    /// The epoch number, zero-padded to `width` digits.
    Epoch { width: usize },
    /// A metric, with `decimals` digits after the point (all of them when `None`).
    Metric {
        name: String,
        decimals: Option<usize>,
    },
}

impl Template {
    /// Parses the placeholders of `path`. A path that is not UTF-8 is taken as plain
    /// text.
    fn parse(path: &Path) -> Result<Self> {
        let Some(text) = path.to_str() else {
            let raw = path.to_string_lossy().into_owned();
            return Ok(Self {
                parts: vec![Part::Text(raw)],
            });
        };
        let bad = |reason: String| Error::config("path", format!("{reason} in `{text}`"));

        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    literal.push(c);
                    chars.next();
                }
                ('}', _) => return Err(bad("a `}` without its `{`".to_owned())),
                ('{', _) => {
                    let mut field = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        field.push(c);
                    }
                    if !closed {
                        return Err(bad(format!("the placeholder `{{{field}` is not closed")));
                    }
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                    parts.push(Part::parse(&field).map_err(bad)?);
                }
                _ => literal.push(c),
            }
        }
        parts.push(Part::Text(literal));
        parts.retain(|part| !matches!(part, Part::Text(text) if text.is_empty()));
        Ok(Self { parts })
    }

    /// The metric names the placeholders use.
    fn metrics(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Metric { name, .. } => Some(name.as_str()),
            _ => None,
        })
    }

    /// The path for the epoch of `record`; a metric the record lacks is written `nan`.
    fn render(&self, record: &EpochRecord) -> PathBuf {
        let mut path = String::new();
        for part in &self.parts {
            let piece = match part {
                Part::Text(text) => text.clone(),
                Part::Epoch { width } => format!("{:0width$}", record.epoch),
                Part::Metric { name, decimals } => {
                    let value = record.get(name).unwrap_or(f64::NAN);
                    match decimals {
                        Some(decimals) => format!("{value:.decimals$}"),
                        None => format!("{value}"),
                    }
                }
            };
            path.push_str(&piece);
        }
        PathBuf::from(path)
    }
}

impl Part {
    /// A placeholder from what stands between its braces: `name` or `name:spec`, where
    /// the spec of `epoch` is a width (`03d`, `3`) and that of a metric a precision
    /// (`.4f`, `.4`).
    fn parse(field: &str) -> Result<Self, String> {
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        if name.is_empty() {
            return Err("an empty placeholder `{}`".to_owned());
        }
        let unknown_spec = || format!("the format `{spec}` of placeholder `{{{field}}}`");
        let number = |digits: &str| digits.parse::<usize>().ok().filter(|&n| n <= 64);
        if name == "epoch" {
            let digits = spec.trim_end_matches('d');
            let width = match digits {
                "" => 0,
                _ => number(digits).ok_or_else(unknown_spec)?,
            };
            return Ok(Part::Epoch { width });
        }
        let decimals = match spec {
            "" => None,
            _ => {
                let digits = spec.strip_prefix('.').map(|d| d.trim_end_matches('f'));
                Some(digits.and_then(number).ok_or_else(unknown_spec)?)
            }
        };
        Ok(Part::Metric {
            name: name.to_owned(),
            decimals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EpochRecord {
        EpochRecord {
            epoch: 7,
            loss: 0.5,
            accuracy: Some(0.8),
            val_loss: Some(0.123456),
            val_accuracy: None,
        }
    }

    fn render(path: &str) -> String {
        let template = Template::parse(Path::new(path)).unwrap();
        template.render(&record()).to_string_lossy().into_owned()
    }

    #[test]
    fn placeholders_take_the_epoch_and_metrics() {
        assert_eq!(render("run/best.ckpt"), "run/best.ckpt");
        assert_eq!(render("e{epoch}.ckpt"), "e7.ckpt");
        assert_eq!(render("e{epoch:03d}.ckpt"), "e007.ckpt");
        assert_eq!(render("e{epoch:2}-{val_loss:.4f}"), "e07-0.1235");
        assert_eq!(render("{loss}-{accuracy:.1}"), "0.5-0.8");
        assert_eq!(render("{{epoch}}-{epoch}"), "{epoch}-7");
    }

    #[test]
    fn placeholders_name_their_metrics() {
        let template = Template::parse(Path::new("{epoch}-{val_loss:.2f}-{loss}")).unwrap();
        assert_eq!(template.metrics().collect::<Vec<_>>(), ["val_loss", "loss"]);
    }

    #[test]
    fn malformed_placeholders_are_config_errors() {
        for bad in [
            "e{epoch",
            "e}",
            "{}",
            "{epoch:x}",
            "{loss:4}",
            "{loss:.99f}",
        ] {
            let err = Template::parse(Path::new(bad)).unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::InvalidConfig { name: "path", reason } if reason.contains(bad)
                ),
                "{bad}: {err:?}"
            );
        }
    }
}
