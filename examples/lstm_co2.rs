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
    Ok(Outcome {
        val_rmse: val.rmse(&predictions)?,
        seconds,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
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

fn report_sizes(train: usize, val: usize) {
    println!("{train} training and {val} validation windows of {WINDOW} weeks, horizon 1 week");
}
