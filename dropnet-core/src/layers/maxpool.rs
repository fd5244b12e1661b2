//! 2-D max pooling, channels-last, valid padding.

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

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
#[derive(Debug, Clone)]
pub struct MaxPool2d<const H: usize, const W: usize, const C: usize, const P: usize, const S: usize>
{
    name: &'static str,
    /// For each output value of the last training forward, the index within its input
    /// sample of the value that won, `[batch, out_h · out_w · C]`.
    argmax: Vec<u32>,
    /// Batch size whose winners `argmax` holds, set by a training forward.
    cached_batch: Option<usize>,
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

    const IN_LEN: usize = H * W * C;
    const OUT_LEN: usize = Self::OUT_H * Self::OUT_W * C;
    /// Samples a thread takes at least, so that small maps are not split into tasks
    /// that cost more to schedule than to compute (about 16 Ki values each).
    const MIN_SAMPLES: usize = {
        let per_sample = Self::IN_LEN;
        if per_sample >= 1 << 14 {
            1
        } else {
            (1 << 14) / per_sample
        }
    };

    /// True when the windows neither overlap nor leave gaps between them (pool size equal to
    /// the stride): each input value lies in at most one window.
    const TILED: bool = P == S;
    /// True when, moreover, the windows cover every input value (no rows or columns left
    /// past the last window).
    const COVERED: bool = Self::TILED && Self::OUT_H * P == H && Self::OUT_W * P == W;

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

    /// A max pooling layer named `name`. It has no weights, so `seed` is unused; it is
    /// taken so that every layer is built the same way.
    pub fn new(name: &'static str, seed: u64) -> Self {
        let () = Self::CHECK;
        let _ = seed;
        Self {
            name,
            argmax: Vec::new(),
            cached_batch: None,
        }
    }

    /// Pools `input` into `output` and, when `argmax` is given, records each winner.
    /// Samples are independent, so groups of them run on rayon's threads.
    ///
    /// Buffers (row-major): `input` `[batch, H, W, C]`, `output` and `argmax`
    /// `[batch, out_h, out_w, C]`.
    fn pool(input: &[f32], output: &mut [f32], argmax: Option<&mut [u32]>) {
        let outputs = output
            .par_chunks_mut(Self::OUT_LEN)
            .with_min_len(Self::MIN_SAMPLES);
        let samples = input
            .par_chunks(Self::IN_LEN)
            .with_min_len(Self::MIN_SAMPLES);
        match argmax {
            Some(argmax) => outputs
                .zip(samples)
                .zip(argmax.par_chunks_mut(Self::OUT_LEN))
                .for_each(|((out, sample), winners)| Self::pool_sample(sample, out, Some(winners))),
            None => outputs
                .zip(samples)
                .for_each(|(out, sample)| Self::pool_sample(sample, out, None)),
        }
    }

    /// Pools one sample (`[H, W, C]`) into `output` (`[out_h, out_w, C]`), recording each
    /// winner's index within the sample into `winners` when given.
    fn pool_sample(sample: &[f32], output: &mut [f32], mut winners: Option<&mut [u32]>) {
        for (pos, best) in output.chunks_exact_mut(C).enumerate() {
            let (oh, ow) = (pos / Self::OUT_W, pos % Self::OUT_W);
            let corner = (oh * S * W + ow * S) * C;
            match winners.as_deref_mut() {
                Some(w) => Self::window_argmax(sample, corner, best, &mut w[pos * C..][..C]),
                None => Self::window_max(sample, corner, best),
            }
        }
    }

    /// Routes one sample's output gradients `g` (`[out_h, out_w, C]`) to the winners
    /// recorded in `winners` (same shape), into `sample` (`[H, W, C]`): zero everywhere, then
    /// each gradient added at its winner. Works for any windows, overlapping or not.
    fn route_scattered(sample: &mut [f32], g: &[f32], winners: &[u32]) {
        sample.fill(0.0);
        g.iter()
            .zip(winners)
            .for_each(|(&g, &i)| sample[i as usize] += g);
    }

    /// [`Self::route_scattered`] for windows that tile the sample ([`Self::TILED`]): every
    /// value of a window is written once, its gradient if it won and zero if not, so the
    /// sample is not zeroed first unless some values lie outside every window. Each
    /// comparison covers a run of `C` channels, which vectorises.
    fn route_tiled(sample: &mut [f32], g: &[f32], winners: &[u32]) {
        if !Self::COVERED {
            sample.fill(0.0);
        }
        let windows = g.chunks_exact(C).zip(winners.chunks_exact(C));
        for (pos, (g, winners)) in windows.enumerate() {
            let (oh, ow) = (pos / Self::OUT_W, pos % Self::OUT_W);
            let corner = (oh * S * W + ow * S) * C;
            for tap in Self::taps() {
                let start = corner + tap;
                let values = sample[start..][..C].iter_mut().zip(start as u32..);
                for ((value, i), (&g, &w)) in values.zip(g.iter().zip(winners)) {
                    *value = if w == i { g } else { 0.0 };
                }
            }
        }
    }

    /// Offsets of a window's taps from its top-left value, in row-major window order.
    fn taps() -> impl Iterator<Item = usize> {
        (0..P).flat_map(|p| (0..P).map(move |q| (p * W + q) * C))
    }

