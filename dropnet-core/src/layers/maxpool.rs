//! 2-D max pooling, channels-last, valid padding.

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::vector::vectorized;
use super::{check_width, row_major, with_reshaped};
use crate::layer::{Layer, Mode, Param, Pass};

/// Output size of a valid max pooling along one axis: `(input − pool) / stride + 1`,
/// rounded down, as Keras computes it (0 when the window does not fit). The stride must be
/// positive.
pub const fn pool_output_size(input: usize, pool: usize, stride: usize) -> usize {
    if pool > input {
        0
    } else {
        (input - pool) / stride + 1
    }
}

/// Max pooling over `P`×`P` windows moved by stride `S`, like Keras's `MaxPooling2D` with
/// `padding="valid"`.
///
/// Type parameters: input height `H`, width `W`, channels `C`, pool size `P`, stride `S`.
/// Output `[out_h, out_w, C]` with sizes from [`pool_output_size`]; input rows and columns
/// past the last full window are ignored, as in Keras.
///
/// `output[b, i, j, c] = max over (p, q) < (P, P) of input[b, i·S + p, j·S + q, c]`. When
/// several values tie for the maximum, the first in row-major window order receives the
/// gradient. NaN inputs are skipped by the maximum (as `f32::max` does). No parameters.
///
/// The type parameters fix the shapes for the compiler; the work is done by code that
/// takes the sizes as values and is compiled once in this crate, so a model with new
/// shapes adds almost nothing to its crate's build time.
#[derive(Debug, Clone)]
pub struct MaxPool2d<const H: usize, const W: usize, const C: usize, const P: usize, const S: usize>
{
    engine: Engine,
}

/// Channels whose running maxima a window keeps in registers at once: two AVX2 vectors or
/// one AVX-512 vector.
const POOL_LANES: usize = 16;

/// Values a thread takes at least, so that small maps are not split into tasks that cost
/// more to schedule than to compute.
const MIN_TASK_VALUES: usize = 1 << 14;

/// What a max pooling computes, with every size a value: the work of [`MaxPool2d`],
/// whatever its type parameters. Its functions are not generic, so they are compiled once
/// in this crate rather than again for every layer shape in every crate declaring a model.
#[derive(Debug, Clone, Copy)]
struct Pool {
    height: usize,
    width: usize,
    channels: usize,
    pool: usize,
    stride: usize,
    out_h: usize,
    out_w: usize,
}

impl Pool {
    /// Values in one input sample, `H·W·C`.
    fn in_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Values in one output sample, `out_h·out_w·C`.
    fn out_len(&self) -> usize {
        self.out_h * self.out_w * self.channels
    }

    /// Samples a thread takes at least (see [`MIN_TASK_VALUES`]).
    fn min_samples(&self) -> usize {
        (MIN_TASK_VALUES / self.in_len()).max(1)
    }

    /// True when the windows neither overlap nor leave gaps between them (pool size equal to
    /// the stride): each input value lies in at most one window.
    fn tiled(&self) -> bool {
        self.pool == self.stride
    }

    /// True when, moreover, the windows cover every input value (no rows or columns left
    /// past the last window).
    fn covered(&self) -> bool {
        self.tiled()
            && self.out_h * self.pool == self.height
            && self.out_w * self.pool == self.width
    }

    /// Pools `input` into `output` and, when `argmax` is given, records each winner.
    /// Samples are independent, so groups of them run on rayon's threads.
    ///
    /// Buffers (row-major): `input` `[batch, H, W, C]`, `output` and `argmax`
    /// `[batch, out_h, out_w, C]`.
    fn pool(&self, input: &[f32], output: &mut [f32], argmax: Option<&mut [u32]>) {
        let (in_len, out_len, min) = (self.in_len(), self.out_len(), self.min_samples());
        let outputs = output.par_chunks_mut(out_len).with_min_len(min);
        let samples = input.par_chunks(in_len).with_min_len(min);
        match argmax {
            // Each sample's loops run compiled for the best vector instructions the processor
            // has (maxima and comparisons are exact, so every level gives the same bits).
            Some(argmax) => outputs
                .zip(samples)
                .zip(argmax.par_chunks_mut(out_len))
                .for_each(|((out, sample), winners)| {
                    vectorized(
                        #[inline(always)]
                        || self.pool_sample(sample, out, Some(winners)),
                    )
                }),
            None => outputs.zip(samples).for_each(|(out, sample)| {
                vectorized(
                    #[inline(always)]
                    || self.pool_sample(sample, out, None),
                )
            }),
        }
    }

