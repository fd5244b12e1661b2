//! dropnet: neural networks declared in a macro whose shapes are checked by the compiler.
//!
//! A model is declared once with [`model!`]; the macro infers each layer's output shape while
//! the crate compiles, reports shape mistakes as compile errors that name the layer, and
//! expands into a struct of statically shaped layers from [`core`]. Training, evaluation and
//! prediction come from [`core::Model`], which every generated model implements.
//!
//! ```
//! use dropnet::prelude::*;
//!
//! dropnet::model! {
//!     /// A small classifier of 8×8 grey images.
//!     pub Tiny(8, 8, 1) {
//!         conv2d(4, 3) relu;
//!         maxpool(2);
//!         dropout(0.25);
//!         flatten;
//!         dense(3) softmax;
//!     }
//! }
//!
//! # fn main() -> dropnet::core::Result<()> {
//! let mut model = Tiny::new(7);
//! assert_eq!(Tiny::PARAM_COUNT, 4 * 9 + 4 + 3 * 3 * 4 * 3 + 3);
//!
//! // Twelve images, all zero but for a bright pixel whose row gives the class.
//! let mut pixels = vec![0.0_f32; 12 * 64];
//! let labels: Vec<u32> = (0..12).map(|i| i % 3).collect();
//! for (i, &label) in labels.iter().enumerate() {
//!     pixels[i * 64 + label as usize * 24 + 3] = 1.0;
//! }
//! let x = Samples::<Image<8, 8, 1>>::from_vec(12, pixels)?;
//! let y = Labels::new(labels);
//!
//! model.compile(Adam::default(), SparseCategoricalCrossentropy);
//! let history = model.fit(&x, &y).epochs(3).batch_size(4).verbose(Verbosity::Silent).run()?;
//! assert_eq!(history.get("loss").map(|l| l.len()), Some(3));
//!
//! let probabilities: Samples<Vector<3>> = model.predict(&x)?;
//! assert_eq!(probabilities.len(), 12);
//! # Ok(())
//! # }
//! ```

pub use dropnet_core as core;
pub use dropnet_core::prelude;
pub use dropnet_macros::model;