    /// The maxima of one window into `out` (`[C]`).
    ///
    /// Channels are innermost, so each tap is compared against the whole run of `C`
    /// running maxima at once; the maxima live in a local array so the comparisons stay in
    /// vector registers.
    fn window_max(sample: &[f32], corner: usize, out: &mut [f32]) {
        let mut best = [0.0_f32; C];
        best.copy_from_slice(&sample[corner..][..C]);
        for tap in Self::taps().skip(1) {
            let values = &sample[corner + tap..][..C];
            best.iter_mut()
                .zip(values)
                .for_each(|(b, &v)| *b = b.max(v));
        }
        out.copy_from_slice(&best);
    }

    /// Like [`Self::window_max`], also writing each winner's index in the sample into
    /// `winners` (`[C]`). The first of tied values wins.
    fn window_argmax(sample: &[f32], corner: usize, out: &mut [f32], winners: &mut [u32]) {
        let mut best = [0.0_f32; C];
        let mut index = [0_u32; C];
        best.copy_from_slice(&sample[corner..][..C]);
        index
            .iter_mut()
            .zip(corner as u32..)
            .for_each(|(w, i)| *w = i);
        for tap in Self::taps().skip(1) {
            let start = corner + tap;
            let values = sample[start..][..C].iter().zip(start as u32..);
            for ((b, w), (&v, i)) in best.iter_mut().zip(index.iter_mut()).zip(values) {
                // All ones where `v` wins, written without a branch so that it vectorises.
                let wins = 0_u32.wrapping_sub(u32::from(v > *b));
                *w = (i & wins) | (*w & !wins);
                *b = b.max(v);
            }
        }
        out.copy_from_slice(&best);
        winners.copy_from_slice(&index);
    }
}

impl<const H: usize, const W: usize, const C: usize, const P: usize, const S: usize> Layer
    for MaxPool2d<H, W, C, P, S>
{
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> &'static str {
        "MaxPooling2D"
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
        check_width(self.name, "input", input.ncols(), Self::IN_LEN);
        check_width(self.name, "output", output.ncols(), Self::OUT_LEN);
        let batch = input.nrows();
        let values = row_major(&input);

        let train = pass.mode == Mode::Train;
        if train {
            self.argmax
                .resize(self.argmax.len().max(batch * Self::OUT_LEN), 0);
        }
        let argmax = train.then(|| &mut self.argmax[..batch * Self::OUT_LEN]);
        with_reshaped(output, batch, Self::OUT_LEN, |mut out| {
            let out = out
                .as_slice_mut()
                .expect("with_reshaped gives a standard layout");
            Self::pool(&values, out, argmax);
        });
        self.cached_batch = train.then_some(batch);
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
        let Some(grad_input) = grad_input else { return };
        let batch = input.nrows();
        if self.cached_batch != Some(batch) {
            // No matching training forward: find the winners again.
            let mut scratch = vec![0.0; batch * Self::OUT_LEN];
            self.argmax
                .resize(self.argmax.len().max(batch * Self::OUT_LEN), 0);
            let argmax = &mut self.argmax[..batch * Self::OUT_LEN];
            Self::pool(&row_major(&input), &mut scratch, Some(argmax));
            self.cached_batch = Some(batch);
        }

        let grad_output = grad_output.view();
        let grad = row_major(&grad_output);
        let argmax = &self.argmax[..batch * Self::OUT_LEN];
        with_reshaped(grad_input, batch, Self::IN_LEN, |mut grad_input| {
            let dst = grad_input
                .as_slice_mut()
                .expect("with_reshaped gives a standard layout");
            dst.par_chunks_mut(Self::IN_LEN)
                .with_min_len(Self::MIN_SAMPLES)
                .zip(grad.par_chunks(Self::OUT_LEN))
                .zip(argmax.par_chunks(Self::OUT_LEN))
                .for_each(|((sample, g), winners)| match Self::TILED {
                    true => Self::route_tiled(sample, g, winners),
                    false => Self::route_scattered(sample, g, winners),
                });
        });
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check, random_input, Options};
    use ndarray::Array2;

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
            let winners = &layer.argmax[b * out_len..][..out_len];
            let mut tiled = vec![f32::NAN; H * W * C];
            let mut scattered = vec![f32::NAN; H * W * C];
            MaxPool2d::<H, W, C, 2, 2>::route_tiled(&mut tiled, &g, winners);
            MaxPool2d::<H, W, C, 2, 2>::route_scattered(&mut scattered, &g, winners);
            assert_eq!(tiled, scattered, "{H}x{W}x{C}, sample {b}");
        }
    }

    #[test]
    fn tiled_windows_route_gradients_as_the_scatter_does() {
        const { assert!(MaxPool2d::<4, 6, 3, 2, 2>::COVERED) };
        tiled_route_matches_scattered::<4, 6, 3>();
        // Odd sizes leave the last row and column outside every window: they must be zero.
        const { assert!(!MaxPool2d::<5, 7, 2, 2, 2>::COVERED) };
        tiled_route_matches_scattered::<5, 7, 2>();
        tiled_route_matches_scattered::<4, 5, 1>();
        const { assert!(!MaxPool2d::<5, 5, 2, 3, 2>::TILED) };
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
