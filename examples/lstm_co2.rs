//! Forecasts next week's Mauna Loa CO2 level with two stacked LSTMs.
//!
//! ```text
//! cargo run --release --example lstm_co2 -- [--epochs 20] [--batch-size 32] [--seed 42]
//!                                           [--data data/co2/co2.csv] [--calendar]
//! ```
//!
//! The series has a strong upward trend, so a model fed standardised levels would have to
//! extrapolate and loses to the naive forecast (next week equals this week). The model
//! forecasts the weekly change instead: each 52-week window minus its own last value, and
//! the target the next value minus that last value, both divided by the standard deviation
//! of weekly differences in the training part. Gaps are filled by linear interpolation in
//! time. The split is chronological, 80/20. With `--calendar` each step also carries the
//! sine and cosine of the week of the year, and the model is declared with three features
//! per step: the window type and the model's input type must agree or nothing compiles.
//!
//! After training, Monte Carlo dropout (`predict_mc`, 50 passes with dropout active) gives
//! a forecast band, mean ± 2 standard deviations, printed for a few validation weeks with
//! the fraction of validation targets inside it.
//!
//! The last line is machine-readable:
//! `result: val_rmse=… naive_rmse=… epochs=… seconds=…` (RMSEs in ppmv).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use dropnet::core::data::series::{CsvSeries, Gaps, Scaling, Series, Windows};
use dropnet::prelude::*;

dropnet::model! {
    /// Two stacked LSTMs with dropout between them and a one-unit linear head.
    pub Forecaster(52, 1) {
        lstm(64, return_sequences = true);
        dropout(0.3);
        lstm(32);
        dropout(0.3);
        dense(1);
    }

    /// The same model reading the change and two calendar features at each step.
    pub CalendarForecaster(52, 3) {
        lstm(64, return_sequences = true);
        dropout(0.3);
        lstm(32);
        dropout(0.3);
        dense(1);
    }
}

/// Weeks in each input window.
const WINDOW: usize = 52;

/// Trains the stacked LSTM forecaster on the CO2 series and reports its validation RMSE.
#[derive(Parser)]
struct Args {
    /// Passes over the training windows.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Windows per gradient step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Seed of the weights, the shuffling and the dropout masks.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// CSV file with `date` (YYYYMMDD) and `co2` columns.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/co2/co2.csv"))]
    data: PathBuf,
    /// Add the sine and cosine of the week of the year to every step.
    #[arg(long)]
    calendar: bool,
}

/// Validation RMSE in ppmv and total training seconds.
struct Outcome {
    val_rmse: f64,
    seconds: f64,
}

