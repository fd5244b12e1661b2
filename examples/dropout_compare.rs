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
//! Text in the PNG is drawn with the bundled DejaVu Sans font (see `assets/fonts`), so
//! plotting needs no system font library. Building `plotters` with its PNG encoder and
//! font rasteriser adds about 70 s of CPU time (95 s on two busy cores) to a clean build;
//! it is a dev-dependency only, so the library itself does not pull it in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::Parser;
use dropnet::core::data::mnist;
use dropnet::core::prelude::*;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordusize;
use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;

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

/// Losses and accuracies of one model after each epoch.
#[derive(Default)]
struct Curves {
    train_loss: Vec<f64>,
    train_acc: Vec<f64>,
    val_loss: Vec<f64>,
    val_acc: Vec<f64>,
}

impl Curves {
    /// The epoch (counted from 1) of the lowest validation loss, and that loss.
    fn best(&self) -> (usize, f64) {
        let (index, loss) = self
            .val_loss
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map_or((0, f64::NAN), |(i, &l)| (i, l));
        (index + 1, loss)
    }

    /// Validation loss minus inference-mode training loss after the last epoch.
    fn final_gap(&self) -> f64 {
        last(&self.val_loss) - last(&self.train_loss)
    }
}

fn last(values: &[f64]) -> f64 {
    values.last().copied().unwrap_or(f64::NAN)
}

/// The data sets of one comparison.
struct Sets {
    train_x: Samples<Image<28, 28, 1>>,
    train_y: Labels,
    val_x: Samples<Image<28, 28, 1>>,
    val_y: Labels,
}

/// Trains `model` for one more epoch, then measures it on both sets in inference mode.
fn epoch<M: Model<Input = Image<28, 28, 1>>>(
    model: &mut M,
    sets: &Sets,
    curves: &mut Curves,
) -> anyhow::Result<()> {
    // One epoch per call: the optimiser state and the shuffling stream live in the model,
    // so thirty calls train exactly as one call of thirty epochs would.
    model
        .fit(&sets.train_x, &sets.train_y)
        .epochs(1)
        .batch_size(BATCH_SIZE)
        .verbose(Verbosity::Silent)
        .run()?;
    let train = model.evaluate(&sets.train_x, &sets.train_y)?;
    let val = model.evaluate(&sets.val_x, &sets.val_y)?;
    curves.train_loss.push(train.loss);
    curves
        .train_acc
        .push(train.get("accuracy").unwrap_or(f64::NAN));
    curves.val_loss.push(val.loss);
    curves.val_acc.push(val.get("accuracy").unwrap_or(f64::NAN));
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
        "training on {} images, validating on {}; {} epochs, batch {BATCH_SIZE}, Adam, \
         dropout rate {}, seed {}",
        sets.train_x.len(),
        sets.val_x.len(),
        args.epochs,
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
    let (_, best_with) = with.best();
    let (_, best_without) = without.best();
    println!(
        "result: best_val_loss_dropout={best_with:.4} best_val_loss_plain={best_without:.4} \
         final_gap_dropout={:.4} final_gap_plain={:.4} val_acc_dropout={:.4} \
         val_acc_plain={:.4}",
        with.final_gap(),
        without.final_gap(),
        last(&with.val_acc),
        last(&without.val_acc)
    );
    Ok(())
}

/// Trains both models epoch by epoch, printing one line per epoch.
fn train_both(
    dropout: &mut WithDropout,
    plain: &mut Plain,
    sets: &Sets,
    epochs: usize,
) -> anyhow::Result<(Curves, Curves)> {
    println!(
        "{:>5} | {:^35} | {:^35} | {:>4}",
        "", "with dropout", "without dropout", ""
    );
    println!(
        "{:>5} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8} | {:>4}",
        "epoch", "loss", "acc", "val_loss", "val_acc", "loss", "acc", "val_loss", "val_acc", "s"
    );
    let (mut with, mut without) = (Curves::default(), Curves::default());
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

/// Epoch `k` of one model: training loss and accuracy, validation loss and accuracy.
fn row(curves: &Curves, k: usize) -> String {
    format!(
        "{:>8.4} {:>8.4} {:>8.4} {:>8.4}",
        curves.train_loss[k], curves.train_acc[k], curves.val_loss[k], curves.val_acc[k]
    )
}

fn report(name: &str, curves: &Curves) {
    let (epoch, loss) = curves.best();
    println!(
        "{name}: lowest val loss {loss:.4} at epoch {epoch}; final val loss {:.4}, final gap \
         {:.4} (val − train); final val accuracy {:.4}",
        last(&curves.val_loss),
        curves.final_gap(),
        last(&curves.val_acc)
    );
}

/// Says whether this run shows what dropout is for: without it the validation loss turns
/// upward after its lowest point while the training loss keeps falling; with it the final
/// gap is smaller and the lowest validation loss lower.
fn check_claims(with: &Curves, without: &Curves) {
    let (best_epoch, best) = without.best();
    let rise = last(&without.val_loss) - best;
    let fall = without.train_loss[best_epoch - 1] - last(&without.train_loss);
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
        yes_no(with.final_gap() < without.final_gap()),
        yes_no(with.best().1 < best)
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
        folder.is_dir(),
        "--plot: the folder {} does not exist",
        folder.display()
    );
    anyhow::ensure!(!path.is_dir(), "--plot: {} is a folder", path.display());
    Ok(())
}

