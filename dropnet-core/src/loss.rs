//! Losses: the number training minimises, and its gradient with respect to the model output.
//!
//! Every loss is the *mean* over the samples of a batch, as in Keras, so the gradient it
//! writes is already divided by the batch size and layers just accumulate.
//!
//! | loss | targets | per sample |
//! | --- | --- | --- |
//! | [`SparseCategoricalCrossentropy`] | [`Labels`] | `−ln p_y` |
//! | [`CategoricalCrossentropy`] | [`Samples`] of the output shape | `−Σ_j t_j ln p_j` |
//! | [`MeanSquaredError`] | [`Samples`] of the output shape | `mean_j (p_j − t_j)²` |
//!
//! [`Labels`]: crate::Labels
//! [`Samples`]: crate::Samples
//!
//! On probabilities, cross-entropy clips them to `[1e-7, 1 − 1e-7]` like Keras, so a zero
//! probability costs about 16.1 instead of infinity. When the model ends in a softmax, the
//! training loop does not use probabilities at all: the last layer returns its logits `z`
//! and the cross-entropy is computed as `logsumexp(z) − z_y`, which stays finite and exact
//! for logits of any size, with the gradient `softmax(z) − one_hot(y)`.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

use crate::activation::ActivationKind;
use crate::error::{Error, Result};
use crate::shape::TargetsRef;

/// Keras's fuzz factor: probabilities are clipped to `[EPSILON, 1 − EPSILON]` before `ln`.
pub const EPSILON: f32 = 1e-7;

/// The kind of targets a loss takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// One class index per sample ([`Labels`](crate::Labels)).
    Classes,
    /// One row of values of the output shape per sample ([`Samples`](crate::Samples)).
    Values,
}

impl TargetKind {
    /// How the kind is named in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            TargetKind::Classes => "class labels (`Labels`)",
            TargetKind::Values => "target values of the output shape (`Samples`)",
        }
    }

    /// The kind of `targets`.
    pub fn of(targets: &TargetsRef<'_>) -> Self {
        match targets {
            TargetsRef::Classes(_) => TargetKind::Classes,
            TargetsRef::Values(_) => TargetKind::Values,
        }
    }
}

/// A loss function over a batch.
pub trait Loss: Send + Sync {
    /// The Keras name (`sparse_categorical_crossentropy`).
    fn name(&self) -> &'static str;

    /// The kind of targets this loss takes.
    fn target_kind(&self) -> TargetKind;

    /// True when the targets are classes, so that accuracy is meaningful and reported.
    fn is_classification(&self) -> bool;

    /// True when this loss can take the logits of a last layer with `activation` instead of
    /// its activated output (cross-entropy after softmax).
    fn fuses_with(&self, activation: ActivationKind) -> bool {
        let _ = activation;
        false
    }

    /// The mean loss over the batch; writes its gradient with respect to `output` into
    /// `grad` unless that is `None`.
    ///
    /// `logits` is true only when [`Loss::fuses_with`] accepted the last layer's activation:
    /// `output` then holds that layer's pre-activations.
    ///
    /// Fails with [`Error::TargetKind`] for targets of the wrong kind and
    /// [`Error::DataShape`] when the targets do not have one entry per output row.
    ///
    /// # Shapes
    /// - `output`, `grad`: `[batch, output_len]`
    /// - `targets`: `batch` labels or `[batch, output_len]` values
    fn compute(
        &self,
        output: ArrayView2<'_, f32>,
        targets: TargetsRef<'_>,
        logits: bool,
        grad: Option<ArrayViewMut2<'_, f32>>,
    ) -> Result<f64>;
}

/// Cross-entropy against class indices, Keras's `SparseCategoricalCrossentropy`.
///
/// Takes [`Labels`](crate::Labels). Per sample `−ln p_y`, or `logsumexp(z) − z_y` on logits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SparseCategoricalCrossentropy;

/// Cross-entropy against target distributions, Keras's `CategoricalCrossentropy`.
///
/// Takes [`Samples`](crate::Samples) of the output shape (usually one-hot rows). Per sample
/// `−Σ_j t_j ln p_j`. Unlike Keras, probabilities are not rescaled to sum to one first:
/// the loss assumes they come from a softmax, as they do whenever the loss is fused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CategoricalCrossentropy;

