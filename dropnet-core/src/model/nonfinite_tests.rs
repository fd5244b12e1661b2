//! Tests of the guards against NaN and infinities: inputs are refused before training,
//! and a non-finite loss or gradient stops training before the batch's update.
//!
//! The models use ReLU because it hides a NaN input: `max(NaN, 0)` is 0, so the loss stays
//! finite while the kernel gradient (input times output gradient) is NaN.

use ndarray::ArrayD;

use super::testing::{bars, clusters, Net, TinyCnn};
use super::Model;
use crate::activation::{Relu, Softmax};
use crate::callback::{TerminateOnNan, Verbosity};
use crate::error::Error;
use crate::layer::Layer;
use crate::network::Network;
use crate::optim::Adam;
use crate::shape::{Labels, Samples, Shape};

/// The bit patterns of every weight, so that "unchanged" means bit for bit.
fn bits(weights: &[ArrayD<f32>]) -> Vec<u32> {
    weights
        .iter()
        .flat_map(|w| w.iter().map(|v| v.to_bits()))
        .collect()
}

/// Every parameter value of `model`, layer by layer.
fn weights_of<N: Network>(model: &N) -> Vec<ArrayD<f32>> {
    model
        .layers()
        .iter()
        .flat_map(|layer: &&dyn Layer| layer.params())
        .map(|param| param.value.clone())
        .collect()
}

/// `x` with `value` written at (`sample`, `feature`).
fn poisoned<S: Shape>(x: &Samples<S>, sample: usize, feature: usize, value: f32) -> Samples<S> {
    let mut matrix = x.matrix().to_owned();
    matrix[[sample, feature]] = value;
    Samples::from_matrix(matrix).unwrap()
}

fn relu_cnn(seed: u64) -> TinyCnn {
    let mut model = TinyCnn::new(seed, None);
    model.compile(Adam::new(0.01), crate::loss::SparseCategoricalCrossentropy);
    model
}

fn relu_dense(seed: u64) -> Net<Softmax, Relu> {
    let mut net = Net::new(seed);
    net.compile(Adam::new(0.01), crate::loss::SparseCategoricalCrossentropy);
    net
}

#[test]
fn non_finite_training_input_is_refused_before_any_update() {
    let (x, y) = bars(24, 1);
    let nan = poisoned(&x, 13, 20, f32::NAN);
    let (points, labels) = clusters(12, 1);
    let inf = poisoned(&points, 7, 0, f32::INFINITY);
    let mut cnn = relu_cnn(2);
    let mut dense = relu_dense(2);
    let (cnn_before, dense_before) = (bits(&cnn.weights()), bits(&dense.weights()));

    let cnn_err = cnn.fit(&nan, &y).verbose(Verbosity::Silent).run();
    let dense_err = dense.fit(&inf, &labels).verbose(Verbosity::Silent).run();

    let cnn_err = cnn_err.unwrap_err();
    assert!(
        matches!(
            cnn_err,
            Error::NonFiniteInput {
                set: "training",
                index: 13,
                ..
            }
        ),
        "{cnn_err:?}"
    );
    assert_eq!(
        cnn_err.to_string(),
        "input of sample 13 in the training set holds NaN, but inputs must be finite"
    );
    let dense_err = dense_err.unwrap_err();
    assert!(
        matches!(
            dense_err,
            Error::NonFiniteInput {
                set: "training",
                index: 7,
                value: f32::INFINITY
            }
        ),
        "{dense_err:?}"
    );
    assert_eq!(bits(&cnn.weights()), cnn_before);
    assert_eq!(bits(&dense.weights()), dense_before);
}

#[test]
fn non_finite_validation_input_is_refused_before_any_update() {
    let (x, y) = bars(16, 1);
    let (xv, yv) = bars(8, 2);
    let xv = poisoned(&xv, 5, 0, f32::NEG_INFINITY);
    let mut cnn = relu_cnn(2);
    let before = bits(&cnn.weights());

    let err = cnn
        .fit(&x, &y)
        .validation_data(&xv, &yv)
        .verbose(Verbosity::Silent)
        .run();

    let err = err.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFiniteInput {
                set: "validation",
                index: 5,
                value: f32::NEG_INFINITY
            }
        ),
        "{err:?}"
    );
    assert_eq!(bits(&cnn.weights()), before);
}

