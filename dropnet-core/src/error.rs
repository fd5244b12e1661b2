//! The one error type of the library.
//!
//! Every fallible function in `dropnet-core` returns [`Result`]. Variants carry what was
//! expected and what was found, so the message alone tells the user what to fix.

use std::path::PathBuf;

/// Shorthand for `Result<T, dropnet_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `dropnet-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- files -------------------------------------------------------------------------
    /// An operating-system error while reading or writing a file.
    ///
    /// The message ends with the operating system's own, so the I/O error is not also
    /// returned by [`source`](std::error::Error::source): a report that prints the chain
    /// of sources (as `anyhow` does) shows it once. Match on `error` for its kind.
    #[error("{path}: {error}")]
    Io {
        /// The file (or folder) being read or written.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },

    /// An IDX file whose header or length is not what its kind requires.
    #[error("{path}: {reason}")]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the expected and found values.
        reason: String,
    },

    /// A weight file that cannot be read as safetensors.
    #[error("{path}: not a readable safetensors file: {reason}")]
    WeightFile {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader reported.
        reason: String,
    },

    /// A weight file lacks a tensor the model needs.
    #[error("weight file has no tensor `{name}` (the model needs it with shape {expected:?})")]
    MissingTensor {
        /// Tensor name, `<layer>/<variable>`.
        name: String,
        /// The shape the model needs.
        expected: Vec<usize>,
    },

    /// A tensor in a weight file has another shape than the model's variable.
    #[error("tensor `{name}` has shape {got:?} in the file but the model needs {expected:?}")]
    TensorShape {
        /// Tensor name, `<layer>/<variable>`.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        got: Vec<usize>,
    },

    /// A tensor in a weight file is not stored as `f32`.
    #[error("tensor `{name}` is stored as {got}, but dropnet reads only F32")]
    TensorDtype {
        /// Tensor name.
        name: String,
        /// The dtype found.
        got: String,
    },

    /// A weight file holds tensors the model does not have.
    #[error("weight file has tensor `{name}`, which this model does not have")]
    UnexpectedTensor {
        /// Tensor name.
        name: String,
    },

    /// A checkpoint that cannot be resumed from: truncated, corrupt, of another kind, or
    /// holding state the model cannot take. Problems with a single tensor are reported as
    /// for weight files ([`Error::MissingTensor`], [`Error::TensorShape`],
    /// [`Error::TensorDtype`], [`Error::UnexpectedTensor`]).
    #[error("{path}: {problem}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: CheckpointProblem,
    },

    // ---- data --------------------------------------------------------------------------
    /// Data whose per-sample shape or total length does not fit the model.
    #[error("data shape {got:?} does not fit: expected {expected}")]
    DataShape {
        /// What the shape should have been, in words (e.g. `[n, 28, 28, 1]`).
        expected: String,
        /// The shape found.
        got: Vec<usize>,
    },

    /// A flat list of values whose length is not the number of samples times the values
    /// in one sample.
    #[error(
        "{samples} samples of shape {sample_shape:?} need {} values ({samples} × {per_sample}), \
         but {got} were given{}",
        needed(*.samples, *.per_sample),
        whole_samples(*.got, *.per_sample)
    )]
    ValueCount {
        /// The number of samples asked for.
        samples: usize,
        /// The shape of one sample.
        sample_shape: &'static [usize],
        /// Values in one sample.
        per_sample: usize,
        /// Values given.
        got: usize,
    },

    /// Inputs and targets of different counts.
    #[error("the {set} set has {inputs} input samples but {targets} targets")]
    LengthMismatch {
        /// Which set (`training`, `validation`, `evaluation`, `test`).
        set: &'static str,
        /// Number of input samples.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },

    /// An empty data set where samples are needed.
    #[error("the {what} set is empty")]
    EmptySet {
        /// Which set (`training`, `validation`, …).
        what: &'static str,
    },

    /// A class label that the model's output cannot represent.
    #[error(
        "label {label} of sample {index} in the {set} set is out of range: the model has \
         {classes} classes, labelled 0 to {}",
        .classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        /// Which set (`training`, `validation`, `evaluation`).
        set: &'static str,
        /// Index of the sample.
        index: usize,
        /// The label found.
        label: u32,
        /// Number of classes (output width).
        classes: usize,
    },

    /// A target value that is NaN or infinite.
    #[error("target of sample {index} in the {set} set holds {value}, but targets must be finite")]
    NonFiniteTarget {
        /// Which set (`training`, `validation`, `evaluation`).
        set: &'static str,
        /// Index of the sample.
        index: usize,
        /// The first value of the sample that is not finite (NaN or an infinity).
        value: f32,
    },

    /// An input value that is NaN or infinite. Refused before any weight changes: a ReLU
    /// turns NaN into 0, so the loss would stay finite while the kernel gradients (input
    /// times output gradient) became NaN.
    #[error("input of sample {index} in the {set} set holds {value}, but inputs must be finite")]
    NonFiniteInput {
        /// Which set (`training`, `validation`, `evaluation`, `prediction`).
        set: &'static str,
        /// Index of the sample.
        index: usize,
        /// The first value of the sample that is not finite (NaN or an infinity).
        value: f32,
    },

    /// Targets of a kind the loss does not take (e.g. class labels for mean squared error).
    #[error("loss `{loss}` needs {expected} as targets")]
    TargetKind {
        /// The loss.
        loss: &'static str,
        /// What it needs.
        expected: &'static str,
    },

    /// A CSV file that does not hold the series asked for.
    #[error("{path}: {problem}")]
    Csv {
        /// The file (or the name given to an in-memory reader).
        path: PathBuf,
        /// What is wrong, with the row and column where there is one.
        problem: CsvProblem,
    },

    /// A series too short for what was asked of it (a window longer than the series, a
    /// scale fitted on fewer than two values).
    #[error("{what} needs at least {needed} values, but the series has {len}")]
    SeriesTooShort {
        /// What needed the values (e.g. `a window of 52 steps with horizon 1`).
        what: String,
        /// How many values it needs.
        needed: usize,
        /// How many there are.
        len: usize,
    },

    /// Values whose spread is zero, so dividing by it would give infinities.
    #[error(
        "the {what} of the training part have zero standard deviation, so they cannot be \
         scaled"
    )]
    ZeroSpread {
        /// Which values (`values`, `differences`).
        what: &'static str,
    },

    // ---- configuration -----------------------------------------------------------------
    /// A setting outside its valid range (batch size 0, a negative learning rate, …).
    #[error("invalid `{name}`: {reason}")]
    InvalidConfig {
        /// The setting.
        name: &'static str,
        /// Why it is invalid, with the value.
        reason: String,
    },

    /// A callback set to watch a metric that the run does not report (a misspelt name, or
    /// a `val_` metric without validation data). Reported when training begins, before any
    /// weight changes.
    #[error(
        "`{callback}` uses the metric `{name}`, which this run does not report; it reports \
         {}{}",
        quoted(.available),
        validation_hint(.name, .available)
    )]
    UnknownMetric {
        /// The callback (`EarlyStopping`, `ModelCheckpoint`, …).
        callback: &'static str,
        /// The metric it was given.
        name: String,
        /// The metrics the run reports.
        available: Vec<String>,
    },

    /// `fit` or `evaluate` called before `compile`.
    #[error("the model is not compiled: call `compile(optimizer, loss)` before `{call}`")]
    NotCompiled {
        /// The call that needed it.
        call: &'static str,
    },

    // ---- training ----------------------------------------------------------------------
    /// The loss became NaN or infinite during training.
    #[error("loss is {value} at epoch {epoch}, batch {batch}; training stopped")]
    NonFiniteLoss {
        /// Epoch, counted from 1.
        epoch: usize,
        /// Batch within the epoch, counted from 1.
        batch: usize,
        /// The loss value.
        value: f64,
    },

    /// A parameter gradient became NaN or infinite while the loss stayed finite. Training
    /// stops before that batch's update, so the weights keep the earlier batches' updates.
    #[error(
        "the gradient of `{tensor}` is not finite at epoch {epoch}, batch {batch}; training \
         stopped before that batch's update"
    )]
    NonFiniteGradient {
        /// Epoch, counted from 1.
        epoch: usize,
        /// Batch within the epoch, counted from 1.
        batch: usize,
        /// The first tensor found with a non-finite gradient, `<layer>/<param>`.
        tensor: String,
    },

    /// A weight, or the optimiser's state for one, became NaN or infinite in an update whose
    /// loss and gradients were finite: values too large for `f32` (Adam squares each
    /// gradient, so a gradient above about 1.8e19 overflows its second moment). Unlike the
    /// two errors above, this is found after the update, so the weights hold it; reload the
    /// last checkpoint or weight file.
    #[error(
        "`{tensor}` became NaN or infinite in the update of epoch {epoch}, batch {batch} \
         (values too large for f32: scale the inputs or lower the learning rate); training \
         stopped after that update"
    )]
    NonFiniteWeight {
        /// Epoch, counted from 1.
        epoch: usize,
        /// Batch within the epoch, counted from 1.
        batch: usize,
        /// The first tensor found holding a non-finite value: a weight, `<layer>/<param>`,
        /// or an optimiser state, `optimizer/<layer>/<param>/<state>`.
        tensor: String,
    },

    /// Monte Carlo prediction on a model with no stochastic layer.
    #[error(
        "the model has no active dropout layer (none, or every rate is 0), so Monte Carlo \
         prediction would repeat itself"
    )]
    NoDropout,
}

