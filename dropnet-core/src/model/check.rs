//! Checks on user data and settings, all made before any weight changes.

use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::loss::{Loss, TargetKind};
use crate::shape::TargetsRef;

/// Checks one data set against the model and the loss, in this order: it is not empty, it
/// has as many targets as samples, the targets are of the kind the loss takes, every label
/// is below `classes`, every target value is finite, and every input value is finite. The
/// first problem found is returned, naming the set and the sample.
pub(crate) fn check_set(
    set: &'static str,
    x: ArrayView2<'_, f32>,
    targets: TargetsRef<'_>,
    classes: usize,
    loss: &dyn Loss,
) -> Result<()> {
    let samples = x.nrows();
    if samples == 0 {
        return Err(Error::EmptySet { what: set });
    }
    if targets.len() != samples {
        return Err(Error::LengthMismatch {
            set,
            inputs: samples,
            targets: targets.len(),
        });
    }
    if TargetKind::of(&targets) != loss.target_kind() {
        let expected = loss.target_kind().describe();
        return Err(Error::TargetKind {
            loss: loss.name(),
            expected,
        });
    }

    check_targets(set, targets, classes)?;
    check_inputs(set, x)
}

/// Fails on the first label not below `classes`, or the first target value that is not
/// finite.
fn check_targets(set: &'static str, targets: TargetsRef<'_>, classes: usize) -> Result<()> {
    match targets {
        TargetsRef::Classes(labels) => {
            let bad = labels.iter().position(|&label| label as usize >= classes);
            match bad {
                Some(index) => Err(Error::LabelOutOfRange {
                    set,
                    index,
                    label: labels[index],
                    classes,
                }),
                None => Ok(()),
            }
        }
        TargetsRef::Values(values) => match first_non_finite(values) {
            Some((index, value)) => Err(Error::NonFiniteTarget { set, index, value }),
            None => Ok(()),
        },
    }
}

/// Fails on the first sample of `x` holding a NaN or an infinity.
///
/// One pass over the values, made before any weight changes: a ReLU turns NaN into 0, so a
/// non-finite input would leave the loss finite and only show up as NaN kernels afterwards.
pub(crate) fn check_inputs(set: &'static str, x: ArrayView2<'_, f32>) -> Result<()> {
    match first_non_finite(x) {
        Some((index, value)) => Err(Error::NonFiniteInput { set, index, value }),
        None => Ok(()),
    }
}

/// The row and value of the first NaN or infinity in `matrix`, rows in order.
fn first_non_finite(matrix: ArrayView2<'_, f32>) -> Option<(usize, f32)> {
    let row = matrix
        .rows()
        .into_iter()
        .position(|row| match row.as_slice() {
            Some(values) => !all_finite(values),
            None => row.iter().any(|v| !v.is_finite()),
        })?;
    let value = matrix.row(row).iter().copied().find(|v| !v.is_finite())?;
    Some((row, value))
}