#[test]
fn evaluate_and_predict_refuse_non_finite_inputs() {
    let (x, y) = bars(10, 1);
    let x = poisoned(&x, 9, 35, f32::NAN);
    let mut cnn = relu_cnn(2);

    let evaluation = cnn.evaluate(&x, &y).unwrap_err();
    let prediction = cnn.predict_batch(&x, 4).unwrap_err();

    assert!(
        matches!(
            evaluation,
            Error::NonFiniteInput {
                set: "evaluation",
                index: 9,
                ..
            }
        ),
        "{evaluation:?}"
    );
    assert_eq!(
        prediction.to_string(),
        "input of sample 9 in the prediction set holds NaN, but inputs must be finite"
    );
}

/// `model`'s weights after training on the first `batches` batches of ten of `x` and `y`,
/// in order, with nothing wrong in them.
fn after_clean_batches<N: Model>(
    mut model: N,
    x: &Samples<N::Input>,
    y: &Labels,
    batches: usize,
) -> Vec<u32> {
    if batches > 0 {
        let (x, y) = (x.head(10 * batches), y.head(10 * batches));
        model
            .fit(&x, &y)
            .batch_size(10)
            .shuffle(false)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap();
    }
    bits(&weights_of(&model))
}

#[test]
fn nan_kernel_gradient_behind_relu_stops_before_the_update() {
    // The input check is skipped (`train`) to reach the guard on gradients: sample 25 is in
    // the third batch, so two updates are kept and the third is never applied.
    let (x, y) = bars(30, 1);
    let nan = poisoned(&x, 25, 14, f32::NAN);
    let mut cnn = relu_cnn(4);

    let err = cnn
        .fit(&nan, &y)
        .batch_size(10)
        .shuffle(false)
        .verbose(Verbosity::Silent)
        .train();

    let err = err.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::NonFiniteGradient {
                epoch: 1,
                batch: 3,
                tensor
            } if tensor == "conv2d/kernel"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the gradient of `conv2d/kernel` is not finite at epoch 1, batch 3; training stopped \
         before that batch's update"
    );
    assert_eq!(
        bits(&cnn.weights()),
        after_clean_batches(relu_cnn(4), &x, &y, 2)
    );
}

#[test]
fn nan_dense_gradient_in_the_first_batch_leaves_the_weights_as_they_were() {
    let (x, y) = clusters(20, 1);
    let nan = poisoned(&x, 3, 1, f32::NAN);
    let mut net = relu_dense(4);
    let before = bits(&net.weights());

    let err = net
        .fit(&nan, &y)
        .batch_size(10)
        .shuffle(false)
        .verbose(Verbosity::Silent)
        .train();

    assert!(
        matches!(
            &err,
            Err(Error::NonFiniteGradient {
                epoch: 1,
                batch: 1,
                tensor
            }) if tensor == "dense/kernel"
        ),
        "{err:?}"
    );
    assert_eq!(bits(&net.weights()), before);
}

#[test]
fn nan_loss_stops_training_and_keeps_the_earlier_updates() {
    // Behind tanh the NaN reaches the loss itself.
    let (x, y) = clusters(30, 1);
    let nan = poisoned(&x, 25, 1, f32::NAN);
    let mut net: Net = Net::new(1);
    net.compile(Adam::new(0.01), crate::loss::SparseCategoricalCrossentropy);

    let err = net
        .fit(&nan, &y)
        .batch_size(10)
        .shuffle(false)
        .verbose(Verbosity::Silent)
        .train();

    assert!(
        matches!(
            err,
            Err(Error::NonFiniteLoss {
                epoch: 1,
                batch: 3,
                ..
            })
        ),
        "{err:?}"
    );
    let mut reference: Net = Net::new(1);
    reference.compile(Adam::new(0.01), crate::loss::SparseCategoricalCrossentropy);
    assert_eq!(
        bits(&net.weights()),
        after_clean_batches(reference, &x, &y, 2)
    );
}

