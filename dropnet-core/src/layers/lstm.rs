//! Long short-term memory layer, trained by backpropagation through time.

use ndarray::{ArrayView2, ArrayViewMut2};

use super::lstm_dropout::{Masks, Variational};
use super::matmul::matmul;
use super::{add_column_sums, check_width, grad_matrix, param_matrix, row_major, with_reshaped};
use crate::error::Result;
use crate::init;
use crate::layer::{Layer, Mode, Param, Pass};
use crate::rng;

/// An LSTM over sequences of `T` steps of `F` features with `U` units, like Keras's
/// `LSTM(U, return_sequences=SEQ)`.
///
/// With `x_t` the input at step `t`, `h_{t-1}` and `c_{t-1}` the previous hidden and cell
/// states (both zero before the first step), and `z_t = x_t · kernel + h_{t-1} ·
/// recurrent_kernel + bias` split into four blocks of `U` columns in Keras's order:
///
/// ```text
/// i = σ(z_i)   f = σ(z_f)   g = tanh(z_c)   o = σ(z_o)
/// c_t = f ⊙ c_{t-1} + i ⊙ g
/// h_t = o ⊙ tanh(c_t)
/// ```
///
/// The output is every `h_t` (`[T, U]` per sample) when `SEQ`, else the last one (`[U]`).
///
/// Parameters, in Keras's names, layouts and order, so that Keras weights load unchanged:
/// `kernel` `[F, 4U]` (Glorot uniform), `recurrent_kernel` `[U, 4U]` (orthogonal) and
/// `bias` `[4U]` (zeros, except ones for the forget gate's block `[U, 2U)`, Keras's
/// `unit_forget_bias`), each with its columns in the gate order `i, f, c, o`.
///
/// The sigmoid and tanh of the gates use an exponential of the layer's own, accurate to a
/// few units in the last place, which vectorises where the platform's does not; outputs
/// agree with Keras to about 1e-6.
///
/// [`Lstm::with_dropout`] adds Keras's `dropout` and `recurrent_dropout` in their
/// variational form (Gal and Ghahramani, 2016): each sample gets one mask for `x_t` and one
/// for `h_{t-1}` per pass, reused at every step, with inverted scaling, so `x_t` becomes
/// `x_t ⊙ m_x` before the input projection and `h_{t-1}` becomes `h_{t-1} ⊙ m_h` before the
/// recurrent product. Masks are active in training (stream `(seed, name, "dropout")`) and
/// Monte Carlo passes (stream `(seed, name, "mc")`); inference uses none.
#[derive(Debug, Clone)]
pub struct Lstm<const T: usize, const F: usize, const U: usize, const SEQ: bool> {
    name: &'static str,
    kernel: Param,
    recurrent_kernel: Param,
    bias: Param,
    work: Workspace,
    /// Input and recurrent dropout.
    dropout: Variational,
    /// Batch size whose states `work` holds from a training forward, until a backward uses
    /// them up.
    cached_batch: Option<usize>,
}

/// The buffers of a pass, time-major (step, then sample), grown to the largest batch seen
/// and reused; a smaller batch uses a prefix of each.
#[derive(Debug, Clone, Default)]
struct Workspace {
    /// The input re-ordered by step, `[T, batch, F]`.
    inputs: Vec<f32>,
    /// `[T, batch, 4U]`: the projected input `x_t · kernel + bias`, then in place the
    /// activated gates `i, f, g, o`, then in backward the gradients of `z_t`.
    gates: Vec<f32>,
    /// Cell states `[T + 1, batch, U]`, the zero initial state first.
    cells: Vec<f32>,
    /// `tanh(c_t)`, `[T, batch, U]`.
    cell_tanh: Vec<f32>,
    /// Hidden states `[T + 1, batch, U]`, the zero initial state first.
    hidden: Vec<f32>,
    /// With recurrent dropout, the masked `h_{t-1}` each step multiplies, `[T, batch, U]`
    /// (slot 0 the zero initial state).
    masked_hidden: Vec<f32>,
    /// Gradient of the loss with respect to the current `h_t`, `[batch, U]`.
    grad_hidden: Vec<f32>,
    /// Gradient of the loss with respect to the current `c_t`, `[batch, U]`.
    grad_cell: Vec<f32>,
    /// Gradient with respect to the time-major input, `[T, batch, F]`.
    grad_inputs: Vec<f32>,
}

