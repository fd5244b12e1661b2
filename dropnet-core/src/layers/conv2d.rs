//! 2-D convolution, channels-last, computed as im2col followed by a matrix product.

use std::marker::PhantomData;
use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::matmul::matmul;
use super::sparse::{self, Nonzeros};
use super::vector::vectorized;
use super::{check_width, grad_matrix, param_matrix, prefix, row_major, with_reshaped};
use crate::activation::{Activation, ActivationKind};
use crate::init;
use crate::layer::{Layer, Param, Pass};
use crate::rng;

/// Output size of a convolution along one axis, as Keras computes it.
///
/// Valid padding: `(input − kernel) / stride + 1`, rounded down (0 when the kernel does not
/// fit). Same padding: `ceil(input / stride)`. The stride must be positive.
pub const fn conv_output_size(input: usize, kernel: usize, stride: usize, same: bool) -> usize {
    if same {
        input.div_ceil(stride)
    } else if kernel > input {
        0
    } else {
        (input - kernel) / stride + 1
    }
}

/// Zero rows (or columns) added before the input under Keras/TensorFlow same padding.
///
/// The total is `max((out − 1)·stride + kernel − input, 0)`; the smaller half goes before
/// the input and the extra one after it.
const fn padding_before(input: usize, kernel: usize, stride: usize, same: bool) -> usize {
    if !same {
        return 0;
    }
    let out = conv_output_size(input, kernel, stride, true);
    let covered = (out.saturating_sub(1)) * stride + kernel;
    covered.saturating_sub(input) / 2
}

/// How the kernel slides along one spatial axis.
#[derive(Debug, Clone, Copy)]
struct Span {
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
}

impl Span {
    /// For output position `out`: the kernel taps `first..end` that fall inside the input,
    /// and the input position `start` that tap 0 would read (negative inside the padding).
    #[inline(always)]
    fn taps(self, out: usize) -> (usize, usize, isize) {
        let start = (out * self.stride) as isize - self.pad as isize;
        let first = (-start).max(0) as usize;
        let end = (self.input as isize - start).clamp(0, self.kernel as isize) as usize;
        (first.min(end), end, start)
    }
}

/// The runs of one patch row: for each kernel row `kh`, the `len` values from patch offset
/// `tap + kh · tap_step` equal the input values from `input + kh · input_step`.
#[derive(Debug, Clone)]
struct Runs {
    kh: Range<usize>,
    tap: usize,
    tap_step: usize,
    input: isize,
    input_step: usize,
    len: usize,
}

impl Runs {
    /// `(patch offset, input offset, len)` of each run, within the row and the batch.
    #[inline(always)]
    fn iter(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.kh.clone().map(move |kh| {
            let input = self.input + (kh * self.input_step) as isize;
            (self.tap + kh * self.tap_step, input as usize, self.len)
        })
    }
}

/// The full geometry of one convolution, shared by im2col and col2im.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    height: Span,
    width: Span,
    channels: usize,
}

impl Geometry {
    /// Values in one input sample: `height · width · channels`.
    fn input_len(&self) -> usize {
        self.height.input * self.width.input * self.channels
    }

    /// Values in one patch row: `k_h · k_w · channels`.
    fn patch_len(&self) -> usize {
        self.height.kernel * self.width.kernel * self.channels
    }

    /// Patch rows per sample: `out_h · out_w`.
    fn positions(&self) -> usize {
        self.height.output * self.width.output
    }

    /// Calls `visit(row, runs)` for every patch row in order, `runs` being the runs of
    /// values the row shares with the input.
    ///
    /// Buffers (row-major):
    /// - input `[batch, height, width, channels]`
    /// - patches `[batch · out_h · out_w, k_h · k_w · channels]`, each row in (kh, kw, c)
    ///   order, the order of the HWIO kernel flattened to `[k_h · k_w · channels, filters]`.
    ///
    /// For a fixed kernel row `kh`, the taps that fall inside the input read neighbouring
    /// pixels of one input row, and channels are innermost, so each (position, kh) pair is
    /// one contiguous run. Patch values outside every run belong to the zero padding.
    #[inline(always)]
    fn for_each_row(&self, batch: usize, mut visit: impl FnMut(usize, Runs)) {
        let c = self.channels;
        for b in 0..batch {
            for oh in 0..self.height.output {
                let (kh_first, kh_end, ih_start) = self.height.taps(oh);
                for ow in 0..self.width.output {
                    let (kw_first, kw_end, iw_start) = self.width.taps(ow);
                    let row = (b * self.height.output + oh) * self.width.output + ow;
                    let iw = (iw_start + kw_first as isize) as usize;
                    let runs = Runs {
                        kh: kh_first..kh_end,
                        // Tap and input offsets of the run of kernel row 0, which may lie
                        // outside the input: only rows within `kh` are read.
                        tap: kw_first * c,
                        tap_step: self.width.kernel * c,
                        input: (b * self.input_len()) as isize
                            + (ih_start * self.width.input as isize + iw as isize) * c as isize,
                        input_step: self.width.input * c,
                        len: (kw_end - kw_first) * c,
                    };
                    visit(row, runs);
                }
            }
        }
    }

    /// Calls `copy(patch_offset, input_offset, len)` for every run of values that a patch
    /// row shares with the input, row after row (see [`Geometry::for_each_row`]).
    #[inline(always)]
    fn for_each_run(&self, batch: usize, mut copy: impl FnMut(usize, usize, usize)) {
        let patch_len = self.patch_len();
        self.for_each_row(
            batch,
            #[inline(always)]
            |row, runs| {
                for (tap, input, len) in runs.iter() {
                    copy(row * patch_len + tap, input, len);
                }
            },
        );
    }

    /// True when some patch values fall into the zero padding.
    fn has_padding(&self) -> bool {
        let inside = |s: Span| (0..s.output).all(|o| s.taps(o).1 - s.taps(o).0 == s.kernel);
        !(inside(self.height) && inside(self.width))
    }

    /// Fills `patches` from `input` (im2col). Shapes as in [`Geometry::for_each_row`].
    ///
    /// Most of the time of im2col on a grey image goes into its runs, which are three values
    /// long: a copy of a length known to the compiler is a few moves, where a copy of any
    /// length is a library call per run. So a run that spans the whole kernel width goes
    /// through a copy of fixed length when that width is small (one function per width,
    /// compiled once here).
    fn im2col(&self, input: &[f32], batch: usize, patches: &mut [f32]) {
        if self.has_padding() {
            patches.fill(0.0);
        }
        macro_rules! fixed_widths {
            ($($width:literal)*) => {
                match self.width.kernel * self.channels {
                    $($width => self.im2col_runs::<$width>(input, batch, patches),)*
                    _ => self.im2col_runs::<0>(input, batch, patches),
                }
            };
        }
        fixed_widths!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
    }

