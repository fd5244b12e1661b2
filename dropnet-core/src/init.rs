//! Initial values of trainable variables, as Keras draws them.
//!
//! Kernels use Glorot (Xavier) uniform initialisation, Keras's default for `Dense` and
//! `Conv2D`: each value is drawn uniformly from `[-limit, limit)` with
//! `limit = sqrt(6 / (fan_in + fan_out))`. Biases start at zero.
//!
//! The fans follow Keras's rule for a kernel of any rank: the last axis is the output
//! axis, the one before it the input axis, and every earlier axis is part of the receptive
//! field. A dense kernel `[in, out]` has `fan_in = in` and `fan_out = out`; a conv kernel
//! `[k_h, k_w, in_c, filters]` has `fan_in = k_h·k_w·in_c` and `fan_out = k_h·k_w·filters`.
//!
//! Layers draw their kernels from [`crate::rng::stream`]`(seed, name, "init")`, so a layer's
//! initial weights depend only on the model seed and the layer's Keras name. Values are
//! drawn in the kernel's row-major (Keras) order.
//!
//! Recurrent kernels use Keras's `Orthogonal` initialiser instead ([`orthogonal`]): their
//! rows (or columns, whichever are fewer) are orthonormal, so repeated multiplication by the
//! kernel over many time steps neither blows up nor shrinks a state at the start of training.

use ndarray::{Array2, ArrayD, IxDyn};
use rand::Rng as _;
use rand_distr::StandardNormal;

use crate::rng::Rng;

/// The numbers of inputs and outputs a kernel connects, which scale its initial values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fans {
    /// Inputs feeding one output unit: `in` for dense, `k_h·k_w·in_c` for conv.
    pub fan_in: usize,
    /// Outputs fed by one input unit: `out` for dense, `k_h·k_w·filters` for conv.
    pub fan_out: usize,
}

impl Fans {
    /// The fans of a kernel of the given shape, by Keras's rule (see the module docs).
    ///
    /// A rank-1 shape `[n]` has both fans equal to `n`, and a scalar shape both equal to 1.
    pub fn of(shape: &[usize]) -> Self {
        match shape {
            [] => Self {
                fan_in: 1,
                fan_out: 1,
            },
            [n] => Self {
                fan_in: *n,
                fan_out: *n,
            },
            [field @ .., inputs, outputs] => {
                let receptive: usize = field.iter().product();
                Self {
                    fan_in: inputs * receptive,
                    fan_out: outputs * receptive,
                }
            }
        }
    }
}

/// The bound of Glorot uniform initialisation: `sqrt(6 / (fan_in + fan_out))`.
///
/// Zero fans give an infinite limit; layers never have them because every size is
/// checked to be positive at compile time.
pub fn glorot_limit(fans: Fans) -> f32 {
    let total = (fans.fan_in + fans.fan_out) as f64;
    (6.0 / total).sqrt() as f32
}

/// A kernel of `shape` drawn from Glorot uniform `[-limit, limit)`, row-major, from `rng`.
pub fn glorot_uniform(shape: &[usize], rng: &mut Rng) -> ArrayD<f32> {
    let limit = glorot_limit(Fans::of(shape));
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        // The half-open unit draw keeps the result inside the closed Keras interval.
        let unit: f32 = rng.random();
        (2.0 * unit - 1.0) * limit
    })
}