/// Grows `buffer` to at least `len` values; never shrinks it.
fn grow(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

impl<const T: usize, const F: usize, const U: usize, const SEQ: bool> Lstm<T, F, U, SEQ> {
    /// Per-sample input shape `[T, F]`.
    pub const INPUT_DIMS: &'static [usize] = &[T, F];
    /// Per-sample output shape: `[T, U]` when `SEQ`, else `[U]`.
    pub const OUTPUT_DIMS: &'static [usize] = if SEQ { &[T, U] } else { &[U] };
    /// Number of trainable scalars: `4U·(F + U + 1)`.
    pub const PARAM_COUNT: usize = 4 * U * (F + U + 1);

    /// Width of the four gate blocks together.
    const GATES: usize = 4 * U;
    /// Values in one output sample.
    const OUTPUT_LEN: usize = if SEQ { T * U } else { U };

    /// Re-checks at compile time what the macro checks, for hand-written instantiations.
    const CHECK: () = {
        assert!(T > 0, "Lstm: the number of time steps must be > 0");
        assert!(F > 0, "Lstm: the number of features must be > 0");
        assert!(U > 0, "Lstm: the number of units must be > 0");
    };

    /// An LSTM named `name` (its Keras name) initialised like Keras: the kernel then the
    /// recurrent kernel are drawn from the stream `(seed, name, "init")`.
    pub fn new(name: &'static str, seed: u64) -> Self {
        let () = Self::CHECK;
        let mut rng = rng::stream(seed, name, "init");
        let kernel = init::glorot_uniform(&[F, Self::GATES], &mut rng);
        let recurrent = init::orthogonal(&[U, Self::GATES], &mut rng);
        let mut bias = init::zeros(&[Self::GATES]);
        bias.iter_mut()
            .skip(U)
            .take(U)
            .for_each(|forget| *forget = 1.0);
        Self {
            name,
            kernel: Param::new("kernel", kernel),
            recurrent_kernel: Param::new("recurrent_kernel", recurrent),
            bias: Param::new("bias", bias),
            work: Workspace::default(),
            dropout: Variational::new(name, seed),
            cached_batch: None,
        }
    }

    /// The same layer with variational dropout at rate `dropout` on the inputs and
    /// `recurrent_dropout` on the recurrent state, like Keras's
    /// `LSTM(U, dropout=…, recurrent_dropout=…)`.
    ///
    /// # Panics
    /// If a rate is not in `[0, 1)`. `model!` checks the rates at compile time; use
    /// [`Lstm::try_with_dropout`] for rates known only at run time.
    pub fn with_dropout(self, dropout: f32, recurrent_dropout: f32) -> Self {
        match self.try_with_dropout(dropout, recurrent_dropout) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`Lstm::with_dropout`], but returns [`crate::Error::InvalidConfig`] for a rate
    /// outside `[0, 1)`.
    pub fn try_with_dropout(mut self, dropout: f32, recurrent_dropout: f32) -> Result<Self> {
        self.dropout.set_rates(dropout, recurrent_dropout)?;
        Ok(self)
    }

    /// The input and recurrent dropout rates.
    pub fn dropout_rates(&self) -> (f32, f32) {
        self.dropout.rates
    }

    /// While frozen, a training forward reuses the previous masks when the batch size is
    /// the same, so that gradient checks see one function. Training never freezes.
    pub fn freeze_dropout_masks(&mut self, frozen: bool) {
        self.dropout.freeze(frozen);
    }

    /// Runs the whole sequence, leaving every state backward needs in the workspace, with
    /// the masks of `masks` (none in inference).
    fn run(&mut self, input: &ArrayView2<'_, f32>, masks: &Masks) {
        let batch = input.nrows();
        let (rows, state) = (T * batch, batch * U);
        let work = &mut self.work;
        grow(&mut work.inputs, rows * F);
        grow(&mut work.gates, rows * Self::GATES);
        grow(&mut work.cells, (T + 1) * state);
        grow(&mut work.cell_tanh, T * state);
        grow(&mut work.hidden, (T + 1) * state);
        if masks.recurrent().is_some() {
            grow(&mut work.masked_hidden, T * state);
        }

        self.project_inputs(input, masks.input());
        self.recur(batch, masks.recurrent());
    }

    /// Copies the input into time-major order and projects all steps at once:
    /// `gates = inputs · kernel + bias`.
    ///
    /// With input dropout the copy is masked, so the kernel's gradient sees the masked
    /// input too.
    ///
    /// Buffers: `input` `[batch, T, F]` (row-major), `mask` `[batch, F]`, `inputs`
    /// `[T, batch, F]`, `gates` `[T, batch, 4U]`, read as `[T·batch, F] · [F, 4U]`.
    fn project_inputs(&mut self, input: &ArrayView2<'_, f32>, mask: Option<&[f32]>) {
        let batch = input.nrows();
        let samples = row_major(input);
        let inputs = &mut self.work.inputs[..T * batch * F];
        for (t, block) in inputs.chunks_exact_mut(batch * F).enumerate() {
            let rows = block.chunks_exact_mut(F).zip(samples.chunks_exact(T * F));
            for (b, (step, sample)) in rows.enumerate() {
                let x = &sample[t * F..(t + 1) * F];
                match mask {
                    Some(mask) => step
                        .iter_mut()
                        .zip(x.iter().zip(&mask[b * F..(b + 1) * F]))
                        .for_each(|(s, (&x, &m))| *s = x * m),
                    None => step.copy_from_slice(x),
                }
            }
        }

        let bias = param_matrix(&self.bias.value, 1, Self::GATES);
        let bias = bias.as_slice().expect("a contiguous row");
        let gates = &mut self.work.gates[..T * batch * Self::GATES];
        gates
            .chunks_exact_mut(Self::GATES)
            .for_each(|row| row.copy_from_slice(bias));

        let kernel = param_matrix(&self.kernel.value, F, Self::GATES);
        let inputs = ArrayView2::from_shape((T * batch, F), &*inputs).expect("T·batch × F");
        let mut gates =
            ArrayViewMut2::from_shape((T * batch, Self::GATES), gates).expect("T·batch × 4U");
        matmul(&inputs, &kernel.view(), &mut gates, true);
    }

    /// The recurrence: for each step adds `h_{t-1} · recurrent_kernel` to the projected
    /// input, then applies the gates and updates the states in one pass.
    ///
    /// With recurrent dropout, `h_{t-1} ⊙ mask` is kept in `masked_hidden` and multiplied
    /// instead.
    ///
    /// Buffers: `gates` `[T, batch, 4U]`, `cells` and `hidden` `[T + 1, batch, U]` (slot
    /// `t + 1` holds step `t`), `cell_tanh` `[T, batch, U]`, `mask` `[batch, U]`,
    /// `masked_hidden` `[T, batch, U]`.
    fn recur(&mut self, batch: usize, mask: Option<&[f32]>) {
        let Self {
            recurrent_kernel,
            work,
            ..
        } = self;
        let recurrent = param_matrix(&recurrent_kernel.value, U, Self::GATES);
        let (state, block) = (batch * U, batch * Self::GATES);
        work.cells[..state].fill(0.0);
        work.hidden[..state].fill(0.0);
        if mask.is_some() {
            work.masked_hidden[..state].fill(0.0);
        }

        for t in 0..T {
            let gates = &mut work.gates[t * block..(t + 1) * block];
            let (before, after) = work.hidden.split_at_mut((t + 1) * state);
            let (mut h_prev, h) = (&before[t * state..], &mut after[..state]);
            // The mask has the state's layout, `[batch, U]`, so it applies value by value.
            if let (Some(mask), true) = (mask, t > 0) {
                let masked = &mut work.masked_hidden[t * state..(t + 1) * state];
                masked
                    .iter_mut()
                    .zip(h_prev.iter().zip(mask))
                    .for_each(|(m, (&h, &k))| *m = h * k);
                h_prev = masked;
            }
            // The initial state is zero, so the first step has no recurrent term.
            if t > 0 {
                let h_prev = ArrayView2::from_shape((batch, U), h_prev).expect("batch × U");
                let mut z = ArrayViewMut2::from_shape((batch, Self::GATES), &mut *gates)
                    .expect("batch × 4U");
                matmul(&h_prev, &recurrent.view(), &mut z, true);
            }

            let (before, after) = work.cells.split_at_mut((t + 1) * state);
            let cell_tanh = &mut work.cell_tanh[t * state..(t + 1) * state];
            let states = (&before[t * state..], &mut after[..state], cell_tanh, h);
            cell_forward::<U>(gates, states);
        }
    }

    /// Copies the hidden states the layer outputs: all of them when `SEQ`, else the last.
    ///
    /// Buffers: `hidden` `[T + 1, batch, U]`, `output` `[batch, T, U]` or `[batch, U]`.
    fn write_output(&self, output: ArrayViewMut2<'_, f32>) {
        let batch = output.nrows();
        let state = batch * U;
        let first = if SEQ { 0 } else { T - 1 };
        with_reshaped(output, batch, Self::OUTPUT_LEN, |mut output| {
            let output = output.as_slice_mut().expect("standard layout");
            for t in first..T {
                let h = &self.work.hidden[(t + 1) * state..(t + 2) * state];
                let offset = (t - first) * U;
                let rows = output
                    .chunks_exact_mut(Self::OUTPUT_LEN)
                    .zip(h.chunks_exact(U));
                for (sample, h) in rows {
                    sample[offset..offset + U].copy_from_slice(h);
                }
            }
        });
    }

    /// Backpropagation through time, from the last step to the first. Leaves in `gates`
    /// the gradient of the loss with respect to every `z_t`.
    ///
    /// Buffers: `upstream` `[batch, T, U]` when `SEQ` else `[batch, U]`; `grad_hidden` and
    /// `grad_cell` `[batch, U]` carry the gradients of `h_t` and `c_t` from step `t + 1`;
    /// `mask` `[batch, U]` is the recurrent mask, which the recurrent path goes back
    /// through.
    fn back_through_time(&mut self, upstream: &[f32], batch: usize, mask: Option<&[f32]>) {
        let Self {
            recurrent_kernel,
            work,
            ..
        } = self;
        let recurrent = param_matrix(&recurrent_kernel.value, U, Self::GATES);
        let (state, block) = (batch * U, batch * Self::GATES);
        grow(&mut work.grad_hidden, state);
        grow(&mut work.grad_cell, state);
        let grad_hidden = &mut work.grad_hidden[..state];
        let grad_cell = &mut work.grad_cell[..state];
        grad_hidden.fill(0.0);
        grad_cell.fill(0.0);

        for t in (0..T).rev() {
            if SEQ || t == T - 1 {
                add_upstream::<U>(grad_hidden, upstream, if SEQ { t * U } else { 0 });
            }
            let gates = &mut work.gates[t * block..(t + 1) * block];
            let c_prev = &work.cells[t * state..(t + 1) * state];
            let cell_tanh = &work.cell_tanh[t * state..(t + 1) * state];
            cell_backward::<U>(gates, (c_prev, cell_tanh, &*grad_hidden, &mut *grad_cell));

            // dL/dh_{t-1} = dL/dz_t · recurrent_kernelᵀ; nothing precedes the first step.
            if t > 0 {
                let dz = ArrayView2::from_shape((batch, Self::GATES), &*gates).expect("batch × 4U");
                let mut dh =
                    ArrayViewMut2::from_shape((batch, U), &mut *grad_hidden).expect("batch × U");
                matmul(&dz, &recurrent.t(), &mut dh, false);
                if let Some(mask) = mask {
                    grad_hidden.iter_mut().zip(mask).for_each(|(g, &m)| *g *= m);
                }
            }
        }
    }

    /// Adds the parameter gradients, each summed over all steps in one product.
    ///
    /// Buffers, all `T·batch` rows: `gates` (the gradients `dz`) `[T·batch, 4U]`, `hidden`
    /// slots `0..T` (`h_{t-1}` for each step, or `masked_hidden` with recurrent dropout)
    /// `[T·batch, U]`, `inputs` `[T·batch, F]`.
    fn accumulate_param_grads(&mut self, batch: usize, recurrent_masked: bool) {
        let rows = T * batch;
        let work = &mut self.work;
        let h_prev = match recurrent_masked {
            true => &work.masked_hidden[..rows * U],
            false => &work.hidden[..rows * U],
        };
        let mut dz =
            ArrayViewMut2::from_shape((rows, Self::GATES), &mut work.gates[..rows * Self::GATES])
                .expect("T·batch × 4U");
        let h_prev = ArrayView2::from_shape((rows, U), h_prev).expect("T·batch × U");
        let inputs =
            ArrayView2::from_shape((rows, F), &work.inputs[..rows * F]).expect("T·batch × F");

        let mut recurrent_grad = grad_matrix(&mut self.recurrent_kernel.grad, U, Self::GATES);
        matmul(&h_prev.t(), &dz.view(), &mut recurrent_grad, true);
        let mut kernel_grad = grad_matrix(&mut self.kernel.grad, F, Self::GATES);
        matmul(&inputs.t(), &dz.view(), &mut kernel_grad, true);
        add_column_sums(&dz.view_mut(), &mut self.bias.grad);
    }

    /// `grad_input = dz · kernelᵀ`, computed for all steps at once and re-ordered from
    /// time-major to batch-major.
    ///
    /// With input dropout, the gradient goes back through the mask.
    ///
    /// Buffers: `gates` (`dz`) `[T·batch, 4U]`, `grad_inputs` `[T, batch, F]`,
    /// `grad_input` `[batch, T, F]`, `mask` `[batch, F]`.
    fn write_grad_input(&mut self, grad_input: ArrayViewMut2<'_, f32>, mask: Option<&[f32]>) {
        let batch = grad_input.nrows();
        let rows = T * batch;
        let kernel = param_matrix(&self.kernel.value, F, Self::GATES);
        let work = &mut self.work;
        let dz = ArrayView2::from_shape((rows, Self::GATES), &work.gates[..rows * Self::GATES])
            .expect("T·batch × 4U");
        grow(&mut work.grad_inputs, rows * F);
        let grad_inputs = &mut work.grad_inputs[..rows * F];
        let mut dx = ArrayViewMut2::from_shape((rows, F), &mut *grad_inputs).expect("T·batch × F");
        matmul(&dz, &kernel.t(), &mut dx, false);

        with_reshaped(grad_input, batch, T * F, |mut grad_input| {
            let grad_input = grad_input.as_slice_mut().expect("standard layout");
            for (t, block) in grad_inputs.chunks_exact(batch * F).enumerate() {
                let rows = grad_input
                    .chunks_exact_mut(T * F)
                    .zip(block.chunks_exact(F));
                for (b, (sample, step)) in rows.enumerate() {
                    let dx = &mut sample[t * F..(t + 1) * F];
                    match mask {
                        Some(mask) => dx
                            .iter_mut()
                            .zip(step.iter().zip(&mask[b * F..(b + 1) * F]))
                            .for_each(|(d, (&g, &m))| *d = g * m),
                        None => dx.copy_from_slice(step),
                    }
                }
            }
        });
    }
}

/// Adds each sample's upstream gradient for one step to the hidden-state gradient.
///
/// Buffers: `grad_hidden` `[batch, U]`; `upstream` `[batch, width]`, of which columns
/// `offset..offset + U` belong to the step.
fn add_upstream<const U: usize>(grad_hidden: &mut [f32], upstream: &[f32], offset: usize) {
    let width = upstream.len() / (grad_hidden.len() / U);
    let rows = grad_hidden
        .chunks_exact_mut(U)
        .zip(upstream.chunks_exact(width));
    for (dh, sample) in rows {
        dh.iter_mut()
            .zip(&sample[offset..offset + U])
            .for_each(|(dh, &g)| *dh += g);
    }
}

/// The states one forward step reads and writes, each `[batch, U]`: `c_{t-1}`, `c_t`,
/// `tanh(c_t)` and `h_t`.
type StepStates<'a> = (&'a [f32], &'a mut [f32], &'a mut [f32], &'a mut [f32]);

/// Applies the gate nonlinearities in place on `gates` (`[batch, 4U]`, the blocks
/// `z_i, z_f, z_c, z_o` of each sample) and computes the step's new states.
///
/// Uses 16-wide AVX-512 or 8-wide AVX2 vectors when the processor has them: the five
/// exponentials per unit took a third of a training step at the 4-wide baseline the
/// crate is compiled for.
#[inline(never)]
fn cell_forward<const U: usize>(gates: &mut [f32], states: StepStates<'_>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected;
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor supports AVX-512F, checked just above.
            return unsafe { cell_forward_avx512::<U>(gates, states) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { cell_forward_avx2::<U>(gates, states) };
        }
    }
    cell_forward_body::<U>(gates, states);
}

