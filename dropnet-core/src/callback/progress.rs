//! The progress printers behind [`Verbosity`](super::Verbosity): a bar per epoch on a
//! terminal, one line per epoch anywhere else.

use std::fmt;
use std::io::{IsTerminal, Write};
#[cfg(test)]
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::{BatchEnd, Callback, EpochEnd, FitContext, TrainBegin};
use crate::error::Result;
use crate::history::History;

/// Prints one line per epoch on standard output:
/// `Epoch 2/5 - 250 batches - 2.4s - loss: 0.3012 - accuracy: 0.9062`, and the reason
/// when training stopped early.
#[derive(Debug, Clone, Default)]
pub struct EpochLogger {
    out: Lines,
}

impl EpochLogger {
    /// A new printer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Callback for EpochLogger {
    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.out.print(&epoch_line(epoch));
        Ok(())
    }

    fn on_train_end(&mut self, history: &History, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        if let Some(line) = stop_line(history) {
            self.out.print(&line);
        }
        Ok(())
    }
}

/// Where an [`EpochLogger`] writes its lines.
#[derive(Debug, Clone, Default)]
enum Lines {
    /// Standard output.
    #[default]
    Stdout,
    /// A buffer, so tests can read what would have been printed.
    #[cfg(test)]
    Memory(Arc<Mutex<String>>),
}

