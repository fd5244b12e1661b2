//! Scaling fitted on the training part, and sliding windows typed by their length and
//! features.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::shape::{Samples, Sequence, Vector};

/// How values become model inputs and targets, with statistics of the training part.
///
/// Fit it on the training part only, `&series.values()[..split]`, so the validation part
/// never influences the scale. `NaN` values (gaps kept under `Gaps::Drop`) are ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// Values as they are.
    Raw,
    /// `(x − mean) / std`, the standard deviation with `ddof = 0` as numpy's default.
    Standard {
        /// Mean of the training part.
        mean: f64,
        /// Standard deviation of the training part.
        std: f64,
    },
    /// The change from the window's last value, `(x − last) / scale`, for inputs and target
    /// alike. The window's last step is then always 0 and the target is the change over the
    /// horizon; a model that predicts 0 is the naive "no change" forecast.
    Change {
        /// Standard deviation (`ddof = 0`) of the step-to-step differences of the training
        /// part, as `np.diff(train).std()`. A prediction `p` is the value
        /// `last + p × scale` in the series' units.
        scale: f64,
    },
}

impl Scaling {
    /// Mean and standard deviation of `train`, for [`Scaling::Standard`].
    ///
    /// # Errors
    /// [`Error::SeriesTooShort`] with fewer than two values, [`Error::ZeroSpread`] when they
    /// are all equal.
    pub fn standardize(train: &[f64]) -> Result<Self> {
        let values: Vec<f64> = train.iter().copied().filter(|v| !v.is_nan()).collect();
        let (mean, std) = mean_std(&values, "standardizing", "values")?;
        Ok(Scaling::Standard { mean, std })
    }

    /// Standard deviation of the differences between consecutive values of `train`, for
    /// [`Scaling::Change`]. A difference with a gap at either end is left out.
    ///
    /// # Errors
    /// [`Error::SeriesTooShort`] with fewer than two differences, [`Error::ZeroSpread`]
    /// when they are all equal (a straight line).
    pub fn change(train: &[f64]) -> Result<Self> {
        let diffs: Vec<f64> = train
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .filter(|d| !d.is_nan())
            .collect();
        let (_, scale) = mean_std(&diffs, "scaling differences", "differences")?;
        Ok(Scaling::Change { scale })
    }

    /// `value` in model units, for a window whose last value is `last`.
    fn apply(&self, value: f64, last: f64) -> f64 {
        match *self {
            Scaling::Raw => value,
            Scaling::Standard { mean, std } => (value - mean) / std,
            Scaling::Change { scale } => (value - last) / scale,
        }
    }

    /// A model output back in the series' units, for a window whose last value is `last`.
    pub fn invert(&self, output: f64, last: f64) -> f64 {
        match *self {
            Scaling::Raw => output,
            Scaling::Standard { mean, std } => output * std + mean,
            Scaling::Change { scale } => last + output * scale,
        }
    }
}

/// Mean and standard deviation (`ddof = 0`) of at least two values with a spread.
fn mean_std(values: &[f64], what: &str, name: &'static str) -> Result<(f64, f64)> {
    if values.len() < 2 {
        return Err(Error::SeriesTooShort {
            what: format!("{what} (the training part's {name})"),
            needed: 2,
            len: values.len(),
        });
    }

    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = variance.sqrt();
    if std == 0.0 || !std.is_finite() {
        return Err(Error::ZeroSpread { what: name });
    }
    Ok((mean, std))
}

/// Per-step features of a series: its value, then `F − 1` extra features.
///
/// Made by `Series::frame` (`F = 1`) or `Series::with_calendar` (`F = 3`). Only the value is
/// scaled when windowing; extra features go in as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<const F: usize> {
    values: Vec<f64>,
    /// `[len, F − 1]`, row-major.
    extra: Vec<f64>,
}

