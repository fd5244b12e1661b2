//! Shows what dropout does to overfitting: the seed CNN with and without its two dropout
//! layers, trained from the same seed on a small subset of MNIST.
//!
//! ```text
//! cargo run --release --example dropout_compare -- [--train-size 1000] [--epochs 30]
//!     [--rate 0.25] [--seed 42] [--data data/mnist] [--plot dropout_compare.png]
//! ```
//!
//! Both models see the first `--train-size` training images in the same shuffled order,
//! in batches of 32 with Adam, and are validated on the test images after every epoch.
//! The training loss shown is measured after each epoch in inference mode (dropout off),
//! so that it compares with the validation loss; the gap is validation loss minus it.
//!
//! Without dropout the training loss keeps falling towards zero while the validation loss
//! turns upward after a dozen epochs; with dropout the gap stays smaller and the lowest
//! validation loss is lower. The loss curves go to `--plot` as a PNG and, beside it, as
//! an SVG. The last line is machine-readable:
//! `result: best_val_loss_dropout=… best_val_loss_plain=… final_gap_dropout=…
//! final_gap_plain=… val_acc_dropout=… val_acc_plain=…`.
//!
//! The curves are drawn by the library's `plot::loss_curves` (cargo feature `plot`, on for
//! the examples), the same code behind `History::plot`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use dropnet::core::data::mnist;
use dropnet::core::plot;
use dropnet::core::prelude::*;

dropnet::model! {
    /// The seed CNN with dropout after each pooling layer.
    pub WithDropout(28, 28, 1) {
        conv2d(32, 3) relu;
        maxpool(2);
        dropout(0.25);
        conv2d(64, 3) relu;
        maxpool(2);
        dropout(0.25);
        flatten;
        dense(10) softmax;
    }

    /// The same CNN without dropout.
    pub Plain(28, 28, 1) {
        conv2d(32, 3) relu;
        maxpool(2);
        conv2d(64, 3) relu;
        maxpool(2);
        flatten;
        dense(10) softmax;
    }
}

/// Trains the seed CNN with and without dropout on a small MNIST subset and compares them.
#[derive(Parser)]
struct Args {
    /// Number of training images used (the first ones of the training set).
    #[arg(long, default_value_t = 1000)]
    train_size: usize,
    /// Passes over the training subset.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Rate of both dropout layers of the model with dropout.
    #[arg(long, default_value_t = 0.25)]
    rate: f32,
    /// Seed of the weights, the shuffling and the dropout masks (the same for both models).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Folder with the four MNIST IDX files, gzipped or not.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))]
    data: PathBuf,
    /// Where the PNG plot goes; the SVG is written beside it with the extension `svg`.
    #[arg(long, default_value = "dropout_compare.png")]
    plot: PathBuf,
}

/// Samples per gradient step, as in the Keras reference run.
const BATCH_SIZE: usize = 32;

