//! Times training of the seed CNN and the seed LSTM, the figures a speed comparison needs.
//!
//! ```text
//! cargo run --release --example train_speed -- [--cnn-epochs 3] [--lstm-epochs 5]
//!                                              [--batch-size 32] [--data DIR]
//! ```
//!
//! Each epoch is timed from the start to the end of its training steps (no validation), the
//! same span the Keras reference scripts time. The first epoch warms buffers and caches, so
//! the figures are medians over the later ones. Useful work is counted as in the reference
//! scripts: a forward pass of every layer, plus a backward pass that computes weight and input
//! gradients everywhere except the input gradient of the first layer. The last line is
//! `result: cnn_epoch_s=… lstm_epoch_s=… cnn_gflops=…`, after lines with the heap
//! allocations per CNN training step (counted by a wrapper around the system allocator) and
//! the peak resident memory of the whole run where the system reports it.
//! `bench/compare.sh` runs this example side by side with Keras and PyTorch.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use clap::Parser;
use dropnet::core::data::mnist;
use dropnet::core::data::series::{CsvSeries, Gaps, Scaling};
use dropnet::prelude::*;

dropnet::model! {
    /// The seed CNN of the `mnist_cnn` example.
    SeedCnn(28, 28, 1) {
        conv2d(32, 3) relu;
        maxpool(2);
        dropout(0.25);
        conv2d(64, 3) relu;
        maxpool(2);
        dropout(0.25);
        flatten;
        dense(10) softmax;
    }

    /// The seed LSTM of the `lstm_co2` example.
    SeedLstm(52, 1) {
        lstm(64, return_sequences = true);
        dropout(0.3);
        lstm(32);
        dropout(0.3);
        dense(1);
    }
}

/// The system allocator, counting the allocations made through it, so that the run can
/// report how many a training step makes.
struct Counting;

/// Allocations (and reallocations) since the start of the process.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on unchanged to the system allocator; the counter is a
// relaxed atomic that nothing depends on for memory ordering.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Times training epochs of the seed CNN and LSTM.
#[derive(Parser)]
struct Args {
    /// Epochs of the CNN over the 8,000 shipped training images (at least 2).
    #[arg(long, default_value_t = 3)]
    cnn_epochs: usize,
    /// Epochs of the LSTM over the 1,775 CO2 training windows (at least 2).
    #[arg(long, default_value_t = 5)]
    lstm_epochs: usize,
    /// Samples per gradient step, for both models.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Folder holding `mnist/` and `co2/` (default: the repository's `data`).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

/// Floating-point operations of one training step of the seed CNN, per sample.
///
/// A multiply-add counts as two. Forward: conv 26·26·32 outputs of 3·3·1 taps, conv
/// 11·11·64 outputs of 3·3·32 taps, dense 1600·10. Backward: the weight gradient of every
/// layer (as much work as its forward) and the input gradient of all but the first.
fn cnn_flops_per_sample() -> f64 {
    let conv1 = 2.0 * (26 * 26 * 32 * 9) as f64;
    let conv2 = 2.0 * (11 * 11 * 64 * 9 * 32) as f64;
    let dense = 2.0 * (1600 * 10) as f64;
    let forward = conv1 + conv2 + dense;
    forward + conv1 + 2.0 * (conv2 + dense)
}

/// The peak resident memory of this process in MB, where the system reports it (Linux).
fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kilobytes: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes / 1024.0)
}

/// Median of the epoch times after the first (the mean of the middle two for an even count,
/// as numpy's median in the reference scripts takes it).
fn median_after_first(seconds: &[f64]) -> f64 {
    let mut later = seconds.get(1..).unwrap_or_default().to_vec();
    later.sort_by(f64::total_cmp);
    let middle = later.len() / 2;
    match later.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => later[middle],
        _ => (later[middle - 1] + later[middle]) / 2.0,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.cnn_epochs >= 2, "--cnn-epochs must be at least 2");
    anyhow::ensure!(args.lstm_epochs >= 2, "--lstm-epochs must be at least 2");
    let root = args
        .data
        .clone()
        .unwrap_or_else(|| [env!("CARGO_MANIFEST_DIR"), "data"].iter().collect());

    // Both data sets are read before anything is timed, so that a bad file costs no wait.
    let data = mnist::load(root.join("mnist")).context("loading the MNIST digits")?;
    let co2 = root.join("co2").join("co2.csv");
    let series = CsvSeries::column("co2")
        .dates("date")
        .gaps(Gaps::Interpolate)
        .read(&co2)
        .with_context(|| format!("loading the CO2 series from {}", co2.display()))?;
    let split = series.split_index(0.8)?;
    let scaling = Scaling::change(&series.values()[..split])?;
    let (train, _) = series
        .windows::<52>(1, &scaling)
        .with_context(|| format!("making 52-week windows of {}", co2.display()))?
        .split_at(split);
    if args.batch_size > data.train_images.len() {
        println!(
            "note: --batch-size {} is more than the {} training images: each CNN epoch is one \
             batch of them all",
            args.batch_size,
            data.train_images.len()
        );
    }

    let mut cnn = SeedCnn::new(42);
    cnn.compile(Adam::default(), SparseCategoricalCrossentropy);
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let history = cnn
        .fit(&data.train_images, &data.train_labels)
        .epochs(args.cnn_epochs)
        .batch_size(args.batch_size)
        .verbose(Verbosity::Silent)
        .run()?;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    let steps = args.cnn_epochs * data.train_images.len().div_ceil(args.batch_size);
    let cnn_epoch = median_after_first(history.seconds());
    let samples = data.train_images.len() as f64;
    let cnn_gflops = cnn_flops_per_sample() * samples / cnn_epoch / 1e9;
    println!(
        "cnn: {cnn_epoch:.2} s per epoch, {:.0} samples/s, {cnn_gflops:.1} GFLOP/s \
         (epochs: {:?})",
        samples / cnn_epoch,
        history
            .seconds()
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
    );

    let mut lstm = SeedLstm::new(42);
    lstm.compile(Adam::default(), MeanSquaredError);
    let history = lstm
        .fit(train.inputs(), train.targets())
        .epochs(args.lstm_epochs)
        .batch_size(args.batch_size)
        .verbose(Verbosity::Silent)
        .run()?;
    let lstm_epoch = median_after_first(history.seconds());
    println!(
        "lstm: {lstm_epoch:.3} s per epoch, {:.0} samples/s",
        train.len() as f64 / lstm_epoch
    );

    println!(
        "allocations: {:.1} per CNN training step ({allocations} in {steps} steps, including \
         the buffers set up by the first)",
        allocations as f64 / steps as f64
    );
    if let Some(peak) = peak_resident_mb() {
        println!("memory: peak resident {peak:.0} MB");
    }
    println!(
        "result: cnn_epoch_s={cnn_epoch:.3} lstm_epoch_s={lstm_epoch:.3} \
         cnn_gflops={cnn_gflops:.1}"
    );
    Ok(())
}
