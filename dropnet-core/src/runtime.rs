//! Run-time state of a model that is not a layer: its seed, reusable buffers, and what
//! `compile` chose.

/// Run-time state owned by every generated model.
#[derive(Debug)]
pub struct Runtime {
    seed: u64,
}

impl Runtime {
    /// Fresh state for a model built from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The seed the model was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}
