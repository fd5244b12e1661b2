//! Optimisers: how a gradient becomes a weight update.
//!
//! An optimiser never sees layers. After each batch the training loop calls
//! [`Optimizer::begin_step`] once and then [`Optimizer::update`] for every [`Param`] of the
//! model in a fixed visiting order: layers in model order, and within a layer its params in
//! [`Layer::params_mut`](crate::Layer::params_mut) order. The position in that order is the
//! `slot`, which is how an optimiser keeps per-variable state (moments, velocities) without
//! names or hashing.
//!
//! Checkpoints read and restore that state through [`Optimizer::state_names`],
//! [`Optimizer::state`], [`Optimizer::set_state`] and the step counter
//! [`Optimizer::iterations`]; the checkpoint gives each state tensor the name of its
//! variable (`optimizer/dense/kernel/m`).

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

    /// The names of the tensors kept per variable, in a fixed order: `m` and `v` for Adam,
    /// `velocity` for SGD with momentum. The default, none, is right for a rule without
    /// memory; an optimiser with state that does not report it resumes from a checkpoint
    /// with that state reset.
    fn state_names(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// The state tensor `name` of the variable at `slot`; `None` while the slot has not
    /// been updated yet, which stands for zeros of the variable's shape (how every state
    /// starts).
    fn state(&self, name: &str, slot: usize) -> Option<&ArrayD<f32>> {
        let _ = (name, slot);
        None
    }

    /// Replaces the state tensor `name` of the variable at `slot`. Checkpoint loading calls
    /// it for every name of [`Optimizer::state_names`] and every slot, with tensors of the
    /// variables' shapes, after checking them all.
    fn set_state(&mut self, name: &str, slot: usize, value: ArrayD<f32>) {
        let _ = (name, slot, value);
    }

    /// Number of updates applied so far (Keras's `iterations`); Adam's bias correction
    /// depends on it.
    fn iterations(&self) -> u64 {
        0
    }

    /// Sets the number of updates applied so far, for restoring a checkpoint.
    fn set_iterations(&mut self, iterations: u64) {
        let _ = iterations;
    }
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

/// The state of `slot` in `states` if the slot has been updated, for [`Optimizer::state`].
///
/// Slots not visited yet hold an empty placeholder, reported as `None`.
pub(crate) fn stored_state(states: &[ArrayD<f32>], slot: usize) -> Option<&ArrayD<f32>> {
    states.get(slot).filter(|state| !state.is_empty())
}

/// Puts `value` as the state of `slot` into `states`, for [`Optimizer::set_state`].
pub(crate) fn store_state(states: &mut Vec<ArrayD<f32>>, slot: usize, value: ArrayD<f32>) {
    if states.len() <= slot {
        states.resize_with(slot + 1, placeholder);
    }
    states[slot] = value;
}

/// The state of a slot not visited yet.
fn placeholder() -> ArrayD<f32> {
    ArrayD::zeros(ndarray::IxDyn(&[0]))
}

/// The state of `slot` in `states`, created as zeros shaped like `param` the first time the
/// slot is visited, or again if the parameter changed shape (another model).
pub(crate) fn slot_state<'a>(
    states: &'a mut Vec<ArrayD<f32>>,
    slot: usize,
    param: &Param,
) -> &'a mut ArrayD<f32> {
    if states.len() <= slot {
        states.resize_with(slot + 1, placeholder);
    }
    let state = &mut states[slot];
    if state.shape() != param.value.shape() {
        *state = ArrayD::zeros(param.value.raw_dim());
    }
    state
}