    /// Pools one sample (`[H, W, C]`) into `output` (`[out_h, out_w, C]`), recording each
    /// winner's index within the sample into `winners` when given.
    #[inline(always)]
    fn pool_sample(&self, sample: &[f32], output: &mut [f32], mut winners: Option<&mut [u32]>) {
        // The channel counts layers most often have get loops of their own, whose maxima
        // of a whole window stay in registers.
        match self.channels {
            16 => return self.pool_sample_fixed::<16>(sample, output, winners),
            32 => return self.pool_sample_fixed::<32>(sample, output, winners),
            64 => return self.pool_sample_fixed::<64>(sample, output, winners),
            _ => {}
        }
        let c = self.channels;
        for (pos, best) in output.chunks_exact_mut(c).enumerate() {
            let (oh, ow) = (pos / self.out_w, pos % self.out_w);
            let corner = (oh * self.stride * self.width + ow * self.stride) * c;
            for start in (0..c).step_by(POOL_LANES) {
                let best = &mut best[start..c.min(start + POOL_LANES)];
                let corner = corner + start;
                match winners.as_deref_mut() {
                    Some(w) => {
                        let w = &mut w[pos * c + start..][..best.len()];
                        match <&mut [f32; POOL_LANES]>::try_from(&mut *best) {
                            Ok(best) => self.window_argmax_group(sample, corner, best, w),
                            Err(_) => self.window_argmax_tail(sample, corner, best, w),
                        }
                    }
                    None => match <&mut [f32; POOL_LANES]>::try_from(&mut *best) {
                        Ok(best) => self.window_max_group(sample, corner, best),
                        Err(_) => self.window_max_tail(sample, corner, best),
                    },
                }
            }
        }
    }

    /// [`Pool::pool_sample`] for `C` channels, a constant.
    #[inline(always)]
    fn pool_sample_fixed<const C: usize>(
        &self,
        sample: &[f32],
        output: &mut [f32],
        mut winners: Option<&mut [u32]>,
    ) {
        for (pos, best) in output.chunks_exact_mut(C).enumerate() {
            let best: &mut [f32; C] = best.try_into().expect("C wide");
            let (oh, ow) = (pos / self.out_w, pos % self.out_w);
            let corner = (oh * self.stride * self.width + ow * self.stride) * C;
            match winners.as_deref_mut() {
                Some(w) => self.window_argmax_group(sample, corner, best, &mut w[pos * C..][..C]),
                None => self.window_max_group(sample, corner, best),
            }
        }
    }

    /// Offsets of a window's taps from its top-left value, in row-major window order.
    #[inline(always)]
    fn taps(&self) -> impl Iterator<Item = usize> {
        let (pool, width, c) = (self.pool, self.width, self.channels);
        (0..pool).flat_map(move |p| (0..pool).map(move |q| (p * width + q) * c))
    }

    /// The maxima of one window over `L` channels from the value `corner`, into `out`.
    ///
    /// Channels are innermost, so each tap is compared against the whole group of running
    /// maxima at once; the maxima live in a local array so the comparisons stay in vector
    /// registers.
    #[inline(always)]
    fn window_max_group<const L: usize>(&self, sample: &[f32], corner: usize, out: &mut [f32; L]) {
        let mut best: [f32; L] = sample[corner..][..L].try_into().expect("a group of lanes");
        for tap in self.taps().skip(1) {
            let values: &[f32; L] = sample[corner + tap..][..L]
                .try_into()
                .expect("a group of lanes");
            best.iter_mut()
                .zip(values)
                .for_each(|(b, &v)| *b = b.max(v));
        }
        *out = best;
    }

