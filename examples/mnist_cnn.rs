//! Trains the classic Keras image classifier on MNIST digits.
//!
//! ```text
//! cargo run --release --example mnist_cnn -- [--epochs 5] [--batch-size 32] [--seed 42]
//!                                            [--data data/mnist]
//! ```
//!
//! With the 8,000 training and 2,000 test digits shipped in `data/mnist`, five epochs reach
//! a test accuracy of about 0.98. `--data DIR` takes the official 60,000/10,000 IDX files
//! unchanged. After training, Monte Carlo dropout (`predict_mc`, 20 passes with dropout
//! active) ranks the first 1,000 test digits by the spread of the predicted class's
//! probability and prints the five most uncertain. The last line is machine-readable:
//! `result: test_accuracy=… test_loss=… epochs=… seconds=…`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use dropnet::core::data::mnist;
use dropnet::core::prelude::*;

dropnet::model! {
    /// The seed CNN: two convolution blocks with dropout, then a softmax classifier.
    pub MnistCnn(28, 28, 1) {
        conv2d(32, 3) relu;
        maxpool(2);
        dropout(0.25);
        conv2d(64, 3) relu;
        maxpool(2);
        dropout(0.25);
        flatten;
        dense(10) softmax;
    }
}

/// Trains the seed CNN on MNIST and reports its test accuracy.
#[derive(Parser)]
struct Args {
    /// Passes over the training set.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Samples per gradient step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Seed of the weights, the shuffling and the dropout masks.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Folder with the four MNIST IDX files, gzipped or not.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))]
    data: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Zero epochs would train nothing yet print a result as if it had; refused before the
    // data is loaded.
    anyhow::ensure!(args.epochs >= 1, "--epochs must be at least 1, got 0");
    let data = mnist::load(&args.data)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    println!(
        "MNIST: {} training and {} test images from {}",
        data.train_images.len(),
        data.test_images.len(),
        args.data.display()
    );
    if args.epochs == 5 && data.train_images.len() == 8000 {
        println!("expect a test accuracy of about 0.975 (0.971-0.982 across seeds, as Keras)");
    }

    let mut model = MnistCnn::new(args.seed);
    println!("{}", model.summary());
    model.compile(Adam::default(), SparseCategoricalCrossentropy);

    let start = Instant::now();
    let history = model
        .fit(&data.train_images, &data.train_labels)
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .validation_data(&data.test_images, &data.test_labels)
        .verbose(Verbosity::ProgressBar)
        .run()?;
    let seconds = start.elapsed().as_secs_f64();

    let mut epoch_seconds = history.seconds().to_vec();
    epoch_seconds.sort_by(f64::total_cmp);
    if let Some(median) = epoch_seconds.get(epoch_seconds.len() / 2) {
        println!("median epoch: {median:.2} s (training steps and validation)");
    }

    let test = model.evaluate(&data.test_images, &data.test_labels)?;
    let accuracy = test
        .get("accuracy")
        .context("accuracy is reported for classification")?;
    let (images, labels) = (
        data.test_images.head(MC_DIGITS),
        data.test_labels.head(MC_DIGITS),
    );
    most_uncertain(&mut model, &images, &labels)?;
    println!(
        "result: test_accuracy={accuracy:.4} test_loss={:.4} epochs={} seconds={seconds:.1}",
        test.loss, args.epochs
    );
    Ok(())
}

/// Monte Carlo passes behind the uncertainty ranking.
const MC_SAMPLES: usize = 20;

/// Test digits ranked by uncertainty (the first ones), which keeps the ranking to a few
/// seconds even with the official 10,000 test images.
const MC_DIGITS: usize = 1000;

/// Prints the five of `images` on which Monte Carlo dropout is least sure: the largest
/// standard deviation, over [`MC_SAMPLES`] passes with dropout active, of the probability
/// of the class the mean prediction picks.
fn most_uncertain(
    model: &mut MnistCnn,
    images: &Samples<Image<28, 28, 1>>,
    labels: &Labels,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mc = model.predict_mc(images, MC_SAMPLES)?;
    let (mean, std) = (mc.mean.matrix(), mc.std.matrix());
    // For each digit: its index, the class of highest mean probability, and that class's
    // mean probability and standard deviation.
    let mut digits: Vec<(usize, usize, f32, f32)> = mean
        .rows()
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let class = (0..row.len())
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            (i, class, row[class], std[[i, class]])
        })
        .collect();
    digits.sort_by(|a, b| b.3.total_cmp(&a.3));

    println!(
        "Monte Carlo dropout, {MC_SAMPLES} passes over the first {} test digits ({:.1} s); the 5 \
         most uncertain:",
        images.len(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "{:>6} {:>6} {:>10} {:>7} {:>7}",
        "index", "label", "predicted", "mean p", "std p"
    );
    for &(index, class, p, s) in digits.iter().take(5) {
        let label = labels.as_slice()[index];
        println!("{index:>6} {label:>6} {class:>10} {p:>7.3} {s:>7.3}");
    }
    Ok(())
}
