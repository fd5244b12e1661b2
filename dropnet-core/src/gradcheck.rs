//! Finite-difference checks of a layer's backward pass.
//!
//! Every backward pass in dropnet is written by hand, so each one is checked against
//! central differences. [`check`] takes any [`Layer`], a batch of inputs and [`Options`],
//! and compares the analytic gradients of the scalar
//!
//! ```text
//! L(input, params) = Σ output ⊙ upstream
//! ```
//!
//! where `upstream` is a fixed random matrix, with `(L(x + h) − L(x − h)) / 2h` for every
//! input and parameter entry (or a fixed random sample of them for large tensors). `L` is
//! accumulated in `f64` so that only the layer's own `f32` rounding adds noise.
//!
//! Piecewise-linear layers (relu, max pooling) have kinks where the derivative jumps; a
//! difference taken across one is meaningless. Each entry is therefore differenced with
//! steps `h` and `h / 2`: when the two disagree the entry straddles a kink and is skipped
//! (and counted), and otherwise the `h / 2` estimate is compared. A wrong gradient cannot
//! hide this way, because both steps agree with each other and not with it.
//!
//! Stochastic layers must give the same output on every evaluation, so freeze their masks
//! first (e.g. [`crate::layers::Dropout::freeze_mask`]). The check verifies this: when two
//! training forwards of the same input differ, the report says so and fails every bound.
//!
//! ```
//! use dropnet_core::activation::Tanh;
//! use dropnet_core::gradcheck::{self, Options};
//! use dropnet_core::layers::Dense;
//!
//! let mut layer = Dense::<3, 2, Tanh>::new("dense", 1);
//! let input = gradcheck::random_input(4, 3, 2);
//! let report = gradcheck::check(&mut layer, input.view(), &Options::default());
//! assert!(report.worst_relative_error < 1e-2, "{report}");
//! ```

use std::fmt;

use ndarray::{Array2, ArrayD, ArrayView2};
use rand::Rng as _;

use crate::layer::{Layer, Mode, Pass};
use crate::rng;

/// Settings of a gradient check.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The larger finite-difference step `h`; the compared estimate uses `h / 2`.
    pub step: f32,
    /// Smallest denominator of a relative error (default 0.01): gradients smaller than
    /// this are compared in absolute terms, because float noise in `L` divided by the
    /// step is of order 1e-5 and would swamp their relative error.
    pub floor: f64,
    /// Relative disagreement between the `h` and `h / 2` estimates above which an entry is
    /// taken to straddle a kink and is skipped.
    pub kink: f64,
    /// Entries checked per tensor at most; larger tensors are sampled.
    pub max_entries: usize,
    /// Seed of the upstream gradient and of the sampled entries.
    pub seed: u64,
    /// Check the pass that skips the activation (`Pass::logits`).
    pub logits: bool,
    /// Share of the upstream gradient's entries set to zero (default 0), picked at random:
    /// a layer followed by max pooling and dropout gets a gradient mostly of zeros, and
    /// may take another path for it (a convolution does).
    pub upstream_zeros: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            step: 1e-2,
            floor: 1e-2,
            kink: 1e-2,
            max_entries: 200,
            seed: 0,
            logits: false,
            upstream_zeros: 0.0,
        }
    }
}

/// The outcome of a gradient check.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The largest `|analytic − numeric| / max(|analytic|, |numeric|, floor)` over the
    /// compared entries; infinite when the layer's forward is not reproducible.
    pub worst_relative_error: f64,
    /// Where the worst error occurred, with both values.
    pub worst_entry: String,
    /// Number of entries compared.
    pub checked: usize,
    /// Number of entries skipped because they straddle a kink.
    pub skipped: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "worst relative error {:.3e} at {} ({} entries checked, {} skipped at kinks)",
            self.worst_relative_error, self.worst_entry, self.checked, self.skipped
        )
    }
}

/// A `[rows, cols]` matrix of values uniform in `[-1, 1)`, from the stream
/// `(seed, "gradcheck", "input")`.
pub fn random_input(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    random_matrix(rows, cols, seed, "input")
}

fn random_matrix(rows: usize, cols: usize, seed: u64, purpose: &str) -> Array2<f32> {
    let mut rng = rng::stream(seed, "gradcheck", purpose);
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.0..1.0))
}

