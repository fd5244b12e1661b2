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

use crate::layers::vector::vectorized;

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
///
/// The types that implement it are markers: a layer carries its activation as a type
/// parameter so that the summary and the fused losses know it, but the work is done by
/// [`ActivationKind`]'s methods, which are compiled once in this crate. Code generic over
/// the activation would be compiled again in every crate that names a model, once for
/// every layer shape.
pub trait Activation: Copy + Default + std::fmt::Debug + Send + Sync + 'static {
    /// Which activation this is.
    const KIND: ActivationKind;

    /// Replaces each pre-activation `z` by `f(z)`.
    fn apply(values: ArrayViewMut2<'_, f32>) {
        Self::KIND.apply(values);
    }

    /// Replaces the gradient with respect to the output `y = f(z)` by the gradient with
    /// respect to `z`, given `y`.
    ///
    /// # Shapes
    /// `output` and `grad` are both `[rows, units]`.
    fn backward(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
        Self::KIND.backward(output, grad);
    }
}

impl ActivationKind {
    /// Replaces each pre-activation `z` of `values` by `f(z)`.
    pub fn apply(self, mut values: ArrayViewMut2<'_, f32>) {
        match self {
            Self::Linear => {}
            Self::Relu => values.mapv_inplace(Relu::value),
            Self::Sigmoid => values.mapv_inplace(Sigmoid::value),
            Self::Tanh => values.mapv_inplace(Tanh::value),
            Self::Elu => values.mapv_inplace(Elu::value),
            Self::Selu => values.mapv_inplace(Selu::value),
            Self::Softmax => softmax_rows(values),
        }
    }

    /// Replaces the gradient with respect to the output `y = f(z)` by the gradient with
    /// respect to `z`, given `y`.
    ///
    /// # Shapes
    /// `output` and `grad` are both `[rows, units]`.
    pub fn backward(self, output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
        fn pointwise<P: Pointwise>(output: ArrayView2<'_, f32>, grad: ArrayViewMut2<'_, f32>) {
            Zip::from(grad)
                .and(output)
                .for_each(|g, &y| *g = P::grad(*g, y));
        }
        match self {
            Self::Linear => {}
            Self::Relu => pointwise::<Relu>(output, grad),
            Self::Sigmoid => pointwise::<Sigmoid>(output, grad),
            Self::Tanh => pointwise::<Tanh>(output, grad),
            Self::Elu => pointwise::<Elu>(output, grad),
            Self::Selu => pointwise::<Selu>(output, grad),
            Self::Softmax => softmax_backward(output, grad),
        }
    }

    /// Replaces each pre-activation `z` of `values` by `f(z + bias)`, the bias taken per
    /// unit, with the widest vector instructions the processor has. Element-wise
    /// activations do it in one pass over `values`, which is what a layer's forward pass
    /// costs beyond its matrix product.
    ///
    /// # Shapes
    /// `values`: `[rows, units]` row-major; `bias`: `[units]`.
    pub(crate) fn apply_with_bias(self, values: &mut [f32], bias: &[f32]) {
        vectorized(
            #[inline(always)]
            || self.apply_with_bias_here(values, bias),
        );
    }

    /// [`ActivationKind::apply_with_bias`] compiled for the instruction set of its caller.
    #[inline(always)]
    fn apply_with_bias_here(self, values: &mut [f32], bias: &[f32]) {
        match self {
            Self::Linear => map_with_bias(values, bias, |z| z),
            Self::Relu => map_with_bias(values, bias, Relu::value),
            Self::Sigmoid => map_with_bias(values, bias, Sigmoid::value),
            Self::Tanh => map_with_bias(values, bias, Tanh::value),
            Self::Elu => map_with_bias(values, bias, Elu::value),
            Self::Selu => map_with_bias(values, bias, Selu::value),
            Self::Softmax => {
                map_with_bias(values, bias, |z| z);
                softmax_rows(matrix_mut(values, bias.len()));
            }
        }
    }