#[test]
fn terminate_on_nan_ends_training_with_the_history_and_the_reason() {
    let (x, y) = clusters(30, 1);
    let nan = poisoned(&x, 25, 1, f32::NAN);
    let mut net: Net = Net::new(1);
    net.compile(Adam::new(0.01), crate::loss::SparseCategoricalCrossentropy);
    let mut terminate = TerminateOnNan::new();

    let history = net
        .fit(&nan, &y)
        .epochs(3)
        .batch_size(10)
        .shuffle(false)
        .callback(&mut terminate)
        .verbose(Verbosity::Silent)
        .train()
        .unwrap();

    assert_eq!(history.len(), 1, "training ended in the first epoch");
    assert!(history.records()[0].loss.is_nan(), "{history:?}");
    let reason = "loss is NaN at epoch 1, batch 3; training stopped";
    assert_eq!(history.stop_reason(), Some(reason));
    assert_eq!(terminate.stopped(), Some(reason));
    let mut reference: Net = Net::new(1);
    reference.compile(Adam::new(0.01), crate::loss::SparseCategoricalCrossentropy);
    assert_eq!(
        bits(&net.weights()),
        after_clean_batches(reference, &x, &y, 2),
        "the bad batch's update was not applied"
    );
}

#[test]
fn terminate_on_nan_also_ends_training_at_a_non_finite_gradient() {
    let (x, y) = bars(30, 1);
    let nan = poisoned(&x, 25, 14, f32::NAN);
    let mut cnn = relu_cnn(4);
    let mut terminate = TerminateOnNan::new();

    let history = cnn
        .fit(&nan, &y)
        .epochs(2)
        .batch_size(10)
        .shuffle(false)
        .callback(&mut terminate)
        .verbose(Verbosity::Silent)
        .train()
        .unwrap();

    assert_eq!(history.len(), 1);
    assert!(history.records()[0].loss.is_finite());
    assert!(
        history
            .stop_reason()
            .unwrap()
            .starts_with("the gradient of `conv2d/kernel`"),
        "{history:?}"
    );
    assert_eq!(
        bits(&cnn.weights()),
        after_clean_batches(relu_cnn(4), &x, &y, 2)
    );
}

#[test]
fn a_huge_finite_input_that_overflows_the_weights_stops_training() {
    // 1e30 is finite, and so are the loss and gradients it gives, but Adam squares the
    // gradient (1e60 overflows f32): its second moment becomes infinite, then NaN, and the
    // weights after it. Training must stop there, naming the tensor, not return Ok.
    let (x, y) = clusters(30, 1);
    let huge = poisoned(&x, 5, 0, 1e30);
    let mut net = relu_dense(4);

    let err = net
        .fit(&huge, &y)
        .epochs(3)
        .batch_size(10)
        .shuffle(false)
        .verbose(Verbosity::Silent)
        .train()
        .unwrap_err();

    match &err {
        Error::NonFiniteWeight {
            epoch: 1,
            batch: 1,
            tensor,
        } => assert!(tensor.starts_with("optimizer/"), "{err}"),
        other => panic!("expected NonFiniteWeight in the first batch, got {other:?}"),
    }
}

#[test]
fn terminate_on_nan_also_ends_training_on_overflowed_weights() {
    let (x, y) = clusters(30, 1);
    let huge = poisoned(&x, 5, 0, 1e30);
    let mut net = relu_dense(4);
    let mut terminate = TerminateOnNan::new();

    let history = net
        .fit(&huge, &y)
        .epochs(3)
        .batch_size(10)
        .shuffle(false)
        .callback(&mut terminate)
        .verbose(Verbosity::Silent)
        .train()
        .unwrap();

    assert_eq!(history.len(), 1, "training ended in the first epoch");
    let reason = terminate.stopped().unwrap_or_default();
    assert!(reason.contains("became NaN or infinite"), "{reason}");
}
