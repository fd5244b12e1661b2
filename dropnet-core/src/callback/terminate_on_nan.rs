//! Ending training gracefully at a NaN or infinite loss.

use super::{Callback, FitContext};
use crate::error::{Error, Result};

/// Ends training at the first batch whose loss or gradient is NaN or infinite, and keeps
/// the history, like Keras's `TerminateOnNaN`.
///
/// Without this callback `fit` fails with [`Error::NonFiniteLoss`] or
/// [`Error::NonFiniteGradient`] at such a batch and the history is lost. With it, `fit`
/// returns `Ok`: the epoch that hit the batch is closed with the batches it has seen (its
/// `loss` then shows the NaN or infinity), validated, and recorded, and
/// [`History::stop_reason`](crate::history::History::stop_reason) gives the error's
/// message. Either way the bad batch's update is not applied (Keras applies it), so the
/// weights are those after the last good batch; the exception is an update that itself
/// overflows a weight or the optimiser's state ([`Error::NonFiniteWeight`]), which is
/// found only once applied.
///
/// ```
/// use dropnet_core::callback::TerminateOnNan;
/// let mut terminate = TerminateOnNan::new();
/// // model.fit(&x, &y).callback(&mut terminate).run()?;
/// ```
#[derive(Debug, Clone, Default)]
pub struct TerminateOnNan {
    stopped: Option<String>,
}

impl TerminateOnNan {
    /// The callback.
    pub fn new() -> Self {
        Self::default()
    }

    /// The message of the error that ended the last run, if one did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }
}

impl Callback for TerminateOnNan {
    fn on_train_begin(
        &mut self,
        _info: &super::TrainBegin,
        _ctx: &mut FitContext<'_, '_>,
    ) -> Result<()> {
        self.stopped = None;
        Ok(())
    }

    fn on_non_finite(&mut self, error: &Error, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        let message = error.to_string();
        log::warn!("TerminateOnNan: {message}");
        ctx.stop_training_because(message.clone());
        self.stopped = Some(message);
        Ok(())
    }
}
