//! Times forward and backward through the stacked LSTM of the time-series example, chained
//! by hand.
//!
//! `cargo run --release -p dropnet-core --example lstm_speed [epochs] [batch size]
//! [dropout] [recurrent dropout]`
//!
//! The chain is 52×1 → lstm 64 (return sequences) → dropout .3 → lstm 32 → dropout .3 →
//! dense 1. The two optional rates (default 0) turn on the LSTMs' own variational input
//! and recurrent dropout, to measure what they cost. An epoch is 1,775 windows, the
//! training part of the CO2 series, so with the default batch of 32 it is 55 full batches
//! and one of 15. Prints the median time per epoch
//! over `epochs` (default 5) and per batch, and the share of each layer. The optimiser
//! step and the loss are not included; on 29,345 parameters they are small.

use std::time::{Duration, Instant};

use dropnet_core::activation::Linear;
use dropnet_core::gradcheck::random_input;
use dropnet_core::layers::{Dense, Dropout, Lstm};
use dropnet_core::{Layer, Mode, Pass, Sequence, Vector};
use ndarray::{s, Array2};

/// Training windows per epoch.
const WINDOWS: usize = 1_775;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = |i: usize, default| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let rate = |i: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0.0_f32);
    let (epochs, batch) = (count(0, 5).max(1), count(1, 32).max(1));
    let (dropout, recurrent) = (rate(2), rate(3));
    let lstm = Lstm::<52, 1, 64, true>::new("lstm", 42).try_with_dropout(dropout, recurrent);
    let lstm_1 = Lstm::<52, 64, 32, false>::new("lstm_1", 42).try_with_dropout(dropout, recurrent);
    let (lstm, lstm_1) = match (lstm, lstm_1) {
        (Ok(lstm), Ok(lstm_1)) => (lstm, lstm_1),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };

    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(lstm),
        Box::new(Dropout::<Sequence<52, 64>>::new("dropout", 42, 0.3)),
        Box::new(lstm_1),
        Box::new(Dropout::<Vector<32>>::new("dropout_1", 42, 0.3)),
        Box::new(Dense::<32, 1, Linear>::new("dense", 42)),
    ];

    let input = random_input(batch, 52, 1);
    let mut acts: Vec<Array2<f32>> = vec![input];
    acts.extend(
        layers
            .iter()
            .map(|l| Array2::zeros((batch, l.output_len()))),
    );
    let mut grads: Vec<Array2<f32>> = acts.iter().map(|a| Array2::zeros(a.raw_dim())).collect();
    let mut spent = vec![Duration::ZERO; layers.len()];

    // One warm-up epoch sizes every buffer.
    run_epoch(&mut layers, &mut acts, &mut grads, &mut spent);
    spent.fill(Duration::ZERO);
    let mut epoch_times = Vec::with_capacity(epochs);
    for _ in 0..epochs {
        let start = Instant::now();
        run_epoch(&mut layers, &mut acts, &mut grads, &mut spent);
        epoch_times.push(start.elapsed());
    }
    epoch_times.sort();

    let median = epoch_times[epochs / 2];
    let batches = WINDOWS.div_ceil(batch);
    let total: Duration = epoch_times.iter().sum();
    println!(
        "{epochs} epochs of {WINDOWS} windows, batch {batch}, lstm dropout {dropout} / \
         recurrent {recurrent}: median {:.3} s per epoch (fastest {:.3} s), {:?} per batch",
        median.as_secs_f64(),
        epoch_times[0].as_secs_f64(),
        median / batches as u32,
    );
    for (layer, time) in layers.iter().zip(&spent) {
        let share = 100.0 * time.as_secs_f64() / total.as_secs_f64();
        println!("  {:<10} {:>5.1}%", layer.name(), share);
    }
}

/// One epoch: full batches, then the remainder on a prefix of the buffers.
fn run_epoch(
    layers: &mut [Box<dyn Layer>],
    acts: &mut [Array2<f32>],
    grads: &mut [Array2<f32>],
    spent: &mut [Duration],
) {
    let batch = acts[0].nrows();
    let mut left = WINDOWS;
    while left > 0 {
        let rows = left.min(batch);
        run_batch(layers, acts, grads, spent, rows);
        left -= rows;
    }
}

/// Forward in training mode on the first `rows` samples, then backward from a constant
/// gradient at the output.
fn run_batch(
    layers: &mut [Box<dyn Layer>],
    acts: &mut [Array2<f32>],
    grads: &mut [Array2<f32>],
    spent: &mut [Duration],
    rows: usize,
) {
    let pass = Pass::new(Mode::Train);
    for (k, layer) in layers.iter_mut().enumerate() {
        let (before, after) = acts.split_at_mut(k + 1);
        let t = Instant::now();
        layer.forward(
            before[k].slice(s![..rows, ..]),
            after[0].slice_mut(s![..rows, ..]),
            pass,
        );
        spent[k] += t.elapsed();
    }

    grads[layers.len()].fill(1.0 / rows as f32);
    for (k, layer) in layers.iter_mut().enumerate().rev() {
        let (before, after) = grads.split_at_mut(k + 1);
        let grad_input = (k > 0).then(|| before[k].slice_mut(s![..rows, ..]));
        let t = Instant::now();
        layer.backward(
            acts[k].slice(s![..rows, ..]),
            acts[k + 1].slice(s![..rows, ..]),
            after[0].slice_mut(s![..rows, ..]),
            grad_input,
            pass,
        );
        spent[k] += t.elapsed();
    }
}
