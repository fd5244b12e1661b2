//! End-to-end training of models declared with `model!` on the shipped MNIST digits.
//!
//! These run in debug builds on small subsets, so they check that learning happens and is
//! reproducible, not how good the final model is (the `mnist_cnn` example does that).

use std::process::Command;

use dropnet::core::data::mnist::{self, Mnist};
use dropnet::prelude::*;

dropnet::model! {
    /// A narrow version of the seed CNN, small enough to train in a debug build.
    Small(28, 28, 1) {
        conv2d(8, 3) relu;
        maxpool(2);
        dropout(0.25);
        conv2d(8, 3, strides = 2) relu;
        flatten;
        dense(10) softmax;
    }

    /// `Small` with every dropout rate at zero.
    SmallZeroDropout(28, 28, 1) {
        conv2d(8, 3) relu;
        maxpool(2);
        dropout(0.0);
        conv2d(8, 3, strides = 2) relu;
        flatten;
        dense(10) softmax;
    }

    /// `Small` with spatial dropout, a layer that gives no copy of itself: its batches train
    /// on the model's own layers, each layer spreading its work over the threads.
    SmallSpatial(28, 28, 1) {
        conv2d(8, 3) relu;
        maxpool(2);
        spatial_dropout2d(0.25);
        conv2d(8, 3, strides = 2) relu;
        flatten;
        dense(10) softmax;
    }

    /// `Small` without its dropout layer.
    SmallPlain(28, 28, 1) {
        conv2d(8, 3) relu;
        maxpool(2);
        conv2d(8, 3, strides = 2) relu;
        flatten;
        dense(10) softmax;
    }
}

fn data() -> Mnist {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");
    mnist::load(dir).expect("the repository ships data/mnist")
}

/// Every parameter of a model, flattened in visiting order, as bit patterns.
fn weight_bits<N: Network>(model: &N) -> Vec<u32> {
    let layers = model.layers();
    let params = layers.iter().flat_map(|l| l.params());
    params
        .flat_map(|p| p.value.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// Trains `N` on 600 images for 2 epochs in batches of 32 and returns the history and final
/// weights.
fn train<N>(model: N, data: &Mnist) -> (History, Vec<u32>)
where
    N: Model<Input = Image<28, 28, 1>, Output = Vector<10>>,
{
    train_in_batches(model, data, 32)
}

/// [`train`] in batches of `batch_size`.
fn train_in_batches<N>(mut model: N, data: &Mnist, batch_size: usize) -> (History, Vec<u32>)
where
    N: Model<Input = Image<28, 28, 1>, Output = Vector<10>>,
{
    let x = data.train_images.head(600);
    let y = data.train_labels.head(600);
    model.compile(Adam::default(), SparseCategoricalCrossentropy);
    let history = model
        .fit(&x, &y)
        .epochs(2)
        .batch_size(batch_size)
        .verbose(Verbosity::Silent)
        .run()
        .expect("valid data trains");
    (history, weight_bits(&model))
}

#[test]
fn a_short_run_beats_chance_by_a_wide_margin() {
    let data = data();
    let mut model = Small::new(1);
    model.compile(Adam::default(), SparseCategoricalCrossentropy);

    let x = data.train_images.head(1500);
    let y = data.train_labels.head(1500);
    model
        .fit(&x, &y)
        .epochs(3)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();
    let test = model
        .evaluate(&data.test_images.head(500), &data.test_labels.head(500))
        .unwrap();

    // Ten classes: chance is 0.10; three epochs on 1,500 digits reach about 0.8.
    let accuracy = test.accuracy.unwrap();
    assert!(accuracy > 0.7, "test accuracy {accuracy}");
}

#[test]
fn the_same_seed_gives_the_same_history_and_weights() {
    let data = data();
    let (history_a, weights_a) = train(Small::new(5), &data);
    let (history_b, weights_b) = train(Small::new(5), &data);
    let (history_c, weights_c) = train(Small::new(6), &data);

    assert_eq!(history_a, history_b);
    assert_eq!(weights_a, weights_b);
    assert_ne!(history_a, history_c);
    assert_ne!(weights_a, weights_c);
}

#[test]
fn zero_dropout_changes_nothing() {
    let data = data();
    let zero = SmallZeroDropout::new(3);
    let plain = SmallPlain::new(3);
    assert_eq!(weight_bits(&zero), weight_bits(&plain), "initial weights");

    let (history_zero, weights_zero) = train(zero, &data);
    let (history_plain, weights_plain) = train(plain, &data);
    assert_eq!(history_zero, history_plain);
    assert_eq!(weights_zero, weights_plain);
}

/// A fingerprint of three two-epoch runs: every loss and accuracy and every weight, as bits.
/// `Small`'s batches train in parts side by side on copies of the model, `SmallSpatial`'s on
/// its own layers.
fn fingerprint() -> String {
    let data = data();
    let runs = [
        train_in_batches(Small::new(11), &data, 32),
        train_in_batches(Small::new(11), &data, 256),
        train_in_batches(SmallSpatial::new(11), &data, 32),
    ];
    let mut bits: Vec<u64> = Vec::new();
    for (history, weights) in runs {
        bits.extend(weights.iter().map(|&w| u64::from(w)));
        for record in history.records() {
            bits.extend(record.metrics().map(|(_, v)| v.to_bits()));
        }
    }
    let hash = bits.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ b).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Prints the fingerprint when run as the child of the test below.
#[test]
fn fingerprint_child() {
    if std::env::var_os("DROPNET_FINGERPRINT_CHILD").is_some() {
        println!("fingerprint={}", fingerprint());
    }
}

/// The fingerprint of the same run in a child process, with `threads` threads in rayon's
/// pool when given (the child's own default otherwise).
fn child_fingerprint(threads: Option<usize>) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "fingerprint_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DROPNET_FINGERPRINT_CHILD", "1");
    if let Some(threads) = threads {
        command.env("RAYON_NUM_THREADS", threads.to_string());
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.split("fingerprint=").nth(1))
        .unwrap_or_else(|| panic!("child printed no fingerprint:\n{stdout}"))
        .to_owned()
}

#[test]
fn the_same_seed_gives_the_same_run_in_another_process() {
    assert_eq!(child_fingerprint(None), fingerprint());
}

#[test]
fn the_same_seed_gives_the_same_run_on_any_number_of_threads() {
    // Batches are cut into blocks and parts by the batch size alone, whatever trains them,
    // and their gradient shares are added in order, so one thread and three give the same
    // bits.
    let one = child_fingerprint(Some(1));
    assert_eq!(child_fingerprint(Some(3)), one);
    assert_eq!(fingerprint(), one);
}