/// A kernel of `shape` with orthonormal rows or columns, like Keras's `Orthogonal()`
/// initialiser with gain 1.
///
/// The kernel is read as a matrix of `rows = ∏ shape[..-1]` by `cols = shape[-1]`. A
/// `[max, min]` matrix of standard normal values is drawn from `rng` (row-major), factored
/// as `Q·R`, and the columns of `Q` are multiplied by the signs of `R`'s diagonal; that
/// makes `Q` the orthonormal factor of the unique QR factorisation with a positive
/// diagonal, which is uniformly distributed over matrices with orthonormal columns. When
/// `rows < cols` the result is `Qᵀ`, so its rows are orthonormal; otherwise its columns are.
///
/// The factorisation is a Householder QR in `f64` written here: it is some forty lines,
/// while a linear-algebra crate would add its build time to every user for one call at
/// initialisation.
pub fn orthogonal(shape: &[usize], rng: &mut Rng) -> ArrayD<f32> {
    let cols = shape.last().copied().unwrap_or(1);
    let rows = shape.iter().product::<usize>() / cols.max(1);
    let (tall, narrow) = (rows.max(cols), rows.min(cols));
    let normal = Array2::from_shape_simple_fn((tall, narrow), || {
        let value: f64 = rng.sample(StandardNormal);
        value
    });

    let (mut q, r_diagonal) = householder_qr(normal);
    for (mut column, &r) in q.columns_mut().into_iter().zip(&r_diagonal) {
        if r < 0.0 {
            column.mapv_inplace(|v| -v);
        }
    }

    let oriented = if rows < cols { q.reversed_axes() } else { q };
    let values: Vec<f32> = oriented.iter().map(|&v| v as f32).collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).expect("rows · cols values in row-major order")
}

/// The thin QR factorisation of a `[m, n]` matrix with `m ≥ n` by Householder reflections:
/// returns `Q` (`[m, n]`, orthonormal columns) and the diagonal of `R` (`[n]`).
///
/// Reflection `k` maps column `k` below the diagonal onto a multiple of the unit vector
/// `e_k`; `Q` is the product of the reflections applied to the first `n` columns of the
/// identity, last reflection first.
fn householder_qr(mut a: Array2<f64>) -> (Array2<f64>, Vec<f64>) {
    let (m, n) = a.dim();
    let mut reflectors: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut r_diagonal = Vec::with_capacity(n);

    for k in 0..n {
        let x: Vec<f64> = a.column(k).iter().skip(k).copied().collect();
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        // The sign opposite to x₀ avoids cancellation when forming v = x − αe₀.
        let alpha = if x[0] > 0.0 { -norm } else { norm };
        let mut v = x;
        v[0] -= alpha;
        let v_norm = v.iter().map(|e| e * e).sum::<f64>().sqrt();
        if v_norm > 0.0 {
            v.iter_mut().for_each(|e| *e /= v_norm);
        }
        reflect(&mut a, k, &v);
        r_diagonal.push(alpha);
        reflectors.push(v);
    }

    let mut q = Array2::eye(m).slice_move(ndarray::s![.., ..n]);
    for (k, v) in reflectors.iter().enumerate().rev() {
        reflect(&mut q, k, v);
    }
    (q, r_diagonal)
}

/// Applies `I − 2vvᵀ` to rows `k..` of `a`, with `v` of unit length (or zero).
fn reflect(a: &mut Array2<f64>, k: usize, v: &[f64]) {
    for mut column in a.columns_mut() {
        let below = column.slice_mut(ndarray::s![k..]);
        let dot: f64 = below.iter().zip(v).map(|(a, v)| a * v).sum();
        below
            .into_iter()
            .zip(v)
            .for_each(|(a, v)| *a -= 2.0 * dot * v);
    }
}