impl<const F: usize> Frame<F> {
    /// Wraps values and `F − 1` extra features per step.
    pub(super) fn new(values: Vec<f64>, extra: Vec<f64>) -> Self {
        debug_assert!(F >= 1 && extra.len() == values.len() * (F - 1));
        Self { values, extra }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no steps.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every sliding window of `W` steps, with the target `horizon` steps after its last.
    ///
    /// Window `k` holds steps `k .. k + W` (rows are time steps, each `F` features wide:
    /// the scaled value, then the extra features) and its target is the scaled value at
    /// step `k + W − 1 + horizon`. There are `len − W − horizon + 1` of them, in time order,
    /// less those that touch a gap (`NaN`) in their inputs or target.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `W` or `horizon` is 0; [`Error::SeriesTooShort`] when
    /// the series has fewer than `W + horizon` steps.
    pub fn windows<const W: usize>(
        &self,
        horizon: usize,
        scaling: &Scaling,
    ) -> Result<Windows<W, F>> {
        let count = window_count(self.len(), W, horizon)?;
        let mut built = Built::with_capacity(count * W * F, count);

        for start in 0..count {
            let last = start + W - 1;
            let target = last + horizon;
            let steps = &self.values[start..=last];
            if steps.iter().any(|v| v.is_nan()) || self.values[target].is_nan() {
                built.dropped.push(target);
                continue;
            }
            self.push_window(&mut built, start..last + 1, target, scaling);
        }

        built.finish(*scaling)
    }

    /// Appends the window over the steps `steps` with its target at `target`.
    fn push_window(
        &self,
        built: &mut Built,
        steps: Range<usize>,
        target: usize,
        scaling: &Scaling,
    ) {
        let last = self.values[steps.end - 1];

        // One window is `[W, F]`, time-major: step t occupies F consecutive values.
        for t in steps {
            built
                .inputs
                .push(scaling.apply(self.values[t], last) as f32);
            let extra = &self.extra[t * (F - 1)..(t + 1) * (F - 1)];
            built.inputs.extend(extra.iter().map(|&x| x as f32));
        }
        built
            .targets
            .push(scaling.apply(self.values[target], last) as f32);

        built.target_index.push(target);
        built.last.push(last);
        built.actual.push(self.values[target]);
    }
}

/// Windows as they are cut, before they are typed.
struct Built {
    inputs: Vec<f32>,
    targets: Vec<f32>,
    target_index: Vec<usize>,
    last: Vec<f64>,
    actual: Vec<f64>,
    /// Target index of each window left out.
    dropped: Vec<usize>,
}

impl Built {
    fn with_capacity(values: usize, count: usize) -> Self {
        Self {
            inputs: Vec::with_capacity(values),
            targets: Vec::with_capacity(count),
            target_index: Vec::with_capacity(count),
            last: Vec::with_capacity(count),
            actual: Vec::with_capacity(count),
            dropped: Vec::new(),
        }
    }

    fn finish<const W: usize, const F: usize>(self, scaling: Scaling) -> Result<Windows<W, F>> {
        let n = self.target_index.len();
        Ok(Windows {
            inputs: Samples::from_vec(n, self.inputs)?,
            targets: Samples::from_vec(n, self.targets)?,
            target_index: self.target_index,
            last: self.last,
            actual: self.actual,
            scaling,
            dropped: self.dropped,
        })
    }
}

/// How many windows of `window` steps with a target `horizon` steps later fit in `len` steps.
fn window_count(len: usize, window: usize, horizon: usize) -> Result<usize> {
    if window == 0 {
        return Err(Error::config("window", "a window needs at least one step"));
    }
    if horizon == 0 {
        let reason = "must be at least 1 (the target comes after the window)";
        return Err(Error::config("horizon", reason));
    }

    // A horizon near `usize::MAX` is a caller's mistake, not an overflow: saturated, the
    // count needed exceeds any series.
    let needed = window.saturating_add(horizon);
    if len < needed {
        return Err(Error::SeriesTooShort {
            what: format!("a window of {window} steps with horizon {horizon}"),
            needed,
            len,
        });
    }
    Ok(len - needed + 1)
}

/// Sliding windows typed by their length `W` and features per step `F`, with their targets.
///
/// Inputs are `Samples<Sequence<W, F>>`, targets `Samples<Vector<1>>`: exactly what a model
/// declared `(W, F)` with a one-unit output trains on. Each window also remembers where its
/// target lies in the series and the values needed to turn predictions back into the
/// series' units.
#[derive(Debug, Clone)]
pub struct Windows<const W: usize, const F: usize> {
    inputs: Samples<Sequence<W, F>>,
    targets: Samples<Vector<1>>,
    target_index: Vec<usize>,
    /// The series' value at each window's last step.
    last: Vec<f64>,
    /// The series' value at each window's target.
    actual: Vec<f64>,
    scaling: Scaling,
    /// Target index of each window left out for touching a gap.
    dropped: Vec<usize>,
}

impl<const W: usize, const F: usize> Windows<W, F> {
    /// The windows, `[n, W, F]`.
    pub fn inputs(&self) -> &Samples<Sequence<W, F>> {
        &self.inputs
    }