/// What is wrong with a CSV file, reported inside [`Error::Csv`].
///
/// Rows are counted as a spreadsheet shows them: the header is row 1 and the first data row
/// is row 2. Precisely, a row is the line of the file on which its record starts, so blank
/// lines count too.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvProblem {
    /// Not even a header line.
    #[error("the file is empty; expected a header line naming the columns")]
    Empty,

    /// A header and nothing after it.
    #[error("the file has a header but no data rows")]
    NoRows,

    /// The header does not name the column asked for.
    #[error("no column `{column}`; the header has {}", quoted(.present))]
    MissingColumn {
        /// The column asked for.
        column: String,
        /// The columns the header names, in order.
        present: Vec<String>,
    },

    /// A row with another number of fields than the header.
    #[error("row {row}: expected {expected} fields as in the header, got {got}")]
    FieldCount {
        /// The row.
        row: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        got: usize,
    },

    /// A field that is not what its column holds (text in a numeric column, a bad date).
    #[error("row {row}, column `{column}`: expected {expected}, found `{text}`")]
    BadValue {
        /// The row.
        row: u64,
        /// The column.
        column: String,
        /// The field as written.
        text: String,
        /// What the column should hold (`a number`, `a date YYYYMMDD`).
        expected: &'static str,
    },

    /// An empty field where gaps are refused.
    #[error(
        "row {row}, column `{column}`: the field is empty (a gap) and gaps are refused; \
         choose `Gaps::Interpolate` or `Gaps::Drop` to accept gaps"
    )]
    Gap {
        /// The row.
        row: u64,
        /// The column.
        column: String,
    },

    /// A gap before the first or after the last value, which interpolation cannot fill.
    #[error(
        "row {row}, column `{column}`: a gap with no value on one side cannot be interpolated; \
         remove the leading or trailing empty rows or choose `Gaps::Drop`"
    )]
    EdgeGap {
        /// The row.
        row: u64,
        /// The column.
        column: String,
    },

    /// A time that does not come after the one in the row before.
    #[error(
        "row {row}, column `{column}`: `{text}` does not come after `{previous}` in the row \
         before; rows must be in increasing time order"
    )]
    TimeOrder {
        /// The row.
        row: u64,
        /// The time column.
        column: String,
        /// The time as written.
        text: String,
        /// The time of the row before, as written.
        previous: String,
    },

    /// Text the CSV reader cannot split into fields (e.g. invalid UTF-8).
    #[error("{reason}")]
    Malformed {
        /// What the CSV reader reported, with its position.
        reason: String,
    },
}

