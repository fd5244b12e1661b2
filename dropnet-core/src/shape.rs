//! Per-sample shapes as types, and data sets typed by them.
//!
//! A model's input and output shapes are types ([`Image`], [`Sequence`], [`Vector`]), so
//! handing a 28×28×1 model data of another sample shape does not compile. The batch size is
//! a run-time value: [`Samples`] holds any number of samples of one static shape.
//!
//! Memory is batch-major and channels-last, as in Keras: an image batch is
//! `[batch, height, width, channels]`, a sequence batch `[batch, time, features]`. Inside the
//! library every batch is kept as a matrix `[batch, S::LEN]` whose rows are the samples in
//! that order, which makes `flatten` free and keeps layers simple.

use std::marker::PhantomData;

use ndarray::{Array2, ArrayD, ArrayView2, Axis, IxDyn};

use crate::error::{Error, Result};

/// A per-sample shape known at compile time.
pub trait Shape: 'static {
    /// The dimensions of one sample, outermost first (`[height, width, channels]`).
    const DIMS: &'static [usize];
    /// Number of `f32` values in one sample: the product of [`Shape::DIMS`].
    const LEN: usize;
}

/// An image sample `[height, width, channels]`, channels last.
#[derive(Debug, Clone, Copy, Default)]
pub struct Image<const H: usize, const W: usize, const C: usize>;

/// A sequence sample `[time, features]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sequence<const T: usize, const F: usize>;

/// A flat vector sample `[len]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vector<const N: usize>;

impl<const H: usize, const W: usize, const C: usize> Shape for Image<H, W, C> {
    const DIMS: &'static [usize] = &[H, W, C];
    const LEN: usize = H * W * C;
}

impl<const T: usize, const F: usize> Shape for Sequence<T, F> {
    const DIMS: &'static [usize] = &[T, F];
    const LEN: usize = T * F;
}

impl<const N: usize> Shape for Vector<N> {
    const DIMS: &'static [usize] = &[N];
    const LEN: usize = N;
}

/// Formats a per-sample shape the way Keras prints it, with the batch axis as `None`.
pub fn format_shape(dims: &[usize]) -> String {
    let inner: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("(None, {})", inner.join(", "))
}

/// A set of samples of the static shape `S`, stored as a `[n, S::LEN]` matrix.
///
/// Build it from an array whose shape is `[n, S::DIMS…]` with [`Samples::from_array`]
/// ([`Error::DataShape`] on a mismatch), or from a flat vector with [`Samples::from_vec`]
/// ([`Error::ValueCount`] unless it holds `n × S::LEN` values).
#[derive(Debug, Clone, PartialEq)]
pub struct Samples<S: Shape> {
    data: Array2<f32>,
    shape: PhantomData<S>,
}

impl<S: Shape> Samples<S> {
    /// Wraps an array of shape `[n, S::DIMS…]` (for images `[n, height, width, channels]`).
    pub fn from_array(array: ArrayD<f32>) -> Result<Self> {
        let dims = array.shape().to_vec();
        if dims.len() != S::DIMS.len() + 1 || &dims[1..] != S::DIMS {
            return Err(Error::DataShape {
                expected: expected_dims::<S>(),
                got: dims,
            });
        }
        let n = dims[0];
        let data = array
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n, S::LEN))
            .map_err(|_| Error::DataShape {
                expected: expected_dims::<S>(),
                got: dims,
            })?;
        Ok(Self::from_matrix_unchecked(data))
    }

    /// Wraps `values`, which holds `n` samples back to back in channels-last order.
    ///
    /// Fails with [`Error::ValueCount`] unless `values` holds exactly `n × S::LEN` values.
    pub fn from_vec(n: usize, values: Vec<f32>) -> Result<Self> {
        let got = values.len();
        let value_count = || Error::ValueCount {
            samples: n,
            sample_shape: S::DIMS,
            per_sample: S::LEN,
            got,
        };
        if n.checked_mul(S::LEN) != Some(got) {
            return Err(value_count());
        }
        let data = Array2::from_shape_vec((n, S::LEN), values).map_err(|_| value_count())?;
        Ok(Self::from_matrix_unchecked(data))
    }

    /// Wraps a `[n, S::LEN]` matrix whose rows are samples.
    pub fn from_matrix(data: Array2<f32>) -> Result<Self> {
        if data.ncols() != S::LEN {
            let got = data.shape().to_vec();
            return Err(Error::DataShape {
                expected: format!("[n, {}]", S::LEN),
                got,
            });
        }
        Ok(Self::from_matrix_unchecked(data))
    }

    fn from_matrix_unchecked(data: Array2<f32>) -> Self {
        Self {
            data,
            shape: PhantomData,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.data.nrows()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.data.nrows() == 0
    }

    /// The samples as a `[n, S::LEN]` matrix.
    pub fn matrix(&self) -> ArrayView2<'_, f32> {
        self.data.view()
    }

    /// The samples as an array of shape `[n, S::DIMS…]`.
    pub fn to_array(&self) -> ArrayD<f32> {
        let mut dims = vec![self.len()];
        dims.extend_from_slice(S::DIMS);
        let flat = self.data.clone().into_raw_vec_and_offset().0;
        ArrayD::from_shape_vec(IxDyn(&dims), flat).expect("length is n times the sample length")
    }

    /// One sample as a flat slice in channels-last order.
    pub fn sample(&self, index: usize) -> Option<&[f32]> {
        if index >= self.len() {
            return None;
        }
        self.data.row(index).to_slice()
    }

    /// A new set made of the samples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self::from_matrix_unchecked(self.data.select(Axis(0), indices))
    }

    /// The first `n` samples (all of them if there are fewer).
    pub fn head(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self::from_matrix_unchecked(self.data.slice(ndarray::s![..n, ..]).to_owned())
    }
}

