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
    #[error("{path}: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
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

    // ---- data --------------------------------------------------------------------------
    /// Data whose per-sample shape or total length does not fit the model.
    #[error("data shape {got:?} does not fit: expected {expected}")]
    DataShape {
        /// What the shape should have been, in words (e.g. `[n, 28, 28, 1]`).
        expected: String,
        /// The shape found.
        got: Vec<usize>,
    },

    /// Inputs and targets of different counts.
    #[error("{inputs} input samples but {targets} targets")]
    LengthMismatch {
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
    #[error("label {label} of sample {index} is out of range: the model has {classes} classes")]
    LabelOutOfRange {
        /// Index of the sample.
        index: usize,
        /// The label found.
        label: u32,
        /// Number of classes (output width).
        classes: usize,
    },

    /// A target value that is NaN or infinite.
    #[error("target value of sample {index} is not finite")]
    NonFiniteTarget {
        /// Index of the sample.
        index: usize,
    },

    /// Targets of a kind the loss does not take (e.g. class labels for mean squared error).
    #[error("loss `{loss}` needs {expected} as targets")]
    TargetKind {
        /// The loss.
        loss: &'static str,
        /// What it needs.
        expected: &'static str,
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

    /// Monte Carlo prediction on a model with no stochastic layer.
    #[error("the model has no dropout layer, so Monte Carlo prediction would repeat itself")]
    NoDropout,
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
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