/// [`cell_forward_body`] compiled for AVX-512F.
///
/// # Safety
/// The processor must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn cell_forward_avx512<const U: usize>(gates: &mut [f32], states: StepStates<'_>) {
    cell_forward_body::<U>(gates, states);
}

/// [`cell_forward_body`] compiled for AVX2.
///
/// # Safety
/// The processor must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn cell_forward_avx2<const U: usize>(gates: &mut [f32], states: StepStates<'_>) {
    cell_forward_body::<U>(gates, states);
}

/// The loop of [`cell_forward`], inlined into each instruction-set variant. None of them
/// is inlined into the recurrence, where losing the slices' no-alias guarantee kept the
/// loop scalar.
#[inline(always)]
fn cell_forward_body<const U: usize>(gates: &mut [f32], states: StepStates<'_>) {
    let (c_prev, c, cell_tanh, h) = states;
    let rows = gates
        .chunks_exact_mut(4 * U)
        .zip(c_prev.chunks_exact(U))
        .zip(c.chunks_exact_mut(U))
        .zip(cell_tanh.chunks_exact_mut(U))
        .zip(h.chunks_exact_mut(U));
    for ((((z, c_prev), c), cell_tanh), h) in rows {
        let (i, rest) = z.split_at_mut(U);
        let (f, rest) = rest.split_at_mut(U);
        let (g, o) = rest.split_at_mut(U);
        // Every slice re-cut to exactly `U` values: the indices below are then provably in
        // bounds, and the loop vectorises (a zip of these eight slices did not).
        let (o, c_prev, c) = (&mut o[..U], &c_prev[..U], &mut c[..U]);
        let (cell_tanh, h) = (&mut cell_tanh[..U], &mut h[..U]);
        for u in 0..U {
            i[u] = sigmoid(i[u]);
            f[u] = sigmoid(f[u]);
            g[u] = tanh(g[u]);
            o[u] = sigmoid(o[u]);
            c[u] = f[u] * c_prev[u] + i[u] * g[u];
            cell_tanh[u] = tanh(c[u]);
            h[u] = o[u] * cell_tanh[u];
        }
    }
}