/// Mean squared error, Keras's `MeanSquaredError`: per sample `mean_j (p_j − t_j)²`.
///
/// Takes [`Samples`](crate::Samples) of the output shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeanSquaredError;

impl Loss for SparseCategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "sparse_categorical_crossentropy"
    }

    fn target_kind(&self) -> TargetKind {
        TargetKind::Classes
    }

    fn is_classification(&self) -> bool {
        true
    }

    fn fuses_with(&self, activation: ActivationKind) -> bool {
        activation == ActivationKind::Softmax
    }

    fn compute(
        &self,
        output: ArrayView2<'_, f32>,
        targets: TargetsRef<'_>,
        logits: bool,
        grad: Option<ArrayViewMut2<'_, f32>>,
    ) -> Result<f64> {
        let TargetsRef::Classes(labels) = targets else {
            return Err(wrong_kind(self));
        };
        check_rows(&output, targets)?;
        let batch = output.nrows() as f64;

        let per_sample = |row: ArrayView1<'_, f32>, i: usize, g: Option<ArrayViewMut1<'_, f32>>| {
            // The label range was checked before training started; an index past the row
            // would be a bug, and `one_hot` then simply matches nothing.
            let label = labels[i] as usize;
            let one_hot = |j: usize| if j == label { 1.0 } else { 0.0 };
            if logits {
                cross_entropy_on_logits(row, one_hot, batch, g)
            } else {
                cross_entropy_on_probabilities(row, one_hot, batch, g)
            }
        };
        Ok(sum_rows(output, grad, per_sample) / batch)
    }
}

impl Loss for CategoricalCrossentropy {
    fn name(&self) -> &'static str {
        "categorical_crossentropy"
    }

    fn target_kind(&self) -> TargetKind {
        TargetKind::Values
    }

    fn is_classification(&self) -> bool {
        true
    }

    fn fuses_with(&self, activation: ActivationKind) -> bool {
        activation == ActivationKind::Softmax
    }

    fn compute(
        &self,
        output: ArrayView2<'_, f32>,
        targets: TargetsRef<'_>,
        logits: bool,
        grad: Option<ArrayViewMut2<'_, f32>>,
    ) -> Result<f64> {
        let TargetsRef::Values(values) = targets else {
            return Err(wrong_kind(self));
        };
        check_rows(&output, targets)?;
        check_width(&output, &values)?;
        let batch = output.nrows() as f64;

        let per_sample = |row: ArrayView1<'_, f32>, i: usize, g: Option<ArrayViewMut1<'_, f32>>| {
            let target = values.row(i);
            let t = |j: usize| f64::from(target[j]);
            if logits {
                cross_entropy_on_logits(row, t, batch, g)
            } else {
                cross_entropy_on_probabilities(row, t, batch, g)
            }
        };
        Ok(sum_rows(output, grad, per_sample) / batch)
    }
}

impl Loss for MeanSquaredError {
    fn name(&self) -> &'static str {
        "mean_squared_error"
    }

    fn target_kind(&self) -> TargetKind {
        TargetKind::Values
    }

    fn is_classification(&self) -> bool {
        false
    }

    fn compute(
        &self,
        output: ArrayView2<'_, f32>,
        targets: TargetsRef<'_>,
        _logits: bool,
        grad: Option<ArrayViewMut2<'_, f32>>,
    ) -> Result<f64> {
        let TargetsRef::Values(values) = targets else {
            return Err(wrong_kind(self));
        };
        check_rows(&output, targets)?;
        check_width(&output, &values)?;
        let batch = output.nrows() as f64;
        let width = output.ncols() as f64;

        // d/dp of mean_i mean_j (p − t)² is 2 (p − t) / (width · batch).
        let per_sample = |row: ArrayView1<'_, f32>, i: usize, g: Option<ArrayViewMut1<'_, f32>>| {
            let target = values.row(i);
            if let Some(mut g) = g {
                let scale = (2.0 / (width * batch)) as f32;
                Zip::from(&mut g)
                    .and(&row)
                    .and(&target)
                    .for_each(|g, &p, &t| {
                        *g = scale * (p - t);
                    });
            }
            let squares: f64 = row
                .iter()
                .zip(&target)
                .map(|(&p, &t)| (f64::from(p) - f64::from(t)).powi(2))
                .sum();
            squares / width
        };
        Ok(sum_rows(output, grad, per_sample) / batch)
    }
}