    /// The copies of [`Geometry::im2col`]: runs of `FULL` values (the whole kernel width,
    /// when it is given as `FULL > 0`) are copied as fixed-size arrays.
    #[inline(always)]
    fn im2col_runs<const FULL: usize>(&self, input: &[f32], batch: usize, patches: &mut [f32]) {
        self.for_each_run(batch, |p, i, len| {
            if FULL > 0 && len == FULL {
                patches[p..p + FULL].copy_from_slice(&input[i..i + FULL]);
            } else {
                patches[p..p + len].copy_from_slice(&input[i..i + len]);
            }
        });
    }

    /// Adds each patch gradient back onto the input value it was copied from (col2im).
    /// Overlapping windows add up. Shapes as in [`Geometry::for_each_run`].
    fn col2im(&self, patches: &[f32], batch: usize, grad_input: &mut [f32]) {
        grad_input.fill(0.0);
        self.for_each_run(batch, |p, i, len| {
            let dst = &mut grad_input[i..i + len];
            dst.iter_mut()
                .zip(&patches[p..p + len])
                .for_each(|(d, &s)| *d += s);
        });
    }
}

/// In forward, patches of at most this many values (kernel taps times input channels) are
/// multiplied by the kernel directly from the input, with no patch matrix: a first layer
/// over grey or colour pixels has 9 or 27 values per patch, and a matrix product that
/// shallow spends more time packing its operands and storing its output tiles than
/// multiplying. Backward always builds the patches: the kernel gradient sums over every
/// position of the block, a deep product the matrix multiply does well.
const THIN_PATCH: usize = 32;

/// Filters whose sums the direct product keeps in registers at once: four AVX2 vectors or
/// two AVX-512 vectors, enough that each input value is loaded once for most layers.
const THIN_LANES: usize = 32;

/// A batch is cut into at least this many blocks, and into a multiple of it, so that two
/// cores share even a small batch evenly. More blocks make smaller products, which cost more
/// per value: when the seed CNN trains in parts of 8 samples, two blocks of 4 per part
/// measured 3–8% faster per epoch than four blocks of 2 (nine runs of nine, alternating).
const MIN_BLOCKS: usize = 2;

/// Patch values a block holds at most (1 MiB of `f32`), so that its patches stay in a
/// core's L2 cache from im2col to the product.
const BLOCK_PATCH_VALUES: usize = 1 << 18;

/// Scratch memory of one block of samples, kept from batch to batch so that the batch loop
/// allocates nothing once the largest batch has gone through.
#[derive(Debug, Clone, Default)]
struct BlockScratch {
    /// im2col patches, `[n · out_h · out_w, K·K·C]`; backward reuses the buffer for the
    /// patch gradients.
    patches: Vec<f32>,
    /// This block's share of the kernel gradient, `[K·K·C, F]`.
    kernel_grad: Vec<f32>,
    /// This block's share of the bias gradient, `[F]`.
    bias_grad: Vec<f32>,
    /// The nonzero values of a sparse gradient (see [`sparse`]).
    nonzeros: Nonzeros,
}

/// The first `n` block scratches, growing the list when it is too short.
fn scratches(blocks: &mut Vec<BlockScratch>, n: usize) -> &mut [BlockScratch] {
    if blocks.len() < n {
        blocks.resize_with(n, BlockScratch::default);
    }
    &mut blocks[..n]
}

/// Adds each share (`[len]`) to `total` (`[len]`), one share after another in the order given.
fn add_shares<'a>(total: &mut [f32], shares: impl Iterator<Item = &'a [f32]>) {
    for share in shares {
        total.iter_mut().zip(share).for_each(|(t, &s)| *t += s);
    }
}

/// What a convolution computes, with every size a value: the work of [`Conv2d`], whatever
/// its type parameters.
///
/// [`Conv2d`] carries its sizes in its type so that the compiler checks how layers fit;
/// the loops live here, in functions that are not generic, so they are compiled once in
/// this crate. Were they generic over the sizes, every crate declaring a model would
/// compile them again for each layer shape (with their rayon splits and their copies for
/// each instruction set): seconds of build time per model.
#[derive(Debug, Clone, Copy)]
struct Conv {
    geometry: Geometry,
    filters: usize,
    activation: ActivationKind,
}

impl Conv {
    /// Values in one input sample, `H·W·C`.
    fn in_len(&self) -> usize {
        self.geometry.input_len()
    }

    /// Values in one output sample, `out_h·out_w·F`.
    fn out_len(&self) -> usize {
        self.geometry.positions() * self.filters
    }

    /// Values in one patch, `K·K·C`.
    fn patch_len(&self) -> usize {
        self.geometry.patch_len()
    }

    /// True when forward convolves directly from the input (see [`THIN_PATCH`]).
    fn thin(&self) -> bool {
        self.patch_len() <= THIN_PATCH
    }

    /// Rows of the patch matrix for `batch` samples: `batch · out_h · out_w`.
    fn rows(&self, batch: usize) -> usize {
        batch * self.geometry.positions()
    }

    /// The most samples convolved together. A block has enough patch rows for efficient
    /// matrix products, and few enough that its patches stay in L2 (see
    /// [`BLOCK_PATCH_VALUES`]). Backward rebuilds each block's patches rather than keeping
    /// them all: on the seed CNN this measured about 15% faster at batch 128 and within
    /// 5–8% at batch 32.
    fn cache_block(&self) -> usize {
        let positions = self.geometry.positions();
        let rows = BLOCK_PATCH_VALUES / self.patch_len();
        if positions == 0 || rows < positions {
            1
        } else {
            rows / positions
        }
    }

    /// Samples per block for a batch of `batch`: the batch is cut into a multiple of
    /// [`MIN_BLOCKS`] blocks of at most [`Conv::cache_block`] samples, as even as possible
    /// (the last may be smaller). It depends on the batch size alone, never on the threads.
    fn block_size(&self, batch: usize) -> usize {
        let blocks = batch.div_ceil(self.cache_block()).max(1);
        batch.div_ceil(blocks.next_multiple_of(MIN_BLOCKS)).max(1)
    }

