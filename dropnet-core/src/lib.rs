//! The numeric core of dropnet: tensors, layers, losses, optimisers, the training loop
//! and data loaders.
//!
//! Models are declared with `dropnet::model!`, which expands into a struct of the layer
//! types defined here and an implementation of [`Network`]. Everything that runs, from
//! forward and backward passes to `fit`, is generic code in this crate.
//!
//! Layout is channels-last throughout, as in Keras: images are
//! `[batch, height, width, channels]`, sequences `[batch, time, features]`.
//!
//! # Cargo features
//! - `plot` (off by default): `History::plot` and `plot::loss_curves`
//!   draw loss curves as PNG or SVG images, with a bundled font.

pub mod activation;
pub mod callback;
pub mod checkpoint;
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
#[cfg(feature = "plot")]
pub mod plot;
pub mod prelude;
pub mod rng;
pub mod runtime;
pub mod shape;
pub mod summary;
pub mod weights;

/// The `ndarray` crate (0.16) that this library's data types are built on, re-exported so
/// that a program can build inputs for [`Samples::from_array`] or read
/// [`Samples::matrix`] without depending on a matching version of `ndarray` itself.
///
/// ```
/// use dropnet_core::ndarray::{ArrayD, IxDyn};
/// use dropnet_core::{Image, Samples};
///
/// let pixels = ArrayD::<f32>::from_elem(IxDyn(&[2, 8, 8, 1]), 0.5);
/// let images = Samples::<Image<8, 8, 1>>::from_array(pixels)?;
/// assert_eq!(images.matrix().shape(), [2, 64]);
/// # Ok::<(), dropnet_core::Error>(())
/// ```
pub use ndarray;

pub use error::{Error, Result};
pub use layer::{Layer, Mode, Param, Pass};
pub use model::Model;
pub use network::Network;
pub use runtime::Runtime;
pub use shape::{Image, Labels, Samples, Sequence, Shape, Targets, TargetsRef, Vector};
