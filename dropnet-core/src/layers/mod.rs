//! The layer types that `model!` generates, one file each.
//!
//! Every layer is statically shaped by const generic parameters and implements
//! [`crate::Layer`]. Its constructor re-checks those parameters with const assertions, so
//! an instantiation the macro would have rejected (a kernel larger than its input, a zero
//! size) fails to compile even when written by hand.
//!
//! Layers own their scratch buffers (im2col patches, pooling indices, dropout masks) as
//! plain vectors grown to the largest batch seen; a smaller batch works on a prefix, so
//! the layers allocate nothing in forward or backward once the largest batch has gone
//! through. (The matrix-multiply kernel still takes its packing space per call.)

mod alpha_dropout;
mod conv2d;
mod dense;
mod dropout;
mod flatten;
mod gaussian_dropout;
mod gaussian_noise;
mod lstm;
mod lstm_dropout;
mod matmul;
mod maxpool;
mod noise;
mod sparse;
mod spatial_dropout;
pub(crate) mod vector;

pub use alpha_dropout::AlphaDropout;
pub use conv2d::{conv_output_size, Conv2d};
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use gaussian_dropout::GaussianDropout;
pub use gaussian_noise::GaussianNoise;
pub use lstm::Lstm;
pub use maxpool::{pool_output_size, MaxPool2d};
pub use spatial_dropout::SpatialDropout2d;

use std::borrow::Cow;

use ndarray::{ArrayD, ArrayView2, ArrayViewMut2, CowArray, Ix2};

/// The first `len` values of `buffer`, growing it (with zeros) only when it is too short.
fn prefix(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// The values of `view` in row-major order, borrowed when the view is already contiguous.
fn row_major<'a>(view: &'a ArrayView2<'_, f32>) -> Cow<'a, [f32]> {
    match view.as_slice() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(view.iter().copied().collect()),
    }
}

/// Runs `body` on `view` re-read as a `[rows, cols]` matrix in row-major order.
///
/// Works in place on a contiguous view, which is always the case for the chain's buffers;
/// any other layout goes through a copy that is written back afterwards.
fn with_reshaped<R>(
    mut view: ArrayViewMut2<'_, f32>,
    rows: usize,
    cols: usize,
    body: impl FnOnce(ArrayViewMut2<'_, f32>) -> R,
) -> R {
    let shape_error = "a layer's buffer has rows × cols values";
    if view.is_standard_layout() {
        return body(view.into_shape_with_order((rows, cols)).expect(shape_error));
    }
    let values: Vec<f32> = view.iter().copied().collect();
    let mut copy = ndarray::Array2::from_shape_vec((rows, cols), values).expect(shape_error);
    let result = body(copy.view_mut());
    view.iter_mut()
        .zip(copy.iter())
        .for_each(|(dst, &src)| *dst = src);
    result
}

/// A parameter tensor read as the `[rows, cols]` matrix it is in row-major order.
///
/// # Panics
/// If the tensor does not hold `rows · cols` values, which happens only when a caller
/// replaced a parameter with an array of another shape.
fn param_matrix(value: &ArrayD<f32>, rows: usize, cols: usize) -> CowArray<'_, f32, Ix2> {
    assert_eq!(
        value.len(),
        rows * cols,
        "parameter has {} values, expected {rows}×{cols}",
        { value.len() }
    );
    match value.as_slice() {
        Some(values) => CowArray::from(
            ArrayView2::from_shape((rows, cols), values).expect("length checked above"),
        ),
        None => CowArray::from(
            ndarray::Array2::from_shape_vec((rows, cols), value.iter().copied().collect())
                .expect("length checked above"),
        ),
    }
}

/// A parameter gradient as a mutable `[rows, cols]` matrix in row-major order.
///
/// A gradient that lost its standard layout (only possible if a caller replaced it) is
/// first made contiguous again.
///
/// # Panics
/// If the tensor does not hold `rows · cols` values.
fn grad_matrix(grad: &mut ArrayD<f32>, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    assert_eq!(
        grad.len(),
        rows * cols,
        "gradient has {} values, expected {rows}×{cols}",
        { grad.len() }
    );
    if !grad.is_standard_layout() {
        *grad = grad.as_standard_layout().into_owned();
    }
    let values = grad.as_slice_mut().expect("made contiguous above");
    ArrayViewMut2::from_shape((rows, cols), values).expect("length checked above")
}

/// Adds the column sums of `grad` (`[rows, cols]`) to `bias_grad` (`[cols]`), in row order.
fn add_column_sums(grad: &ArrayViewMut2<'_, f32>, bias_grad: &mut ArrayD<f32>) {
    let sums = grad_matrix(bias_grad, 1, grad.ncols())
        .into_slice()
        .expect("contiguous");
    match grad.as_slice() {
        // Whole rows at a time, so the additions run across the columns in vector lanes.
        Some(values) => {
            for row in values.chunks_exact(sums.len()) {
                sums.iter_mut().zip(row).for_each(|(sum, &g)| *sum += g);
            }
        }
        None => {
            for row in grad.rows() {
                sums.iter_mut()
                    .zip(row.iter())
                    .for_each(|(sum, &g)| *sum += g);
            }
        }
    }
}

/// Panics unless a batch handed to a layer has the width the layer was built for.
///
/// A width mismatch means the chain wired layers wrongly, which the types rule out for
/// generated models; the check turns such a bug into a clear message instead of garbage.
fn check_width(layer: &str, what: &str, got: usize, expected: usize) {
    assert_eq!(
        got, expected,
        "layer `{layer}`: {what} has {got} columns, expected {expected}"
    );
}