    /// im2col of `samples` (`[n, H·W·C]`, row-major) into `buffer`; returns the patches,
    /// `[n · out_h · out_w, K·K·C]`.
    fn fill_patches<'a>(&self, buffer: &'a mut Vec<f32>, samples: &[f32]) -> ArrayView2<'a, f32> {
        let n = samples.len() / self.in_len();
        let patches = prefix(buffer, self.rows(n) * self.patch_len());
        self.geometry.im2col(samples, n, patches);
        ArrayView2::from_shape((self.rows(n), self.patch_len()), &*patches)
            .expect("patch buffer holds rows × K·K·C values")
    }

    /// Convolves one block: `output = A(bias + patches · kernel)`, without `A` for logits.
    ///
    /// # Shapes
    /// `kernel`: `[K·K·C, F]`; `bias`: `[F]`; `samples`: `[n, H·W·C]` row-major; `output`:
    /// `[n, out_h·out_w·F]` row-major, read as `[n · out_h · out_w, F]`, one row a position.
    fn forward_block(
        &self,
        (kernel, bias): (&[f32], &[f32]),
        scratch: &mut BlockScratch,
        samples: &[f32],
        output: &mut [f32],
        logits: bool,
    ) {
        let n = samples.len() / self.in_len();
        if self.thin() {
            vectorized(
                #[inline(always)]
                || self.thin_forward(kernel, samples, n, output),
            );
        } else {
            let patches = self.fill_patches(&mut scratch.patches, samples);
            let kernel = ArrayView2::from_shape((self.patch_len(), self.filters), kernel)
                .expect("the kernel holds K·K·C × F values");
            let mut out = ArrayViewMut2::from_shape((self.rows(n), self.filters), &mut *output)
                .expect("an output block holds rows × F values");
            matmul(&patches, &kernel, &mut out, false);
        }

        // Bias and activation in one pass over the products.
        match logits {
            true => ActivationKind::Linear.apply_with_bias(output, bias),
            false => self.activation.apply_with_bias(output, bias),
        }
    }

    /// `output = patches · kernel` without a patch matrix: each output row sums, in local
    /// accumulators across up to [`THIN_LANES`] filters at a time, the input values of its
    /// runs (see [`Geometry::for_each_row`]) times their kernel taps. Every filter adds its
    /// terms in the order of the runs, whatever the grouping.
    ///
    /// # Shapes
    /// `kernel`: `[K·K·C, F]`; `samples`: `[n, H·W·C]`; `output`: `[n · out_h · out_w, F]`.
    #[inline(always)]
    fn thin_forward(&self, kernel: &[f32], samples: &[f32], n: usize, output: &mut [f32]) {
        // The filter counts layers most often have get loops of their own, whose sums of a
        // whole output row stay in registers.
        match self.filters {
            16 => return self.thin_forward_fixed::<16>(kernel, samples, n, output),
            32 => return self.thin_forward_fixed::<32>(kernel, samples, n, output),
            64 => return self.thin_forward_fixed::<64>(kernel, samples, n, output),
            _ => {}
        }
        let filters = self.filters;
        self.geometry.for_each_row(
            n,
            #[inline(always)]
            |row, runs| {
                let out = &mut output[row * filters..][..filters];
                for start in (0..filters).step_by(THIN_LANES) {
                    let out = &mut out[start..filters.min(start + THIN_LANES)];
                    match <&mut [f32; THIN_LANES]>::try_from(&mut *out) {
                        Ok(out) => {
                            let mut sums = [0.0_f32; THIN_LANES];
                            for (tap, input, len) in runs.iter() {
                                let taps = samples[input..][..len].iter().zip(tap..);
                                for (&x, tap) in taps {
                                    let weights: &[f32; THIN_LANES] = kernel
                                        [tap * filters + start..][..THIN_LANES]
                                        .try_into()
                                        .expect("a group of lanes");
                                    sums.iter_mut().zip(weights).for_each(|(s, &w)| *s += x * w);
                                }
                            }
                            *out = sums;
                        }
                        Err(_) => {
                            let width = out.len();
                            let mut sums = [0.0_f32; THIN_LANES];
                            let sums = &mut sums[..width];
                            for (tap, input, len) in runs.iter() {
                                let taps = samples[input..][..len].iter().zip(tap..);
                                for (&x, tap) in taps {
                                    let weights = &kernel[tap * filters + start..][..width];
                                    sums.iter_mut().zip(weights).for_each(|(s, &w)| *s += x * w);
                                }
                            }
                            out.copy_from_slice(sums);
                        }
                    }
                }
            },
        );
    }

    /// [`Conv::thin_forward`] for `F` filters, a constant.
    #[inline(always)]
    fn thin_forward_fixed<const F: usize>(
        &self,
        kernel: &[f32],
        samples: &[f32],
        n: usize,
        output: &mut [f32],
    ) {
        self.geometry.for_each_row(
            n,
            #[inline(always)]
            |row, runs| {
                let mut sums = [0.0_f32; F];
                for (tap, input, len) in runs.iter() {
                    let weights = kernel[tap * F..][..len * F].chunks_exact(F);
                    for (&x, weights) in samples[input..][..len].iter().zip(weights) {
                        let weights: &[f32; F] = weights.try_into().expect("F wide");
                        sums.iter_mut().zip(weights).for_each(|(s, &w)| *s += x * w);
                    }
                }
                output[row * F..][..F].copy_from_slice(&sums);
            },
        );
    }

    /// One block's backward: the gradient through the activation (written over `grad`),
    /// the block's shares of the bias and kernel gradients, and the input gradient when
    /// asked for (patch gradients `grad · kernelᵀ`, then col2im).
    ///
    /// # Shapes
    /// `kernel`: `[K·K·C, F]`; `kernel_t`, the kernel transposed: `[F, K·K·C]` when the
    /// input gradient is asked for, else unused; `samples`, `grad_input`: `[n, H·W·C]`
    /// row-major; `output`, `grad`: `[n · out_h · out_w, F]` row-major; shares `[K·K·C, F]`
    /// and `[F]`.
    fn backward_block(
        &self,
        (kernel, kernel_t): (&[f32], &[f32]),
        scratch: &mut BlockScratch,
        (samples, output): (&[f32], &[f32]),
        grad: &mut [f32],
        grad_input: Option<&mut [f32]>,
        logits: bool,
    ) {
        let (patch_len, filters) = (self.patch_len(), self.filters);
        let n = samples.len() / self.in_len();
        let bias_share = prefix(&mut scratch.bias_grad, filters);
        bias_share.fill(0.0);
        match logits {
            true => ActivationKind::Linear.backward_with_sums(output, grad, bias_share),
            false => self.activation.backward_with_sums(output, grad, bias_share),
        }
        let kernel_share = prefix(&mut scratch.kernel_grad, patch_len * filters);

        let rows = self.rows(n);
        // Max pooling, relu and dropout downstream often leave most of the gradient zero;
        // then both products skip the zeros (see `sparse`).
        let nonzeros = &mut scratch.nonzeros;
        let sparse = vectorized(
            #[inline(always)]
            || nonzeros.collect(grad, filters, patch_len),
        );
        let patches = self.fill_patches(&mut scratch.patches, samples);
        if sparse {
            let patches = patches.as_slice().expect("fill_patches is contiguous");
            vectorized(
                #[inline(always)]
                || nonzeros.kernel_grad((patches, patch_len), filters, kernel_share),
            );
        } else {
            let grad = ArrayView2::from_shape((rows, filters), &*grad)
                .expect("a gradient block holds rows × F values");
            let mut share = ArrayViewMut2::from_shape((patch_len, filters), kernel_share)
                .expect("a kernel share holds K·K·C × F values");
            matmul(&patches.t(), &grad, &mut share, false);
        }

        if let Some(grad_input) = grad_input {
            let buffer = prefix(&mut scratch.patches, rows * patch_len);
            if sparse {
                vectorized(
                    #[inline(always)]
                    || nonzeros.patch_grad((kernel_t, patch_len), buffer),
                );
            } else {
                let grad = ArrayView2::from_shape((rows, filters), &*grad)
                    .expect("a gradient block holds rows × F values");
                let kernel = ArrayView2::from_shape((patch_len, filters), kernel)
                    .expect("the kernel holds K·K·C × F values");
                let mut grad_patches = ArrayViewMut2::from_shape((rows, patch_len), &mut *buffer)
                    .expect("patch buffer holds rows × K·K·C values");
                matmul(&grad, &kernel.t(), &mut grad_patches, false);
            }
            self.geometry.col2im(buffer, n, grad_input);
        }
    }
}