    /// [`Pool::window_max_group`] for the last, narrower group of `out.len()` channels.
    #[inline(always)]
    fn window_max_tail(&self, sample: &[f32], corner: usize, out: &mut [f32]) {
        let width = out.len();
        out.copy_from_slice(&sample[corner..][..width]);
        for tap in self.taps().skip(1) {
            let values = &sample[corner + tap..][..width];
            out.iter_mut().zip(values).for_each(|(b, &v)| *b = b.max(v));
        }
    }

    /// Like [`Pool::window_max_group`], also writing each winner's index in the sample into
    /// `winners` (`[L]`). The first of tied values wins.
    #[inline(always)]
    fn window_argmax_group<const L: usize>(
        &self,
        sample: &[f32],
        corner: usize,
        out: &mut [f32; L],
        winners: &mut [u32],
    ) {
        let mut best: [f32; L] = sample[corner..][..L].try_into().expect("a group of lanes");
        let mut index = [0_u32; L];
        index
            .iter_mut()
            .zip(corner as u32..)
            .for_each(|(w, i)| *w = i);
        for tap in self.taps().skip(1) {
            let start = corner + tap;
            let values: &[f32; L] = sample[start..][..L].try_into().expect("a group of lanes");
            let values = values.iter().zip(start as u32..);
            for ((b, w), (&v, i)) in best.iter_mut().zip(index.iter_mut()).zip(values) {
                // All ones where `v` wins, written without a branch so that it vectorises.
                let wins = 0_u32.wrapping_sub(u32::from(v > *b));
                *w = (i & wins) | (*w & !wins);
                *b = b.max(v);
            }
        }
        *out = best;
        winners.copy_from_slice(&index);
    }

    /// [`Pool::window_argmax_group`] for the last, narrower group of `out.len()` channels.
    #[inline(always)]
    fn window_argmax_tail(
        &self,
        sample: &[f32],
        corner: usize,
        out: &mut [f32],
        winners: &mut [u32],
    ) {
        let width = out.len();
        out.copy_from_slice(&sample[corner..][..width]);
        winners
            .iter_mut()
            .zip(corner as u32..)
            .for_each(|(w, i)| *w = i);
        for tap in self.taps().skip(1) {
            let start = corner + tap;
            let values = sample[start..][..width].iter().zip(start as u32..);
            for ((b, w), (&v, i)) in out.iter_mut().zip(winners.iter_mut()).zip(values) {
                let wins = 0_u32.wrapping_sub(u32::from(v > *b));
                *w = (i & wins) | (*w & !wins);
                *b = b.max(v);
            }
        }
    }

    /// Routes one sample's output gradients `g` (`[out_h, out_w, C]`) to the winners
    /// recorded in `winners` (same shape), into `sample` (`[H, W, C]`): zero everywhere, then
    /// each gradient added at its winner. Works for any windows, overlapping or not.
    #[inline(always)]
    fn route_scattered(sample: &mut [f32], g: &[f32], winners: &[u32]) {
        sample.fill(0.0);
        g.iter()
            .zip(winners)
            .for_each(|(&g, &i)| sample[i as usize] += g);
    }

    /// [`Pool::route_scattered`] for windows that tile the sample ([`Pool::tiled`]): every
    /// value of a window is written once, its gradient if it won and zero if not, so the
    /// sample is not zeroed first unless some values lie outside every window. Each
    /// comparison covers a run of `C` channels, which vectorises.
    #[inline(always)]
    fn route_tiled(&self, sample: &mut [f32], g: &[f32], winners: &[u32]) {
        if !self.covered() {
            sample.fill(0.0);
        }
        let c = self.channels;
        let windows = g.chunks_exact(c).zip(winners.chunks_exact(c));
        for (pos, (g, winners)) in windows.enumerate() {
            let (oh, ow) = (pos / self.out_w, pos % self.out_w);
            let corner = (oh * self.stride * self.width + ow * self.stride) * c;
            for tap in self.taps() {
                let start = corner + tap;
                let values = sample[start..][..c].iter_mut().zip(start as u32..);
                for ((value, i), (&g, &w)) in values.zip(g.iter().zip(winners)) {
                    *value = if w == i { g } else { 0.0 };
                }
            }
        }
    }
}

