//! Single-precision matrix products for the layers.
//!
//! Convolution and dense layers spend most of their time in a few matrix products. The
//! `gemm` crate picks AVX-512, AVX2/FMA or portable kernels at run time and handles any
//! strides, so transposed views need no copy. It runs here on the calling thread, which
//! keeps every sum in one fixed order: results do not depend on the machine's load or
//! thread count.

use ndarray::{ArrayView2, ArrayViewMut2};

/// `c = a · b`, or `c += a · b` when `accumulate`.
///
/// # Shapes
/// `a`: `[m, k]`, `b`: `[k, n]`, `c`: `[m, n]`; any strides, including transposed views.
///
/// # Panics
/// If the shapes do not chain.
pub(super) fn matmul(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    let ((m, k), (k_b, n)) = (a.dim(), b.dim());
    assert!(
        k == k_b && c.dim() == (m, n),
        "matmul of {:?} by {:?} into {:?}",
        a.dim(),
        b.dim(),
        { c.dim() }
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }

    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: each pointer is the first element of a view whose `[rows, cols]` elements at
    // the given strides are all in bounds, which is what `gemm` reads (a, b) or writes (c)
    // for the dimensions passed. `c` is borrowed mutably, so it cannot overlap `a` or `b`.
    // `gemm` computes `dst = alpha·dst + beta·lhs·rhs`, reading `dst` only when asked.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: &ArrayView2<'_, f32>, b: &ArrayView2<'_, f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|l| a[[i, l]] * b[[l, j]]).sum()
        })
    }

    #[test]
    fn products_of_plain_and_transposed_views_match_a_loop() {
        let a = Array2::from_shape_fn((7, 5), |(i, j)| (i * 5 + j) as f32 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((5, 3), |(i, j)| (i + 2 * j) as f32 * 0.2 - 0.5);
        let at = a.t().to_owned();

        let mut c = Array2::from_elem((7, 3), f32::NAN);
        matmul(&a.view(), &b.view(), &mut c.view_mut(), false);
        let mut d = Array2::from_elem((7, 3), 1.0);
        matmul(&at.t(), &b.view(), &mut d.view_mut(), true);

        let expected = naive(&a.view(), &b.view());
        for ((x, y), e) in c.iter().zip(d.iter()).zip(expected.iter()) {
            assert!(
                (x - e).abs() < 1e-5 && (y - e - 1.0).abs() < 1e-5,
                "{x} {y} {e}"
            );
        }
    }

    #[test]
    fn writes_into_a_transposed_destination() {
        let a = Array2::from_shape_fn((4, 6), |(i, j)| (i * j) as f32 - 2.0);
        let b = Array2::from_shape_fn((6, 2), |(i, j)| (i + j) as f32);
        let mut ct = Array2::zeros((2, 4));

        matmul(
            &a.view(),
            &b.view(),
            &mut ct.view_mut().reversed_axes(),
            false,
        );

        assert_eq!(ct.t(), naive(&a.view(), &b.view()));
    }
}
