//! Element-wise activations fused into the layer before them.
//!
//! Keras writes `Dense(10, activation="softmax")` as one layer, and so does the DSL
//! (`dense(10) softmax`). A layer applies its activation in place on its output, and its
//! backward pass turns the gradient of the activated output into the gradient of the
//! pre-activation. Every activation here has a derivative that can be written in terms of
//! its own output `y`, so no pre-activation buffer is kept:
//!
//! | activation | `y = f(z)` | `dy/dz` from `y` |
//! | --- | --- | --- |
//! | linear | `z` | `1` |
//! | relu | `max(z, 0)` | `1 if y > 0 else 0` |
//! | sigmoid | `1 / (1 + e^-z)` | `y (1 − y)` |
//! | tanh | `tanh z` | `1 − y²` |
//! | softmax (per row) | `e^z_i / Σ e^z_j` | Jacobian-vector product `y ⊙ (g − Σ g y)` |
//! | elu | `z if z > 0 else α (e^z − 1)` | `1 if y > 0 else y + α` |
//! | selu | `λ z if z > 0 else λ α (e^z − 1)` | `λ if y > 0 else y + λ α` |

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};

/// Which activation a layer applies; used by losses that fuse with it and by the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivationKind {
    /// No activation.
    Linear,
    /// Rectified linear unit.
    Relu,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Softmax over the last axis.
    Softmax,
    /// Exponential linear unit with `α = 1`.
    Elu,
    /// Scaled exponential linear unit with Keras's constants.
    Selu,
}

/// An activation applied in place on a `[rows, units]` block, softmax being taken per row.
pub trait Activation: Copy + Default + std::fmt::Debug + Send + Sync + 'static {
    /// Which activation this is.
    const KIND: ActivationKind;

    /// Replaces each pre-activation `z` by `f(z)`.
    fn apply(values: ArrayViewMut2<'_, f32>);

    /// Replaces the gradient with respect to the output `y = f(z)` by the gradient with
    /// respect to `z`, given `y`.
    ///
    /// # Shapes
    /// `output` and `grad` are both `[rows, units]`.
    fn backward(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>);
}

/// The identity: `f(z) = z`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Linear;

/// `f(z) = max(z, 0)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu;

/// `f(z) = 1 / (1 + e^-z)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid;

/// `f(z) = tanh z`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

/// `f(z)_i = e^z_i / Σ_j e^z_j` over each row, computed after subtracting the row maximum
/// so that large logits do not overflow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Softmax;

/// The exponential linear unit with `α = 1` (Keras's default): `f(z) = z` for `z > 0`,
/// `α (e^z − 1)` otherwise.
///
/// For `z ≤ 0`, `y = α (e^z − 1)` gives `dy/dz = α e^z = y + α`, so the derivative needs
/// only the output.
#[derive(Debug, Clone, Copy, Default)]
pub struct Elu;

/// The scaled exponential linear unit of Klambauer et al. (2017): `f(z) = λ z` for `z > 0`,
/// `λ α (e^z − 1)` otherwise, with Keras's constants [`Selu::ALPHA`] and [`Selu::SCALE`].
///
/// These constants make a layer whose inputs have mean 0 and variance 1 (and whose weights
/// are suitably scaled) produce outputs with mean 0 and variance 1 again; `AlphaDropout`
/// keeps that property when dropping. The derivative is `λ` for `y > 0` and `y + λ α`
/// otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selu;

impl Elu {
    /// The saturation value's magnitude: `f(z) → −α` as `z → −∞`.
    pub const ALPHA: f32 = 1.0;
}

impl Selu {
    /// `α`, Keras's `1.6732632423543772`.
    pub const ALPHA: f32 = 1.673_263_2;
    /// `λ`, Keras's `1.0507009873554805`.
    pub const SCALE: f32 = 1.050_701;
}

impl Activation for Linear {
    const KIND: ActivationKind = ActivationKind::Linear;

    fn apply(_values: ArrayViewMut2<'_, f32>) {}

    fn backward(_output: ArrayView2<'_, f32>, _grad: ArrayViewMut2<'_, f32>) {}
}

impl Activation for Relu {
    const KIND: ActivationKind = ActivationKind::Relu;

    fn apply(mut values: ArrayViewMut2<'_, f32>) {
        values.mapv_inplace(|z| z.max(0.0));
    }

    fn backward(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
        // A select rather than a branch: the sign of `y` is unpredictable, and a
        // mispredicted branch here cost a fifth of a training step.
        Zip::from(grad)
            .and(output)
            .for_each(|g, &y| *g = if y > 0.0 { *g } else { 0.0 });
    }
}

impl Activation for Sigmoid {
    const KIND: ActivationKind = ActivationKind::Sigmoid;

    fn apply(mut values: ArrayViewMut2<'_, f32>) {
        values.mapv_inplace(|z| 1.0 / (1.0 + (-z).exp()));
    }

    fn backward(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
        Zip::from(grad)
            .and(output)
            .for_each(|g, &y| *g *= y * (1.0 - y));
    }
}

impl Activation for Tanh {
    const KIND: ActivationKind = ActivationKind::Tanh;

    fn apply(mut values: ArrayViewMut2<'_, f32>) {
        values.mapv_inplace(f32::tanh);
    }

    fn backward(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
        Zip::from(grad)
            .and(output)
            .for_each(|g, &y| *g *= 1.0 - y * y);
    }
}

impl Activation for Softmax {
    const KIND: ActivationKind = ActivationKind::Softmax;