/// A [`Conv`] with its parameters and the scratch of its blocks: everything a [`Conv2d`]
/// holds, whose `Layer` methods only hand over to it.
#[derive(Debug, Clone)]
struct Engine {
    name: &'static str,
    conv: Conv,
    kernel: Param,
    bias: Param,
    /// One scratch per block of the largest batch seen.
    blocks: Vec<BlockScratch>,
    /// The kernel transposed, `[F, K·K·C]`, for the sparse patch gradients.
    kernel_t: Vec<f32>,
}

impl Engine {
    /// A copy of the layer's settings and parameters without its scratch, which a copy
    /// sizes for its own batches.
    fn without_scratch(&self) -> Self {
        Self {
            name: self.name,
            conv: self.conv,
            kernel: self.kernel.clone(),
            bias: self.bias.clone(),
            blocks: Vec::new(),
            kernel_t: Vec::new(),
        }
    }

    /// A convolution named `name` over `[height, width, channels]` inputs, with a Glorot
    /// uniform kernel drawn from the stream `(seed, name, "init")` and a zero bias.
    fn new(name: &'static str, seed: u64, conv: Conv) -> Self {
        let geometry = conv.geometry;
        let (kernel_size, channels) = (geometry.height.kernel, geometry.channels);
        let dims = [kernel_size, kernel_size, channels, conv.filters];
        let kernel = init::glorot_uniform(&dims, &mut rng::stream(seed, name, "init"));
        Self {
            name,
            conv,
            kernel: Param::new("kernel", kernel),
            bias: Param::new("bias", init::zeros(&[conv.filters])),
            blocks: Vec::new(),
            kernel_t: Vec::new(),
        }
    }

    /// See [`Conv2d`]'s [`Layer::forward`].
    fn forward(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>, pass: Pass) {
        let conv = self.conv;
        let (in_len, out_len) = (conv.in_len(), conv.out_len());
        check_width(self.name, "input", input.ncols(), in_len);
        check_width(self.name, "output", output.ncols(), out_len);
        let batch = input.nrows();
        let size = conv.block_size(batch);
        let values = row_major(&input);
        let blocks = scratches(&mut self.blocks, batch.div_ceil(size));
        let kernel = param_matrix(&self.kernel.value, conv.patch_len(), conv.filters);
        let bias = param_matrix(&self.bias.value, 1, conv.filters);
        let params = (
            kernel.as_slice().expect("param_matrix is contiguous"),
            bias.as_slice().expect("param_matrix is contiguous"),
        );

        with_reshaped(output, batch, out_len, |mut output| {
            let output = output
                .as_slice_mut()
                .expect("with_reshaped gives a standard layout");
            output
                .par_chunks_mut(size * out_len)
                .zip(values.par_chunks(size * in_len))
                .zip(blocks.par_iter_mut())
                .for_each(|((output, samples), scratch)| {
                    conv.forward_block(params, scratch, samples, output, pass.logits);
                });
        });
    }

    /// See [`Conv2d`]'s [`Layer::backward`].
    fn backward(
        &mut self,
        (input, output): (ArrayView2<'_, f32>, ArrayView2<'_, f32>),
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        pass: Pass,
    ) {
        let conv = self.conv;
        let (in_len, out_len) = (conv.in_len(), conv.out_len());
        let (patch_len, filters) = (conv.patch_len(), conv.filters);
        check_width(self.name, "grad_output", grad_output.ncols(), out_len);
        let batch = input.nrows();
        let size = conv.block_size(batch);
        let (values, outputs) = (row_major(&input), row_major(&output));
        let blocks = scratches(&mut self.blocks, batch.div_ceil(size));
        let kernel = param_matrix(&self.kernel.value, patch_len, filters);
        let kernel = kernel.as_slice().expect("param_matrix is contiguous");
        // Only the sparse patch gradients read the transposed kernel.
        let kernel_t = prefix(&mut self.kernel_t, patch_len * filters);
        if grad_input.is_some() && sparse::applies(patch_len) {
            for (j, taps) in kernel.chunks_exact(filters).enumerate() {
                for (f, &w) in taps.iter().enumerate() {
                    kernel_t[f * patch_len + j] = w;
                }
            }
        }
        let kernel = (kernel, &*kernel_t);

        with_reshaped(grad_output, batch, out_len, |mut grad| {
            let grad = grad
                .as_slice_mut()
                .expect("with_reshaped gives a standard layout");
            let jobs = grad
                .par_chunks_mut(size * out_len)
                .zip(values.par_chunks(size * in_len))
                .zip(outputs.par_chunks(size * out_len))
                .zip(blocks.par_iter_mut());
            match grad_input {
                None => jobs.for_each(|(((grad, x), y), scratch)| {
                    conv.backward_block(kernel, scratch, (x, y), grad, None, pass.logits);
                }),
                Some(grad_input) => with_reshaped(grad_input, batch, in_len, |mut gi| {
                    let gi = gi
                        .as_slice_mut()
                        .expect("with_reshaped gives a standard layout");
                    jobs.zip(gi.par_chunks_mut(size * in_len)).for_each(
                        |((((grad, x), y), scratch), gi)| {
                            let gi = Some(gi);
                            conv.backward_block(kernel, scratch, (x, y), grad, gi, pass.logits);
                        },
                    );
                }),
            }
        });

        let kernel_grad = grad_matrix(&mut self.kernel.grad, patch_len, filters);
        let kernel_grad = kernel_grad.into_slice().expect("grad_matrix is contiguous");
        add_shares(kernel_grad, blocks.iter().map(|b| &b.kernel_grad[..]));
        let bias_grad = grad_matrix(&mut self.bias.grad, 1, filters);
        let bias_grad = bias_grad.into_slice().expect("grad_matrix is contiguous");
        add_shares(bias_grad, blocks.iter().map(|b| &b.bias_grad[..]));
    }
}