/// The epoch (counted from 1) of the lowest validation loss, and that loss.
fn best(curves: &History) -> (usize, f64) {
    curves
        .records()
        .iter()
        .filter_map(|r| r.val_loss.map(|loss| (r.epoch, loss)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((1, f64::NAN))
}

/// Validation loss minus inference-mode training loss after the last epoch.
fn final_gap(curves: &History) -> f64 {
    last(curves, "val_loss") - last(curves, "loss")
}

/// The last epoch's value of `metric`, NaN before the first epoch.
fn last(curves: &History, metric: &str) -> f64 {
    curves
        .last()
        .and_then(|r| r.get(metric))
        .unwrap_or(f64::NAN)
}

/// The data sets of one comparison.
struct Sets {
    train_x: Samples<Image<28, 28, 1>>,
    train_y: Labels,
    val_x: Samples<Image<28, 28, 1>>,
    val_y: Labels,
}

/// Trains `model` for one more epoch, then measures it on both sets in inference mode and
/// appends the result to `curves`.
fn epoch<M: Model<Input = Image<28, 28, 1>>>(
    model: &mut M,
    sets: &Sets,
    curves: &mut History,
) -> anyhow::Result<()> {
    // One epoch per call: the optimiser state and the shuffling stream live in the model,
    // so thirty calls train exactly as one call of thirty epochs would.
    let start = Instant::now();
    model
        .fit(&sets.train_x, &sets.train_y)
        .epochs(1)
        .batch_size(BATCH_SIZE)
        .verbose(Verbosity::Silent)
        .run()?;
    let train = model.evaluate(&sets.train_x, &sets.train_y)?;
    let val = model.evaluate(&sets.val_x, &sets.val_y)?;
    let record = EpochRecord {
        epoch: curves.len() + 1,
        loss: train.loss,
        accuracy: Some(train.get("accuracy").unwrap_or(f64::NAN)),
        val_loss: Some(val.loss),
        val_accuracy: Some(val.get("accuracy").unwrap_or(f64::NAN)),
    };
    curves.push(record, start.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The summary compares epochs, so there must be at least one.
    anyhow::ensure!(args.epochs >= 1, "--epochs must be at least 1, got 0");
    check_plot_path(&args.plot)?;
    let data = mnist::load(&args.data)
        .with_context(|| format!("loading MNIST from {}", args.data.display()))?;
    anyhow::ensure!(
        args.train_size <= data.train_images.len(),
        "--train-size is {}, but {} has only {} training images",
        args.train_size,
        args.data.display(),
        data.train_images.len()
    );
    let sets = Sets {
        train_x: data.train_images.head(args.train_size),
        train_y: data.train_labels.head(args.train_size),
        val_x: data.test_images,
        val_y: data.test_labels,
    };
    println!(
        "training on {} images, validating on {}; {} epoch{}, batch {BATCH_SIZE}, Adam, \
         dropout rate {}, seed {}",
        sets.train_x.len(),
        sets.val_x.len(),
        args.epochs,
        if args.epochs == 1 { "" } else { "s" },
        args.rate,
        args.seed
    );

    let mut dropout = WithDropout::new(args.seed);
    dropout.dropout.set_rate(args.rate)?;
    dropout.dropout_1.set_rate(args.rate)?;
    dropout.compile(Adam::default(), SparseCategoricalCrossentropy);
    let mut plain = Plain::new(args.seed);
    plain.compile(Adam::default(), SparseCategoricalCrossentropy);

    let (with, without) = train_both(&mut dropout, &mut plain, &sets, args.epochs)?;
    report("with dropout", &with);
    report("without dropout", &without);
    check_claims(&with, &without);
    if args.train_size == 1000 && args.epochs == 30 && args.rate == 0.25 && args.seed == 42 {
        println!("Keras 3.15, same run: with dropout best 0.177 (epoch 16), gap 0.178, acc 0.957;");
        println!("                      without best 0.217 (epoch 13), gap 0.249, acc 0.954");
    }

    plot(&args.plot, &with, &without)?;
    let (_, best_with) = best(&with);
    let (_, best_without) = best(&without);
    println!(
        "result: best_val_loss_dropout={best_with:.4} best_val_loss_plain={best_without:.4} \
         final_gap_dropout={:.4} final_gap_plain={:.4} val_acc_dropout={:.4} \
         val_acc_plain={:.4}",
        final_gap(&with),
        final_gap(&without),
        last(&with, "val_accuracy"),
        last(&without, "val_accuracy")
    );
    Ok(())
}

/// Trains both models epoch by epoch, printing one line per epoch.
fn train_both(
    dropout: &mut WithDropout,
    plain: &mut Plain,
    sets: &Sets,
    epochs: usize,
) -> anyhow::Result<(History, History)> {
    println!(
        "{:>5} | {:^35} | {:^35} | {:>4}",
        "", "with dropout", "without dropout", ""
    );
    println!(
        "{:>5} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8} | {:>4}",
        "epoch", "loss", "acc", "val_loss", "val_acc", "loss", "acc", "val_loss", "val_acc", "s"
    );
    let (mut with, mut without) = (History::new(), History::new());
    for k in 0..epochs {
        let start = Instant::now();
        epoch(dropout, sets, &mut with)?;
        epoch(plain, sets, &mut without)?;
        println!(
            "{:>5} | {} | {} | {:>4.1}",
            k + 1,
            row(&with, k),
            row(&without, k),
            start.elapsed().as_secs_f64()
        );
    }
    Ok((with, without))
}

/// Epoch `k` (from 0) of one model: training loss and accuracy, validation loss and
/// accuracy.
fn row(curves: &History, k: usize) -> String {
    let value = |metric| curves.records()[k].get(metric).unwrap_or(f64::NAN);
    format!(
        "{:>8.4} {:>8.4} {:>8.4} {:>8.4}",
        value("loss"),
        value("accuracy"),
        value("val_loss"),
        value("val_accuracy")
    )
}

fn report(name: &str, curves: &History) {
    let (epoch, loss) = best(curves);
    println!(
        "{name}: lowest val loss {loss:.4} at epoch {epoch}; final val loss {:.4}, final gap \
         {:.4} (val − train); final val accuracy {:.4}",
        last(curves, "val_loss"),
        final_gap(curves),
        last(curves, "val_accuracy")
    );
}

/// Says whether this run shows what dropout is for: without it the validation loss turns
/// upward after its lowest point while the training loss keeps falling; with it the final
/// gap is smaller and the lowest validation loss lower.
fn check_claims(with: &History, without: &History) {
    let (best_epoch, lowest) = best(without);
    let rise = last(without, "val_loss") - lowest;
    let fall = without.records()[best_epoch - 1].loss - last(without, "loss");
    println!(
        "without dropout, from epoch {best_epoch} to the end: val loss {} by {:.4}, training \
         loss {} by {:.4}",
        if rise > 0.0 { "rose" } else { "did not rise" },
        rise.abs(),
        if fall > 0.0 { "fell" } else { "did not fall" },
        fall.abs()
    );
    let yes_no = |holds: bool| if holds { "yes" } else { "no" };
    println!(
        "with dropout: smaller final gap: {}; lower lowest val loss: {}",
        yes_no(final_gap(with) < final_gap(without)),
        yes_no(best(with).1 < lowest)
    );
}

/// Refuses a plot path that could not be written, before any training time is spent.
fn check_plot_path(path: &Path) -> anyhow::Result<()> {
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    anyhow::ensure!(
        is_png,
        "--plot must name a .png file, got {}",
        path.display()
    );
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    anyhow::ensure!(
        folder.exists(),
        "--plot: the folder {} does not exist",
        folder.display()
    );
    anyhow::ensure!(
        folder.is_dir(),
        "--plot: {} is a file, not a folder",
        folder.display()
    );
    anyhow::ensure!(!path.is_dir(), "--plot: {} is a folder", path.display());
    check_writable(folder)
        .with_context(|| format!("--plot: cannot write in the folder {}", folder.display()))
}

/// Proves `folder` writable by creating and removing a file in it: permissions, a
/// read-only mount or a pseudo file system such as `/sys` only show when writing.
///
/// A new file of its own is used rather than the plot path, so an existing plot is not
/// truncated when training then fails.
fn check_writable(folder: &Path) -> std::io::Result<()> {
    let probe = folder.join(format!(".dropout_compare-{}.probe", std::process::id()));
    // `create_new` never opens someone else's file, so removing it afterwards is safe.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// Writes the four loss curves as a PNG at `path` and as an SVG beside it.
fn plot(path: &Path, with: &History, without: &History) -> anyhow::Result<()> {
    let title = "Seed CNN on a small MNIST subset, with and without dropout";
    let runs = [("with dropout", with), ("without dropout", without)];
    let svg = path.with_extension("svg");
    plot::loss_curves(path, title, &runs)?;
    plot::loss_curves(&svg, title, &runs)?;
    println!("plot: {} and {}", path.display(), svg.display());
    Ok(())
}