/// Sums `per_sample(row, index, grad_row)` over the rows of `output`, in order.
fn sum_rows<F>(
    output: ArrayView2<'_, f32>,
    grad: Option<ArrayViewMut2<'_, f32>>,
    per_sample: F,
) -> f64
where
    F: Fn(ArrayView1<'_, f32>, usize, Option<ArrayViewMut1<'_, f32>>) -> f64,
{
    match grad {
        Some(mut grad) => output
            .axis_iter(Axis(0))
            .zip(grad.axis_iter_mut(Axis(0)))
            .enumerate()
            .map(|(i, (row, g))| per_sample(row, i, Some(g)))
            .sum(),
        None => output
            .axis_iter(Axis(0))
            .enumerate()
            .map(|(i, row)| per_sample(row, i, None))
            .sum(),
    }
}

/// `−Σ_j t_j ln softmax(z)_j` for one row of logits `z`, computed as
/// `Σ_j t_j (logsumexp(z) − z_j)` with the row maximum taken out of the exponentials.
///
/// The gradient, divided by `batch`, is `softmax(z)_j Σ_k t_k − t_j`, which is the familiar
/// `softmax − one_hot` when the targets sum to one.
fn cross_entropy_on_logits(
    z: ArrayView1<'_, f32>,
    t: impl Fn(usize) -> f64,
    batch: f64,
    grad: Option<ArrayViewMut1<'_, f32>>,
) -> f64 {
    let max = z.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum_exp: f64 = z.iter().map(|&v| f64::from(v - max).exp()).sum();
    let log_sum_exp = f64::from(max) + sum_exp.ln();

    let mut loss = 0.0;
    let mut t_sum = 0.0;
    for (j, &zj) in z.iter().enumerate() {
        let tj = t(j);
        if tj != 0.0 {
            loss += tj * (log_sum_exp - f64::from(zj));
        }
        t_sum += tj;
    }

    if let Some(mut grad) = grad {
        for (j, (g, &zj)) in grad.iter_mut().zip(&z).enumerate() {
            let softmax = f64::from(zj - max).exp() / sum_exp;
            *g = ((softmax * t_sum - t(j)) / batch) as f32;
        }
    }
    loss
}

/// `−Σ_j t_j ln clip(p_j)` for one row of probabilities, with Keras's clipping.
///
/// The gradient, divided by `batch`, is `−t_j / p_j`, and zero where the clip is active.
fn cross_entropy_on_probabilities(
    p: ArrayView1<'_, f32>,
    t: impl Fn(usize) -> f64,
    batch: f64,
    grad: Option<ArrayViewMut1<'_, f32>>,
) -> f64 {
    let inside = |pj: f32| (EPSILON..=1.0 - EPSILON).contains(&pj);
    let mut loss = 0.0;
    for (j, &pj) in p.iter().enumerate() {
        let tj = t(j);
        if tj != 0.0 {
            loss -= tj * f64::from(pj.clamp(EPSILON, 1.0 - EPSILON)).ln();
        }
    }

    if let Some(mut grad) = grad {
        for (j, (g, &pj)) in grad.iter_mut().zip(&p).enumerate() {
            let tj = t(j);
            *g = if tj != 0.0 && inside(pj) {
                (-tj / f64::from(pj) / batch) as f32
            } else {
                0.0
            };
        }
    }
    loss
}

fn wrong_kind(loss: &dyn Loss) -> Error {
    Error::TargetKind {
        loss: loss.name(),
        expected: loss.target_kind().describe(),
    }
}