/// A [`Pool`] with its name and the winners of the last training forward: everything a
/// [`MaxPool2d`] holds, whose `Layer` methods only hand over to it.
#[derive(Debug, Clone)]
struct Engine {
    name: &'static str,
    pool: Pool,
    /// For each output value of the last training forward, the index within its input
    /// sample of the value that won, `[batch, out_h · out_w · C]`.
    argmax: Vec<u32>,
    /// Batch size whose winners `argmax` holds, set by a training forward.
    cached_batch: Option<usize>,
}

impl Engine {
    /// See [`MaxPool2d`]'s [`Layer::forward`].
    fn forward(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>, pass: Pass) {
        let pool = self.pool;
        let (in_len, out_len) = (pool.in_len(), pool.out_len());
        check_width(self.name, "input", input.ncols(), in_len);
        check_width(self.name, "output", output.ncols(), out_len);
        let batch = input.nrows();
        let values = row_major(&input);

        let train = pass.mode == Mode::Train;
        if train {
            self.argmax
                .resize(self.argmax.len().max(batch * out_len), 0);
        }
        let argmax = train.then(|| &mut self.argmax[..batch * out_len]);
        with_reshaped(output, batch, out_len, |mut out| {
            let out = out
                .as_slice_mut()
                .expect("with_reshaped gives a standard layout");
            pool.pool(&values, out, argmax);
        });
        self.cached_batch = train.then_some(batch);
    }

    /// See [`MaxPool2d`]'s [`Layer::backward`].
    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
    ) {
        let Some(grad_input) = grad_input else { return };
        let pool = self.pool;
        let (in_len, out_len) = (pool.in_len(), pool.out_len());
        let batch = input.nrows();
        if self.cached_batch != Some(batch) {
            // No matching training forward: find the winners again.
            let mut scratch = vec![0.0; batch * out_len];
            self.argmax
                .resize(self.argmax.len().max(batch * out_len), 0);
            let argmax = &mut self.argmax[..batch * out_len];
            pool.pool(&row_major(&input), &mut scratch, Some(argmax));
            self.cached_batch = Some(batch);
        }

        let grad_output = grad_output.view();
        let grad = row_major(&grad_output);
        let argmax = &self.argmax[..batch * out_len];
        with_reshaped(grad_input, batch, in_len, |mut grad_input| {
            let dst = grad_input
                .as_slice_mut()
                .expect("with_reshaped gives a standard layout");
            dst.par_chunks_mut(in_len)
                .with_min_len(pool.min_samples())
                .zip(grad.par_chunks(out_len))
                .zip(argmax.par_chunks(out_len))
                .for_each(|((sample, g), winners)| {
                    vectorized(
                        #[inline(always)]
                        || match pool.tiled() {
                            true => pool.route_tiled(sample, g, winners),
                            false => Pool::route_scattered(sample, g, winners),
                        },
                    )
                });
        });
    }
}

impl<const H: usize, const W: usize, const C: usize, const P: usize, const S: usize>
    MaxPool2d<H, W, C, P, S>
{
    /// Output height.
    pub const OUT_H: usize = pool_output_size(H, P, S);
    /// Output width.
    pub const OUT_W: usize = pool_output_size(W, P, S);
    /// Per-sample input shape `[H, W, C]`.
    pub const INPUT_DIMS: &'static [usize] = &[H, W, C];
    /// Per-sample output shape `[out_h, out_w, C]`.
    pub const OUTPUT_DIMS: &'static [usize] = &[Self::OUT_H, Self::OUT_W, C];

    /// Re-checks at compile time what the macro checks, for hand-written instantiations.
    const CHECK: () = {
        assert!(
            H > 0 && W > 0 && C > 0,
            "MaxPool2d: input height, width and channels must be > 0"
        );
        assert!(P > 0, "MaxPool2d: the pool size must be > 0");
        assert!(S > 0, "MaxPool2d: the stride must be > 0");
        assert!(P <= H, "MaxPool2d: pool larger than the input height");
        assert!(P <= W, "MaxPool2d: pool larger than the input width");
        assert!(
            H * W * C <= u32::MAX as usize,
            "MaxPool2d: input sample too large to index"
        );
    };

    /// The sizes of this pooling as values.
    const POOL: Pool = Pool {
        height: H,
        width: W,
        channels: C,
        pool: P,
        stride: S,
        out_h: Self::OUT_H,
        out_w: Self::OUT_W,
    };

    /// A max pooling layer named `name`. It has no weights, so `seed` is unused; it is
    /// taken so that every layer is built the same way.
    pub fn new(name: &'static str, seed: u64) -> Self {
        let () = Self::CHECK;
        let _ = seed;
        Self {
            engine: Engine {
                name,
                pool: Self::POOL,
                argmax: Vec::new(),
                cached_batch: None,
            },
        }
    }
}

