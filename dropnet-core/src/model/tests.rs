//! Tests of `compile`, `fit`, `evaluate`, `predict` and `summary` on hand-built networks.

use ndarray::Array2;

use super::chain::{BatchScore, Chain, Ends, Rows, Set};
use super::replicas::{self, Replicas};
use super::testing::{bars, clusters, MnistCnn, Net, TinyCnn};
use super::Model;
use crate::activation::{Activation, Linear, Sigmoid, Softmax};
use crate::callback::{BatchEnd, Callback, EpochEnd, FitContext, TrainBegin, Verbosity};
use crate::error::{Error, Result};
use crate::layer::{Layer, Mode};
use crate::loss::{CategoricalCrossentropy, Loss, MeanSquaredError, SparseCategoricalCrossentropy};
use crate::network::Network;
use crate::optim::{Adam, Sgd};
use crate::shape::{Image, Labels, Samples, Shape, TargetsRef, Vector};

fn compiled(seed: u64) -> Net {
    let mut net = Net::new(seed);
    net.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
    net
}

#[test]
fn fit_learns_separable_clusters() {
    let (x, y) = clusters(90, 1);
    let (xv, yv) = clusters(30, 2);
    let mut net = compiled(7);

    let history = net
        .fit(&x, &y)
        .epochs(15)
        .batch_size(16)
        .validation_data(&xv, &yv)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    let losses = history.get("loss").unwrap();
    assert_eq!(losses.len(), 15);
    assert!(losses[14] < losses[0] / 3.0, "{losses:?}");
    assert!(
        history.last().unwrap().val_accuracy.unwrap() >= 0.9,
        "{history:?}"
    );
    let result = net.evaluate(&xv, &yv).unwrap();
    assert!(result.accuracy.unwrap() >= 0.9, "{result:?}");
    assert_eq!(result.loss, history.last().unwrap().val_loss.unwrap());
}

#[test]
fn same_seed_gives_identical_history_and_weights() {
    let (x, y) = clusters(40, 1);
    let (xv, yv) = clusters(12, 2);
    let run = |seed: u64| {
        let mut net = compiled(seed);
        let history = net
            .fit(&x, &y)
            .epochs(3)
            .batch_size(8)
            .validation_data(&xv, &yv)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap();
        (history, net.weights())
    };

    let (history_a, weights_a) = run(3);
    let (history_b, weights_b) = run(3);
    let (history_c, weights_c) = run(4);

    assert_eq!(history_a, history_b);
    let bits = |w: &[ndarray::ArrayD<f32>]| -> Vec<u32> {
        w.iter()
            .flat_map(|a| a.iter().map(|v| v.to_bits()))
            .collect()
    };
    assert_eq!(bits(&weights_a), bits(&weights_b));
    assert_ne!(history_a, history_c);
    assert_ne!(weights_a, weights_c);
}

#[test]
fn shuffling_differs_by_seed_even_with_equal_weights() {
    // Same initial weights (seed 5), but the runtime's shuffle stream comes from seed 6.
    let (x, y) = clusters(40, 1);
    let mut a = compiled(5);
    let mut b = Net::new(5);
    b.runtime = crate::runtime::Runtime::new(6);
    b.compile(Adam::new(0.01), SparseCategoricalCrossentropy);

    for net in [&mut a, &mut b] {
        net.fit(&x, &y)
            .batch_size(8)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap();
    }
    assert_ne!(a.weights(), b.weights());
}

#[test]
fn two_fits_continue_like_one() {
    let (x, y) = clusters(30, 1);
    let mut once = compiled(9);
    let mut twice = compiled(9);

    let whole = once
        .fit(&x, &y)
        .epochs(2)
        .batch_size(8)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();
    let first = twice
        .fit(&x, &y)
        .batch_size(8)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();
    let second = twice
        .fit(&x, &y)
        .batch_size(8)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    assert_eq!(
        whole.get("loss").unwrap(),
        [first.get("loss").unwrap(), second.get("loss").unwrap()].concat()
    );
    assert_eq!(once.weights(), twice.weights());
}

