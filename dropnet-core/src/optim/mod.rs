//! Optimisers: how a gradient becomes a weight update.
//!
//! An optimiser never sees layers. After each batch the training loop calls
//! [`Optimizer::begin_step`] once and then [`Optimizer::update`] for every [`Param`] of the
//! model in a fixed visiting order: layers in model order, and within a layer its params in
//! [`Layer::params_mut`](crate::Layer::params_mut) order. The position in that order is the
//! `slot`, which is how an optimiser keeps per-variable state (moments, velocities) without
//! names or hashing.

mod adam;
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::layer::Param;

/// A rule that updates parameters from their gradients.
pub trait Optimizer: Send {
    /// The Keras class name (`Adam`, `SGD`).
    fn name(&self) -> &'static str;

    /// The current learning rate.
    fn learning_rate(&self) -> f32;

    /// Replaces the learning rate (for schedules and callbacks that lower it).
    fn set_learning_rate(&mut self, learning_rate: f32);

    /// Checks the settings; `fit` calls this before touching any weight.
    fn validate(&self) -> Result<()> {
        check_learning_rate(self.learning_rate())
    }

    /// Starts one update of all parameters (advances step counters).
    fn begin_step(&mut self) {}

    /// Updates the parameter at position `slot` of the visiting order from its gradient.
    fn update(&mut self, slot: usize, param: &mut Param);
}

/// Fails unless `learning_rate` is finite and positive.
pub(crate) fn check_learning_rate(learning_rate: f32) -> Result<()> {
    if !(learning_rate.is_finite() && learning_rate > 0.0) {
        let reason = format!("must be finite and positive, got {learning_rate}");
        return Err(Error::config("learning_rate", reason));
    }
    Ok(())
}

/// Fails unless `value` lies in `[0, 1)`.
pub(crate) fn check_unit(name: &'static str, value: f32) -> Result<()> {
    if !(0.0..1.0).contains(&value) {
        return Err(Error::config(
            name,
            format!("must lie in [0, 1), got {value}"),
        ));
    }
    Ok(())
}

/// The state of `slot` in `states`, created as zeros shaped like `param` the first time the
/// slot is visited, or again if the parameter changed shape (another model).
pub(crate) fn slot_state<'a>(
    states: &'a mut Vec<ArrayD<f32>>,
    slot: usize,
    param: &Param,
) -> &'a mut ArrayD<f32> {
    if states.len() <= slot {
        states.resize_with(slot + 1, || ArrayD::zeros(ndarray::IxDyn(&[0])));
    }
    let state = &mut states[slot];
    if state.shape() != param.value.shape() {
        *state = ArrayD::zeros(param.value.raw_dim());
    }
    state
}