/// What is wrong with a checkpoint file, reported inside [`Error::Checkpoint`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointProblem {
    /// The file ends before the data its header describes (a save cut short, a partial
    /// copy).
    #[error("the file is truncated: it has {len} bytes, but its header describes {needed}")]
    Truncated {
        /// Bytes in the file.
        len: u64,
        /// Bytes the file must have (at least the 8 of the header length).
        needed: u64,
    },

    /// The header is not a valid safetensors header, or the file holds more than it
    /// describes.
    #[error("the header is corrupt: {reason}")]
    CorruptHeader {
        /// What is wrong with it.
        reason: String,
    },

    /// The tensor data differs from what was saved (a flipped bit, an overwritten block).
    #[error(
        "the tensor data is corrupt: its CRC-32 is {got:08x}, but {expected:08x} was recorded \
         when it was saved"
    )]
    Checksum {
        /// The checksum recorded in the header.
        expected: u32,
        /// The checksum of the data read.
        got: u32,
    },

    /// A safetensors file that is not a dropnet checkpoint.
    #[error("{}", not_a_checkpoint(.format))]
    NotACheckpoint {
        /// Its `format` metadata entry, if any.
        format: Option<String>,
    },

    /// A checkpoint of a format version this build cannot read.
    #[error(
        "checkpoint format version `{got}` is not supported; this dropnet reads version \
         {supported}"
    )]
    Version {
        /// The version found.
        got: String,
        /// The version this build reads.
        supported: &'static str,
    },

    /// A metadata entry every checkpoint has is missing.
    #[error("the header has no entry `{key}`")]
    MissingEntry {
        /// The entry.
        key: String,
    },

    /// A metadata entry that cannot be read.
    #[error("the header entry `{key}` holds `{value}`, but it must be {expected}")]
    BadEntry {
        /// The entry.
        key: String,
        /// What it holds.
        value: String,
        /// What it must hold, in words.
        expected: &'static str,
    },

    /// The checkpoint holds the state of another optimiser than the model's.
    #[error(
        "the checkpoint holds the state of a `{got}` optimiser, but the model is compiled \
         with `{expected}`"
    )]
    Optimizer {
        /// The model's optimiser.
        expected: &'static str,
        /// The checkpoint's.
        got: String,
    },

    /// A random stream of the model that the checkpoint does not hold (a dropout layer
    /// added since it was saved).
    #[error("the model draws from the random stream `{name}`, which the checkpoint lacks")]
    MissingStream {
        /// The stream, `<layer>/<purpose>`.
        name: String,
    },

    /// A random stream in the checkpoint that the model does not draw from (a dropout
    /// layer removed since it was saved).
    #[error("the checkpoint has the random stream `{name}`, which this model does not have")]
    UnexpectedStream {
        /// The stream, `<layer>/<purpose>`.
        name: String,
    },
}