/// The states one backward step reads, and the cell gradient it carries, each
/// `[batch, U]`: `c_{t-1}`, `tanh(c_t)`, `dL/dh_t` (all paths), and `dL/dc_t` from step
/// `t + 1` on entry, `dL/dc_{t-1}` on return.
type StepGrads<'a> = (&'a [f32], &'a [f32], &'a [f32], &'a mut [f32]);

/// Turns the activated gates of one step (`[batch, 4U]`) into the gradients of their
/// pre-activations, in place, and carries the cell gradient one step back.
///
/// With `dc = dL/dc_t` from later steps plus the path through `h_t`:
/// `dc = dc_next + dh ⊙ o ⊙ (1 − tanh²c_t)`, and then `dz_i = dc ⊙ g ⊙ i(1 − i)`,
/// `dz_f = dc ⊙ c_{t-1} ⊙ f(1 − f)`, `dz_c = dc ⊙ i ⊙ (1 − g²)`,
/// `dz_o = dh ⊙ tanh(c_t) ⊙ o(1 − o)` and `dL/dc_{t-1} = dc ⊙ f`.
#[inline(never)]
fn cell_backward<const U: usize>(gates: &mut [f32], grads: StepGrads<'_>) {
    let (c_prev, cell_tanh, grad_hidden, grad_cell) = grads;
    let rows = gates
        .chunks_exact_mut(4 * U)
        .zip(c_prev.chunks_exact(U))
        .zip(cell_tanh.chunks_exact(U))
        .zip(grad_hidden.chunks_exact(U))
        .zip(grad_cell.chunks_exact_mut(U));
    for ((((z, c_prev), cell_tanh), grad_hidden), grad_cell) in rows {
        let (i, rest) = z.split_at_mut(U);
        let (f, rest) = rest.split_at_mut(U);
        let (g, o) = rest.split_at_mut(U);
        // Cut to exactly `U` values for bounds-check-free, vectorised indexing.
        let (o, c_prev, tc) = (&mut o[..U], &c_prev[..U], &cell_tanh[..U]);
        let (dh, dc_next) = (&grad_hidden[..U], &mut grad_cell[..U]);
        for u in 0..U {
            let (iv, fv, gv, ov) = (i[u], f[u], g[u], o[u]);
            let dc = dc_next[u] + dh[u] * ov * (1.0 - tc[u] * tc[u]);
            i[u] = dc * gv * iv * (1.0 - iv);
            f[u] = dc * c_prev[u] * fv * (1.0 - fv);
            g[u] = dc * iv * (1.0 - gv * gv);
            o[u] = dh[u] * tc[u] * ov * (1.0 - ov);
            dc_next[u] = dc * fv;
        }
    }
}

