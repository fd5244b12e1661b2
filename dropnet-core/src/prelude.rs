//! Everything a program that declares, trains and uses models needs, in one import:
//! `use dropnet_core::prelude::*;`.

pub use crate::callback::{BatchEnd, Callback, EpochEnd, FitContext, TrainBegin, Verbosity};
pub use crate::error::{Error, Result};
pub use crate::history::{EpochRecord, Evaluation, History};
pub use crate::layer::{Layer, Mode, Param};
pub use crate::loss::{
    CategoricalCrossentropy, Loss, MeanSquaredError, SparseCategoricalCrossentropy,
};
pub use crate::model::{McPrediction, Model};
pub use crate::network::Network;
pub use crate::optim::{Adam, Optimizer, Sgd};
pub use crate::shape::{Image, Labels, Samples, Sequence, Shape, Targets, Vector};