/// The message of [`CheckpointProblem::NotACheckpoint`].
fn not_a_checkpoint(format: &Option<String>) -> String {
    match format.as_deref() {
        Some(weights) if weights == crate::weights::FORMAT => {
            "a weight file, not a checkpoint: load it with `load_weights`".to_owned()
        }
        Some(other) => format!("not a dropnet checkpoint: its format is `{other}`"),
        None => "not a dropnet checkpoint: its header has no `format` entry".to_owned(),
    }
}

/// A hint for a `val_` metric asked of a run without validation.
fn validation_hint(name: &str, available: &[String]) -> &'static str {
    let has_validation = available.iter().any(|m| m.starts_with("val_"));
    if name.starts_with("val_") && !has_validation {
        " (`val_` metrics need validation data or a split)"
    } else {
        ""
    }
}

/// `samples × per_sample`, which cannot overflow in 128 bits.
fn needed(samples: usize, per_sample: usize) -> u128 {
    samples as u128 * per_sample as u128
}

/// How many whole samples `got` values make, when they make a whole number of them.
fn whole_samples(got: usize, per_sample: usize) -> String {
    if per_sample == 0 || !got.is_multiple_of(per_sample) {
        return String::new();
    }
    let count = got / per_sample;
    let noun = if count == 1 { "sample" } else { "samples" };
    format!(" ({got} values are {count} {noun})")
}

/// Column names in backticks, separated by commas.
fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    quoted.join(", ")
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    /// Builds an [`Error::InvalidConfig`].
    pub fn config(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            name,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;

    use super::*;

    #[test]
    fn io_error_is_shown_once_in_a_chain_of_sources() {
        let err = Error::io("data/mnist", io::Error::other("the folder is gone"));

        let mut chain = vec![err.to_string()];
        let mut next = err.source();
        while let Some(source) = next {
            chain.push(source.to_string());
            next = source.source();
        }

        assert_eq!(chain, ["data/mnist: the folder is gone"]);
    }
}
