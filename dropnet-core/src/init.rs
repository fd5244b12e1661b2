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
//! drawn in the kernel's row-major (Keras) order. Recurrent layers will add an orthogonal
//! initialiser here next to the Glorot one.

use ndarray::{ArrayD, IxDyn};
use rand::Rng as _;

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

    #[test]
    fn zeros_are_zero() {
        let bias = zeros(&[5]);
        assert_eq!(bias.shape(), &[5]);
        assert!(bias.iter().all(|&v| v == 0.0));
    }
}