fn check_rows(output: &ArrayView2<'_, f32>, targets: TargetsRef<'_>) -> Result<()> {
    if output.nrows() != targets.len() {
        let expected = format!(
            "[{}, {}], one output row per target",
            targets.len(),
            output.ncols()
        );
        return Err(Error::DataShape {
            expected,
            got: output.shape().to_vec(),
        });
    }
    Ok(())
}

fn check_width(output: &ArrayView2<'_, f32>, values: &ArrayView2<'_, f32>) -> Result<()> {
    if output.ncols() != values.ncols() {
        let expected = format!("[n, {}]", output.ncols());
        return Err(Error::DataShape {
            expected,
            got: values.shape().to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Activation, Softmax};
    use ndarray::{array, Array2};

    /// Central differences of `loss(output)` against the gradient the loss writes.
    fn check_gradient(loss: &dyn Loss, output: Array2<f32>, targets: TargetsRef<'_>, logits: bool) {
        let mut grad = Array2::zeros(output.raw_dim());
        loss.compute(output.view(), targets, logits, Some(grad.view_mut()))
            .unwrap();

        let h = 1e-3_f32;
        for idx in ndarray::indices(output.raw_dim()) {
            let (mut plus, mut minus) = (output.clone(), output.clone());
            plus[idx] += h;
            minus[idx] -= h;
            let up = loss.compute(plus.view(), targets, logits, None).unwrap();
            let down = loss.compute(minus.view(), targets, logits, None).unwrap();
            // The perturbation is rounded to f32, so divide by the step actually taken.
            let step = f64::from(plus[idx]) - f64::from(minus[idx]);
            let numeric = (up - down) / step;
            let analytic = f64::from(grad[idx]);
            let tolerance = 1e-3 * (1.0 + numeric.abs());
            assert!(
                (numeric - analytic).abs() < tolerance,
                "{idx:?}: {numeric} vs {analytic}"
            );
        }
    }

    fn probabilities() -> Array2<f32> {
        array![[0.2_f32, 0.5, 0.3], [0.6, 0.1, 0.3]]
    }

    fn one_hot() -> Array2<f32> {
        array![[0.0_f32, 1.0, 0.0], [0.0, 0.0, 1.0]]
    }

    #[test]
    fn gradients_match_finite_differences() {
        let labels = [1_u32, 2];
        let logits = array![[0.3_f32, -1.2, 2.0], [1.5, 0.1, -0.4]];
        let soft = array![[0.1_f32, 0.7, 0.2], [0.25, 0.25, 0.5]];

        check_gradient(
            &SparseCategoricalCrossentropy,
            probabilities(),
            TargetsRef::Classes(&labels),
            false,
        );
        check_gradient(
            &SparseCategoricalCrossentropy,
            logits.clone(),
            TargetsRef::Classes(&labels),
            true,
        );
        check_gradient(
            &CategoricalCrossentropy,
            probabilities(),
            TargetsRef::Values(soft.view()),
            false,
        );
        check_gradient(
            &CategoricalCrossentropy,
            logits.clone(),
            TargetsRef::Values(soft.view()),
            true,
        );
        check_gradient(
            &MeanSquaredError,
            logits,
            TargetsRef::Values(soft.view()),
            false,
        );
    }

    #[test]
    fn fused_path_equals_softmax_then_cross_entropy() {
        let logits = array![[0.3_f32, -1.2, 2.0], [1.5, 0.1, -0.4]];
        let labels = [1_u32, 2];
        let targets = TargetsRef::Classes(&labels);
        let mut probabilities = logits.clone();
        Softmax::apply(probabilities.view_mut());

        let mut fused_grad = Array2::zeros(logits.raw_dim());
        let fused = SparseCategoricalCrossentropy
            .compute(logits.view(), targets, true, Some(fused_grad.view_mut()))
            .unwrap();
        let mut chained_grad = Array2::zeros(logits.raw_dim());
        let chained = SparseCategoricalCrossentropy
            .compute(
                probabilities.view(),
                targets,
                false,
                Some(chained_grad.view_mut()),
            )
            .unwrap();
        Softmax::backward(probabilities.view(), chained_grad.view_mut());

        assert!((fused - chained).abs() < 1e-6, "{fused} vs {chained}");
        for (a, b) in fused_grad.iter().zip(&chained_grad) {
            assert!((a - b).abs() < 1e-6, "{fused_grad} vs {chained_grad}");
        }
        // softmax − one_hot, halved for a batch of two.
        let expected = (probabilities[[0, 1]] - 1.0) / 2.0;
        assert!((fused_grad[[0, 1]] - expected).abs() < 1e-7);
    }

    #[test]
    fn cross_entropy_is_finite_for_huge_logits() {
        let logits = array![[1000.0_f32, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]];
        let labels = [0_u32, 0];
        let mut grad = Array2::zeros(logits.raw_dim());

        let loss = SparseCategoricalCrossentropy
            .compute(
                logits.view(),
                TargetsRef::Classes(&labels),
                true,
                Some(grad.view_mut()),
            )
            .unwrap();

        // Sample 0 is right with certainty (loss 0), sample 1 wrong by 2000.
        assert_eq!(loss, 1000.0);
        assert!(grad.iter().all(|g| g.is_finite()));
        assert_eq!(grad, array![[0.0_f32, 0.0, 0.0], [-0.5, 0.5, 0.0]]);

        let onehot = array![[1.0_f32, 0.0, 0.0], [1.0, 0.0, 0.0]];
        let categorical = CategoricalCrossentropy
            .compute(logits.view(), TargetsRef::Values(onehot.view()), true, None)
            .unwrap();
        assert_eq!(categorical, 1000.0);
    }

    #[test]
    fn cross_entropy_on_probabilities_clips_like_keras() {
        let p = array![[0.0_f32, 1.0]];
        let loss = SparseCategoricalCrossentropy
            .compute(p.view(), TargetsRef::Classes(&[0]), false, None)
            .unwrap();

        assert!((loss - (-(1e-7_f64).ln())).abs() < 1e-3, "{loss}");
    }

    #[test]
    fn one_target_per_output_row_is_required() {
        let p = array![[0.5_f32, 0.5], [0.5, 0.5]];

        let err = SparseCategoricalCrossentropy
            .compute(p.view(), TargetsRef::Classes(&[0, 1, 1]), false, None)
            .unwrap_err();

        assert_eq!(
            err.to_string(),
            "data shape [2, 2] does not fit: expected [3, 2], one output row per target"
        );
    }

    #[test]
    fn known_values() {
        let labels = [1_u32, 2];
        let sparse = SparseCategoricalCrossentropy
            .compute(
                probabilities().view(),
                TargetsRef::Classes(&labels),
                false,
                None,
            )
            .unwrap();
        let categorical = CategoricalCrossentropy
            .compute(
                probabilities().view(),
                TargetsRef::Values(one_hot().view()),
                false,
                None,
            )
            .unwrap();
        let mse = MeanSquaredError
            .compute(
                probabilities().view(),
                TargetsRef::Values(one_hot().view()),
                false,
                None,
            )
            .unwrap();

        let expected_ce = -(0.5_f64.ln() + 0.3_f64.ln()) / 2.0;
        assert!((sparse - expected_ce).abs() < 1e-6);
        assert!((categorical - expected_ce).abs() < 1e-6);
        // Row 0: (0.04 + 0.25 + 0.09) / 3, row 1: (0.36 + 0.01 + 0.49) / 3.
        let expected_mse = (0.38 / 3.0 + 0.86 / 3.0) / 2.0;
        assert!((mse - expected_mse).abs() < 1e-6, "{mse}");
    }

    #[test]
    fn wrong_target_kind_is_an_error() {
        let p = probabilities();
        let err = MeanSquaredError.compute(p.view(), TargetsRef::Classes(&[0, 1]), false, None);
        assert!(matches!(
            err,
            Err(Error::TargetKind {
                loss: "mean_squared_error",
                ..
            })
        ));

        let err = SparseCategoricalCrossentropy.compute(
            p.view(),
            TargetsRef::Values(one_hot().view()),
            false,
            None,
        );
        assert!(matches!(err, Err(Error::TargetKind { .. })));
    }
}