/// The logistic sigmoid `1 / (1 + e^-z)`.
#[inline(always)]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// `tanh z`, as `1 − 2 / (1 + e^{2z})`, which stays finite for any `z`. Near zero the
/// subtraction leaves an absolute error of about 1e-7 rather than a relative one.
#[inline(always)]
fn tanh(z: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp(2.0 * z))
}

/// `e^x` without branches or calls, so that the gate loops vectorise; the platform's
/// `expf` is a scalar call that would keep them one value at a time.
///
/// `x` is clamped to `[-87, 88]`, where `e^x` stays a normal `f32`; that is harmless for
/// the gates, which saturate long before. The argument is split as `x = n·ln 2 + r` with
/// `n` an integer and `|r| ≤ ln 2 / 2`; `e^r` is its Taylor polynomial of degree 7
/// (truncation error below 1e-8 relative), and `2^n` is built in the exponent bits.
/// A NaN argument gives NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding 1.5·2²³ rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // ln 2 in two parts, so that n·LN2_HIGH is exact and r keeps its low bits.
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_to_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    p * two_to_n
}

impl<const T: usize, const F: usize, const U: usize, const SEQ: bool> Layer for Lstm<T, F, U, SEQ> {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "LSTM"
    }

    fn input_dims(&self) -> &'static [usize] {
        Self::INPUT_DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Self::OUTPUT_DIMS
    }

    /// True when input or recurrent dropout is on.
    fn is_stochastic(&self) -> bool {
        self.dropout.is_on()
    }

    fn reseed_monte_carlo(&mut self, seed: u64) {
        self.dropout.reseed_monte_carlo(seed);
    }

    /// Runs the sequence from zero states and writes every `h_t` (when `SEQ`) or the
    /// last. `pass.logits` has no effect (the layer has no output activation). Training
    /// passes draw new dropout masks and Monte Carlo passes their own; inference uses none.
    ///
    /// # Shapes
    /// - `input`: `[batch, T·F]`, each row a sample's steps in order
    /// - `output`: `[batch, T·U]` (step-major) when `SEQ`, else `[batch, U]`
    fn forward(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>, pass: Pass) {
        check_width(self.name, "input", input.ncols(), T * F);
        check_width(self.name, "output", output.ncols(), Self::OUTPUT_LEN);
        assert_eq!(
            input.nrows(),
            output.nrows(),
            "input and output batch sizes"
        );
        if input.nrows() == 0 {
            return;
        }

        let masks = self.dropout.take::<F, U>(pass.mode, input.nrows(), true);
        self.run(&input, &masks);
        self.dropout.give_back(pass.mode, masks);
        self.write_output(output);
        self.cached_batch = (pass.mode == Mode::Train).then_some(input.nrows());
    }

    /// Full backpropagation through time: the gradient reaches every step through the
    /// states, and also directly at each step when `SEQ`. Adds the gradients of `kernel`,
    /// `recurrent_kernel` and `bias`, and writes `grad_input` unless `None`.
    ///
    /// Uses the states of the last training forward of this batch size, or runs the
    /// forward again when there is none (with the last training masks when they are of
    /// this batch size, else new ones).
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, T·F]`
    /// - `output`, `grad_output`: `[batch, T·U]` when `SEQ`, else `[batch, U]`
    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        _output: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        _pass: Pass,
    ) {
        let batch = input.nrows();
        check_width(self.name, "input", input.ncols(), T * F);
        check_width(
            self.name,
            "grad_output",
            grad_output.ncols(),
            Self::OUTPUT_LEN,
        );
        if batch == 0 {
            return;
        }
        let masks = self.dropout.take::<F, U>(Mode::Train, batch, false);
        if self.cached_batch != Some(batch) {
            self.run(&input, &masks);
        }
        // The gate buffer now turns into gradients, so the states are used up.
        self.cached_batch = None;

        let grad_output = grad_output.view();
        self.back_through_time(&row_major(&grad_output), batch, masks.recurrent());
        self.accumulate_param_grads(batch, masks.recurrent().is_some());
        if let Some(grad_input) = grad_input {
            check_width(self.name, "grad_input", grad_input.ncols(), T * F);
            self.write_grad_input(grad_input, masks.input());
        }
        self.dropout.give_back(Mode::Train, masks);
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.kernel, &self.recurrent_kernel, &self.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.kernel, &mut self.recurrent_kernel, &mut self.bias]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use ndarray::{array, Array2, ArrayD, IxDyn};

    /// Sets a parameter from row-major values.
    fn set(param: &mut Param, values: &[f32]) {
        param.value = ArrayD::from_shape_vec(IxDyn(param.value.shape()), values.to_vec())
            .expect("as many values as the parameter has");
    }

    /// Spreads the bias so every gate block differs, as after some training.
    fn spread_bias(layer: &mut dyn Layer) {
        let bias = &mut layer.params_mut()[2].value;
        bias.iter_mut()
            .enumerate()
            .for_each(|(j, b)| *b = 0.3 * ((j * 5) % 7) as f32 / 7.0 - 0.1);
    }

    fn infer(layer: &mut dyn Layer, input: &Array2<f32>) -> Array2<f32> {
        let mut output = Array2::zeros((input.nrows(), layer.output_len()));
        layer.forward(input.view(), output.view_mut(), Pass::new(Mode::Infer));
        output
    }

    /// The Keras reference: Keras 3.15 (TensorFlow 2.21), `LSTM(2, return_sequences=...)`
    /// built for `(None, 3, 2)`, `set_weights([kernel, recurrent, bias])` with the values
    /// below, called on `x`; its outputs printed as float64.
    #[test]
    fn matches_keras_on_fixed_weights() {
        let kernel = [
            [0.5, -0.3, 0.8, 0.1, -0.6, 0.4, 0.2, -0.7],
            [-0.2, 0.6, -0.4, 0.9, 0.3, -0.8, 0.5, 0.05],
        ];
        let recurrent = [
            [0.3, -0.5, 0.2, 0.7, -0.1, 0.6, -0.4, 0.25],
            [-0.6, 0.15, 0.45, -0.35, 0.55, -0.2, 0.1, 0.4],
        ];
        let bias = [0.1, -0.2, 1.0, 0.9, 0.05, -0.15, 0.3, -0.1];
        // Two samples of three steps of two features, `[batch, T·F]`.
        let x = array![
            [1.0, -0.5, 0.3, 0.8, -1.2, 0.4],
            [-0.7, 0.2, 0.9, -1.1, 0.6, 0.6]
        ];
        let keras = array![
            [
                -0.21543857,
                0.05344485,
                -0.14349534,
                -0.10054877,
                0.08963438,
                -0.37999472
            ],
            [
                0.11564151,
                -0.16457286,
                -0.14955655,
                0.01213156,
                -0.20992059,
                -0.07293531
            ]
        ];

        let mut sequences = Lstm::<3, 2, 2, true>::new("lstm", 0);
        let mut last = Lstm::<3, 2, 2, false>::new("lstm_1", 0);
        for layer in [&mut sequences as &mut dyn Layer, &mut last] {
            let mut params = layer.params_mut();
            set(params[0], kernel.as_flattened());
            set(params[1], recurrent.as_flattened());
            set(params[2], &bias);
        }

        let all = infer(&mut sequences, &x);
        let final_step = infer(&mut last, &x);

        for (got, want) in all.iter().zip(&keras) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert_eq!(final_step, all.slice(ndarray::s![.., 4..]));
    }

    /// The LSTM equations step by step in f64 for one sample, straight from the
    /// parameters in Keras's layout; returns every `h_t`, `[T·U]`.
    fn reference(layer: &dyn Layer, sample: &[f32], features: usize, units: usize) -> Vec<f64> {
        reference_masked(layer, sample, (features, units), (&[], &[]))
    }

    /// [`reference`] with variational masks `(m_x [F], m_h [U])` multiplying `x_t` and
    /// `h_{t-1}` at every step; an empty mask is none.
    fn reference_masked(
        layer: &dyn Layer,
        sample: &[f32],
        (features, units): (usize, usize),
        (mx, mh): (&[f32], &[f32]),
    ) -> Vec<f64> {
        let x_mask = |f: usize| mx.get(f).map_or(1.0, |&m| f64::from(m));
        let h_mask = |u: usize| mh.get(u).map_or(1.0, |&m| f64::from(m));
        let params = layer.params();
        let value = |p: usize, i: usize| f64::from(params[p].value.as_slice().expect("flat")[i]);
        let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
        let (mut h, mut c) = (vec![0.0; units], vec![0.0; units]);
        let mut outputs = Vec::new();

        for x in sample.chunks(features) {
            // z[j] = Σ_f x[f]·kernel[f, j] + Σ_u h[u]·recurrent[u, j] + bias[j]
            let z: Vec<f64> = (0..4 * units)
                .map(|j| {
                    let from_x: f64 = (0..features)
                        .map(|f| f64::from(x[f]) * x_mask(f) * value(0, f * 4 * units + j))
                        .sum();
                    let from_h: f64 = (0..units)
                        .map(|u| h[u] * h_mask(u) * value(1, u * 4 * units + j))
                        .sum();
                    from_x + from_h + value(2, j)
                })
                .collect();
            for u in 0..units {
                let i = sigmoid(z[u]);
                let f = sigmoid(z[units + u]);
                let g = z[2 * units + u].tanh();
                let o = sigmoid(z[3 * units + u]);
                c[u] = f * c[u] + i * g;
                h[u] = o * c[u].tanh();
            }
            outputs.extend(&h);
        }
        outputs
    }

    #[test]
    fn matches_a_step_by_step_reference_in_f64() {
        let mut layer = Lstm::<5, 3, 4, true>::new("lstm", 9);
        spread_bias(&mut layer);
        let input = random_input(3, 15, 2).mapv(|v| 2.0 * v);

        let output = infer(&mut layer, &input);

        for (row, sample) in output.rows().into_iter().zip(input.rows()) {
            let expected = reference(&layer, sample.as_slice().expect("row"), 3, 4);
            for (got, want) in row.iter().zip(&expected) {
                assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
            }
        }
    }

    fn gradients_match(layer: &mut dyn Layer, batch: usize) {
        spread_bias(layer);
        let input = random_input(batch, layer.input_len(), 5);
        let report = check(layer, input.view(), &Options::default());

        assert!(report.worst_relative_error < 1e-2, "{report}");
        assert_eq!(report.skipped, 0, "{report}");
        assert!(report.checked > layer.input_len(), "{report}");
    }

    #[test]
    fn gradients_match_finite_differences_with_and_without_sequences() {
        gradients_match(&mut Lstm::<4, 3, 3, true>::new("lstm", 1), 2);
        gradients_match(&mut Lstm::<4, 3, 3, false>::new("lstm", 1), 2);
    }

    #[test]
    fn gradients_match_finite_differences_for_one_step() {
        gradients_match(&mut Lstm::<1, 2, 3, true>::new("lstm", 2), 3);
        gradients_match(&mut Lstm::<1, 2, 3, false>::new("lstm", 2), 3);
    }

    /// Two layers run as one, so that a gradient check covers the first layer's
    /// parameters through the second.
    struct Stacked<A, B> {
        first: A,
        second: B,
        /// The first layer's output and its gradient, `[batch, first.output_len()]`.
        middle: Array2<f32>,
        grad_middle: Array2<f32>,
    }

    impl<A: Layer, B: Layer> Layer for Stacked<A, B> {
        fn name(&self) -> &str {
            "stacked"
        }
        fn kind(&self) -> &'static str {
            "Stacked"
        }
        fn input_dims(&self) -> &'static [usize] {
            self.first.input_dims()
        }
        fn output_dims(&self) -> &'static [usize] {
            self.second.output_dims()
        }
        fn forward(
            &mut self,
            input: ArrayView2<'_, f32>,
            output: ArrayViewMut2<'_, f32>,
            pass: Pass,
        ) {
            self.middle = Array2::zeros((input.nrows(), self.first.output_len()));
            self.first.forward(input, self.middle.view_mut(), pass);
            self.second.forward(self.middle.view(), output, pass);
        }
        fn backward(
            &mut self,
            input: ArrayView2<'_, f32>,
            output: ArrayView2<'_, f32>,
            grad_output: ArrayViewMut2<'_, f32>,
            grad_input: Option<ArrayViewMut2<'_, f32>>,
            pass: Pass,
        ) {
            self.grad_middle = Array2::zeros(self.middle.raw_dim());
            let grad_middle = Some(self.grad_middle.view_mut());
            let middle = self.middle.view();
            self.second
                .backward(middle, output, grad_output, grad_middle, pass);
            let grad_middle = self.grad_middle.view_mut();
            self.first
                .backward(input, middle, grad_middle, grad_input, pass);
        }
        fn params(&self) -> Vec<&Param> {
            let mut params = self.first.params();
            params.extend(self.second.params());
            params
        }
        fn params_mut(&mut self) -> Vec<&mut Param> {
            let mut params = self.first.params_mut();
            params.extend(self.second.params_mut());
            params
        }
    }

    #[test]
    fn gradients_match_finite_differences_through_a_stack() {
        let mut first = Lstm::<4, 2, 3, true>::new("lstm", 3);
        spread_bias(&mut first);
        let mut stacked = Stacked {
            first,
            second: Lstm::<4, 3, 2, false>::new("lstm_1", 3),
            middle: Array2::zeros((0, 0)),
            grad_middle: Array2::zeros((0, 0)),
        };
        let input = random_input(2, 8, 6);

        let report = check(&mut stacked, input.view(), &Options::default());

        assert!(report.worst_relative_error < 1e-2, "{report}");
        // The input, then kernel, recurrent kernel and bias of both layers, all compared.
        assert_eq!(
            report.checked,
            16 + (2 + 3 + 1) * 12 + (3 + 2 + 1) * 8,
            "{report}"
        );
    }

    #[test]
    fn initialises_like_keras() {
        let layer = Lstm::<52, 1, 64, true>::new("lstm", 42);
        let [kernel, recurrent, bias] = [0, 1, 2].map(|p| &layer.params()[p].value);
        let limit = (6.0_f64 / (1.0 + 256.0)).sqrt() as f32;

        assert!(kernel.iter().all(|v| v.abs() <= limit));
        assert!(kernel.iter().any(|v| v.abs() > 0.9 * limit));
        // Orthonormal rows: R·Rᵀ = I for the [64, 256] recurrent kernel.
        let r = recurrent
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .expect("rank 2")
            .mapv(f64::from);
        let gram = r.dot(&r.t()) - Array2::<f64>::eye(64);
        assert!(gram.iter().all(|e| e.abs() < 1e-5));
        // Ones exactly on the forget gate's block [64, 128).
        for (j, &b) in bias.iter().enumerate() {
            assert_eq!(
                b,
                if (64..128).contains(&j) { 1.0 } else { 0.0 },
                "bias[{j}]"
            );
        }
        assert_eq!(
            Lstm::<52, 1, 64, true>::new("lstm", 42).kernel,
            layer.kernel
        );
        assert_ne!(
            Lstm::<52, 1, 64, true>::new("lstm_1", 42).kernel,
            layer.kernel
        );
    }

    #[test]
    fn describes_itself_like_keras() {
        let first = Lstm::<52, 1, 64, true>::new("lstm", 0);
        let second = Lstm::<52, 64, 32, false>::new("lstm_1", 0);
        let names: Vec<_> = first.params().iter().map(|p| p.name).collect();
        let shapes: Vec<_> = second
            .params()
            .iter()
            .map(|p| p.value.shape().to_vec())
            .collect();

        assert_eq!(first.kind(), "LSTM");
        assert_eq!(names, ["kernel", "recurrent_kernel", "bias"]);
        assert_eq!(shapes, [vec![64, 128], vec![32, 128], vec![128]]);
        assert_eq!(
            (first.input_dims(), first.output_dims()),
            (&[52, 1][..], &[52, 64][..])
        );
        assert_eq!(second.output_dims(), &[32]);
        // Keras's summary: 4·64·(1 + 64 + 1) = 16,896 and 4·32·(64 + 32 + 1) = 12,416.
        assert_eq!(first.param_count(), 16_896);
        assert_eq!(second.param_count(), 12_416);
        assert_eq!(Lstm::<52, 64, 32, false>::PARAM_COUNT, 12_416);
    }

    #[test]
    fn batch_sizes_can_change_and_backward_can_follow_any_forward() {
        let mut layer = Lstm::<3, 2, 3, true>::new("lstm", 4);
        spread_bias(&mut layer);
        let input = random_input(4, 6, 7);
        let grad = random_input(4, 9, 8);
        let train = Pass::new(Mode::Train);

        // Gradients after a matching training forward…
        let big = infer(&mut layer, &input);
        let mut output = Array2::zeros((1, 9));
        let first = input.slice(ndarray::s![..1, ..]);
        layer.forward(first, output.view_mut(), train);
        let mut grad_input = Array2::zeros((1, 6));
        let grad_output = grad.slice(ndarray::s![..1, ..]).to_owned();
        layer.backward(
            first,
            output.view(),
            grad_output.clone().view_mut(),
            Some(grad_input.view_mut()),
            train,
        );
        let kernel_grad = layer.kernel.grad.clone();

        // …equal those after an inference forward of another batch, which runs it again.
        layer.kernel.grad.fill(0.0);
        infer(&mut layer, &input);
        let mut again = Array2::zeros((1, 6));
        layer.backward(
            first,
            output.view(),
            grad_output.clone().view_mut(),
            Some(again.view_mut()),
            train,
        );

        assert_eq!(output.row(0), big.row(0));
        assert_eq!(again, grad_input);
        assert_eq!(layer.kernel.grad, kernel_grad);
        assert!(kernel_grad.iter().any(|&g| g != 0.0));
    }

    #[test]
    fn an_empty_batch_is_a_no_op() {
        let mut layer = Lstm::<3, 2, 4, false>::new("lstm", 0);
        let (input, mut output) = (Array2::zeros((0, 6)), Array2::zeros((0, 4)));
        let mut grad_input = Array2::zeros((0, 6));
        let train = Pass::new(Mode::Train);

        layer.forward(input.view(), output.view_mut(), train);
        let grad_output = output.clone();
        layer.backward(
            input.view(),
            output.view(),
            grad_output.clone().view_mut(),
            Some(grad_input.view_mut()),
            train,
        );

        assert!(layer
            .params()
            .iter()
            .all(|p| p.grad.iter().all(|&g| g == 0.0)));
    }

    #[test]
    fn every_instruction_set_variant_computes_the_same_bits() {
        const U: usize = 20;
        let batch = 3;
        let gates = random_input(batch, 4 * U, 11).mapv(|v| 4.0 * v);
        let c_prev = random_input(batch, U, 12);
        let run = |variant: &dyn Fn(&mut [f32], StepStates<'_>)| {
            let mut gates = gates.clone().into_raw_vec_and_offset().0;
            let (mut c, mut tc, mut h) = (
                vec![0.0; batch * U],
                vec![0.0; batch * U],
                vec![0.0; batch * U],
            );
            let c_prev = c_prev.as_slice().expect("contiguous");
            variant(&mut gates, (c_prev, &mut c, &mut tc, &mut h));
            [gates, c, tc, h]
        };

        let portable = run(&|g, s| cell_forward_body::<U>(g, s));

        assert_eq!(run(&|g, s| cell_forward::<U>(g, s)), portable);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is available, checked just above.
                assert_eq!(
                    run(&|g, s| unsafe { cell_forward_avx2::<U>(g, s) }),
                    portable
                );
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F is available, checked just above.
                assert_eq!(
                    run(&|g, s| unsafe { cell_forward_avx512::<U>(g, s) }),
                    portable
                );
            }
        }
    }

    #[test]
    fn fast_exponential_and_gates_match_f64() {
        for k in -2000..=2000 {
            let x = k as f32 * 0.05;
            let exact = f64::from(x).exp();
            if x.abs() < 87.0 {
                let relative = (f64::from(exp(x)) - exact).abs() / exact;
                assert!(relative < 4e-7, "exp({x}): {} vs {exact}", exp(x));
            }
            let exact_sigmoid = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!(
                (f64::from(sigmoid(x)) - exact_sigmoid).abs() < 2e-7,
                "sigmoid({x})"
            );
            assert!(
                (f64::from(tanh(x)) - f64::from(x).tanh()).abs() < 2e-7,
                "tanh({x})"
            );
        }
        assert!(sigmoid(-1e4) < 1e-30 && sigmoid(1e4) == 1.0);
        assert!(exp(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
        assert_eq!((tanh(-1e4), tanh(1e4)), (-1.0, 1.0));
    }

    fn train(layer: &mut dyn Layer, input: &Array2<f32>) -> Array2<f32> {
        let mut output = Array2::zeros((input.nrows(), layer.output_len()));
        layer.forward(input.view(), output.view_mut(), Pass::new(Mode::Train));
        output
    }

    #[test]
    fn dropout_masks_match_a_reference_that_reuses_them_at_every_step() {
        let mut layer = Lstm::<6, 5, 40, true>::new("lstm", 3).with_dropout(0.4, 0.3);
        spread_bias(&mut layer);
        let input = random_input(3, 30, 2).mapv(|v| 2.0 * v);

        let output = train(&mut layer, &input);
        let masks = layer.dropout.take::<5, 40>(Mode::Train, 3, false);

        for (b, (row, sample)) in output.rows().into_iter().zip(input.rows()).enumerate() {
            let (mx, mh) = (&masks.input[b * 5..][..5], &masks.recurrent[b * 40..][..40]);
            let sample = sample.as_slice().expect("row");
            let expected = reference_masked(&layer, sample, (5, 40), (mx, mh));
            for (got, want) in row.iter().zip(&expected) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
            }
        }
        // Inverted scaling, masks that drop something, and masks that differ by sample.
        let scale_x = (1.0 / 0.6_f64) as f32;
        assert!(masks.input.iter().all(|&m| m == 0.0 || m == scale_x));
        assert!(masks.recurrent.contains(&0.0) && masks.input.contains(&0.0));
        assert_ne!(masks.recurrent[..40], masks.recurrent[40..80]);
    }

    #[test]
    fn the_same_masks_serve_every_step_of_a_sequence() {
        let mut layer = Lstm::<5, 8, 16, true>::new("lstm", 1).with_dropout(0.5, 0.5);
        train(&mut layer, &Array2::ones((2, 40)));
        let (state, work) = (2 * 16, &layer.work);

        // The time-major input copy holds x ⊙ m_x: all ones, so it shows m_x at each step.
        let first = &work.inputs[..16];
        for t in 1..5 {
            assert_eq!(&work.inputs[t * 16..(t + 1) * 16], first);
        }
        // masked_hidden holds h_{t-1} ⊙ m_h; the zeros sit where m_h is 0, at every step.
        let dropped = |t: usize| -> Vec<bool> {
            work.masked_hidden[t * state..(t + 1) * state]
                .iter()
                .map(|&v| v == 0.0)
                .collect()
        };
        assert!(dropped(1).contains(&true) && dropped(1).contains(&false));
        for t in 2..5 {
            assert_eq!(dropped(t), dropped(1));
        }
    }

    #[test]
    fn gradients_match_finite_differences_with_frozen_dropout_masks() {
        let mut sequences = Lstm::<4, 3, 5, true>::new("lstm", 1).with_dropout(0.3, 0.4);
        sequences.freeze_dropout_masks(true);
        gradients_match(&mut sequences, 3);
        let mut last = Lstm::<4, 3, 5, false>::new("lstm", 1).with_dropout(0.3, 0.4);
        last.freeze_dropout_masks(true);
        gradients_match(&mut last, 3);
    }

    #[test]
    fn gradient_check_notices_dropout_masks_that_change() {
        let mut layer = Lstm::<4, 3, 5, true>::new("lstm", 1).with_dropout(0.3, 0.4);
        let input = random_input(3, 12, 5);
        let report = check(&mut layer, input.view(), &Options::default());
        assert_eq!(report.worst_relative_error, f64::INFINITY, "{report}");
    }

    #[test]
    fn inference_ignores_dropout_and_monte_carlo_reseeds_without_touching_training() {
        let input = random_input(3, 12, 4);
        let mut plain = Lstm::<4, 3, 5, false>::new("lstm", 2);
        let mut dropped = Lstm::<4, 3, 5, false>::new("lstm", 2).with_dropout(0.3, 0.3);
        let mut reference = dropped.clone();
        let mc = Pass::new(Mode::MonteCarlo);
        let sample = |layer: &mut dyn Layer| {
            let mut output = Array2::zeros((3, 5));
            layer.forward(input.view(), output.view_mut(), mc);
            output
        };

        assert_eq!(infer(&mut dropped, &input), infer(&mut plain, &input));
        dropped.reseed_monte_carlo(7);
        let first = sample(&mut dropped);
        dropped.reseed_monte_carlo(7);
        assert_eq!(sample(&mut dropped), first);
        assert_ne!(sample(&mut dropped), first);
        assert_ne!(first, infer(&mut plain, &input));
        assert_eq!(train(&mut dropped, &input), train(&mut reference, &input));
        assert!(dropped.is_stochastic() && !plain.is_stochastic());
        assert_eq!(dropped.dropout_rates(), (0.3, 0.3));
    }

    #[test]
    fn dropout_rates_outside_zero_to_one_are_refused() {
        for (d, r) in [(1.0, 0.0), (0.0, 1.0), (-0.1, 0.2), (0.2, f32::NAN)] {
            let error = Lstm::<2, 1, 2, false>::new("lstm", 0)
                .try_with_dropout(d, r)
                .unwrap_err();
            assert!(error.to_string().contains("rate"), "{error}");
        }
    }
}