/// True when no value is NaN or infinite.
///
/// Each chunk is folded without an early exit, which the compiler can vectorise; the
/// chunks bound the work done past the first bad value.
pub(crate) fn all_finite(values: &[f32]) -> bool {
    values
        .chunks(256)
        .all(|chunk| chunk.iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// Fails unless `batch_size` is at least 1.
pub(crate) fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1, got 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{MeanSquaredError, SparseCategoricalCrossentropy};
    use ndarray::{array, Array2};

    #[test]
    fn first_bad_label_is_named_with_its_set() {
        let x = Array2::zeros((4, 2));
        let labels = [0_u32, 2, 7, 9];
        let scce = SparseCategoricalCrossentropy;

        let err = check_set(
            "validation",
            x.view(),
            TargetsRef::Classes(&labels),
            5,
            &scce,
        );

        let err = err.unwrap_err();
        assert!(matches!(
            err,
            Error::LabelOutOfRange {
                set: "validation",
                index: 2,
                label: 7,
                classes: 5
            }
        ));
        assert_eq!(
            err.to_string(),
            "label 7 of sample 2 in the validation set is out of range: the model has 5 \
             classes, labelled 0 to 4"
        );
    }

    #[test]
    fn set_problems_are_found_in_order() {
        let scce = SparseCategoricalCrossentropy;
        let x = Array2::zeros((3, 2));
        let values = array![[0.0_f32, 1.0], [f32::INFINITY, 0.0]];

        let empty = check_set(
            "validation",
            x.slice(ndarray::s![..0, ..]),
            TargetsRef::Classes(&[]),
            2,
            &scce,
        );
        assert!(matches!(empty, Err(Error::EmptySet { what: "validation" })));
        let short = check_set("training", x.view(), TargetsRef::Classes(&[0, 1]), 2, &scce);
        let short = short.unwrap_err();
        assert!(matches!(
            short,
            Error::LengthMismatch {
                set: "training",
                inputs: 3,
                targets: 2
            }
        ));
        assert_eq!(
            short.to_string(),
            "the training set has 3 input samples but 2 targets"
        );
        let two = x.slice(ndarray::s![..2, ..]);
        let kind = check_set("training", two, TargetsRef::Values(values.view()), 2, &scce);
        assert!(matches!(kind, Err(Error::TargetKind { .. })));
        let mse = MeanSquaredError;
        let infinite = check_set(
            "evaluation",
            two,
            TargetsRef::Values(values.view()),
            2,
            &mse,
        );
        let infinite = infinite.unwrap_err();
        assert!(matches!(
            infinite,
            Error::NonFiniteTarget {
                set: "evaluation",
                index: 1,
                value: f32::INFINITY
            }
        ));
        assert_eq!(
            infinite.to_string(),
            "target of sample 1 in the evaluation set holds inf, but targets must be finite"
        );
        assert!(check_batch_size(0).is_err());
        assert!(check_batch_size(1).is_ok());
    }

    #[test]
    fn first_non_finite_input_is_named_after_the_targets() {
        let scce = SparseCategoricalCrossentropy;
        let mut x = Array2::<f32>::zeros((700, 3));
        x[[612, 2]] = f32::NEG_INFINITY;
        x[[640, 0]] = f32::NAN;
        let labels = vec![0_u32; 700];

        let err = check_set("training", x.view(), TargetsRef::Classes(&labels), 2, &scce);

        let err = err.unwrap_err();
        assert!(
            matches!(
                err,
                Error::NonFiniteInput {
                    set: "training",
                    index: 612,
                    value: f32::NEG_INFINITY
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "input of sample 612 in the training set holds -inf, but inputs must be finite"
        );
        // A bad label is reported before a bad input.
        let mut bad_labels = labels.clone();
        bad_labels[650] = 2;
        let label = check_set(
            "training",
            x.view(),
            TargetsRef::Classes(&bad_labels),
            2,
            &scce,
        );
        assert!(matches!(
            label,
            Err(Error::LabelOutOfRange { index: 650, .. })
        ));
    }

    #[test]
    fn non_contiguous_inputs_are_checked_too() {
        let mut x = Array2::<f32>::zeros((4, 300));
        x[[3, 299]] = f32::NAN;
        let transposed = x.t().to_owned();

        let err = check_inputs("prediction", transposed.t()).unwrap_err();

        assert!(matches!(
            err,
            Error::NonFiniteInput {
                set: "prediction",
                index: 3,
                ..
            }
        ));
        assert!(check_inputs("prediction", x.slice(ndarray::s![..3, ..])).is_ok());
    }

    #[test]
    fn all_finite_sees_every_chunk() {
        let mut values = vec![1.0_f32; 1000];
        assert!(all_finite(&values));

        values[999] = f32::NAN;
        assert!(!all_finite(&values));
        values[999] = f32::INFINITY;
        assert!(!all_finite(&values));
        assert!(all_finite(&values[..999]));
        assert!(all_finite(&[]));
    }
}
