//! The numeric core of dropnet: tensors, layers, losses, optimisers, the training loop
//! and data loaders.
//!
//! Models are declared with `dropnet::model!`, which expands into a struct of the layer
//! types defined here and an implementation of [`Network`]. Everything that runs, from
//! forward and backward passes to `fit`, is generic code in this crate.
//!
//! Layout is channels-last throughout, as in Keras: images are
//! `[batch, height, width, channels]`, sequences `[batch, time, features]`.

pub mod activation;
pub mod callback;
pub mod data;
pub mod error;
pub mod gradcheck;
pub mod history;
pub mod init;
pub mod layer;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod network;
pub mod optim;
pub mod prelude;
pub mod rng;
pub mod runtime;
pub mod shape;
pub mod summary;
pub mod weights;

pub use error::{Error, Result};
pub use layer::{Layer, Mode, Param, Pass};
pub use model::Model;
pub use network::Network;
pub use runtime::Runtime;
pub use shape::{Image, Labels, Samples, Sequence, Shape, Targets, TargetsRef, Vector};