    fn apply(mut values: ArrayViewMut2<'_, f32>) {
        for mut row in values.axis_iter_mut(Axis(0)) {
            let max = row.fold(f32::NEG_INFINITY, |m, &z| m.max(z));
            row.mapv_inplace(|z| (z - max).exp());
            let sum = row.sum();
            row.mapv_inplace(|e| e / sum);
        }
    }

    fn backward(output: ArrayView2<'_, f32>, mut grad: ArrayViewMut2<'_, f32>) {
        for (mut g, y) in grad.axis_iter_mut(Axis(0)).zip(output.axis_iter(Axis(0))) {
            let dot: f32 = g.iter().zip(y.iter()).map(|(a, b)| a * b).sum();
            Zip::from(&mut g)
                .and(&y)
                .for_each(|g, &y| *g = y * (*g - dot));
        }
    }
}

impl Activation for Elu {
    const KIND: ActivationKind = ActivationKind::Elu;

    fn apply(mut values: ArrayViewMut2<'_, f32>) {
        // `exp_m1` keeps the small negative outputs accurate near zero.
        values.mapv_inplace(|z| if z > 0.0 { z } else { Self::ALPHA * z.exp_m1() });
    }

    fn backward(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
        Zip::from(grad).and(output).for_each(|g, &y| {
            *g *= if y > 0.0 { 1.0 } else { y + Self::ALPHA };
        });
    }
}

impl Activation for Selu {
    const KIND: ActivationKind = ActivationKind::Selu;

    fn apply(mut values: ArrayViewMut2<'_, f32>) {
        let (scale, scaled_alpha) = (Self::SCALE, Self::SCALE * Self::ALPHA);
        values.mapv_inplace(|z| {
            if z > 0.0 {
                scale * z
            } else {
                scaled_alpha * z.exp_m1()
            }
        });
    }

    fn backward(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
        let (scale, scaled_alpha) = (Self::SCALE, Self::SCALE * Self::ALPHA);
        Zip::from(grad).and(output).for_each(|g, &y| {
            *g *= if y > 0.0 { scale } else { y + scaled_alpha };
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// Central differences of `sum(f(z) * w)` against the analytic backward, in f64 terms.
    fn check<A: Activation>(z: Array2<f32>) {
        let w = Array2::from_shape_fn(z.raw_dim(), |(i, j)| 0.3 + 0.1 * (i * 3 + j) as f32);
        let objective = |z: &Array2<f32>| {
            let mut y = z.clone();
            A::apply(y.view_mut());
            (&y * &w).iter().map(|&v| v as f64).sum::<f64>()
        };

        let mut y = z.clone();
        A::apply(y.view_mut());
        let mut grad = w.clone();
        A::backward(y.view(), grad.view_mut());

        let h = 1e-2_f32;
        for idx in ndarray::indices(z.raw_dim()) {
            let (mut zp, mut zm) = (z.clone(), z.clone());
            zp[idx] += h;
            zm[idx] -= h;
            let numeric = (objective(&zp) - objective(&zm)) / (2.0 * h as f64);
            let analytic = grad[idx] as f64;
            assert!(
                (numeric - analytic).abs() < 2e-3,
                "{idx:?}: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Values kept away from relu's kink at zero, where the derivative is undefined.
        let z = array![[0.5_f32, -1.2, 2.0], [-0.3, 0.7, -2.5]];
        check::<Linear>(z.clone());
        check::<Relu>(z.clone());
        check::<Sigmoid>(z.clone());
        check::<Tanh>(z.clone());
        check::<Softmax>(z.clone());
        check::<Elu>(z.clone());
        check::<Selu>(z);
    }

    #[test]
    fn elu_and_selu_match_their_formulas() {
        let mut z = array![[1.5_f32, -1.0, -30.0, 0.0]];
        let mut s = z.clone();
        Elu::apply(z.view_mut());
        Selu::apply(s.view_mut());

        let e = (-1.0_f64).exp_m1() as f32;
        assert_eq!(z, array![[1.5, e, -1.0, 0.0]]);
        let (l, a) = (1.050_700_987_f64, 1.673_263_242_f64);
        let expected = [1.5 * l, l * a * (-1.0_f64).exp_m1(), -l * a, 0.0];
        for (got, want) in s.iter().zip(expected) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert_eq!(Elu::KIND, ActivationKind::Elu);
        assert_eq!(Selu::KIND, ActivationKind::Selu);
    }

    #[test]
    fn selu_keeps_a_standard_normal_input_standard() {
        let mut rng = crate::rng::stream(1, "selu", "test");
        let n = 200_000;
        let z = Array2::from_shape_fn((1, n), |_| {
            rand::Rng::sample::<f32, _>(&mut rng, rand_distr::StandardNormal)
        });
        let mut y = z;
        Selu::apply(y.view_mut());

        let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = y
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        // Standard errors: 1/sqrt(n) ≈ 0.0022 for the mean, about 0.004 for the variance.
        assert!(mean.abs() < 0.012, "{mean}");
        assert!((var - 1.0).abs() < 0.025, "{var}");
    }

    #[test]
    fn softmax_is_finite_for_huge_logits() {
        let mut z = array![[1000.0_f32, -1000.0, 0.0]];
        Softmax::apply(z.view_mut());
        assert!(z.iter().all(|v| v.is_finite()));
        assert_eq!(z[[0, 0]], 1.0);
    }
}
