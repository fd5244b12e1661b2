//! The matrix products of one training step of the seed CNN's second convolution, with the
//! two pure-Rust matrix multiplies at hand (`cargo bench --bench gemm`): the `gemm` crate,
//! which dropnet uses, and `matrixmultiply`, which ndarray's `dot` uses.
//!
//! The shapes are those of one block of 8 samples (11·11 positions each, 968 patch rows)
//! and of a whole batch of 32 (3,872 rows): forward `patches · kernel`, the kernel gradient
//! `patchesᵀ · grad` and the patch gradient `grad · kernelᵀ`, with 3·3·32 = 288 values per
//! patch and 64 filters. All operands are row-major, as the layer stores them; transposes
//! are strided views. Throughput is in floating-point operations (two per multiply-add).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// `(name, m, k, n, a transposed, b transposed)` of `c[m, n] = a[m, k] · b[k, n]`.
const PRODUCTS: [(&str, usize, usize, usize, bool, bool); 3] = [
    ("forward", 0, 288, 64, false, false),
    ("kernel_grad", 288, 0, 64, true, false),
    ("patch_grad", 0, 64, 288, false, true),
];

/// A row-major `[rows, cols]` matrix viewed as `a[m, k]`: strides of the plain or the
/// transposed view.
fn strides(rows_cols: (usize, usize), transposed: bool) -> (isize, isize) {
    let (_, cols) = rows_cols;
    if transposed {
        (1, cols as isize)
    } else {
        (cols as isize, 1)
    }
}

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32)
        .map(|v| v / (1 << 24) as f32 - 0.5)
        .collect()
}

/// `c = a · b` with the `gemm` crate on the calling thread.
fn with_gemm(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
    c: &mut [f32],
) {
    // SAFETY: every operand holds the elements its strides address for these dimensions,
    // and `c` is a separate, row-major `[m, n]` buffer.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.0.as_ptr(),
            a.2,
            a.1,
            b.0.as_ptr(),
            b.2,
            b.1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `c = a · b` with `matrixmultiply`.
fn with_matrixmultiply(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
    c: &mut [f32],
) {
    // SAFETY: as in `with_gemm`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.0.as_ptr(),
            a.1,
            a.2,
            b.0.as_ptr(),
            b.1,
            b.2,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

fn products(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    for rows in [968, 3872] {
        for (name, m, k, n, a_t, b_t) in PRODUCTS {
            // The patch-row count stands in for the dimension written as 0 above.
            let (m, k) = (if m == 0 { rows } else { m }, if k == 0 { rows } else { k });
            let a_shape = if a_t { (k, m) } else { (m, k) };
            let b_shape = if b_t { (n, k) } else { (k, n) };
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let (a_rs, a_cs) = strides(a_shape, a_t);
            let (b_rs, b_cs) = strides(b_shape, b_t);
            let mut out = vec![0.0; m * n];
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));

            let id = format!("{name}/{rows}");
            group.bench_function(BenchmarkId::new("gemm", &id), |bench| {
                bench.iter(|| with_gemm(m, k, n, (&a, a_rs, a_cs), (&b, b_rs, b_cs), &mut out))
            });
            group.bench_function(BenchmarkId::new("matrixmultiply", &id), |bench| {
                bench.iter(|| {
                    with_matrixmultiply(m, k, n, (&a, a_rs, a_cs), (&b, b_rs, b_cs), &mut out)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, products);
criterion_main!(benches);
