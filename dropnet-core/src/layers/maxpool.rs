//! 2-D max pooling, channels-last, valid padding.

use ndarray::{ArrayView2, ArrayViewMut2};

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
/// gradient. No parameters.
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
    ///
    /// Buffers (row-major): `input` `[batch, H, W, C]`, `output` and `argmax`
    /// `[batch, out_h, out_w, C]`. Channels are innermost, so each window position is
    /// compared against a whole run of `C` running maxima at once.
    fn pool(input: &[f32], output: &mut [f32], mut argmax: Option<&mut [u32]>) {
        for (b, out_sample) in output.chunks_exact_mut(Self::OUT_LEN).enumerate() {
            let sample = &input[b * Self::IN_LEN..(b + 1) * Self::IN_LEN];
            for (pos, best) in out_sample.chunks_exact_mut(C).enumerate() {
                let (oh, ow) = (pos / Self::OUT_W, pos % Self::OUT_W);
                let at = |p: usize, q: usize| ((oh * S + p) * W + ow * S + q) * C;
                let mut winners = argmax.as_deref_mut().map(|a| {
                    &mut a[b * Self::OUT_LEN + pos * C..b * Self::OUT_LEN + (pos + 1) * C]
                });

                best.copy_from_slice(&sample[at(0, 0)..at(0, 0) + C]);
                if let Some(w) = winners.as_deref_mut() {
                    w.iter_mut()
                        .enumerate()
                        .for_each(|(c, i)| *i = (at(0, 0) + c) as u32);
                }
                for (p, q) in (0..P).flat_map(|p| (0..P).map(move |q| (p, q))).skip(1) {
                    let start = at(p, q);
                    for c in 0..C {
                        if sample[start + c] > best[c] {
                            best[c] = sample[start + c];
                            if let Some(w) = winners.as_deref_mut() {
                                w[c] = (start + c) as u32;
                            }
                        }
                    }
                }
            }
        }
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
            grad_input.fill(0.0);
            let dst = grad_input
                .as_slice_mut()
                .expect("with_reshaped gives a standard layout");
            for (b, (g, winners)) in grad
                .chunks_exact(Self::OUT_LEN)
                .zip(argmax.chunks_exact(Self::OUT_LEN))
                .enumerate()
            {
                let sample = &mut dst[b * Self::IN_LEN..(b + 1) * Self::IN_LEN];
                g.iter()
                    .zip(winners)
                    .for_each(|(&g, &i)| sample[i as usize] += g);
            }
        });
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
}