/// The bundled font, registered as the family every label of the plots uses.
const FONT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

/// Writes the four loss curves as a PNG at `path` and as an SVG beside it.
fn plot(path: &Path, with: &Curves, without: &Curves) -> anyhow::Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the bundled font cannot be read"))?;
    let size = (1400, 640);
    draw(
        BitMapBackend::new(path, size).into_drawing_area(),
        with,
        without,
    )
    .with_context(|| format!("writing {}", path.display()))?;
    let svg = path.with_extension("svg");
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        with,
        without,
    )
    .with_context(|| format!("writing {}", svg.display()))?;
    println!("plot: {} and {}", path.display(), svg.display());
    Ok(())
}

/// Draws both panels on `area`: every loss on a log scale, and the validation losses alone
/// on a linear scale, where the upturn without dropout shows.
fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    with: &Curves,
    without: &Curves,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let area = area.titled(
        "Seed CNN on a small MNIST subset, with and without dropout",
        ("sans-serif", 26),
    )?;
    let (left, right) = area.split_horizontally(area.dim_in_pixel().0 * 55 / 100);
    all_losses(&left, with, without)?;
    validation_losses(&right, with, without)?;
    area.present()?;
    Ok(())
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const RED: RGBColor = RGBColor(214, 39, 40);

/// Training (dashed) and validation (solid) losses of both models, log scale.
fn all_losses<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    with: &Curves,
    without: &Curves,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let values = [with, without]
        .into_iter()
        .flat_map(|c| c.train_loss.iter().chain(&c.val_loss).copied());
    let (low, high) = values.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let y_range = (low.max(1e-6) / 1.5..high.max(1e-5) * 1.5).log_scale();
    let mut chart = chart(area, "all losses (log scale)", 1, with, y_range)?;
    let series = [
        ("validation, with dropout", &with.val_loss, BLUE, false),
        ("training, with dropout", &with.train_loss, BLUE, true),
        ("validation, without dropout", &without.val_loss, RED, false),
        ("training, without dropout", &without.train_loss, RED, true),
    ];
    for (label, values, color, dashed) in series {
        let points = values.iter().enumerate().map(|(i, &v)| (i + 1, v));
        let style = color.stroke_width(3);
        if dashed {
            chart.draw_series(DashedLineSeries::new(points, 10, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(points, style))?
        }
        .label(label)
        .legend(move |(x, y)| legend_line(x, y, color, dashed));
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft)
}

/// The validation losses alone, linear scale, each lowest point marked.
fn validation_losses<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    with: &Curves,
    without: &Curves,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    // From epoch 3 on: the first epochs' losses would squeeze the rest into a thin band.
    let first = if with.val_loss.len() > 4 { 3 } else { 1 };
    let late = |c: &Curves| {
        c.val_loss
            .iter()
            .skip(first - 1)
            .copied()
            .collect::<Vec<_>>()
    };
    let values = [late(with), late(without)].concat();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    let pad = (high - low).max(1e-3) * 0.1;
    let title = format!("validation loss from epoch {first} (linear scale)");
    let mut chart = chart(area, &title, first, with, low - pad..high + pad)?;
    for (name, curves, color) in [("with", with, BLUE), ("without", without, RED)] {
        let points = curves.val_loss.iter().enumerate().map(|(i, &v)| (i + 1, v));
        let (best_epoch, best) = curves.best();
        let label = format!("{name} dropout (dot: lowest, {best:.3} at epoch {best_epoch})");
        chart
            .draw_series(LineSeries::new(
                points.skip(first - 1),
                color.stroke_width(3),
            ))?
            .label(label)
            .legend(move |(x, y)| legend_line(x, y, color, false));
        chart.draw_series([Circle::new((best_epoch, best), 7, color.filled())])?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// A chart on `area` titled `title`, epochs from `first` across and `y_range` up, with its
/// mesh drawn.
fn chart<'a, DB, R>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    first: usize,
    curves: &Curves,
    y_range: R,
) -> anyhow::Result<ChartContext<'a, DB, Cartesian2d<RangedCoordusize, R::CoordDescType>>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    R: AsRangedCoord<Value = f64>,
    R::CoordDescType: ValueFormatter<f64>,
{
    let epochs = curves.val_loss.len().max(2);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(first..epochs, y_range)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("cross-entropy loss")
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 15))
        .y_label_formatter(&|v| short(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    Ok(chart)
}

/// A loss for an axis label: three significant decimals without trailing zeros.
fn short(value: f64) -> String {
    let text = if value >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    };
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// Two pieces of line drawn relative to a point in pixels.
type LegendLine<DB> =
    ComposedElement<(i32, i32), DB, PathElement<(i32, i32)>, PathElement<(i32, i32)>>;

/// A legend sample: a line 20 pixels long, in two pieces with a gap when `dashed`.
fn legend_line<DB: DrawingBackend>(
    x: i32,
    y: i32,
    color: RGBColor,
    dashed: bool,
) -> LegendLine<DB> {
    let gap = if dashed { 5 } else { 0 };
    let style = color.stroke_width(3);
    EmptyElement::at((x, y))
        + PathElement::new([(0, 0), (8, 0)], style)
        + PathElement::new([(8 + gap, 0), (20, 0)], style)
}

/// Draws the legend of `chart` at `position`.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