    /// One target per window, `[n, 1]`, scaled like the inputs.
    pub fn targets(&self) -> &Samples<Vector<1>> {
        &self.targets
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.target_index.len()
    }

    /// True when there are no windows.
    pub fn is_empty(&self) -> bool {
        self.target_index.is_empty()
    }

    /// The index in the series of each window's target.
    pub fn target_index(&self) -> &[usize] {
        &self.target_index
    }

    /// The scaling the windows were made with.
    pub fn scaling(&self) -> Scaling {
        self.scaling
    }

    /// How many windows were left out because they touched a gap (after [`split_at`],
    /// those whose target falls in this part).
    ///
    /// [`split_at`]: Windows::split_at
    pub fn dropped(&self) -> usize {
        self.dropped.len()
    }

    /// Splits at the series index `split`: windows whose target lies before it, then the
    /// others. Order is kept, nothing is shuffled; a validation window may take its inputs
    /// from before `split`, but its target never lies there.
    pub fn split_at(&self, split: usize) -> (Self, Self) {
        let cut = self.target_index.partition_point(|&index| index < split);
        let dropped_cut = self.dropped.partition_point(|&index| index < split);
        (
            self.range(0..cut, 0..dropped_cut),
            self.range(cut..self.len(), dropped_cut..self.dropped.len()),
        )
    }

    /// The windows in `kept` as a set of their own, with the dropped ones in `dropped`.
    fn range(&self, kept: Range<usize>, dropped: Range<usize>) -> Self {
        let indices: Vec<usize> = kept.clone().collect();
        Self {
            inputs: self.inputs.select(&indices),
            targets: self.targets.select(&indices),
            target_index: self.target_index[kept.clone()].to_vec(),
            last: self.last[kept.clone()].to_vec(),
            actual: self.actual[kept].to_vec(),
            scaling: self.scaling,
            dropped: self.dropped[dropped].to_vec(),
        }
    }

    /// Model outputs for these windows, in the series' units (for [`Scaling::Change`], the
    /// forecast value: last value plus the predicted change).
    ///
    /// # Errors
    /// [`Error::DataShape`] when there is not one prediction per window.
    pub fn to_units(&self, predictions: &Samples<Vector<1>>) -> Result<Vec<f64>> {
        if predictions.len() != self.len() {
            return Err(Error::DataShape {
                expected: format!("[{}, 1], one prediction per window", self.len()),
                got: predictions.matrix().shape().to_vec(),
            });
        }
        let outputs = predictions.matrix();
        let forecast = outputs
            .column(0)
            .iter()
            .zip(&self.last)
            .map(|(&p, &last)| self.scaling.invert(f64::from(p), last))
            .collect();
        Ok(forecast)
    }

    /// Root mean squared error of `predictions` in the series' units.
    ///
    /// # Errors
    /// [`Error::EmptySet`] without windows; as [`Windows::to_units`].
    pub fn rmse(&self, predictions: &Samples<Vector<1>>) -> Result<f64> {
        let forecast = self.to_units(predictions)?;
        self.rmse_of(&forecast)
    }

    /// Root mean squared error, in the series' units, of the naive forecast: the value
    /// `horizon` steps ahead equals the window's last value (no change).
    ///
    /// # Errors
    /// [`Error::EmptySet`] without windows.
    pub fn naive_rmse(&self) -> Result<f64> {
        self.rmse_of(&self.last)
    }

