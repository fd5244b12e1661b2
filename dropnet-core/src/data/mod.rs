//! Data loaders: the IDX format and the MNIST digits stored in it, and time series read
//! from CSV files and cut into training windows.
//!
//! Loaders check what they read before allocating for it and report problems as
//! [`crate::Error`] values that name the file and what was expected and found.

pub mod idx;
pub mod mnist;
pub mod series;