fn expected_dims<S: Shape>() -> String {
    let dims: Vec<String> = S::DIMS.iter().map(|d| d.to_string()).collect();
    format!("[n, {}]", dims.join(", "))
}

/// Class labels for sparse categorical cross-entropy: one class index per sample.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels {
    values: Vec<u32>,
}

impl Labels {
    /// Wraps class indices. Their range is checked against the model when training starts.
    pub fn new(values: Vec<u32>) -> Self {
        Self { values }
    }

    /// The class indices.
    pub fn as_slice(&self) -> &[u32] {
        &self.values
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A new set made of the labels at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self::new(indices.iter().map(|&i| self.values[i]).collect())
    }

    /// The first `n` labels (all of them if there are fewer).
    pub fn head(&self, n: usize) -> Self {
        Self::new(self.values[..n.min(self.len())].to_vec())
    }
}

impl From<Vec<u32>> for Labels {
    fn from(values: Vec<u32>) -> Self {
        Self::new(values)
    }
}

/// A borrowed view of training targets, whatever their kind.
#[derive(Debug, Clone, Copy)]
pub enum TargetsRef<'a> {
    /// One class index per sample.
    Classes(&'a [u32]),
    /// One row of target values per sample, `[n, output_len]`.
    Values(ArrayView2<'a, f32>),
}

impl TargetsRef<'_> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            TargetsRef::Classes(c) => c.len(),
            TargetsRef::Values(v) => v.nrows(),
        }
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Anything that can serve as targets for a model whose output shape is `O`.
///
/// Implemented by [`Labels`] (class indices, checked against `O::LEN` at run time) and by
/// [`Samples<O>`] (values of exactly the output shape, checked by the compiler).
pub trait Targets<O: Shape> {
    /// A borrowed view for the loss and the metrics.
    fn targets(&self) -> TargetsRef<'_>;
}

impl<O: Shape> Targets<O> for Labels {
    fn targets(&self) -> TargetsRef<'_> {
        TargetsRef::Classes(&self.values)
    }
}

impl<O: Shape> Targets<O> for Samples<O> {
    fn targets(&self) -> TargetsRef<'_> {
        TargetsRef::Values(self.data.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_shape_constants() {
        assert_eq!(<Image<28, 28, 1>>::DIMS, &[28, 28, 1]);
        assert_eq!(<Image<5, 5, 64>>::LEN, 1600);
        assert_eq!(<Sequence<52, 1>>::LEN, 52);
    }

    #[test]
    fn from_array_rejects_another_sample_shape() {
        let wrong = ArrayD::<f32>::zeros(IxDyn(&[3, 28, 27, 1]));
        let err = Samples::<Image<28, 28, 1>>::from_array(wrong).unwrap_err();
        assert!(matches!(err, Error::DataShape { .. }), "{err}");
    }

    #[test]
    fn from_vec_says_how_many_values_the_samples_need() {
        let short = Samples::<Image<8, 8, 1>>::from_vec(2, vec![0.0; 10]).unwrap_err();
        let whole = Samples::<Image<8, 8, 1>>::from_vec(2, vec![0.0; 192]).unwrap_err();
        let one = Samples::<Vector<3>>::from_vec(2, vec![0.0; 3]).unwrap_err();
        let huge = Samples::<Vector<3>>::from_vec(usize::MAX, vec![0.0; 3]).unwrap_err();

        assert!(
            matches!(
                short,
                Error::ValueCount {
                    samples: 2,
                    per_sample: 64,
                    got: 10,
                    ..
                }
            ),
            "{short:?}"
        );
        assert_eq!(
            short.to_string(),
            "2 samples of shape [8, 8, 1] need 128 values (2 × 64), but 10 were given"
        );
        assert_eq!(
            whole.to_string(),
            "2 samples of shape [8, 8, 1] need 128 values (2 × 64), but 192 were given \
             (192 values are 3 samples)"
        );
        assert!(
            one.to_string().ends_with("(3 values are 1 sample)"),
            "{one}"
        );
        let needed = usize::MAX as u128 * 3;
        assert!(
            huge.to_string().contains(&format!("need {needed} values")),
            "{huge}"
        );
        assert_eq!(
            Samples::<Vector<3>>::from_vec(2, vec![0.0; 6])
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn from_array_keeps_channels_last_order() {
        let a = ArrayD::from_shape_fn(IxDyn(&[2, 2, 2, 3]), |i| {
            (i[0] * 100 + i[1] * 10 + i[2] * 3 + i[3]) as f32
        });
        let s = Samples::<Image<2, 2, 3>>::from_array(a.clone()).unwrap();

        assert_eq!(s.sample(1).unwrap()[..4], [100.0, 101.0, 102.0, 103.0]);
        assert_eq!(s.to_array(), a);
    }
}