/// A zero tensor of `shape`, Keras's default for biases.
pub fn zeros(shape: &[usize]) -> ArrayD<f32> {
    ArrayD::zeros(IxDyn(shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn fans_follow_keras_for_dense_and_conv() {
        assert_eq!(
            Fans::of(&[1600, 10]),
            Fans {
                fan_in: 1600,
                fan_out: 10
            }
        );
        // conv 3×3, 32 → 64 channels: 9·32 = 288 in, 9·64 = 576 out.
        assert_eq!(
            Fans::of(&[3, 3, 32, 64]),
            Fans {
                fan_in: 288,
                fan_out: 576
            }
        );
        assert_eq!(
            Fans::of(&[7]),
            Fans {
                fan_in: 7,
                fan_out: 7
            }
        );
    }

    #[test]
    fn glorot_values_stay_within_the_limit_and_fill_it() {
        let kernel = glorot_uniform(&[3, 3, 32, 64], &mut stream(1, "conv2d_1", "init"));
        let limit = (6.0_f64 / (288.0 + 576.0)).sqrt() as f32;

        assert_eq!(glorot_limit(Fans::of(&[3, 3, 32, 64])), limit);
        assert!(kernel.iter().all(|v| v.abs() <= limit));
        // With 18,432 draws the extremes come within 1% of the bounds.
        let max = kernel.fold(f32::MIN, |m, &v| m.max(v));
        let min = kernel.fold(f32::MAX, |m, &v| m.min(v));
        assert!(max > 0.99 * limit && min < -0.99 * limit, "{min} {max}");
        let mean = kernel.iter().map(|&v| v as f64).sum::<f64>() / kernel.len() as f64;
        assert!(mean.abs() < 0.01 * limit as f64, "{mean}");
    }

    #[test]
    fn same_stream_gives_same_kernel() {
        let a = glorot_uniform(&[4, 5], &mut stream(7, "dense", "init"));
        let b = glorot_uniform(&[4, 5], &mut stream(7, "dense", "init"));
        let c = glorot_uniform(&[4, 5], &mut stream(7, "dense_1", "init"));

        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// The largest `|(MᵀM − I)ᵢⱼ|`: zero when the columns of `m` are orthonormal.
    fn distance_from_orthonormal_columns(m: ndarray::ArrayView2<'_, f64>) -> f64 {
        let gram = m.t().dot(&m);
        let identity = Array2::<f64>::eye(m.ncols());
        (&gram - &identity).fold(0.0, |worst, &e| f64::max(worst, e.abs()))
    }

    #[test]
    fn householder_q_is_orthonormal_and_reproduces_the_matrix() {
        let mut rng = stream(3, "qr", "test");
        let a = Array2::from_shape_simple_fn((7, 4), || rng.random_range(-1.0..1.0));

        let (q, r_diagonal) = householder_qr(a.clone());

        assert_eq!(q.dim(), (7, 4));
        assert!(distance_from_orthonormal_columns(q.view()) < 1e-12);
        // R = QᵀA is upper triangular with the returned diagonal, and QR gives A back.
        let r = q.t().dot(&a);
        for ((i, j), &value) in r.indexed_iter() {
            let expected = match i.cmp(&j) {
                std::cmp::Ordering::Greater => 0.0,
                std::cmp::Ordering::Equal => r_diagonal[i],
                std::cmp::Ordering::Less => value,
            };
            assert!((value - expected).abs() < 1e-12, "R[{i}, {j}] = {value}");
        }
        let rebuilt = q.dot(&r);
        assert!(rebuilt.iter().zip(&a).all(|(x, y)| (x - y).abs() < 1e-12));
    }

    #[test]
    fn orthogonal_recurrent_kernel_has_orthonormal_rows() {
        // An LSTM recurrent kernel [U, 4U]: rows < cols, so the rows are orthonormal.
        let kernel = orthogonal(&[8, 32], &mut stream(42, "lstm", "init"));
        let rows = kernel
            .into_dimensionality::<ndarray::Ix2>()
            .expect("rank 2")
            .mapv(f64::from);

        assert_eq!(rows.dim(), (8, 32));
        assert!(distance_from_orthonormal_columns(rows.t()) < 1e-6);
    }

    #[test]
    fn orthogonal_tall_and_square_kernels_have_orthonormal_columns() {
        for shape in [[12, 5], [6, 6]] {
            let kernel = orthogonal(&shape, &mut stream(1, "dense", "init"));
            let m = kernel
                .into_dimensionality::<ndarray::Ix2>()
                .expect("rank 2")
                .mapv(f64::from);
            assert!(
                distance_from_orthonormal_columns(m.view()) < 1e-6,
                "{shape:?}"
            );
        }
    }

    #[test]
    fn orthogonal_is_reproducible_and_depends_on_the_stream() {
        let a = orthogonal(&[4, 16], &mut stream(7, "lstm", "init"));
        let b = orthogonal(&[4, 16], &mut stream(7, "lstm", "init"));
        let c = orthogonal(&[4, 16], &mut stream(7, "lstm_1", "init"));

        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.shape(), &[4, 16]);
    }

    #[test]
    fn zeros_are_zero() {
        let bias = zeros(&[5]);
        assert_eq!(bias.shape(), &[5]);
        assert!(bias.iter().all(|&v| v == 0.0));
    }
}
