//! Writing the history to a CSV file as training goes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Callback, EpochEnd, FitContext, TrainBegin};
use crate::error::{Error, Result};
use crate::history::{csv_header, csv_row, History};

/// Appends a line per epoch to a CSV file, like Keras's `CSVLogger`.
///
/// The columns are those of [`History::to_csv`]: `epoch` (counted from 1, as printed;
/// Keras writes the 0-based index), then `loss`, `accuracy`, `val_loss`, `val_accuracy` as
/// the run reports them. Each line is written as its epoch ends, so the file holds every
/// finished epoch even if the process dies later.
///
/// By default the file is replaced when training begins; with
/// [`CsvLogger::append`] lines are added to it, under a header written only when the file
/// is new or empty.
///
/// ```
/// use dropnet_core::callback::CsvLogger;
/// let mut log = CsvLogger::new("training.csv").append(true);
/// ```
///
/// # Errors
/// `fit` fails with [`Error::Io`] naming the file when it cannot be opened (when training
/// begins) or written (after an epoch).
#[derive(Debug)]
pub struct CsvLogger {
    path: PathBuf,
    append: bool,
    keys: Vec<&'static str>,
    file: Option<File>,
}

impl CsvLogger {
    /// A logger writing to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            append: false,
            keys: Vec::new(),
            file: None,
        }
    }

    /// Whether to add to an existing file instead of replacing it (default false).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, text: &str) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.write_all(text.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, info: &TrainBegin, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.keys = info.metrics();
        let mut options = OpenOptions::new();
        if self.append {
            options.append(true).create(true);
        } else {
            options.write(true).create(true).truncate(true);
        }
        let file = options
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        let empty = file.metadata().map_err(|e| Error::io(&self.path, e))?.len() == 0;
        self.file = Some(file);
        if empty {
            self.write(&csv_header(&self.keys))?;
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let line = csv_row(epoch.record, &self.keys);
        self.write(&line)
    }

    fn on_train_end(&mut self, _history: &History, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}