/// Checks `layer`'s input and parameter gradients on the batch `input` against central
/// differences; see the module docs for the method.
///
/// Runs forwards in [`Mode::Train`]. Zeroes the layer's parameter gradients first and
/// leaves in them the gradients of `L`; parameter values are restored bit for bit.
///
/// # Shapes
/// `input`: `[batch, input_len]`
pub fn check(layer: &mut dyn Layer, input: ArrayView2<'_, f32>, options: &Options) -> Report {
    let pass = Pass {
        mode: Mode::Train,
        logits: options.logits,
    };
    let mut upstream = random_matrix(input.nrows(), layer.output_len(), options.seed, "upstream");
    if options.upstream_zeros > 0.0 {
        let mut rng = rng::stream(options.seed, "gradcheck", "upstream zeros");
        let zero = options.upstream_zeros.min(1.0);
        upstream.mapv_inplace(|u| if rng.random_bool(zero) { 0.0 } else { u });
    }
    let (grad_input, param_grads, reference) = analytic(layer, input, &upstream, pass);

    let mut checker = Checker {
        layer,
        upstream,
        pass,
        options,
        report: Report::empty(),
    };
    if checker.objective(input) != reference {
        checker.report.worst_relative_error = f64::INFINITY;
        checker.report.worst_entry = "a repeated forward: its output changed".to_string();
        return checker.report;
    }

    checker.check_input(input, &grad_input);
    for (index, grad) in param_grads.iter().enumerate() {
        checker.check_param(input, index, grad);
    }
    checker.report
}

/// One training forward and backward: the input gradient, the parameter gradients (in
/// [`Layer::params`] order) and the objective at the unperturbed point.
fn analytic(
    layer: &mut dyn Layer,
    input: ArrayView2<'_, f32>,
    upstream: &Array2<f32>,
    pass: Pass,
) -> (Array2<f32>, Vec<ArrayD<f32>>, f64) {
    for param in layer.params_mut() {
        param.grad.fill(0.0);
    }
    let mut output = Array2::zeros(upstream.raw_dim());
    layer.forward(input, output.view_mut(), pass);
    let reference = dot(&output, upstream);

    let mut grad_output = upstream.clone();
    let mut grad_input = Array2::zeros(input.raw_dim());
    layer.backward(
        input,
        output.view(),
        grad_output.view_mut(),
        Some(grad_input.view_mut()),
        pass,
    );

    let param_grads = layer.params().iter().map(|p| p.grad.clone()).collect();
    (grad_input, param_grads, reference)
}

/// `Σ a ⊙ b`, accumulated in `f64`.
fn dot(a: &Array2<f32>, b: &Array2<f32>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

impl Report {
    fn empty() -> Self {
        Self {
            worst_relative_error: 0.0,
            worst_entry: "nothing".into(),
            checked: 0,
            skipped: 0,
        }
    }
}

/// The state of one check.
struct Checker<'a> {
    layer: &'a mut dyn Layer,
    upstream: Array2<f32>,
    pass: Pass,
    options: &'a Options,
    report: Report,
}

impl Checker<'_> {
    /// `L` at `input` with the layer's current parameters.
    fn objective(&mut self, input: ArrayView2<'_, f32>) -> f64 {
        let mut output = Array2::zeros(self.upstream.raw_dim());
        self.layer.forward(input, output.view_mut(), self.pass);
        dot(&output, &self.upstream)
    }

    /// The entries of a tensor of `len` values to check: all, or a fixed random sample.
    fn entries(&self, len: usize, salt: &str) -> Vec<usize> {
        if len <= self.options.max_entries {
            return (0..len).collect();
        }
        let mut rng = rng::stream(self.options.seed, "gradcheck", salt);
        let mut picked =
            rand::seq::index::sample(&mut rng, len, self.options.max_entries).into_vec();
        picked.sort_unstable();
        picked
    }

    /// Compares the input gradient entry by entry.
    fn check_input(&mut self, input: ArrayView2<'_, f32>, analytic: &Array2<f32>) {
        let mut x = input.to_owned();
        let cols = x.ncols();
        for entry in self.entries(x.len(), "input entries") {
            let (row, col) = (entry / cols, entry % cols);
            let original = x[[row, col]];
            let numeric = self.differences(|checker, delta| {
                x[[row, col]] = original + delta;
                let value = checker.objective(x.view());
                let step = x[[row, col]] - original;
                x[[row, col]] = original;
                (value, step)
            });
            self.record(numeric, analytic[[row, col]], || {
                format!("input[{row}, {col}]")
            });
        }
    }

    /// Compares the gradient of the parameter at `index` in [`Layer::params`] order.
    fn check_param(&mut self, input: ArrayView2<'_, f32>, index: usize, analytic: &ArrayD<f32>) {
        let name = self.layer.params()[index].name;
        let analytic: Vec<f32> = analytic.iter().copied().collect();
        for entry in self.entries(analytic.len(), name) {
            let numeric = self.differences(|checker, delta| {
                let original = checker.set_param(index, entry, None, delta);
                let value = checker.objective(input);
                let moved = checker.set_param(index, entry, Some(original), 0.0);
                (value, moved - original)
            });
            self.record(numeric, analytic[entry], || {
                format!("{name}[{entry}] (row-major)")
            });
        }
    }

    /// Adds `delta` to entry `entry` (row-major) of parameter `index`, or restores it to
    /// `restore`; returns the value it had.
    fn set_param(&mut self, index: usize, entry: usize, restore: Option<f32>, delta: f32) -> f32 {
        let mut params = self.layer.params_mut();
        let value = params[index]
            .value
            .iter_mut()
            .nth(entry)
            .expect("entry within the tensor");
        let original = *value;
        *value = restore.unwrap_or(original + delta);
        original
    }

    /// Central differences of `eval` with steps `h` and `h / 2`; `None` across a kink.
    ///
    /// `eval(checker, delta)` returns `L` with `delta` added to the entry, and the step
    /// actually taken once the sum is rounded to `f32`, which is what the difference is
    /// divided by.
    fn differences(&mut self, mut eval: impl FnMut(&mut Self, f32) -> (f64, f32)) -> Option<f64> {
        let h = self.options.step;
        let mut central = |checker: &mut Self, h: f32| {
            let ((above, up), (below, down)) = (eval(checker, h), eval(checker, -h));
            (above - below) / (f64::from(up) - f64::from(down))
        };
        let coarse = central(self, h);
        let fine = central(self, h / 2.0);
        (relative(coarse, fine, self.options.floor) <= self.options.kink).then_some(fine)
    }

    /// Counts one compared (or skipped) entry and keeps the worst error.
    fn record(&mut self, numeric: Option<f64>, analytic: f32, at: impl FnOnce() -> String) {
        let Some(numeric) = numeric else {
            self.report.skipped += 1;
            return;
        };
        self.report.checked += 1;
        let analytic = f64::from(analytic);
        let error = relative(analytic, numeric, self.options.floor);
        if error.is_nan() || error > self.report.worst_relative_error {
            self.report.worst_relative_error = error;
            self.report.worst_entry =
                format!("{}: analytic {analytic:.6e}, numeric {numeric:.6e}", at());
        }
    }
}