    /// [`ActivationKind::backward`] on row-major slices, also adding the column sums of the
    /// resulting pre-activation gradient (the bias gradient) to `sums`, row after row, with
    /// the widest vector instructions the processor has. Element-wise activations do it in
    /// one pass.
    ///
    /// # Shapes
    /// `output`, `grad`: `[rows, units]` row-major; `sums`: `[units]`.
    pub(crate) fn backward_with_sums(self, output: &[f32], grad: &mut [f32], sums: &mut [f32]) {
        vectorized(
            #[inline(always)]
            || self.backward_with_sums_here(output, grad, sums),
        );
    }

    /// [`ActivationKind::backward_with_sums`] compiled for the instruction set of its
    /// caller.
    #[inline(always)]
    fn backward_with_sums_here(self, output: &[f32], grad: &mut [f32], sums: &mut [f32]) {
        match self {
            Self::Linear => scale_and_sum(None, grad, sums, |g, _| g),
            Self::Relu => scale_and_sum(Some(output), grad, sums, Relu::grad),
            Self::Sigmoid => scale_and_sum(Some(output), grad, sums, Sigmoid::grad),
            Self::Tanh => scale_and_sum(Some(output), grad, sums, Tanh::grad),
            Self::Elu => scale_and_sum(Some(output), grad, sums, Elu::grad),
            Self::Selu => scale_and_sum(Some(output), grad, sums, Selu::grad),
            Self::Softmax => {
                let units = sums.len();
                let output = ArrayView2::from_shape((output.len() / units, units), output)
                    .expect("output holds whole rows of units");
                softmax_backward(output, matrix_mut(grad, units));
                scale_and_sum(None, grad, sums, |g, _| g);
            }
        }
    }
}

/// Softmax of each row, after subtracting the row maximum so that large logits do not
/// overflow.
fn softmax_rows(mut values: ArrayViewMut2<'_, f32>) {
    for mut row in values.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &z| m.max(z));
        row.mapv_inplace(|z| (z - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|e| e / sum);
    }
}

/// The softmax Jacobian-vector product of each row: `g = y ⊙ (g − Σ g y)`.
fn softmax_backward(output: ArrayView2<'_, f32>, mut grad: ArrayViewMut2<'_, f32>) {
    for (mut g, y) in grad.axis_iter_mut(Axis(0)).zip(output.axis_iter(Axis(0))) {
        let dot: f32 = g.iter().zip(y.iter()).map(|(a, b)| a * b).sum();
        Zip::from(&mut g)
            .and(&y)
            .for_each(|g, &y| *g = y * (*g - dot));
    }
}

/// `values` as a `[rows, units]` matrix.
fn matrix_mut(values: &mut [f32], units: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((values.len() / units, units), values)
        .expect("values hold whole rows of units")
}

/// `values = f(values + bias)` in one pass, for an element-wise `f`.
///
/// Rows are taken whole, so the compiler runs the loop over the units in vector lanes.
///
/// # Shapes
/// `values`: `[rows, units]` row-major; `bias`: `[units]`.
#[inline(always)]
fn map_with_bias(values: &mut [f32], bias: &[f32], f: impl Fn(f32) -> f32) {
    for row in values.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, &b)| *v = f(*v + b));
    }
}

/// Columns whose running sums [`scale_and_sum`] keeps in registers at once: two AVX2
/// vectors, or one AVX-512 vector.
const SUM_LANES: usize = 16;

/// Rows [`scale_and_sum`] takes at a time: the tile of gradients and outputs it goes over
/// once per group of [`SUM_LANES`] columns stays in the L1 cache.
const SUM_ROWS: usize = 64;

