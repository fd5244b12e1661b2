//! Forward and backward of every layer of the seed CNN and the seed LSTM, at the seed
//! shapes and a batch of 32 (`cargo bench --bench layers`; a filter such as
//! `cargo bench --bench layers -- conv2d_1` runs one layer).
//!
//! Each layer is timed alone on random inputs of its own shape, in training mode: forward
//! writes its output (and caches what backward needs); backward, timed after an untimed
//! forward, adds the parameter gradients and writes the input gradient, except for the first
//! layer of each model, which needs none (as in training). Each benchmark's throughput is
//! the batch, so criterion also reports samples per second.
//!
//! A random output gradient is dense, but in training a convolution's gradient comes back
//! through max pooling and dropout, mostly zeros, and the convolution then skips the zeros.
//! `backward_pooled` times each convolution's backward on such a gradient.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dropnet::core::activation::{Relu, Softmax};
use dropnet::core::gradcheck::random_input;
use dropnet::core::layers::{Conv2d, Dense, Dropout, Flatten, Lstm, MaxPool2d};
use std::time::{Duration, Instant};

use dropnet::core::{Image, Layer, Mode, Pass};
use ndarray::Array2;

/// Samples per batch, the seed models' training batch.
const BATCH: usize = 32;

/// A layer with the buffers one training step through it needs.
struct Bench {
    layer: Box<dyn Layer>,
    input: Array2<f32>,
    output: Array2<f32>,
    grad_output: Array2<f32>,
    grad_input: Option<Array2<f32>>,
    /// True when the layer is the model's last one, which trains on its logits.
    logits: bool,
}

impl Bench {
    fn new(layer: Box<dyn Layer>, first: bool, logits: bool) -> Self {
        let (in_len, out_len) = (layer.input_len(), layer.output_len());
        // Inputs in [0, 1], like scaled pixels, so that ReLUs see both signs after a kernel.
        let input = random_input(BATCH, in_len, 1).mapv(|v| 0.5 * (v + 1.0));
        Self {
            layer,
            input,
            output: Array2::zeros((BATCH, out_len)),
            grad_output: random_input(BATCH, out_len, 2),
            grad_input: (!first).then(|| Array2::zeros((BATCH, in_len))),
            logits,
        }
    }

    fn pass(&self) -> Pass {
        Pass {
            mode: Mode::Train,
            logits: self.logits,
        }
    }

    fn forward(&mut self) {
        let pass = self.pass();
        self.layer
            .forward(self.input.view(), self.output.view_mut(), pass);
    }

    fn backward(&mut self) {
        let pass = self.pass();
        self.layer.backward(
            self.input.view(),
            self.output.view(),
            self.grad_output.view_mut(),
            self.grad_input.as_mut().map(|g| g.view_mut()),
            pass,
        );
    }
}

/// The layers of the seed CNN (`examples/mnist_cnn.rs`), first flag: no input gradient.
fn seed_cnn() -> Vec<(Box<dyn Layer>, bool, bool)> {
    vec![
        (
            Box::new(Conv2d::<28, 28, 1, 32, 3, 1, false, Relu>::new(
                "conv2d", 42,
            )),
            true,
            false,
        ),
        (
            Box::new(MaxPool2d::<26, 26, 32, 2, 2>::new("max_pooling2d", 42)),
            false,
            false,
        ),
        (
            Box::new(Dropout::<Image<13, 13, 32>>::new("dropout", 42, 0.25)),
            false,
            false,
        ),
        (
            Box::new(Conv2d::<13, 13, 32, 64, 3, 1, false, Relu>::new(
                "conv2d_1", 42,
            )),
            false,
            false,
        ),
        (
            Box::new(MaxPool2d::<11, 11, 64, 2, 2>::new("max_pooling2d_1", 42)),
            false,
            false,
        ),
        (
            Box::new(Flatten::<Image<5, 5, 64>>::new("flatten", 42)),
            false,
            false,
        ),
        (
            Box::new(Dense::<1600, 10, Softmax>::new("dense", 42)),
            false,
            true,
        ),
    ]
}

/// The recurrent layers of the seed LSTM (`examples/lstm_co2.rs`).
fn seed_lstm() -> Vec<(Box<dyn Layer>, bool, bool)> {
    vec![
        (
            Box::new(Lstm::<52, 1, 64, true>::new("lstm", 42)),
            true,
            false,
        ),
        (
            Box::new(Lstm::<52, 64, 32, false>::new("lstm_1", 42)),
            false,
            false,
        ),
    ]
}

/// Time spent in `iters` backward passes, each after an untimed forward.
fn time_backward(bench: &mut Bench, iters: u64) -> Duration {
    let mut spent = Duration::ZERO;
    // Backward writes the gradient through the activation over the output gradient. The
    // same forward gives the same output, so from the second pass on every pass sees the
    // same gradient, as it would in training; no copy is needed.
    for _ in 0..iters {
        bench.forward();
        let start = Instant::now();
        bench.backward();
        spent += start.elapsed();
    }
    spent
}

/// For a convolution (an output of `[h, w, channels]`), a random gradient as 2×2 max
/// pooling and a dropout of rate 0.25 pass it back: per channel, one position of each whole
/// window (which one varies), zero elsewhere, and a quarter of those zero too.
fn pooled_gradient(layer: &dyn Layer) -> Option<Array2<f32>> {
    let &[h, w, channels] = layer.output_dims() else {
        return None;
    };
    if layer.kind() != "Conv2D" {
        return None;
    }
    let dense = random_input(BATCH, h * w * channels, 3);
    let mut grad = Array2::zeros((BATCH, h * w * channels));
    // A fixed scramble picks the window's position and whether dropout kept it.
    let scramble = |i: usize| (i.wrapping_mul(0x9E37_79B9) >> 7) % 16;
    for (b, (row, dense)) in grad.rows_mut().into_iter().zip(dense.rows()).enumerate() {
        let (row, dense) = (row.into_slice().unwrap(), dense.as_slice().unwrap());
        for (i, j, c) in (0..h / 2)
            .flat_map(|i| (0..w / 2).flat_map(move |j| (0..channels).map(move |c| (i, j, c))))
        {
            let pick = scramble(((b * h + i) * w + j) * channels + c);
            if pick >= 12 {
                continue;
            }
            let (y, x) = (2 * i + pick % 2, 2 * j + (pick / 2) % 2);
            let at = (y * w + x) * channels + c;
            row[at] = dense[at];
        }
    }
    Some(grad)
}

fn layers(c: &mut Criterion) {
    let mut group = c.benchmark_group("layers");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (layer, first, logits) in seed_cnn().into_iter().chain(seed_lstm()) {
        let mut bench = Bench::new(layer, first, logits);
        let name = bench.layer.name().to_string();

        group.bench_function(BenchmarkId::new("forward", &name), |b| {
            b.iter(|| bench.forward())
        });
        // Backward reads what a training forward cached (an LSTM uses its states up), so
        // every timed backward follows an untimed forward.
        group.bench_function(BenchmarkId::new("backward", &name), |b| {
            b.iter_custom(|iters| time_backward(&mut bench, iters))
        });
        // In training a convolution's gradient comes back through max pooling and dropout:
        // one position of each pooling window at most, and a quarter of those dropped.
        if let Some(pooled) = pooled_gradient(&*bench.layer) {
            bench.grad_output = pooled;
            group.bench_function(BenchmarkId::new("backward_pooled", &name), |b| {
                b.iter_custom(|iters| time_backward(&mut bench, iters))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