/// `|a − b| / max(|a|, |b|, floor)`; NaN when either is NaN.
fn relative(a: f64, b: f64, floor: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Linear;
    use crate::layers::Dense;

    /// A layer whose backward is deliberately wrong, to prove the check can fail.
    struct Doubling(Dense<3, 2, Linear>);

    impl Layer for Doubling {
        fn name(&self) -> &str {
            "doubling"
        }
        fn kind(&self) -> &'static str {
            "Dense"
        }
        fn input_dims(&self) -> &'static [usize] {
            &[3]
        }
        fn output_dims(&self) -> &'static [usize] {
            &[2]
        }
        fn forward(
            &mut self,
            input: ArrayView2<'_, f32>,
            output: ndarray::ArrayViewMut2<'_, f32>,
            pass: Pass,
        ) {
            self.0.forward(input, output, pass);
        }
        fn backward(
            &mut self,
            input: ArrayView2<'_, f32>,
            output: ArrayView2<'_, f32>,
            mut grad_output: ndarray::ArrayViewMut2<'_, f32>,
            grad_input: Option<ndarray::ArrayViewMut2<'_, f32>>,
            pass: Pass,
        ) {
            grad_output.mapv_inplace(|g| 2.0 * g);
            self.0
                .backward(input, output, grad_output, grad_input, pass);
        }
        fn params(&self) -> Vec<&crate::Param> {
            self.0.params()
        }
        fn params_mut(&mut self) -> Vec<&mut crate::Param> {
            self.0.params_mut()
        }
    }

    #[test]
    fn a_correct_layer_passes() {
        let mut layer = Dense::<3, 2, Linear>::new("dense", 3);
        let report = check(
            &mut layer,
            random_input(4, 3, 1).view(),
            &Options::default(),
        );

        assert!(report.worst_relative_error < 1e-3, "{report}");
        assert_eq!(report.checked, 4 * 3 + 3 * 2 + 2);
        assert_eq!(report.skipped, 0);
    }

    #[test]
    fn a_wrong_backward_fails() {
        let mut layer = Doubling(Dense::new("dense", 3));
        let report = check(
            &mut layer,
            random_input(4, 3, 1).view(),
            &Options::default(),
        );

        // Twice the true gradient is a relative error of one half.
        assert!((report.worst_relative_error - 0.5).abs() < 1e-2, "{report}");
    }

    #[test]
    fn large_tensors_are_sampled_deterministically() {
        let mut layer = Dense::<30, 20, Linear>::new("dense", 3);
        let options = Options {
            max_entries: 50,
            ..Options::default()
        };
        let input = random_input(2, 30, 1);
        let first = check(&mut layer, input.view(), &options);
        let second = check(&mut layer, input.view(), &options);

        // 50 of 60 input entries, 50 of 600 kernel entries, all 20 biases.
        assert_eq!(first.checked, 50 + 50 + 20);
        assert_eq!(first, second);
    }
}
