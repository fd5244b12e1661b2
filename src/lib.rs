//! dropnet: neural networks declared in a macro whose shapes are checked by the compiler.

pub use dropnet_core as core;
pub use dropnet_macros::model;