/// `grad = df(grad, output)` and `sums += Σ_rows grad` in one pass, for an element-wise `f`
/// whose derivative `df` is written in terms of its output. Without `output`, `df` is given
/// zeros (only for a `df` that ignores the output).
///
/// The running sums stay in local arrays, which the compiler keeps in registers: adding
/// into memory row after row made each row wait for the previous row's store. Rows of 16,
/// 32 or 64 units are taken whole. Other rows may be wider than the registers, so they go
/// by tiles, and within a tile by groups of [`SUM_LANES`] columns. Each column still adds
/// its rows in row order, so the sums are the same bits as a plain loop over the rows.
///
/// # Shapes
/// `output`, `grad`: `[rows, units]` row-major; `sums`: `[units]`.
#[inline(always)]
fn scale_and_sum(
    output: Option<&[f32]>,
    grad: &mut [f32],
    sums: &mut [f32],
    df: impl Fn(f32, f32) -> f32,
) {
    // The widths layers most often have get loops of their own, as wide as a row.
    match sums.len() {
        16 => return sum_rows::<16>(output, grad, sums, &df),
        32 => return sum_rows::<32>(output, grad, sums, &df),
        64 => return sum_rows::<64>(output, grad, sums, &df),
        _ => {}
    }
    let units = sums.len();
    let tile = SUM_ROWS * units;
    for (t, grad) in grad.chunks_mut(tile).enumerate() {
        let output = output.map(|o| &o[t * tile..][..grad.len()]);
        for start in (0..units).step_by(SUM_LANES) {
            let sums = &mut sums[start..units.min(start + SUM_LANES)];
            match <&mut [f32; SUM_LANES]>::try_from(&mut *sums) {
                Ok(sums) => sum_group(grad, output, (units, start), sums, &df),
                Err(_) => sum_tail(grad, output, (units, start), sums, &df),
            }
        }
    }
}

/// [`scale_and_sum`] for rows of `N` units, a constant: the running sums of a whole row stay
/// in registers, with no tiles or groups of columns.
#[inline(always)]
fn sum_rows<const N: usize>(
    output: Option<&[f32]>,
    grad: &mut [f32],
    sums: &mut [f32],
    df: &impl Fn(f32, f32) -> f32,
) {
    let sums: &mut [f32; N] = sums.try_into().expect("N sums");
    let mut running = *sums;
    match output {
        Some(output) => {
            for (g, y) in grad.chunks_exact_mut(N).zip(output.chunks_exact(N)) {
                let (g, y): (&mut [f32; N], &[f32; N]) =
                    (g.try_into().expect("N wide"), y.try_into().expect("N wide"));
                for ((g, &y), s) in g.iter_mut().zip(y).zip(running.iter_mut()) {
                    *g = df(*g, y);
                    *s += *g;
                }
            }
        }
        None => {
            for g in grad.chunks_exact_mut(N) {
                let g: &mut [f32; N] = g.try_into().expect("N wide");
                for (g, s) in g.iter_mut().zip(running.iter_mut()) {
                    *g = df(*g, 0.0);
                    *s += *g;
                }
            }
        }
    }
    *sums = running;
}

/// Columns `start..start + SUM_LANES` of [`scale_and_sum`], `(units, start)` giving the
/// row width and the first column. The width is a constant, so the loop over it unrolls
/// into vector registers.
#[inline(always)]
fn sum_group(
    grad: &mut [f32],
    output: Option<&[f32]>,
    (units, start): (usize, usize),
    sums: &mut [f32; SUM_LANES],
    df: &impl Fn(f32, f32) -> f32,
) {
    let mut running = *sums;
    #[inline(always)]
    fn group(row: &mut [f32], start: usize) -> &mut [f32; SUM_LANES] {
        (&mut row[start..start + SUM_LANES])
            .try_into()
            .expect("a group of lanes")
    }
    match output {
        Some(output) => {
            for (g, y) in grad.chunks_exact_mut(units).zip(output.chunks_exact(units)) {
                let y: &[f32; SUM_LANES] = y[start..start + SUM_LANES]
                    .try_into()
                    .expect("a group of lanes");
                for ((g, &y), s) in group(g, start).iter_mut().zip(y).zip(running.iter_mut()) {
                    *g = df(*g, y);
                    *s += *g;
                }
            }
        }
        None => {
            for g in grad.chunks_exact_mut(units) {
                for (g, s) in group(g, start).iter_mut().zip(running.iter_mut()) {
                    *g = df(*g, 0.0);
                    *s += *g;
                }
            }
        }
    }
    *sums = running;
}