/// A 2-D convolution over channels-last images, like Keras's `Conv2D` with
/// `use_bias=True` and a square kernel.
///
/// Type parameters: input height `H`, width `W` and channels `C`; `F` filters; a `K`×`K`
/// kernel moved by stride `S` along both axes; `SAME` padding (true) or valid (false); the
/// fused activation `A`. Output: `[out_h, out_w, F]` with sizes from [`conv_output_size`].
///
/// `output[b, i, j, f] = A(bias[f] + Σ kernel[kh, kw, c, f] · input[b, i·S + kh − pad_top,
/// j·S + kw − pad_left, c])`, padding reading zeros.
///
/// Parameters, in Keras's names and layouts: `kernel` `[K, K, C, F]` (Glorot uniform) and
/// `bias` `[F]` (zeros).
///
/// Backward multiplies by the output gradient twice (for the kernel gradient and the input
/// gradient). When at most a quarter of a block's gradient is nonzero, as after max pooling
/// and dropout, and patches hold at least 64 values, those products skip the zeros (see the
/// `sparse` module); otherwise they are dense matrix products.
///
/// A batch is cut into blocks of samples that run on rayon's threads. The blocks depend
/// only on the batch size, and their shares of the gradients are added in block order, so
/// the results are bit for bit the same whatever the number of threads.
///
/// The type parameters fix the shapes for the compiler; the work is done by code that
/// takes the sizes as values and is compiled once in this crate, so a model with new
/// shapes adds almost nothing to its crate's build time.
#[derive(Debug, Clone)]
pub struct Conv2d<
    const H: usize,
    const W: usize,
    const C: usize,
    const F: usize,
    const K: usize,
    const S: usize,
    const SAME: bool,
    A: Activation,
> {
    engine: Engine,
    activation: PhantomData<A>,
}

impl<
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const K: usize,
        const S: usize,
        const SAME: bool,
        A: Activation,
    > Conv2d<H, W, C, F, K, S, SAME, A>
{
    /// Output height.
    pub const OUT_H: usize = conv_output_size(H, K, S, SAME);
    /// Output width.
    pub const OUT_W: usize = conv_output_size(W, K, S, SAME);
    /// Per-sample input shape `[H, W, C]`.
    pub const INPUT_DIMS: &'static [usize] = &[H, W, C];
    /// Per-sample output shape `[out_h, out_w, F]`.
    pub const OUTPUT_DIMS: &'static [usize] = &[Self::OUT_H, Self::OUT_W, F];
    /// Number of trainable scalars: `K·K·C·F + F`.
    pub const PARAM_COUNT: usize = K * K * C * F + F;

    /// Re-checks at compile time what the macro checks, for hand-written instantiations.
    const CHECK: () = {
        assert!(
            H > 0 && W > 0 && C > 0,
            "Conv2d: input height, width and channels must be > 0"
        );
        assert!(F > 0, "Conv2d: the number of filters must be > 0");
        assert!(K > 0, "Conv2d: the kernel size must be > 0");
        assert!(S > 0, "Conv2d: the stride must be > 0");
        assert!(
            SAME || K <= H,
            "Conv2d: kernel larger than the input height (valid padding)"
        );
        assert!(
            SAME || K <= W,
            "Conv2d: kernel larger than the input width (valid padding)"
        );
    };

    /// The sizes of this convolution as values.
    const CONV: Conv = Conv {
        geometry: Geometry {
            height: Span {
                input: H,
                output: Self::OUT_H,
                kernel: K,
                stride: S,
                pad: padding_before(H, K, S, SAME),
            },
            width: Span {
                input: W,
                output: Self::OUT_W,
                kernel: K,
                stride: S,
                pad: padding_before(W, K, S, SAME),
            },
            channels: C,
        },
        filters: F,
        activation: A::KIND,
    };

    /// A convolution named `name` (its Keras name), with a Glorot uniform kernel drawn from
    /// the stream `(seed, name, "init")` and a zero bias.
    pub fn new(name: &'static str, seed: u64) -> Self {
        let () = Self::CHECK;
        Self {
            engine: Engine::new(name, seed, Self::CONV),
            activation: PhantomData,
        }
    }
}