#[test]
fn bad_label_is_named_and_leaves_weights_unchanged() {
    let (x, _) = clusters(9, 1);
    let mut labels = vec![0_u32; 9];
    labels[5] = 3;
    let y = Labels::new(labels);
    let mut net = compiled(1);
    let before = net.weights();

    let err = net
        .fit(&x, &y)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap_err();

    assert!(
        matches!(
            err,
            Error::LabelOutOfRange {
                set: "training",
                index: 5,
                label: 3,
                classes: 3
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("label 3 of sample 5 in the training set"),
        "{err}"
    );
    assert_eq!(net.weights(), before);
}

#[test]
fn bad_validation_set_fails_before_training() {
    let (x, y) = clusters(9, 1);
    let (xv, _) = clusters(4, 2);
    let yv = Labels::new(vec![0, 1, 9, 2]);
    let mut net = compiled(1);
    let before = net.weights();

    let err = net
        .fit(&x, &y)
        .validation_data(&xv, &yv)
        .verbose(Verbosity::Silent)
        .run();
    let short = Labels::new(vec![0, 1, 2]);
    let mismatch = net
        .fit(&x, &y)
        .validation_data(&xv, &short)
        .verbose(Verbosity::Silent)
        .run();

    assert!(matches!(
        err,
        Err(Error::LabelOutOfRange {
            set: "validation",
            index: 2,
            label: 9,
            ..
        })
    ));
    let mismatch = mismatch.unwrap_err();
    assert!(matches!(
        mismatch,
        Error::LengthMismatch {
            set: "validation",
            inputs: 4,
            targets: 3
        }
    ));
    assert_eq!(
        mismatch.to_string(),
        "the validation set has 4 input samples but 3 targets"
    );
    let test = net.evaluate(&xv, &yv).unwrap_err();
    assert!(
        test.to_string()
            .starts_with("label 9 of sample 2 in the evaluation set"),
        "{test}"
    );
    assert_eq!(net.weights(), before);
}

#[test]
fn data_and_settings_errors_leave_weights_unchanged() {
    let (x, y) = clusters(9, 1);
    let empty = Samples::<Vector<2>>::from_vec(0, vec![]).unwrap();
    let short = Labels::new(vec![0; 8]);
    let mut net = compiled(1);
    let before = net.weights();
    let silent = Verbosity::Silent;

    let mismatch = net.fit(&x, &short).verbose(silent).run();
    assert!(matches!(
        mismatch,
        Err(Error::LengthMismatch {
            set: "training",
            inputs: 9,
            targets: 8
        })
    ));
    let empty_set = net.fit(&empty, &Labels::default()).verbose(silent).run();
    assert!(matches!(
        empty_set,
        Err(Error::EmptySet { what: "training" })
    ));
    let zero = net.fit(&x, &y).batch_size(0).verbose(silent).run();
    assert!(matches!(
        zero,
        Err(Error::InvalidConfig {
            name: "batch_size",
            ..
        })
    ));
    assert!(net.predict_batch(&x, 0).is_err());

    net.compile(Adam::new(-1.0), SparseCategoricalCrossentropy);
    let lr = net.fit(&x, &y).verbose(silent).run();
    assert!(matches!(
        lr,
        Err(Error::InvalidConfig {
            name: "learning_rate",
            ..
        })
    ));
    net.compile(Adam::default(), MeanSquaredError);
    let kind = net.fit(&x, &y).verbose(silent).run();
    assert!(matches!(
        kind,
        Err(Error::TargetKind {
            loss: "mean_squared_error",
            ..
        })
    ));

    assert_eq!(net.weights(), before);
}

#[test]
fn fit_and_evaluate_need_compile_but_predict_does_not() {
    let (x, y) = clusters(6, 1);
    let mut net: Net = Net::new(1);

    let fit = net.fit(&x, &y).verbose(Verbosity::Silent).run();
    assert!(matches!(fit, Err(Error::NotCompiled { call: "fit" })));
    assert!(matches!(
        net.evaluate(&x, &y),
        Err(Error::NotCompiled { call: "evaluate" })
    ));
    assert_eq!(net.predict(&x).unwrap().len(), 6);
}

#[test]
fn predict_uses_the_last_partial_batch() {
    let n = 257;
    let values: Vec<f32> = (0..2 * n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let x = Samples::<Vector<2>>::from_vec(n, values).unwrap();
    let mut net: Net = Net::new(2);

    let all = net.predict_batch(&x, 128).unwrap();
    let last = net.predict(&x.select(&[256])).unwrap();

    assert_eq!(all.len(), 257);
    assert_eq!(all.sample(256).unwrap(), last.sample(0).unwrap());
    let row_sum: f32 = all.sample(256).unwrap().iter().sum();
    assert!(
        (row_sum - 1.0).abs() < 1e-5,
        "softmax rows sum to one: {row_sum}"
    );
}

#[test]
fn evaluation_weighs_batches_by_size() {
    let (x, y) = clusters(20, 1);
    let mut net = compiled(4);

    let whole = net.evaluate_batch(&x, &y, 20).unwrap();
    let split = net.evaluate_batch(&x, &y, 7).unwrap();

    assert!(
        (whole.loss - split.loss).abs() < 1e-6,
        "{whole:?} vs {split:?}"
    );
    assert_eq!(whole.accuracy, split.accuracy);
}

#[test]
fn regression_loss_reports_no_accuracy() {
    let (x, _) = clusters(12, 1);
    let targets = Samples::<Vector<3>>::from_vec(12, vec![0.25; 36]).unwrap();
    let mut net: Net<Sigmoid> = Net::new(1);
    net.compile(Sgd::new(0.5).momentum(0.9), MeanSquaredError);

    let history = net
        .fit(&x, &targets)
        .epochs(20)
        .batch_size(4)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    assert_eq!(history.keys(), ["loss"]);
    let losses = history.get("loss").unwrap();
    assert!(losses[19] < losses[0] / 10.0, "{losses:?}");
}

#[test]
fn one_hot_targets_train_with_categorical_crossentropy() {
    let (x, y) = clusters(30, 1);
    let mut one_hot = Array2::zeros((30, 3));
    for (i, &label) in y.as_slice().iter().enumerate() {
        one_hot[[i, label as usize]] = 1.0;
    }
    let targets = Samples::<Vector<3>>::from_matrix(one_hot).unwrap();
    let mut net: Net = Net::new(1);
    net.compile(Adam::new(0.02), CategoricalCrossentropy);

    let history = net
        .fit(&x, &targets)
        .epochs(10)
        .batch_size(5)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    assert!(
        history.last().unwrap().accuracy.unwrap() > 0.9,
        "{history:?}"
    );
}

/// Records the events it sees and stops training when told to.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
    stop_after_batch: Option<usize>,
    stop_after_epoch: Option<usize>,
}

impl Callback for Recorder {
    fn on_train_begin(&mut self, info: &TrainBegin, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.events
            .push(format!("begin {} {}", info.samples, info.batches));
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.events.push(format!("epoch {epoch}"));
        Ok(())
    }

    fn on_batch_end(&mut self, batch: &BatchEnd, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.events
            .push(format!("batch {} {}", batch.batch, batch.seen));
        if self.stop_after_batch == Some(batch.batch) {
            ctx.stop_training();
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, ctx: &mut FitContext<'_, '_>) -> Result<()> {
        self.events
            .push(format!("end {} {}", epoch.record.epoch, epoch.batches));
        let halved = ctx.optimizer().learning_rate() / 2.0;
        ctx.optimizer_mut().set_learning_rate(halved);
        assert_eq!(ctx.layers()[1].name(), "dense_1");
        if self.stop_after_epoch == Some(epoch.record.epoch) {
            ctx.stop_training();
        }
        Ok(())
    }
}

#[test]
fn callbacks_see_every_event_and_can_stop() {
    let (x, y) = clusters(10, 1);
    let mut net = compiled(1);
    let mut recorder = Recorder {
        stop_after_epoch: Some(2),
        ..Recorder::default()
    };

    let history = net
        .fit(&x, &y)
        .epochs(5)
        .batch_size(4)
        .callback(&mut recorder)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    assert_eq!(history.len(), 2);
    let expected = [
        "begin 10 3",
        "epoch 1",
        "batch 1 4",
        "batch 2 8",
        "batch 3 10",
        "end 1 3",
        "epoch 2",
        "batch 1 4",
        "batch 2 8",
        "batch 3 10",
        "end 2 3",
    ];
    assert_eq!(recorder.events, expected);
    assert_eq!(net.runtime().optimizer().unwrap().learning_rate(), 0.0025);

    let mut early = Recorder {
        stop_after_batch: Some(1),
        ..Recorder::default()
    };
    let history = net
        .fit(&x, &y)
        .epochs(5)
        .batch_size(4)
        .callback(&mut early)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(early.events.last().unwrap(), "end 1 1");
}

/// The analytic gradients the chain accumulates, for one batch of `set`.
fn chain_gradients<A: Activation>(net: &mut Net<A>, loss: &dyn Loss, set: &Set<'_>) -> Vec<f32> {
    let n = set.x.nrows();
    let (mut layers, runtime) = net.parts_mut();
    let (buffers, _, _) = runtime.split();
    let mut chain = Chain::new(
        &mut layers,
        buffers,
        n,
        Some(loss),
        Ends {
            input: 2,
            output: 3,
        },
    )
    .unwrap();
    chain.load(set, Rows::Range(0, n), true);
    chain.zero_grads();
    chain.forward_for_loss(n, Mode::Train);
    chain.score(loss, n, true).unwrap();
    chain.backward(n);
    param_grads(&layers)
}

/// Every parameter gradient of `layers`, flat, layer after layer.
fn param_grads(layers: &[&mut dyn Layer]) -> Vec<f32> {
    let params = layers.iter().flat_map(|l| l.params());
    params
        .flat_map(|p| p.grad.iter().copied().collect::<Vec<_>>())
        .collect()
}

/// The set of the images `x` with the class labels `labels`.
fn labelled<'a>(x: &'a Samples<Image<6, 6, 1>>, labels: &'a Labels) -> Set<'a> {
    Set {
        x: x.matrix(),
        y: TargetsRef::Classes(labels.as_slice()),
    }
}

/// The gradients and score of one training step on all of `set`, run in parts of `part`
/// samples as the trainer runs a large batch.
fn gradients_in_parts<N: Network>(
    net: &mut N,
    loss: &dyn Loss,
    set: &Set<'_>,
    part: usize,
) -> (Vec<f32>, BatchScore) {
    let n = set.x.nrows();
    let ends = Ends::of::<N>();
    let (mut layers, runtime) = net.parts_mut();
    let (buffers, _, _) = runtime.split();
    let mut chain = Chain::new(&mut layers, buffers, n, Some(loss), ends).unwrap();
    chain.zero_grads();
    let picked: Vec<usize> = (0..n).collect();
    let (score, finite) = chain.accumulate(set, &picked, loss, part).unwrap();
    assert!(finite);
    let grads = param_grads(&layers);
    (grads, score)
}

/// A batch trained in parts gets the gradient, loss and accuracy of the batch trained
/// whole, up to the order of the sums, with a fused softmax and with a regression loss.
#[test]
fn a_batch_in_parts_has_the_gradient_of_the_whole_batch() {
    let (x, labels) = clusters(7, 4);
    let values = Array2::from_shape_fn((7, 3), |(i, j)| ((i * j) % 4) as f32 / 3.0);
    let targets = [
        TargetsRef::Classes(labels.as_slice()),
        TargetsRef::Values(values.view()),
    ];
    for (y, loss) in targets.into_iter().zip([
        &SparseCategoricalCrossentropy as &dyn Loss,
        &MeanSquaredError,
    ]) {
        let set = Set { x: x.matrix(), y };
        let (whole, score) = gradients_in_parts(&mut Net::<Softmax>::new(5), loss, &set, 7);
        assert_eq!(
            whole,
            chain_gradients(&mut Net::<Softmax>::new(5), loss, &set)
        );
        for part in [1, 2, 3, 6] {
            let mut net = Net::<Softmax>::new(5);
            let (grads, parts_score) = gradients_in_parts(&mut net, loss, &set, part);
            for (k, (&a, &b)) in grads.iter().zip(&whole).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                    "part {part}, {k}: {a} vs {b}"
                );
            }
            assert!((parts_score.loss - score.loss).abs() < 1e-6 * score.loss.max(1.0));
            assert_eq!(parts_score.correct, score.correct);
        }
    }
}

/// With dropout, the parts draw the masks the whole batch draws: the gradients agree.
#[test]
fn a_batch_in_parts_draws_the_whole_batchs_dropout_masks() {
    let (x, labels) = bars(10, 6);
    let set = labelled(&x, &labels);
    let loss = SparseCategoricalCrossentropy;
    let (whole, _) = gradients_in_parts(&mut TinyCnn::new(2, Some(0.5)), &loss, &set, 10);
    let (parts, _) = gradients_in_parts(&mut TinyCnn::new(2, Some(0.5)), &loss, &set, 3);
    for (k, (&a, &b)) in parts.iter().zip(&whole).enumerate() {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{k}: {a} vs {b}");
    }
    // Another draw of the masks would not agree: the check can tell.
    let (other, _) = gradients_in_parts(&mut TinyCnn::new(2, Some(0.5)), &loss, &set, 10);
    let mut moved = TinyCnn::new(2, Some(0.5));
    for (_, stream) in moved.parts_mut().0[2].training_streams_mut() {
        stream.set_word_pos(1000);
    }
    let (changed, _) = gradients_in_parts(&mut moved, &loss, &set, 10);
    assert_eq!(other, whole);
    assert_ne!(changed, whole);
}

/// The gradients and score of one training step on all of `set` in parts of `part` samples
/// trained side by side on `copies` copies of the model, and where the model's random
/// streams stand afterwards.
fn gradients_on_copies<N: Network>(
    net: &mut N,
    loss: &dyn Loss,
    set: &Set<'_>,
    part: usize,
    copies: usize,
) -> (Vec<f32>, BatchScore, Vec<u128>) {
    let n = set.x.nrows();
    let ends = Ends::of::<N>();
    let (mut layers, runtime) = net.parts_mut();
    let mut replicas = Replicas::new(&layers, ends, copies).expect("every layer gives a copy");
    let (buffers, _, _) = runtime.split();
    let mut chain = Chain::new(&mut layers, buffers, n, Some(loss), ends).unwrap();
    chain.zero_grads();
    let picked: Vec<usize> = (0..n).collect();
    let (score, finite) = replicas
        .accumulate(&mut chain, set, &picked, loss, part)
        .unwrap();
    assert!(finite);
    let grads = param_grads(&layers);
    let streams = layers
        .iter()
        .flat_map(|l| l.training_streams())
        .map(|(_, rng)| rng.get_word_pos())
        .collect();
    (grads, score, streams)
}

/// Where the model's random streams stand, layer after layer.
fn stream_positions<N: Network>(net: &mut N) -> Vec<u128> {
    let (layers, _) = net.parts_mut();
    let streams = layers.iter().flat_map(|l| l.training_streams());
    streams.map(|(_, rng)| rng.get_word_pos()).collect()
}

/// Parts trained side by side on copies of the model draw the whole batch's dropout masks
/// and add up to its gradient and score; the model's streams end where the whole batch
/// leaves them.
#[test]
fn parts_on_copies_have_the_gradient_of_the_whole_batch() {
    let (x, labels) = bars(10, 6);
    let set = labelled(&x, &labels);
    let loss = SparseCategoricalCrossentropy;
    let mut whole_net = TinyCnn::new(2, Some(0.5));
    let (whole, score) = gradients_in_parts(&mut whole_net, &loss, &set, 10);
    let after_whole = stream_positions(&mut whole_net);
    assert!(
        after_whole.iter().all(|&at| at > 0),
        "the dropout drew words"
    );

    let mut net = TinyCnn::new(2, Some(0.5));
    let (grads, parts_score, after) = gradients_on_copies(&mut net, &loss, &set, 3, 2);
    for (k, (&a, &b)) in grads.iter().zip(&whole).enumerate() {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{k}: {a} vs {b}");
    }
    assert!((parts_score.loss - score.loss).abs() < 1e-6 * score.loss.max(1.0));
    assert_eq!(parts_score.correct, score.correct);
    assert_eq!(after, after_whole);
}

/// Batches train on copies when they make at least two parts with work enough to outweigh
/// copying the gradient, and on the model's own layers otherwise.
#[test]
fn batches_train_on_copies_when_their_parts_outweigh_the_gradient() {
    // The seed CNN: 89,050 values a sample in the buffers, 34,826 parameters.
    let seed = |rows| replicas::part_size(rows, 89_050, 34_826);
    assert_eq!(seed(128), Some(8));
    assert_eq!(seed(32), Some(8));
    assert_eq!(seed(16), Some(4));
    // Parts of one sample hold fewer values than eight gradients; one part is no split.
    assert_eq!(seed(4), None);
    assert_eq!(seed(1), None);
    // A wide dense model: a gradient far larger than a part's activations.
    assert_eq!(replicas::part_size(32, 13_000, 3_200_000), None);
}

/// The copies take the model's weights as they are when the batch begins, not as they
/// were when the copies were made.
#[test]
fn copies_train_on_the_weights_of_the_batch() {
    let (x, labels) = bars(8, 6);
    let set = labelled(&x, &labels);
    let loss = SparseCategoricalCrossentropy;
    let nudge = |net: &mut TinyCnn| {
        let mut layers = net.parts_mut().0;
        let dense = layers.last_mut().expect("the model has layers");
        dense.params_mut()[0].value.mapv_inplace(|w| w * 0.5 + 0.1);
    };
    let mut net = TinyCnn::new(3, None);
    let (mut layers, runtime) = net.parts_mut();
    let ends = Ends::of::<TinyCnn>();
    let mut replicas = Replicas::new(&layers, ends, 2).expect("every layer gives a copy");
    layers.last_mut().unwrap().params_mut()[0]
        .value
        .mapv_inplace(|w| w * 0.5 + 0.1);
    let (buffers, _, _) = runtime.split();
    let mut chain = Chain::new(&mut layers, buffers, 8, Some(&loss), ends).unwrap();
    chain.zero_grads();
    let picked: Vec<usize> = (0..8).collect();
    replicas
        .accumulate(&mut chain, &set, &picked, &loss, 3)
        .unwrap();
    let grads = param_grads(&layers);

    let mut nudged = TinyCnn::new(3, None);
    nudge(&mut nudged);
    let (whole, _) = gradients_in_parts(&mut nudged, &loss, &set, 8);
    let (stale, _) = gradients_in_parts(&mut TinyCnn::new(3, None), &loss, &set, 8);
    assert_ne!(stale, whole, "the nudge changes the gradient");
    for (k, (&a, &b)) in grads.iter().zip(&whole).enumerate() {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{k}: {a} vs {b}");
    }
}

/// The number of copies changes only how many parts train at once, never a bit of the
/// result.
#[test]
fn parts_on_any_number_of_copies_give_the_same_bits() {
    let (x, labels) = bars(11, 6);
    let set = labelled(&x, &labels);
    let loss = SparseCategoricalCrossentropy;
    let one = gradients_on_copies(&mut TinyCnn::new(4, Some(0.3)), &loss, &set, 2, 1);
    for copies in [2, 3, 8] {
        let many = gradients_on_copies(&mut TinyCnn::new(4, Some(0.3)), &loss, &set, 2, copies);
        assert_eq!(many.0, one.0, "{copies} copies");
        assert_eq!(
            many.1.loss.to_bits(),
            one.1.loss.to_bits(),
            "{copies} copies"
        );
        assert_eq!(many.2, one.2, "{copies} copies");
    }
}

/// Central differences of the evaluated loss against the chain's gradients, one weight at a
/// time, through both layers (and through the fused softmax when `A` is softmax).
fn check_chain<'t, A: Activation>(
    loss: impl Loss + Clone + 'static,
    x: &'t Samples<Vector<2>>,
    y: TargetsRef<'t>,
) {
    let set = Set { x: x.matrix(), y };
    let mut net: Net<A> = Net::new(11);
    net.compile(Sgd::default(), loss.clone());
    let analytic = chain_gradients(&mut net, &loss, &set);

    let objective = |net: &mut Net<A>| super::infer::evaluate(net, x, y, 6).unwrap().loss;
    // Small enough for the curvature of −ln p on the linear model's outputs, large enough
    // for f32 round-off in the loss.
    let h = 1e-3_f32;
    let mut k = 0;
    for layer in 0..2 {
        for param in 0..2 {
            let len = net.parts_mut().0[layer].params()[param].len();
            for i in 0..len {
                let nudge = |net: &mut Net<A>, delta: f32| {
                    let mut parts = net.parts_mut().0;
                    let mut params = parts[layer].params_mut();
                    params[param].value.as_slice_mut().unwrap()[i] += delta;
                };
                nudge(&mut net, h);
                let up = objective(&mut net);
                nudge(&mut net, -2.0 * h);
                let down = objective(&mut net);
                nudge(&mut net, h);

                let numeric = (up - down) / (2.0 * f64::from(h));
                let got = f64::from(analytic[k]);
                let tolerance = 2e-3 * (1.0 + numeric.abs());
                assert!(
                    (numeric - got).abs() < tolerance,
                    "{} {}: param {k}: {numeric} vs {got}",
                    loss.name(),
                    std::any::type_name::<A>()
                );
                k += 1;
            }
        }
    }
    assert_eq!(k, <Net<A> as Network>::PARAM_COUNT);
}