/// The last, narrower group of columns of [`scale_and_sum`]: `sums.len()` columns from
/// `start`.
#[inline(always)]
fn sum_tail(
    grad: &mut [f32],
    output: Option<&[f32]>,
    (units, start): (usize, usize),
    sums: &mut [f32],
    df: &impl Fn(f32, f32) -> f32,
) {
    let width = sums.len();
    let mut running = [0.0_f32; SUM_LANES];
    let running = &mut running[..width];
    running.copy_from_slice(sums);
    for (r, g) in grad.chunks_exact_mut(units).enumerate() {
        let g = &mut g[start..start + width];
        let y = output.map(|o| &o[r * units + start..][..width]);
        for (j, (g, s)) in g.iter_mut().zip(running.iter_mut()).enumerate() {
            *g = df(*g, y.map_or(0.0, |y| y[j]));
            *s += *g;
        }
    }
    sums.copy_from_slice(running);
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

/// An activation applied to each value on its own, given by its value and by its derivative
/// written in terms of its output. Every such type is an [`Activation`].
///
/// Both functions run inside vectorised loops, so they should be branch-free selects and
/// arithmetic that the compiler can inline.
pub trait Pointwise: Copy + Default + std::fmt::Debug + Send + Sync + 'static {
    /// Which activation this is (its [`Activation::KIND`]).
    const ACTIVATION_KIND: ActivationKind;

    /// `y = f(z)`.
    fn value(z: f32) -> f32;

    /// The gradient `g` with respect to the output `y` taken back to the input:
    /// `g · f′(z)`, written in terms of `y`.
    fn grad(g: f32, y: f32) -> f32;
}

impl<P: Pointwise> Activation for P {
    const KIND: ActivationKind = P::ACTIVATION_KIND;
}

impl Activation for Linear {
    const KIND: ActivationKind = ActivationKind::Linear;
}

impl Pointwise for Relu {
    const ACTIVATION_KIND: ActivationKind = ActivationKind::Relu;

    #[inline(always)]
    fn value(z: f32) -> f32 {
        z.max(0.0)
    }

    /// `g` where `y > 0`, else 0, as a bit mask: the sign of `y` is unpredictable, and a
    /// mispredicted branch here once cost a fifth of a training step.
    #[inline(always)]
    fn grad(g: f32, y: f32) -> f32 {
        let keep = 0_u32.wrapping_sub(u32::from(y > 0.0));
        f32::from_bits(g.to_bits() & keep)
    }
}

impl Pointwise for Sigmoid {
    const ACTIVATION_KIND: ActivationKind = ActivationKind::Sigmoid;

    #[inline(always)]
    fn value(z: f32) -> f32 {
        1.0 / (1.0 + (-z).exp())
    }

    #[inline(always)]
    fn grad(g: f32, y: f32) -> f32 {
        g * (y * (1.0 - y))
    }
}

impl Pointwise for Tanh {
    const ACTIVATION_KIND: ActivationKind = ActivationKind::Tanh;

    #[inline(always)]
    fn value(z: f32) -> f32 {
        z.tanh()
    }

    #[inline(always)]
    fn grad(g: f32, y: f32) -> f32 {
        g * (1.0 - y * y)
    }
}

impl Pointwise for Elu {
    const ACTIVATION_KIND: ActivationKind = ActivationKind::Elu;