impl Lines {
    /// Writes `line` and a line break.
    fn print(&self, line: &str) {
        match self {
            // Losing a progress line (closed pipe) is no reason to abort training.
            Lines::Stdout => {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            #[cfg(test)]
            Lines::Memory(text) => {
                if let Ok(mut text) = text.lock() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
}

fn epoch_line(epoch: &EpochEnd<'_>) -> String {
    format!(
        "Epoch {}/{} - {} batches - {:.1}s - {}",
        epoch.record.epoch, epoch.epochs, epoch.batches, epoch.seconds, epoch.record
    )
}

/// The line saying why training ended before its last epoch, if it did.
fn stop_line(history: &History) -> Option<String> {
    let reason = history.stop_reason()?;
    let epoch = history.last().map_or(0, |record| record.epoch);
    Some(format!("Stopped after epoch {epoch}: {reason}"))
}

/// Where the bars are drawn.
enum Target {
    /// Standard error, when it is a terminal.
    Stderr,
    /// A target made afresh for each epoch's bar (tests draw into memory).
    #[cfg(test)]
    Custom(Box<dyn Fn() -> ProgressDrawTarget + Send>),
}

/// Draws a progress bar per epoch on standard error; prints what [`EpochLogger`] prints
/// instead when standard error is not a terminal (logs, CI, pipes).
///
/// The bar reads `Epoch 2/5 [=====>    ] 4096/8000 3s<3s 1234 samples/s loss: 0.3012 -
/// accuracy: 0.9062`: the epoch, the samples done, the time spent and left, the throughput
/// and the running loss and accuracy; when the epoch ends it is replaced by the epoch's
/// seconds and every metric, the `val_` ones included.
pub struct ProgressLogger {
    bar: Option<ProgressBar>,
    target: Target,
    /// The printer used instead of the bar when standard error is not a terminal.
    lines: EpochLogger,
    /// Whether standard error is a terminal; a field so tests can say no.
    stderr_is_terminal: fn() -> bool,
    terminal: bool,
    epochs: usize,
    samples: usize,
}

impl fmt::Debug for ProgressLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressLogger")
            .field("terminal", &self.terminal)
            .field("epochs", &self.epochs)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl Default for ProgressLogger {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressLogger {
    /// A new printer; whether to draw is decided when training begins.
    pub fn new() -> Self {
        Self {
            bar: None,
            target: Target::Stderr,
            lines: EpochLogger::new(),
            stderr_is_terminal: || std::io::stderr().is_terminal(),
            terminal: false,
            epochs: 0,
            samples: 0,
        }
    }

    /// A printer that always draws, on targets made by `target`.
    #[cfg(test)]
    fn drawing_on(target: impl Fn() -> ProgressDrawTarget + Send + 'static) -> Self {
        Self {
            target: Target::Custom(Box::new(target)),
            ..Self::new()
        }
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
    fn on_train_begin(&mut self, info: &TrainBegin, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.terminal = match self.target {
            Target::Stderr => (self.stderr_is_terminal)(),
            #[cfg(test)]
            Target::Custom(_) => true,
        };
        self.epochs = info.epochs;
        self.samples = info.samples;
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        if self.terminal {
            let target = match &self.target {
                Target::Stderr => ProgressDrawTarget::stderr(),
                #[cfg(test)]
                Target::Custom(make) => make(),
            };
            let bar = ProgressBar::with_draw_target(Some(self.samples as u64), target)
                .with_style(Self::style());
            bar.set_prefix(format!("Epoch {epoch}/{}", self.epochs));
            self.bar = Some(bar);
        }
        Ok(())
    }

    fn on_batch_end(&mut self, batch: &BatchEnd, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        if let Some(bar) = &self.bar {
            let message = match batch.accuracy {
                Some(accuracy) => format!("loss: {:.4} - accuracy: {accuracy:.4}", batch.loss),
                None => format!("loss: {:.4}", batch.loss),
            };
            // The message first, so the redraw the position triggers shows both.
            bar.set_message(message);
            bar.set_position(batch.seen as u64);
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        match self.bar.take() {
            Some(bar) => {
                bar.finish_with_message(format!("{:.1}s - {}", epoch.seconds, epoch.record));
                Ok(())
            }
            None => self.lines.on_epoch_end(epoch, ctx),
        }
    }

    fn on_train_end(&mut self, history: &History, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        if !self.terminal {
            return self.lines.on_train_end(history, ctx);
        }
        if let Some(line) = stop_line(history) {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use indicatif::TermLike;

    use super::*;
    use crate::callback::{Stop, Verbosity};
    use crate::history::EpochRecord;
    use crate::loss::SparseCategoricalCrossentropy;
    use crate::model::testing::{clusters, Net};
    use crate::model::Model;
    use crate::optim::Sgd;

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

    /// A terminal that keeps every line drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.trim().is_empty() {
                self.0.lock().unwrap().push(s.to_owned());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bar_shows_epoch_progress_eta_rate_and_running_metrics_then_val_metrics() {
        let screen = Screen::default();
        let shown = screen.clone();
        let mut logger = ProgressLogger::drawing_on(move || {
            ProgressDrawTarget::term_like(Box::new(shown.clone()))
        });
        let (mut optimizer, mut stop) = (Sgd::default(), Stop::default());
        let shuffle = crate::rng::stream(0, "fit", "shuffle");
        let mut ctx = FitContext::new(&mut [], &mut optimizer, &shuffle, 0, "Net", &mut stop);
        let info = TrainBegin {
            epochs: 3,
            initial_epoch: 1,
            samples: 10,
            batch_size: 4,
            batches: 3,
            validation_samples: 5,
            classification: true,
        };
        let batch = BatchEnd {
            epoch: 2,
            batch: 1,
            batches: 3,
            seen: 4,
            samples: 10,
            loss: 0.5,
            accuracy: Some(0.25),
        };
        let record = EpochRecord {
            epoch: 2,
            loss: 0.4,
            accuracy: Some(0.5),
            val_loss: Some(0.625),
            val_accuracy: Some(0.75),
        };
        let end = EpochEnd {
            record: &record,
            epochs: 3,
            batches: 3,
            seconds: 1.25,
        };

        logger.on_train_begin(&info, &mut ctx).unwrap();
        logger.on_epoch_begin(2, &mut ctx).unwrap();
        logger.on_batch_end(&batch, &mut ctx).unwrap();
        let running = screen.0.lock().unwrap().last().cloned().unwrap();
        logger.on_epoch_end(&end, &mut ctx).unwrap();
        let finished = screen.0.lock().unwrap().last().cloned().unwrap();

        assert!(running.starts_with("Epoch 2/3 [============>"), "{running}");
        assert!(running.contains("] 4/10 "), "{running}");
        assert!(
            running.contains('<') && running.contains(" samples/s "),
            "{running}"
        );
        assert!(
            running.ends_with("loss: 0.5000 - accuracy: 0.2500"),
            "{running}"
        );
        assert!(finished.contains("] 10/10 "), "{finished}");
        assert!(
            finished.ends_with(
                "1.2s - loss: 0.4000 - accuracy: 0.5000 - val_loss: 0.6250 - val_accuracy: 0.7500"
            ),
            "{finished}"
        );
    }

    #[test]
    fn off_a_terminal_each_epoch_prints_one_line_and_no_bar() {
        let printed = Arc::new(Mutex::new(String::new()));
        let mut logger = ProgressLogger {
            stderr_is_terminal: || false,
            lines: EpochLogger {
                out: Lines::Memory(Arc::clone(&printed)),
            },
            ..ProgressLogger::new()
        };
        // 24 samples, 6 held out: 18 left for training, 3 batches of at most 8.
        let (x, y) = clusters(24, 1);
        let mut net: Net = Net::new(1);
        net.compile(Sgd::default(), SparseCategoricalCrossentropy);

        net.fit(&x, &y)
            .epochs(3)
            .batch_size(8)
            .validation_split(0.25)
            .verbose(Verbosity::Silent)
            .callback(&mut logger)
            .run()
            .unwrap();

        let printed = printed.lock().unwrap().clone();
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 3, "{printed}");
        for (k, line) in lines.iter().enumerate() {
            let start = format!("Epoch {}/3 - 3 batches - ", k + 1);
            assert!(line.starts_with(&start), "{line}");
            assert!(line.contains(" - val_loss: "), "{line}");
        }
        assert!(logger.bar.is_none());
    }

    #[test]
    fn stop_line_gives_the_last_epoch_and_the_reason() {
        let mut history = History::new();
        assert_eq!(stop_line(&history), None);
        let record = EpochRecord {
            epoch: 4,
            loss: 0.1,
            accuracy: None,
            val_loss: None,
            val_accuracy: None,
        };
        history.push(record, 0.5);
        history.set_stop_reason(Some("patience ran out".into()));

        assert_eq!(
            stop_line(&history).as_deref(),
            Some("Stopped after epoch 4: patience ran out")
        );
    }
}