    fn rmse_of(&self, forecast: &[f64]) -> Result<f64> {
        if self.is_empty() {
            return Err(Error::EmptySet { what: "window" });
        }
        let squares: f64 = forecast
            .iter()
            .zip(&self.actual)
            .map(|(f, a)| (f - a) * (f - a))
            .sum();
        Ok((squares / self.len() as f64).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::series::Series;

    fn series(values: &[f64]) -> Series {
        Series::new("v", values.to_vec())
    }

    fn ramp(n: usize) -> Series {
        series(&(0..n).map(|i| i as f64).collect::<Vec<_>>())
    }

    fn targets<const W: usize, const F: usize>(windows: &Windows<W, F>) -> Vec<f32> {
        windows.targets().matrix().column(0).to_vec()
    }

    #[test]
    fn count_is_len_minus_window_minus_horizon_plus_one() {
        let s = ramp(10);

        assert_eq!(
            s.windows::<3>(1, &Scaling::Raw).unwrap().len(),
            10 - 3 - 1 + 1
        );
        assert_eq!(
            s.windows::<3>(2, &Scaling::Raw).unwrap().len(),
            10 - 3 - 2 + 1
        );
        assert_eq!(s.windows::<9>(1, &Scaling::Raw).unwrap().len(), 1);
        assert_eq!(s.windows::<1>(9, &Scaling::Raw).unwrap().len(), 1);
    }

    #[test]
    fn window_rows_are_time_steps_and_the_target_follows_the_last() {
        let w = series(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            .windows::<3>(1, &Scaling::Raw)
            .unwrap();

        // 6 − 3 − 1 + 1 = 3 windows: [1 2 3] → 4, [2 3 4] → 5, [3 4 5] → 6.
        assert_eq!(w.len(), 3);
        assert_eq!(w.inputs().sample(0).unwrap(), &[1.0, 2.0, 3.0]);
        assert_eq!(w.inputs().sample(2).unwrap(), &[3.0, 4.0, 5.0]);
        assert_eq!(targets(&w), [4.0, 5.0, 6.0]);
        assert_eq!(w.target_index(), &[3, 4, 5]);
        assert_eq!(w.inputs().to_array().shape(), &[3, 3, 1]);
    }

    #[test]
    fn horizon_counts_from_the_last_step() {
        let w = ramp(8).windows::<2>(3, &Scaling::Raw).unwrap();

        // 8 − 2 − 3 + 1 = 4 windows; window k is [k, k+1] and its target is k + 1 + 3.
        assert_eq!(w.len(), 4);
        assert_eq!(w.inputs().sample(1).unwrap(), &[1.0, 2.0]);
        assert_eq!(targets(&w), [4.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn a_window_longer_than_the_series_is_an_error() {
        let err = ramp(5).windows::<5>(1, &Scaling::Raw).unwrap_err();

        assert!(
            matches!(
                err,
                Error::SeriesTooShort {
                    needed: 6,
                    len: 5,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("a window of 5 steps with horizon 1"),
            "{err}"
        );
        assert!(ramp(5).windows::<0>(1, &Scaling::Raw).is_err());
        assert!(ramp(5).windows::<2>(0, &Scaling::Raw).is_err());
    }

    #[test]
    fn a_horizon_beyond_usize_is_a_short_series_not_an_overflow() {
        let err = ramp(5).windows::<2>(usize::MAX, &Scaling::Raw).unwrap_err();

        // 2 + usize::MAX steps do not fit in `usize`; the count saturates at its largest.
        assert!(
            matches!(
                err,
                Error::SeriesTooShort {
                    needed: usize::MAX,
                    len: 5,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn change_is_relative_to_the_last_value_in_units_of_the_difference_spread() {
        // Training part [1 3 1 3 1]: differences 2 −2 2 −2, mean 0, std 2.
        let s = series(&[1.0, 3.0, 1.0, 3.0, 1.0, 5.0]);
        let scaling = Scaling::change(&s.values()[..5]).unwrap();
        assert_eq!(scaling, Scaling::Change { scale: 2.0 });

        let w = s.windows::<2>(1, &scaling).unwrap();

        // Window 3 is [3 1] with target 5: inputs (3 − 1)/2, (1 − 1)/2; target (5 − 1)/2.
        assert_eq!(w.inputs().sample(3).unwrap(), &[1.0, 0.0]);
        assert_eq!(targets(&w)[3], 2.0);
        assert_eq!(w.inputs().sample(0).unwrap(), &[-1.0, 0.0]);
    }

    #[test]
    fn standardize_uses_numpy_default_std() {
        let scaling = Scaling::standardize(&[1.0, 2.0, 3.0, 4.0]).unwrap();

        // mean 2.5, variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25 (ddof = 0)
        assert_eq!(
            scaling,
            Scaling::Standard {
                mean: 2.5,
                std: 1.25_f64.sqrt()
            }
        );
    }

    #[test]
    fn scaling_sees_the_training_part_only() {
        let split = 6;
        let mut values: Vec<f64> = vec![1.0, 2.0, 4.0, 3.0, 5.0, 6.0, 8.0, 7.0];
        let before = (
            Scaling::change(&values[..split]).unwrap(),
            Scaling::standardize(&values[..split]).unwrap(),
        );
        let train_before = series(&values)
            .windows::<2>(1, &before.0)
            .unwrap()
            .split_at(split)
            .0;

        values[7] = 1000.0;
        let after = (
            Scaling::change(&values[..split]).unwrap(),
            Scaling::standardize(&values[..split]).unwrap(),
        );
        let train_after = series(&values)
            .windows::<2>(1, &after.0)
            .unwrap()
            .split_at(split)
            .0;

        assert_eq!(before, after);
        assert_eq!(
            train_before.inputs().matrix(),
            train_after.inputs().matrix()
        );
        assert_eq!(
            train_before.targets().matrix(),
            train_after.targets().matrix()
        );
    }

    #[test]
    fn constant_or_tiny_training_parts_cannot_be_scaled() {
        assert!(matches!(
            Scaling::standardize(&[2.0, 2.0, 2.0]),
            Err(Error::ZeroSpread { what: "values" })
        ));
        assert!(matches!(
            Scaling::change(&[1.0, 2.0, 3.0]),
            Err(Error::ZeroSpread {
                what: "differences"
            })
        ));
        assert!(matches!(
            Scaling::change(&[1.0, 2.0]),
            Err(Error::SeriesTooShort {
                needed: 2,
                len: 1,
                ..
            })
        ));
    }

    #[test]
    fn gaps_drop_exactly_the_windows_that_touch_them() {
        let mut values: Vec<f64> = (0..10).map(f64::from).collect();
        values[4] = f64::NAN;

        let w = series(&values).windows::<3>(1, &Scaling::Raw).unwrap();

        // Window k reads steps k..k+2 and its target k+3; those with k ≤ 4 ≤ k + 3 go.
        assert_eq!(w.target_index(), &[3, 8, 9]);
        assert_eq!(w.dropped(), 4);
        // Dropped targets are 4 5 6 7: split at 6, two of them fall on each side.
        let (train, val) = w.split_at(6);
        assert_eq!((train.dropped(), val.dropped()), (2, 2));
        assert_eq!(w.inputs().sample(1).unwrap(), &[5.0, 6.0, 7.0]);
    }

    #[test]
    fn gaps_are_left_out_of_the_scale() {
        let with_gap = Scaling::change(&[1.0, 3.0, f64::NAN, 5.0, 3.0]).unwrap();

        // Only the differences 2 and −2 have both ends.
        assert_eq!(with_gap, Scaling::Change { scale: 2.0 });
    }

    #[test]
    fn split_goes_by_target_index() {
        let w = ramp(10).windows::<3>(1, &Scaling::Raw).unwrap();

        let (train, val) = w.split_at(8);

        // Targets 3..=9: those below 8 train; validation inputs may start before 8.
        assert_eq!(train.target_index(), &[3, 4, 5, 6, 7]);
        assert_eq!(val.target_index(), &[8, 9]);
        assert_eq!(val.inputs().sample(0).unwrap(), &[5.0, 6.0, 7.0]);
        assert_eq!(targets(&val), [8.0, 9.0]);
    }

    #[test]
    fn predictions_go_back_to_series_units() {
        let s = series(&[1.0, 3.0, 1.0, 3.0, 1.0, 5.0]);
        let w = s.windows::<2>(1, &Scaling::Change { scale: 2.0 }).unwrap();
        let zero = Samples::<Vector<1>>::from_vec(4, vec![0.0; 4]).unwrap();
        let exact = w.targets().clone();

        // Targets 1 3 1 5 after last values 3 1 3 1: every naive error is 2, 2, 2, 4.
        let naive = ((4.0 + 4.0 + 4.0 + 16.0) / 4.0_f64).sqrt();
        assert_eq!(w.to_units(&exact).unwrap(), [1.0, 3.0, 1.0, 5.0]);
        assert_eq!(w.rmse(&exact).unwrap(), 0.0);
        assert_eq!(w.naive_rmse().unwrap(), naive);
        assert_eq!(w.rmse(&zero).unwrap(), naive);
        assert!(matches!(
            w.rmse(&zero.head(2)),
            Err(Error::DataShape { .. })
        ));
    }

    #[test]
    fn standardized_predictions_invert_to_levels() {
        let scaling = Scaling::Standard {
            mean: 10.0,
            std: 2.0,
        };
        let w = ramp(5).windows::<2>(1, &scaling).unwrap();

        assert_eq!(w.inputs().sample(0).unwrap(), &[-5.0, -4.5]);
        assert_eq!(w.to_units(w.targets()).unwrap(), [2.0, 3.0, 4.0]);
    }
}