    /// `exp_m1` keeps the small negative outputs accurate near zero.
    #[inline(always)]
    fn value(z: f32) -> f32 {
        if z > 0.0 {
            z
        } else {
            Self::ALPHA * z.exp_m1()
        }
    }

    #[inline(always)]
    fn grad(g: f32, y: f32) -> f32 {
        g * if y > 0.0 { 1.0 } else { y + Self::ALPHA }
    }
}

impl Pointwise for Selu {
    const ACTIVATION_KIND: ActivationKind = ActivationKind::Selu;

    #[inline(always)]
    fn value(z: f32) -> f32 {
        if z > 0.0 {
            Self::SCALE * z
        } else {
            Self::SCALE * Self::ALPHA * z.exp_m1()
        }
    }

    #[inline(always)]
    fn grad(g: f32, y: f32) -> f32 {
        g * if y > 0.0 {
            Self::SCALE
        } else {
            y + Self::SCALE * Self::ALPHA
        }
    }
}

impl Activation for Softmax {
    const KIND: ActivationKind = ActivationKind::Softmax;
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

    /// The one-pass forms against the two-pass ones, which add the bias (or sum the rows)
    /// separately around `apply` and `backward`, at every vector width. Rows 37 wide take
    /// two full groups of summed columns and a narrower one; 150 rows take three tiles.
    fn check_fused<A: Activation>() {
        for (rows, units) in [(3, 3), (150, 37), (70, 16), (90, 64), (80, 48)] {
            let levels =
                crate::layers::vector::on_every_level(|| check_fused_once::<A>(rows, units));
            assert!(levels.iter().all(|l| *l == levels[0]), "{:?}", A::KIND);
        }
    }

    /// One run of [`check_fused`] on a `[rows, units]` block; returns the fused outputs
    /// and gradients.
    #[inline(always)]
    fn check_fused_once<A: Activation>(rows: usize, units: usize) -> (Vec<f32>, Vec<f32>) {
        let wave = |i: usize, j: usize, k: f32| ((i * 7 + j * 3) % 11) as f32 * k - 1.2;
        let bias: Vec<f32> = (0..units).map(|j| wave(0, j, 0.17)).collect();
        let z = Array2::from_shape_fn((rows, units), |(i, j)| wave(i, j, 0.29));
        let mut fused = z.clone().into_raw_vec_and_offset().0;
        A::KIND.apply_with_bias_here(&mut fused, &bias);
        let mut two_pass = z + ndarray::aview1(&bias);
        A::apply(two_pass.view_mut());
        assert_eq!(
            fused,
            two_pass.iter().copied().collect::<Vec<_>>(),
            "{:?}",
            A::KIND
        );

        let grad = Array2::from_shape_fn((rows, units), |(i, j)| wave(j, i, 0.23));
        let mut fused_grad = grad.clone().into_raw_vec_and_offset().0;
        let mut sums = vec![1.0; units];
        A::KIND.backward_with_sums_here(&fused, &mut fused_grad, &mut sums);
        let mut two_pass_grad = grad;
        A::backward(two_pass.view(), two_pass_grad.view_mut());
        let mut expected_sums = vec![1.0_f32; units];
        for row in two_pass_grad.rows() {
            expected_sums
                .iter_mut()
                .zip(row)
                .for_each(|(s, &g)| *s += g);
        }
        assert_eq!(
            fused_grad,
            two_pass_grad.iter().copied().collect::<Vec<_>>()
        );
        assert_eq!(sums, expected_sums, "{:?}", A::KIND);
        (fused, fused_grad)
    }

    #[test]
    fn one_pass_bias_and_sums_match_the_two_pass_forms_bit_for_bit() {
        check_fused::<Linear>();
        check_fused::<Relu>();
        check_fused::<Sigmoid>();
        check_fused::<Tanh>();
        check_fused::<Softmax>();
        check_fused::<Elu>();
        check_fused::<Selu>();
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
