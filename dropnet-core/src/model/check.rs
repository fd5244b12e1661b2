//! Checks on user data and settings, all made before any weight changes.

use crate::error::{Error, Result};
use crate::loss::{Loss, TargetKind};
use crate::shape::TargetsRef;

/// Checks one data set against the model and the loss, in this order: it is not empty, it
/// has as many targets as samples, the targets are of the kind the loss takes, every label
/// is below `classes`, and every target value is finite. The first problem found is
/// returned, naming the sample.
pub(crate) fn check_set(
    what: &'static str,
    samples: usize,
    targets: TargetsRef<'_>,
    classes: usize,
    loss: &dyn Loss,
) -> Result<()> {
    if samples == 0 {
        return Err(Error::EmptySet { what });
    }
    if targets.len() != samples {
        return Err(Error::LengthMismatch {
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

    match targets {
        TargetsRef::Classes(labels) => {
            let bad = labels.iter().position(|&label| label as usize >= classes);
            if let Some(index) = bad {
                return Err(Error::LabelOutOfRange {
                    index,
                    label: labels[index],
                    classes,
                });
            }
        }
        TargetsRef::Values(values) => {
            let bad = values
                .rows()
                .into_iter()
                .position(|row| row.iter().any(|v| !v.is_finite()));
            if let Some(index) = bad {
                return Err(Error::NonFiniteTarget { index });
            }
        }
    }
    Ok(())
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
    use ndarray::array;

    #[test]
    fn first_bad_label_is_named() {
        let labels = [0_u32, 2, 7, 9];
        let err = check_set(
            "training",
            4,
            TargetsRef::Classes(&labels),
            5,
            &SparseCategoricalCrossentropy,
        )
        .unwrap_err();

        assert!(matches!(
            err,
            Error::LabelOutOfRange {
                index: 2,
                label: 7,
                classes: 5
            }
        ));
        assert_eq!(
            err.to_string(),
            "label 7 of sample 2 is out of range: the model has 5 classes"
        );
    }

    #[test]
    fn set_problems_are_found_in_order() {
        let scce = SparseCategoricalCrossentropy;
        let values = array![[0.0_f32, 1.0], [f32::INFINITY, 0.0]];

        let empty = check_set("validation", 0, TargetsRef::Classes(&[]), 2, &scce);
        assert!(matches!(empty, Err(Error::EmptySet { what: "validation" })));
        let short = check_set("training", 3, TargetsRef::Classes(&[0, 1]), 2, &scce);
        assert!(matches!(
            short,
            Err(Error::LengthMismatch {
                inputs: 3,
                targets: 2
            })
        ));
        let kind = check_set("training", 2, TargetsRef::Values(values.view()), 2, &scce);
        assert!(matches!(kind, Err(Error::TargetKind { .. })));
        let infinite = check_set(
            "training",
            2,
            TargetsRef::Values(values.view()),
            2,
            &MeanSquaredError,
        );
        assert!(matches!(infinite, Err(Error::NonFiniteTarget { index: 1 })));
        assert!(check_batch_size(0).is_err());
        assert!(check_batch_size(1).is_ok());
    }
}
