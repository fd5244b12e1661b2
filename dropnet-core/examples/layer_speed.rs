//! Times forward and backward through the layers of the seed CNN, chained by hand.
//!
//! `cargo run --release -p dropnet-core --example layer_speed [batches] [batch size]`
//!
//! The chain is 28×28×1 → conv 32,3 relu → pool 2 → dropout .25 → conv 64,3 relu → pool 2
//! → dropout .25 → flatten → dense 10 (logits). Defaults: 250 batches of 32, one epoch of
//! 8,000 images. Prints the time per batch and per epoch, and the share of each layer.

use std::time::{Duration, Instant};

use dropnet_core::activation::{Relu, Softmax};
use dropnet_core::gradcheck::random_input;
use dropnet_core::layers::{Conv2d, Dense, Dropout, Flatten, MaxPool2d};
use dropnet_core::{Image, Layer, Mode, Pass};
use ndarray::Array2;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let batches = args.next().and_then(Result::ok).unwrap_or(250);
    let batch = args.next().and_then(Result::ok).unwrap_or(32);

    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Conv2d::<28, 28, 1, 32, 3, 1, false, Relu>::new(
            "conv2d", 42,
        )),
        Box::new(MaxPool2d::<26, 26, 32, 2, 2>::new("max_pooling2d", 42)),
        Box::new(Dropout::<Image<13, 13, 32>>::new("dropout", 42, 0.25)),
        Box::new(Conv2d::<13, 13, 32, 64, 3, 1, false, Relu>::new(
            "conv2d_1", 42,
        )),
        Box::new(MaxPool2d::<11, 11, 64, 2, 2>::new("max_pooling2d_1", 42)),
        Box::new(Dropout::<Image<5, 5, 64>>::new("dropout_1", 42, 0.25)),
        Box::new(Flatten::<Image<5, 5, 64>>::new("flatten", 42)),
        Box::new(Dense::<1600, 10, Softmax>::new("dense", 42)),
    ];

    let input = random_input(batch, 28 * 28, 1).mapv(|v| 0.5 * (v + 1.0));
    let mut acts: Vec<Array2<f32>> = vec![input];
    acts.extend(
        layers
            .iter()
            .map(|l| Array2::zeros((batch, l.output_len()))),
    );
    let mut grads: Vec<Array2<f32>> = acts.iter().map(|a| Array2::zeros(a.raw_dim())).collect();
    let mut spent = vec![Duration::ZERO; layers.len()];

    // One warm-up batch sizes every buffer.
    run_batch(&mut layers, &mut acts, &mut grads, &mut [Duration::ZERO; 8]);
    let start = Instant::now();
    for _ in 0..batches {
        run_batch(&mut layers, &mut acts, &mut grads, &mut spent);
    }
    let total = start.elapsed();

    let per_batch = total / batches as u32;
    let epoch = per_batch.as_secs_f64() * (8000.0 / batch as f64);
    println!(
        "{batches} batches of {batch}: {per_batch:?} per batch, {epoch:.2} s per 8,000 images"
    );
    for (layer, time) in layers.iter().zip(&spent) {
        let share = 100.0 * time.as_secs_f64() / total.as_secs_f64();
        println!("  {:<16} {:>5.1}%", layer.name(), share);
    }
}

/// Forward in training mode, then backward from an all-ones gradient at the logits.
fn run_batch(
    layers: &mut [Box<dyn Layer>],
    acts: &mut [Array2<f32>],
    grads: &mut [Array2<f32>],
    spent: &mut [Duration],
) {
    let last = layers.len() - 1;
    for (k, layer) in layers.iter_mut().enumerate() {
        let pass = Pass {
            mode: Mode::Train,
            logits: k == last,
        };
        let (before, after) = acts.split_at_mut(k + 1);
        let t = Instant::now();
        layer.forward(before[k].view(), after[0].view_mut(), pass);
        spent[k] += t.elapsed();
    }

    grads[layers.len()].fill(1.0 / acts[0].nrows() as f32);
    for (k, layer) in layers.iter_mut().enumerate().rev() {
        let pass = Pass {
            mode: Mode::Train,
            logits: k == last,
        };
        let (before, after) = grads.split_at_mut(k + 1);
        let grad_input = (k > 0).then(|| before[k].view_mut());
        let t = Instant::now();
        layer.backward(
            acts[k].view(),
            acts[k + 1].view(),
            after[0].view_mut(),
            grad_input,
            pass,
        );
        spent[k] += t.elapsed();
    }
}