/// Trains `model` on the training windows and measures it on the validation windows.
fn train<M, const F: usize>(
    mut model: M,
    train: &Windows<WINDOW, F>,
    val: &Windows<WINDOW, F>,
    args: &Args,
) -> anyhow::Result<Outcome>
where
    M: Model<Input = Sequence<WINDOW, F>, Output = Vector<1>>,
{
    println!("{}", model.summary());
    model.compile(Adam::default(), MeanSquaredError);

    let start = Instant::now();
    model
        .fit(train.inputs(), train.targets())
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .validation_data(val.inputs(), val.targets())
        .verbose(Verbosity::ProgressBar)
        .run()?;
    let seconds = start.elapsed().as_secs_f64();

    let predictions = model.predict(val.inputs())?;
    forecast_band(&mut model, val)?;
    Ok(Outcome {
        val_rmse: val.rmse(&predictions)?,
        seconds,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Zero epochs would train nothing yet print a result as if it had.
    anyhow::ensure!(args.epochs >= 1, "--epochs must be at least 1, got 0");
    let series: Series = CsvSeries::column("co2")
        .dates("date")
        .gaps(Gaps::Interpolate)
        .read(&args.data)
        .with_context(|| format!("reading {}", args.data.display()))?;
    println!(
        "{}: {} weekly values, {} missing weeks filled by linear interpolation in time",
        args.data.display(),
        series.len(),
        series.filled()
    );

    // Statistics come from the training part only, so validation never leaks into them.
    let split = series.split_index(0.8)?;
    let scaling = Scaling::change(&series.values()[..split])?;
    let outcome;
    let naive;
    if args.calendar {
        let (train_set, val_set) = series
            .with_calendar()?
            .windows::<WINDOW>(1, &scaling)?
            .split_at(split);
        report_sizes(train_set.len(), val_set.len());
        naive = val_set.naive_rmse()?;
        outcome = train(
            CalendarForecaster::new(args.seed),
            &train_set,
            &val_set,
            &args,
        )?;
    } else {
        let (train_set, val_set) = series.windows::<WINDOW>(1, &scaling)?.split_at(split);
        report_sizes(train_set.len(), val_set.len());
        naive = val_set.naive_rmse()?;
        outcome = train(Forecaster::new(args.seed), &train_set, &val_set, &args)?;
    }

    println!(
        "validation RMSE {:.4} ppmv; naive forecast (next week = this week) {naive:.4} ppmv",
        outcome.val_rmse
    );
    println!(
        "result: val_rmse={:.4} naive_rmse={naive:.4} epochs={} seconds={:.1}",
        outcome.val_rmse, args.epochs, outcome.seconds
    );
    Ok(())
}

/// Monte Carlo passes behind the forecast band.
const MC_SAMPLES: usize = 50;

/// Prints a forecast band from Monte Carlo dropout: the mean of [`MC_SAMPLES`] passes with
/// dropout active, ± 2 standard deviations, for a few validation weeks, and the fraction of
/// validation targets inside the band.
///
/// The band measures only the model's own uncertainty (how much its dropout-thinned
/// versions disagree), not the week-to-week noise of the series, so it is expected to be
/// narrower than the forecast errors and to cover well under 95 % of the targets.
fn forecast_band<M, const F: usize>(model: &mut M, val: &Windows<WINDOW, F>) -> anyhow::Result<()>
where
    M: Model<Input = Sequence<WINDOW, F>, Output = Vector<1>>,
{
    let start = Instant::now();
    let mc = model.predict_mc(val.inputs(), MC_SAMPLES)?;
    let mean = val.to_units(&mc.mean)?;
    let actual = val.to_units(val.targets())?;
    // The scalings are linear, so a spread in model units maps to ppmv by the scale alone.
    let scaling = val.scaling();
    let spread = |std: f32| scaling.invert(f64::from(std), 0.0) - scaling.invert(0.0, 0.0);
    let stds: Vec<f64> = mc
        .std
        .matrix()
        .column(0)
        .iter()
        .map(|&s| spread(s))
        .collect();

    println!(
        "Monte Carlo dropout, {MC_SAMPLES} passes ({:.1} s): forecast band mean ± 2 std, ppmv",
        start.elapsed().as_secs_f64()
    );
    println!(
        "{:>8} {:>9} {:>9} {:>7} {:>7}",
        "val week", "actual", "mean", "± 2 std", "inside"
    );
    let step = (val.len() / 5).max(1);
    for k in (0..val.len()).step_by(step).take(6) {
        let inside = (actual[k] - mean[k]).abs() <= 2.0 * stds[k];
        let (a, m, band) = (actual[k], mean[k], 2.0 * stds[k]);
        println!("{:>8} {a:>9.2} {m:>9.2} {band:>7.3} {inside:>7}", k + 1);
    }
    let inside = (0..val.len())
        .filter(|&k| (actual[k] - mean[k]).abs() <= 2.0 * stds[k])
        .count();
    let mean_band = 2.0 * stds.iter().sum::<f64>() / stds.len().max(1) as f64;
    println!(
        "{inside} of {} validation targets ({:.1} %) inside the band; \
         mean half-width {mean_band:.3} ppmv",
        val.len(),
        100.0 * inside as f64 / val.len().max(1) as f64
    );
    Ok(())
}

fn report_sizes(train: usize, val: usize) {
    println!("{train} training and {val} validation windows of {WINDOW} weeks, horizon 1 week");
}