impl<
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const K: usize,
        const S: usize,
        const SAME: bool,
        A: Activation,
    > Layer for Conv2d<H, W, C, F, K, S, SAME, A>
{
    fn name(&self) -> &str {
        self.engine.name
    }

    fn kind(&self) -> &'static str {
        "Conv2D"
    }

    fn replicate(&self) -> Option<Box<dyn Layer>> {
        let engine = self.engine.without_scratch();
        let activation = PhantomData;
        Some(Box::new(Self { engine, activation }))
    }

    fn input_dims(&self) -> &'static [usize] {
        Self::INPUT_DIMS
    }

    fn output_dims(&self) -> &'static [usize] {
        Self::OUTPUT_DIMS
    }

    fn activation(&self) -> ActivationKind {
        A::KIND
    }

    /// Convolves a batch, block by block in parallel: im2col (or the direct product for
    /// thin patches), one matrix product, the bias and the activation in one pass. Every
    /// mode computes the same; nothing is cached for backward.
    ///
    /// # Shapes
    /// - `input`: `[batch, H·W·C]`, each row an `[H, W, C]` image
    /// - `output`: `[batch, out_h·out_w·F]`, each row an `[out_h, out_w, F]` map
    fn forward(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>, pass: Pass) {
        self.engine.forward(input, output, pass);
    }

    /// Back-propagates through the activation, the product and im2col, block by block in
    /// parallel, then adds the blocks' shares of the parameter gradients in block order.
    ///
    /// With `g` the gradient of the pre-activation, `[rows, F]`: `bias.grad += Σ_rows g`,
    /// `kernel.grad += patchesᵀ · g` with each block's patches rebuilt, and, when asked
    /// for, the patch gradients `g · kernelᵀ` scattered back onto the input (col2im).
    /// `grad_output` is overwritten by `g`.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, H·W·C]`
    /// - `output`, `grad_output`: `[batch, out_h·out_w·F]`
    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        output: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        pass: Pass,
    ) {
        self.engine
            .backward((input, output), grad_output, grad_input, pass);
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.engine.kernel, &self.engine.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.engine.kernel, &mut self.engine.bias]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Softmax, Tanh};
    use crate::gradcheck::{check, random_input, Options};
    use crate::layer::Mode;
    use ndarray::{s, Array2, ArrayD};

    /// Output positions counted one by one: a window starts every `stride` values, and it
    /// counts when it fits (valid) or when its first value lies in the input (same).
    fn brute_force_size(input: usize, kernel: usize, stride: usize, same: bool) -> usize {
        (0..input)
            .step_by(stride)
            .filter(|&start| same || start + kernel <= input)
            .count()
    }

    #[test]
    fn output_size_formula_matches_a_brute_force_count() {
        for input in 1..=12 {
            for kernel in 1..=5 {
                for stride in 1..=4 {
                    for same in [false, true] {
                        let expected = brute_force_size(input, kernel, stride, same);
                        let got = conv_output_size(input, kernel, stride, same);
                        assert_eq!(got, expected, "{input} {kernel} {stride} {same}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_padding_puts_the_extra_zero_after_the_input() {
        // 5 wide, kernel 3, stride 2: 3 outputs cover (3−1)·2 + 3 = 7, so 1 zero each side.
        assert_eq!(padding_before(5, 3, 2, true), 1);
        // 4 wide: 2 outputs cover 5, one zero in total, which TensorFlow puts after.
        assert_eq!(padding_before(4, 3, 2, true), 0);
        // 28 wide, kernel 3, stride 1: 28 outputs cover 30, one zero each side.
        assert_eq!(padding_before(28, 3, 1, true), 1);
        assert_eq!(padding_before(28, 3, 1, false), 0);
    }

    /// A convolution written directly from its definition, with TensorFlow's padding.
    #[allow(clippy::too_many_arguments)]
    fn naive_conv(
        input: &Array2<f32>,
        kernel: &ArrayD<f32>,
        bias: &ArrayD<f32>,
        (h, w, c): (usize, usize, usize),
        (f, k, s, same): (usize, usize, usize, bool),
    ) -> Array2<f32> {
        let (out_h, out_w) = (
            conv_output_size(h, k, s, same),
            conv_output_size(w, k, s, same),
        );
        let total = |size: usize, out: usize| ((out - 1) * s + k).saturating_sub(size);
        let (top, left) = if same {
            (total(h, out_h) / 2, total(w, out_w) / 2)
        } else {
            (0, 0)
        };
        let mut output = Array2::zeros((input.nrows(), out_h * out_w * f));
        for ((b, o), value) in output.indexed_iter_mut() {
            let (i, j, filter) = (o / (out_w * f), o / f % out_w, o % f);
            let mut sum = bias[[filter]];
            for (kh, kw, ch) in itertools(k, k, c) {
                let ih = (i * s + kh) as isize - top as isize;
                let iw = (j * s + kw) as isize - left as isize;
                if (0..h as isize).contains(&ih) && (0..w as isize).contains(&iw) {
                    let at = (ih as usize * w + iw as usize) * c + ch;
                    sum += input[[b, at]] * kernel[[kh, kw, ch, filter]];
                }
            }
            *value = sum;
        }
        output
    }

    fn itertools(a: usize, b: usize, c: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        (0..a).flat_map(move |i| (0..b).flat_map(move |j| (0..c).map(move |k| (i, j, k))))
    }

    /// Sets the bias to distinct nonzero values, so tests see it added to the right filter.
    fn spread_bias(layer: &mut dyn Layer) {
        let bias = &mut layer.params_mut()[1].value;
        bias.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = 0.1 * i as f32 - 0.05);
    }

    fn compare_with_naive<
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const K: usize,
        const S: usize,
        const SAME: bool,
    >() {
        let mut layer = Conv2d::<H, W, C, F, K, S, SAME, Linear>::new("conv2d", 3);
        spread_bias(&mut layer);
        let input = random_input(2, H * W * C, 4);
        let mut output = Array2::zeros((2, layer.output_len()));

        layer.forward(input.view(), output.view_mut(), Pass::new(Mode::Infer));

        let (kernel, bias) = (&layer.engine.kernel.value, &layer.engine.bias.value);
        let expected = naive_conv(&input, kernel, bias, (H, W, C), (F, K, S, SAME));
        for (got, want) in output.iter().zip(expected.iter()) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn small_patches_convolve_directly_and_large_ones_through_the_matrix_product() {
        // 3·3·1 and 3·3·3 values per patch: thin. 3·3·4 and the seed's 3·3·32: a product.
        assert!(Conv2d::<28, 28, 1, 32, 3, 1, false, Relu>::CONV.thin());
        assert!(Conv2d::<5, 6, 3, 4, 3, 1, true, Linear>::CONV.thin());
        assert!(!Conv2d::<6, 6, 4, 3, 3, 1, true, Linear>::CONV.thin());
        assert!(!Conv2d::<13, 13, 32, 64, 3, 1, false, Relu>::CONV.thin());
    }

    #[test]
    fn forward_matches_a_direct_convolution() {
        // Patches above THIN_PATCH values go through im2col and the matrix product.
        compare_with_naive::<6, 6, 4, 3, 3, 1, false>();
        compare_with_naive::<6, 6, 4, 3, 3, 1, true>();
        compare_with_naive::<7, 5, 5, 3, 3, 2, true>();
        compare_with_naive::<6, 6, 9, 2, 2, 2, true>();
        compare_with_naive::<5, 6, 1, 2, 3, 1, false>();
        compare_with_naive::<5, 6, 3, 4, 3, 1, false>();
        compare_with_naive::<5, 6, 3, 4, 3, 1, true>();
        compare_with_naive::<7, 5, 2, 3, 3, 2, false>();
        compare_with_naive::<7, 5, 2, 3, 3, 2, true>();
        compare_with_naive::<6, 6, 2, 2, 2, 2, true>();
        compare_with_naive::<4, 4, 2, 2, 4, 3, true>();
        compare_with_naive::<3, 3, 1, 1, 1, 1, false>();
        // Thin patches with more filters than one group of sums holds: 32 + 8.
        compare_with_naive::<5, 6, 2, 40, 3, 1, true>();
        compare_with_naive::<5, 6, 1, 64, 3, 2, false>();
    }

    #[test]
    fn relu_output_is_the_clamped_linear_output() {
        let mut linear = Conv2d::<5, 5, 2, 3, 3, 1, true, Linear>::new("conv2d", 8);
        let mut relu = Conv2d::<5, 5, 2, 3, 3, 1, true, Relu>::new("conv2d", 8);
        let input = random_input(2, 50, 1);
        let (mut a, mut b) = (Array2::zeros((2, 75)), Array2::zeros((2, 75)));

        linear.forward(input.view(), a.view_mut(), Pass::new(Mode::Train));
        relu.forward(input.view(), b.view_mut(), Pass::new(Mode::Train));

        assert_eq!(a.mapv(|v| v.max(0.0)), b);
        assert!(a.iter().any(|&v| v < 0.0));
    }

    /// Gradient check of one instantiation, with a spread bias and a batch of two.
    fn gradients_match<
        const H: usize,
        const W: usize,
        const C: usize,
        const F: usize,
        const K: usize,
        const S: usize,
        const SAME: bool,
        A: Activation,
    >(
        logits: bool,
    ) {
        let mut layer = Conv2d::<H, W, C, F, K, S, SAME, A>::new("conv2d", 11);
        spread_bias(&mut layer);
        let input = random_input(2, H * W * C, 12);
        let report = check(
            &mut layer,
            input.view(),
            &Options {
                logits,
                ..Options::default()
            },
        );

        let what = format!("{H}x{W}x{C} F{F} K{K} S{S} same={SAME} {:?}", A::KIND);
        assert!(report.worst_relative_error < 1e-2, "{what}: {report}");
        assert!(report.skipped * 10 <= report.checked, "{what}: {report}");
    }

    /// With nine in ten upstream values zero, as max pooling and dropout leave them, the
    /// backward products take the sparse path; its gradients match finite differences for
    /// patches of one whole chunk and a remainder (108 values) and of two chunks (128).
    #[test]
    fn sparse_gradients_match_finite_differences() {
        fn check_sparse<const C: usize, const S: usize, const SAME: bool, A: Activation>() {
            let mut layer = Conv2d::<6, 6, C, 20, 3, S, SAME, A>::new("conv2d", 11);
            spread_bias(&mut layer);
            let input = random_input(2, 36 * C, 12);
            let options = Options {
                upstream_zeros: 0.9,
                ..Options::default()
            };
            let report = check(&mut layer, input.view(), &options);
            let what = format!("C{C} S{S} same={SAME} {:?}", A::KIND);
            assert!(
                layer.engine.blocks.iter().all(|b| b.nonzeros.listed()),
                "{what}"
            );
            assert!(report.worst_relative_error < 1e-2, "{what}: {report}");
            assert!(report.skipped * 10 <= report.checked, "{what}: {report}");
        }
        check_sparse::<12, 1, false, Linear>();
        check_sparse::<12, 2, true, Relu>();
        check_sparse::<14, 1, true, Tanh>();
        // The default, dense upstream keeps the matrix products.
        let mut layer = Conv2d::<6, 6, 12, 20, 3, 1, false, Linear>::new("conv2d", 11);
        let report = check(
            &mut layer,
            random_input(2, 432, 12).view(),
            &Options::default(),
        );
        assert!(report.worst_relative_error < 1e-2, "{report}");
        assert!(layer.engine.blocks.iter().all(|b| !b.nonzeros.listed()));
    }

    #[test]
    fn gradients_match_finite_differences_for_each_padding_and_stride() {
        gradients_match::<5, 5, 1, 2, 3, 1, false, Linear>(false);
        gradients_match::<5, 4, 3, 2, 3, 1, false, Linear>(false);
        gradients_match::<5, 4, 3, 2, 3, 1, true, Linear>(false);
        gradients_match::<6, 5, 2, 3, 3, 2, false, Linear>(false);
        gradients_match::<6, 5, 2, 3, 3, 2, true, Linear>(false);
        gradients_match::<4, 4, 2, 2, 2, 3, true, Linear>(false);
        // The same through im2col and the matrix product (36 and 45 values per patch).
        gradients_match::<5, 4, 4, 2, 3, 1, false, Linear>(false);
        gradients_match::<5, 4, 4, 2, 3, 1, true, Linear>(false);
        gradients_match::<6, 5, 5, 3, 3, 2, true, Linear>(false);
    }

    #[test]
    fn gradients_match_finite_differences_for_each_activation() {
        gradients_match::<5, 4, 2, 3, 3, 1, true, Relu>(false);
        gradients_match::<5, 4, 2, 3, 3, 2, false, Sigmoid>(false);
        gradients_match::<5, 4, 2, 3, 3, 1, false, Tanh>(false);
        gradients_match::<5, 4, 2, 3, 3, 1, true, Softmax>(false);
        // Logits: the activation is skipped both ways, so this is the linear gradient.
        gradients_match::<5, 4, 2, 3, 3, 1, true, Softmax>(true);
        gradients_match::<5, 4, 4, 3, 3, 2, true, Relu>(false);
        gradients_match::<5, 4, 4, 3, 3, 1, false, Tanh>(false);
    }

    #[test]
    fn the_direct_product_gives_the_same_bits_on_every_instruction_set() {
        // 32 filters take a loop of their own; 40, a full group of THIN_LANES sums and a
        // narrower one.
        fn levels_agree<const F: usize>() {
            let layer = Conv2d::<7, 6, 2, F, 3, 1, true, Relu>::new("conv2d", 4);
            let kernel = layer.engine.kernel.value.as_slice().expect("contiguous");
            let input = random_input(3, 7 * 6 * 2, 5).into_raw_vec_and_offset().0;

            let results = crate::layers::vector::on_every_level(|| {
                let mut output = vec![0.0; 3 * 7 * 6 * F];
                layer
                    .engine
                    .conv
                    .thin_forward(kernel, &input, 3, &mut output);
                output
            });

            assert!(results.iter().all(|r| *r == results[0]), "{F} filters");
        }
        levels_agree::<32>();
        levels_agree::<40>();
    }

    #[test]
    fn logits_pass_skips_the_activation() {
        let mut softmax = Conv2d::<4, 4, 1, 3, 3, 1, false, Softmax>::new("conv2d", 2);
        let mut linear = Conv2d::<4, 4, 1, 3, 3, 1, false, Linear>::new("conv2d", 2);
        let input = random_input(1, 16, 3);
        let (mut a, mut b) = (Array2::zeros((1, 12)), Array2::zeros((1, 12)));

        softmax.forward(
            input.view(),
            a.view_mut(),
            Pass {
                mode: Mode::Train,
                logits: true,
            },
        );
        linear.forward(input.view(), b.view_mut(), Pass::new(Mode::Train));

        assert_eq!(a, b);
    }

    #[test]
    fn kernel_is_glorot_uniform_and_bias_zero() {
        let layer = Conv2d::<28, 28, 1, 32, 3, 1, false, Relu>::new("conv2d", 42);
        // fan_in = 3·3·1 = 9, fan_out = 3·3·32 = 288.
        let limit = (6.0_f64 / (9.0 + 288.0)).sqrt() as f32;

        let (kernel, bias) = (&layer.engine.kernel.value, &layer.engine.bias.value);
        assert_eq!(kernel.shape(), &[3, 3, 1, 32]);
        assert!(kernel.iter().all(|v| v.abs() <= limit));
        assert!(kernel.iter().any(|v| v.abs() > 0.9 * limit));
        assert!(bias.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn same_seed_and_name_give_the_same_kernel_and_another_name_another() {
        type Conv = Conv2d<8, 8, 2, 4, 3, 1, false, Relu>;
        let kernel = |name, seed| Conv::new(name, seed).engine.kernel.value;

        assert_eq!(kernel("conv2d", 1), kernel("conv2d", 1));
        assert_ne!(kernel("conv2d", 1), kernel("conv2d_1", 1));
        assert_ne!(kernel("conv2d", 1), kernel("conv2d", 2));
    }

    #[test]
    fn describes_itself_like_keras() {
        let layer = Conv2d::<13, 13, 32, 64, 3, 1, false, Relu>::new("conv2d_1", 0);
        let names: Vec<_> = layer.params().iter().map(|p| p.name).collect();

        assert_eq!(layer.kind(), "Conv2D");
        assert_eq!(layer.input_dims(), &[13, 13, 32]);
        assert_eq!(layer.output_dims(), &[11, 11, 64]);
        assert_eq!(layer.activation(), ActivationKind::Relu);
        assert_eq!(names, ["kernel", "bias"]);
        // 3·3·32·64 + 64, as in the Keras summary of the seed CNN.
        assert_eq!(layer.param_count(), 18_496);
        assert_eq!(
            Conv2d::<28, 28, 1, 8, 3, 2, true, Relu>::OUTPUT_DIMS,
            &[14, 14, 8]
        );
    }

    #[test]
    fn blocks_of_samples_give_the_results_of_one_sample_at_a_time() {
        // 16·16 positions of 5·5·16 values: 0.4 MiB of patches per sample, so blocks of at
        // most two samples; a batch of three makes a block of two and a block of one.
        type Big = Conv2d<32, 32, 16, 2, 5, 2, true, Tanh>;
        assert_eq!(Big::CONV.cache_block(), 2);
        assert_eq!(Big::CONV.block_size(3), 2);
        let mut layer = Big::new("conv2d", 1);
        let input = random_input(3, 32 * 32 * 16, 2);
        let upstream = random_input(3, 16 * 16 * 2, 3);
        let pass = Pass::new(Mode::Train);
        let run = |layer: &mut Big, rows: std::ops::Range<usize>| {
            let (x, mut g) = (
                input.slice(s![rows.clone(), ..]),
                upstream.slice(s![rows, ..]).to_owned(),
            );
            let mut y = Array2::zeros((x.nrows(), 512));
            let mut grad_input = Array2::zeros(x.raw_dim());
            layer.forward(x, y.view_mut(), pass);
            layer.backward(x, y.view(), g.view_mut(), Some(grad_input.view_mut()), pass);
            (y, grad_input)
        };

        let (all, all_grad) = run(&mut layer, 0..3);
        let kernel_grad = std::mem::replace(
            &mut layer.engine.kernel.grad,
            ArrayD::zeros(vec![5, 5, 16, 2]),
        );
        for b in 0..3 {
            let (one, one_grad) = run(&mut layer, b..b + 1);
            assert_eq!(one.row(0), all.row(b));
            assert_eq!(one_grad.row(0), all_grad.row(b));
        }

        // The kernel gradient adds the same per-sample terms, one block after another.
        for (a, b) in kernel_grad.iter().zip(layer.engine.kernel.grad.iter()) {
            assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    /// Output, input gradient and parameter gradients of one training step of `layer`
    /// on a fixed batch of `batch` samples, computed on a pool of `threads` threads.
    fn step_on_threads<L: Layer>(mut layer: L, batch: usize, threads: usize) -> Vec<Vec<f32>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        let (in_len, out_len) = (layer.input_len(), layer.output_len());
        let input = random_input(batch, in_len, 8);
        let mut upstream = random_input(batch, out_len, 9);
        let mut output = Array2::zeros((batch, out_len));
        let mut grad_input = Array2::zeros((batch, in_len));
        let pass = Pass::new(Mode::Train);
        pool.install(|| {
            layer.forward(input.view(), output.view_mut(), pass);
            layer.backward(
                input.view(),
                output.view(),
                upstream.view_mut(),
                Some(grad_input.view_mut()),
                pass,
            );
        });
        let mut results = vec![output.into_raw_vec_and_offset().0];
        results.push(grad_input.into_raw_vec_and_offset().0);
        results.extend(
            layer
                .params()
                .iter()
                .map(|p| p.grad.iter().copied().collect()),
        );
        results
    }

    #[test]
    fn results_are_bitwise_the_same_on_any_number_of_threads() {
        type Seed = Conv2d<13, 13, 32, 64, 3, 1, false, Relu>;
        // 30 samples: blocks of at most 7 make eight blocks, the last one short.
        let one = step_on_threads(Seed::new("conv2d_1", 3), 30, 1);
        for threads in [2, 3] {
            let many = step_on_threads(Seed::new("conv2d_1", 3), 30, threads);
            assert!(one == many, "{threads} threads differ from one");
        }
    }

    #[test]
    fn a_smaller_batch_after_a_larger_one_uses_a_prefix() {
        let mut layer = Conv2d::<6, 6, 2, 3, 3, 1, true, Tanh>::new("conv2d", 5);
        let input = random_input(4, 72, 6);
        let mut big = Array2::zeros((4, 108));
        let mut small = Array2::zeros((1, 108));
        let mut grad_big = Array2::zeros((4, 72));
        let mut grad_small = Array2::zeros((1, 72));
        let pass = Pass::new(Mode::Train);

        layer.forward(input.view(), big.view_mut(), pass);
        let mut upstream = Array2::ones((4, 108));
        layer.backward(
            input.view(),
            big.view(),
            upstream.view_mut(),
            Some(grad_big.view_mut()),
            pass,
        );
        let first = input.slice(ndarray::s![..1, ..]);
        layer.forward(first, small.view_mut(), pass);
        let mut upstream = Array2::ones((1, 108));
        layer.backward(
            first,
            small.view(),
            upstream.view_mut(),
            Some(grad_small.view_mut()),
            pass,
        );

        assert_eq!(small.row(0), big.row(0));
        assert_eq!(grad_small.row(0), grad_big.row(0));
    }
}