#[test]
fn chain_gradients_match_finite_differences() {
    let (x, _) = clusters(6, 3);
    let labels = [0_u32, 1, 2, 2, 1, 0];
    check_chain::<Softmax>(
        SparseCategoricalCrossentropy,
        &x,
        TargetsRef::Classes(&labels),
    );
    check_chain::<Linear>(
        SparseCategoricalCrossentropy,
        &x,
        TargetsRef::Classes(&labels),
    );

    let values = Array2::from_shape_fn((6, 3), |(i, j)| ((i + j) % 3) as f32 / 2.0);
    check_chain::<Sigmoid>(MeanSquaredError, &x, TargetsRef::Values(values.view()));
}

#[test]
fn summary_lists_layers_and_totals() {
    let net: Net = Net::new(1);

    let text = net.summary();

    let expected = "\
Model: \"Net\"
_______________________________________________________________
 Layer (type)                  Output Shape             Param #
===============================================================
 dense (Dense)                 (None, 8)                     24
 dense_1 (Dense)               (None, 3)                     27
===============================================================
 Total params: 51
 Trainable params: 51
 Non-trainable params: 0
_______________________________________________________________
";
    assert_eq!(text, expected, "\n{text}");
    assert_eq!(<Net as Network>::PARAM_COUNT, 51);
    assert_eq!(<Net as Network>::Output::LEN, 3);
    let _: &dyn Layer = &net.dense;
}