impl<const H: usize, const W: usize, const C: usize, const P: usize, const S: usize> Layer
    for MaxPool2d<H, W, C, P, S>
{
    fn name(&self) -> &str {
        self.engine.name
    }

    fn kind(&self) -> &'static str {
        "MaxPooling2D"
    }

    /// A copy keeps no winners: they belong to this layer's last batch.
    fn replicate(&self) -> Option<Box<dyn Layer>> {
        let engine = Engine {
            name: self.engine.name,
            pool: self.engine.pool,
            argmax: Vec::new(),
            cached_batch: None,
        };
        Some(Box::new(Self { engine }))
    }

    fn input_dims(&self) -> &'static [usize] {
        Self::INPUT_DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Self::OUTPUT_DIMS
    }

    /// Takes the maximum of each window; a training pass also records which input won.
    ///
    /// # Shapes
    /// - `input`: `[batch, H·W·C]`, each row an `[H, W, C]` image
    /// - `output`: `[batch, out_h·out_w·C]`, each row an `[out_h, out_w, C]` map
    fn forward(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>, pass: Pass) {
        self.engine.forward(input, output, pass);
    }

    /// Routes each output gradient to the input value that won its window; inputs that won
    /// no window get zero, and inputs that won several windows get the sum.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, H·W·C]`
    /// - `output`, `grad_output`: `[batch, out_h·out_w·C]`
    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        _output: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        _pass: Pass,
    ) {
        self.engine.backward(input, grad_output, grad_input);
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use crate::layers::vector::on_every_level;
    use ndarray::Array2;

    /// Pooling and routing run compiled for the processor's best vector instructions; each
    /// level finds the same maxima and winners and routes the same gradients, for a
    /// channel count with a loop of its own (32) and one without (5).
    #[test]
    fn every_instruction_set_pools_and_routes_the_same() {
        fn levels_agree(pool: Pool) {
            let input = random_input(1, pool.in_len(), 7);
            let grad = random_input(1, pool.out_len(), 8);
            let results = on_every_level(|| {
                let mut out = vec![0.0; pool.out_len()];
                let mut winners = vec![0; pool.out_len()];
                let sample = input.as_slice().expect("a standard layout");
                pool.pool_sample(sample, &mut out, Some(&mut winners));
                let mut routed = vec![f32::NAN; pool.in_len()];
                let grad = grad.as_slice().expect("a standard layout");
                pool.route_tiled(&mut routed, grad, &winners);
                (out, winners, routed)
            });
            for other in &results[1..] {
                assert!(other == &results[0], "{pool:?}: an instruction set differs");
            }
        }
        levels_agree(MaxPool2d::<12, 12, 32, 2, 2>::POOL);
        levels_agree(MaxPool2d::<7, 9, 5, 2, 2>::POOL);
    }

    #[test]
    fn output_size_formula_matches_a_brute_force_count() {
        for input in 1..=12 {
            for pool in 1..=input {
                for stride in 1..=4 {
                    let windows = (0..input)
                        .step_by(stride)
                        .filter(|s| s + pool <= input)
                        .count();
                    assert_eq!(pool_output_size(input, pool, stride), windows);
                }
            }
        }
    }

    /// Max pooling written from its definition.
    fn naive_pool(
        input: &Array2<f32>,
        (h, w, c): (usize, usize, usize),
        p: usize,
        s: usize,
    ) -> Array2<f32> {
        let (out_h, out_w) = ((h - p) / s + 1, (w - p) / s + 1);
        Array2::from_shape_fn((input.nrows(), out_h * out_w * c), |(b, o)| {
            let (i, j, ch) = (o / (out_w * c), o / c % out_w, o % c);
            let window = (0..p).flat_map(|y| (0..p).map(move |x| (y, x)));
            window
                .map(|(y, x)| input[[b, ((i * s + y) * w + j * s + x) * c + ch]])
                .fold(f32::NEG_INFINITY, f32::max)
        })
    }

    fn compare_with_naive<
        const H: usize,
        const W: usize,
        const C: usize,
        const P: usize,
        const S: usize,
    >() {
        let mut layer = MaxPool2d::<H, W, C, P, S>::new("max_pooling2d", 0);
        let input = random_input(3, H * W * C, 9);
        let mut train = Array2::zeros((3, layer.output_len()));
        let mut infer = Array2::zeros((3, layer.output_len()));

        layer.forward(input.view(), train.view_mut(), Pass::new(Mode::Train));
        layer.forward(input.view(), infer.view_mut(), Pass::new(Mode::Infer));

        assert_eq!(train, naive_pool(&input, (H, W, C), P, S));
        assert_eq!(infer, train);
    }

    #[test]
    fn forward_matches_a_direct_loop() {
        compare_with_naive::<4, 4, 1, 2, 2>();
        compare_with_naive::<5, 7, 3, 2, 2>();
        compare_with_naive::<6, 5, 2, 3, 2>();
        compare_with_naive::<5, 5, 2, 2, 1>();
        compare_with_naive::<7, 7, 2, 2, 3>();
        compare_with_naive::<3, 3, 4, 3, 3>();
        // Channels in a full group of POOL_LANES running maxima and a narrower one.
        compare_with_naive::<5, 4, 37, 2, 2>();
        compare_with_naive::<5, 5, 16, 3, 2>();
    }

    fn gradients_match<
        const H: usize,
        const W: usize,
        const C: usize,
        const P: usize,
        const S: usize,
    >() {
        let mut layer = MaxPool2d::<H, W, C, P, S>::new("max_pooling2d", 0);
        let input = random_input(2, H * W * C, 21);
        let report = check(&mut layer, input.view(), &Options::default());

        assert!(
            report.worst_relative_error < 1e-2,
            "{H}x{W}x{C} P{P} S{S}: {report}"
        );
        assert!(report.skipped * 10 <= report.checked, "{report}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        gradients_match::<4, 4, 2, 2, 2>();
        gradients_match::<5, 5, 3, 2, 2>();
        // Overlapping windows (stride < pool) and gaps (stride > pool).
        gradients_match::<5, 6, 2, 3, 2>();
        gradients_match::<5, 5, 2, 2, 1>();
        gradients_match::<7, 7, 2, 2, 3>();
        gradients_match::<4, 5, 19, 2, 2>();
        gradients_match::<5, 5, 18, 3, 2>();
    }

    #[test]
    fn backward_sends_each_gradient_to_its_winner_and_sums_overlaps() {
        // One 3×3 channel, pool 2, stride 1: the centre value 9 wins all four windows.
        let mut layer = MaxPool2d::<3, 3, 1, 2, 1>::new("max_pooling2d", 0);
        let input =
            Array2::from_shape_vec((1, 9), vec![1., 2., 3., 4., 9., 5., 6., 7., 8.]).unwrap();
        let mut output = Array2::zeros((1, 4));
        let mut grad_input = Array2::from_elem((1, 9), f32::NAN);
        let pass = Pass::new(Mode::Train);

        layer.forward(input.view(), output.view_mut(), pass);
        let mut grad = Array2::from_shape_vec((1, 4), vec![1., 10., 100., 1000.]).unwrap();
        layer.backward(
            input.view(),
            output.view(),
            grad.view_mut(),
            Some(grad_input.view_mut()),
            pass,
        );

        assert_eq!(output.as_slice().unwrap(), &[9., 9., 9., 9.]);
        assert_eq!(
            grad_input.as_slice().unwrap(),
            &[0., 0., 0., 0., 1111., 0., 0., 0., 0.]
        );
    }

    /// Routes random gradients both ways over random winners of a real forward pass.
    fn tiled_route_matches_scattered<const H: usize, const W: usize, const C: usize>() {
        let mut layer = MaxPool2d::<H, W, C, 2, 2>::new("max_pooling2d", 0);
        let input = random_input(3, H * W * C, 5);
        let mut output = Array2::zeros((3, layer.output_len()));
        layer.forward(input.view(), output.view_mut(), Pass::new(Mode::Train));
        let grad = random_input(3, layer.output_len(), 6);
        let out_len = layer.output_len();

        for b in 0..3 {
            let g = grad.row(b).to_vec();
            let winners = &layer.engine.argmax[b * out_len..][..out_len];
            let mut tiled = vec![f32::NAN; H * W * C];
            let mut scattered = vec![f32::NAN; H * W * C];
            MaxPool2d::<H, W, C, 2, 2>::POOL.route_tiled(&mut tiled, &g, winners);
            Pool::route_scattered(&mut scattered, &g, winners);
            assert_eq!(tiled, scattered, "{H}x{W}x{C}, sample {b}");
        }
    }

    #[test]
    fn tiled_windows_route_gradients_as_the_scatter_does() {
        assert!(MaxPool2d::<4, 6, 3, 2, 2>::POOL.covered());
        tiled_route_matches_scattered::<4, 6, 3>();
        // Odd sizes leave the last row and column outside every window: they must be zero.
        assert!(!MaxPool2d::<5, 7, 2, 2, 2>::POOL.covered());
        tiled_route_matches_scattered::<5, 7, 2>();
        tiled_route_matches_scattered::<4, 5, 1>();
        tiled_route_matches_scattered::<4, 4, 21>();
        assert!(!MaxPool2d::<5, 5, 2, 3, 2>::POOL.tiled());
    }

    #[test]
    fn ties_go_to_the_first_value_in_window_order() {
        let mut layer = MaxPool2d::<2, 2, 1, 2, 2>::new("max_pooling2d", 0);
        let input = Array2::from_shape_vec((1, 4), vec![0., 3., 3., 1.]).unwrap();
        let mut output = Array2::zeros((1, 1));
        let mut grad_input = Array2::zeros((1, 4));
        let pass = Pass::new(Mode::Train);

        layer.forward(input.view(), output.view_mut(), pass);
        let mut grad = Array2::ones((1, 1));
        layer.backward(
            input.view(),
            output.view(),
            grad.view_mut(),
            Some(grad_input.view_mut()),
            pass,
        );

        assert_eq!(grad_input.as_slice().unwrap(), &[0., 1., 0., 0.]);
    }

    #[test]
    fn a_smaller_batch_after_a_larger_one_uses_a_prefix() {
        let mut layer = MaxPool2d::<4, 4, 3, 2, 2>::new("max_pooling2d", 0);
        let input = random_input(5, 48, 2);
        let (mut big, mut small) = (Array2::zeros((5, 12)), Array2::zeros((2, 12)));
        let (mut grad_big, mut grad_small) = (Array2::zeros((5, 48)), Array2::zeros((2, 48)));
        let upstream = random_input(5, 12, 3);
        let pass = Pass::new(Mode::Train);

        layer.forward(input.view(), big.view_mut(), pass);
        let mut g = upstream.clone();
        layer.backward(
            input.view(),
            big.view(),
            g.view_mut(),
            Some(grad_big.view_mut()),
            pass,
        );
        let head = input.slice(ndarray::s![..2, ..]);
        layer.forward(head, small.view_mut(), pass);
        let mut g = upstream.slice(ndarray::s![..2, ..]).to_owned();
        layer.backward(
            head,
            small.view(),
            g.view_mut(),
            Some(grad_small.view_mut()),
            pass,
        );

        assert_eq!(small, big.slice(ndarray::s![..2, ..]));
        assert_eq!(grad_small, grad_big.slice(ndarray::s![..2, ..]));
    }

    #[test]
    fn describes_itself_like_keras() {
        let layer = MaxPool2d::<11, 11, 64, 2, 2>::new("max_pooling2d_1", 0);

        assert_eq!(layer.kind(), "MaxPooling2D");
        assert_eq!(layer.input_dims(), &[11, 11, 64]);
        // (11 − 2) / 2 + 1 = 5: the last row and column are dropped, as in Keras.
        assert_eq!(layer.output_dims(), &[5, 5, 64]);
        assert_eq!(layer.param_count(), 0);
    }
}
