//! Metrics reported next to the loss.
//!
//! Accuracy is the only metric so far. `fit` and `evaluate` report it automatically when
//! the compiled loss is a classification loss ([`Loss::is_classification`]), under the Keras
//! name `accuracy`; there is no metrics list to pass.
//!
//! [`Loss::is_classification`]: crate::loss::Loss::is_classification

use ndarray::{ArrayView1, ArrayView2, Axis};

use crate::shape::TargetsRef;

/// The Keras name of the accuracy metric, the key in [`crate::history::History`].
pub const ACCURACY: &str = "accuracy";

/// Index of the largest value of `row`, the first one on ties; NaNs are never the largest.
pub fn argmax(row: ArrayView1<'_, f32>) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (j, &v) in row.iter().enumerate() {
        if v > best_value {
            best = j;
            best_value = v;
        }
    }
    best
}

/// Number of rows of `output` whose argmax is the target class.
///
/// For class labels the target class is the label; for value targets (one-hot rows) it is
/// the argmax of the target row. Rows beyond the shorter of the two are ignored.
///
/// Argmax is the same on logits and on their softmax, so `output` may be either.
///
/// # Shapes
/// - `output`: `[batch, classes]`
/// - `targets`: `batch` labels or `[batch, classes]` values
pub fn correct(output: ArrayView2<'_, f32>, targets: TargetsRef<'_>) -> usize {
    let rows = output.axis_iter(Axis(0));
    match targets {
        TargetsRef::Classes(labels) => rows
            .zip(labels)
            .filter(|(row, &label)| argmax(row.view()) == label as usize)
            .count(),
        TargetsRef::Values(values) => rows
            .zip(values.axis_iter(Axis(0)))
            .filter(|(row, target)| argmax(row.view()) == argmax(target.view()))
            .count(),
    }
}

/// Fraction of rows of `output` whose argmax is the target class (0 for no rows).
///
/// # Shapes
/// As for [`correct`].
pub fn accuracy(output: ArrayView2<'_, f32>, targets: TargetsRef<'_>) -> f64 {
    let rows = output.nrows().min(targets.len());
    if rows == 0 {
        return 0.0;
    }
    correct(output, targets) as f64 / rows as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(array![0.1_f32, 0.7, 0.7].view()), 1);
        assert_eq!(argmax(array![f32::NAN, -1.0, -3.0].view()), 1);
    }

    #[test]
    fn accuracy_against_labels_and_one_hot_rows() {
        let output = array![[0.1_f32, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]];
        let labels = [1_u32, 0, 0, 1];
        let one_hot = array![[0.0_f32, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]];

        assert_eq!(correct(output.view(), TargetsRef::Classes(&labels)), 2);
        assert_eq!(accuracy(output.view(), TargetsRef::Classes(&labels)), 0.5);
        assert_eq!(
            accuracy(output.view(), TargetsRef::Values(one_hot.view())),
            0.5
        );
        assert_eq!(
            accuracy(output.view(), TargetsRef::Classes(&[1, 0, 1, 0])),
            1.0
        );
    }
}