#[test]
fn summary_of_the_seed_cnn() {
    let model = MnistCnn::new(42);

    let text = model.summary();

    let expected = "\
Model: \"MnistCnn\"
_________________________________________________________________
 Layer (type)                    Output Shape             Param #
=================================================================
 conv2d (Conv2D)                 (None, 26, 26, 32)           320
 max_pooling2d (MaxPooling2D)    (None, 13, 13, 32)             0
 dropout (Dropout)               (None, 13, 13, 32)             0
 conv2d_1 (Conv2D)               (None, 11, 11, 64)        18,496
 max_pooling2d_1 (MaxPooling2D)  (None, 5, 5, 64)               0
 dropout_1 (Dropout)             (None, 5, 5, 64)               0
 flatten (Flatten)               (None, 1600)                   0
 dense (Dense)                   (None, 10)                16,010
=================================================================
 Total params: 34,826
 Trainable params: 34,826
 Non-trainable params: 0
_________________________________________________________________
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn tiny_cnn_with_dropout_learns_bars() {
    let (x, y) = bars(64, 1);
    let (xv, yv) = bars(32, 2);
    let mut model = TinyCnn::new(3, Some(0.25));
    model.compile(Adam::new(0.01), SparseCategoricalCrossentropy);

    let history = model
        .fit(&x, &y)
        .epochs(8)
        .batch_size(8)
        .validation_data(&xv, &yv)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    let val_accuracy = history.get("val_accuracy").unwrap();
    assert!(val_accuracy[7] >= 0.9, "{history:?}");
    // Inference is deterministic even with dropout in the model.
    let (first, second) = (model.predict(&xv).unwrap(), model.predict(&xv).unwrap());
    assert_eq!(first.matrix(), second.matrix());
}

#[test]
fn zero_dropout_changes_nothing() {
    let (x, y) = bars(24, 1);
    let run = |rate: Option<f32>| {
        let mut model = TinyCnn::new(5, rate);
        let initial = model.weights();
        model.compile(Adam::default(), SparseCategoricalCrossentropy);
        let history = model
            .fit(&x, &y)
            .epochs(2)
            .batch_size(5)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap();
        (initial, history, model.weights())
    };

    let (initial_a, history_a, weights_a) = run(None);
    let (initial_b, history_b, weights_b) = run(Some(0.0));

    assert_eq!(initial_a, initial_b);
    assert_eq!(history_a, history_b);
    assert_eq!(weights_a, weights_b);
}

#[test]
fn weights_round_trip_through_a_file() {
    let (x, y) = clusters(30, 1);
    let mut trained = compiled(1);
    trained
        .fit(&x, &y)
        .epochs(2)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();
    let path =
        std::env::temp_dir().join(format!("dropnet-model-{}.safetensors", std::process::id()));

    trained.save_weights(&path).unwrap();
    let mut fresh: Net = Net::new(99);
    fresh.load_weights(&path).unwrap();
    let _ = std::fs::remove_file(&path);

    assert_eq!(fresh.weights(), trained.weights());
    assert_eq!(
        fresh.predict(&x).unwrap().matrix(),
        trained.predict(&x).unwrap().matrix()
    );
}

/// Prediction and evaluation cut a batch too large for the caches into parts (the seed CNN
/// at 100 samples: three parts); the outputs and the loss are those of one sample at a time.
#[test]
fn large_batches_predict_and_evaluate_in_parts_as_one_sample_at_a_time() {
    let mut model = MnistCnn::new(3);
    model.compile(Sgd::default(), SparseCategoricalCrossentropy);
    let pixels = crate::gradcheck::random_input(100, 784, 4).mapv(|v| v.abs());
    let x = Samples::from_matrix(pixels).unwrap();
    let labels = Labels::new((0..100).map(|i| i % 10).collect());

    let whole = model.predict_batch(&x, 100).unwrap();
    let single = model.predict_batch(&x, 1).unwrap();
    for (a, b) in whole.matrix().iter().zip(single.matrix()) {
        assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
    }
    let whole = model.evaluate_batch(&x, &labels, 100).unwrap();
    let single = model.evaluate_batch(&x, &labels, 1).unwrap();
    assert!(
        (whole.loss - single.loss).abs() <= 1e-6,
        "{whole:?} vs {single:?}"
    );
    assert_eq!(whole.accuracy, single.accuracy);
}
