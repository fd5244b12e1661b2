//! Tests of what surrounds `fit`: the built-in callbacks in real training runs, callback
//! errors, the validation split and resumed epoch numbering.

use std::fs;

use super::testing::{bars, clusters, Net, TinyCnn};
use super::Model;
use crate::callback::{
    Callback, CsvLogger, EarlyStopping, EpochEnd, FitContext, ModelCheckpoint, ReduceLrOnPlateau,
    Verbosity,
};
use crate::error::{Error, Result};
use crate::history::History;
use crate::loss::SparseCategoricalCrossentropy;
use crate::network::Network;
use crate::optim::Adam;
use crate::shape::{Labels, Samples, Vector};
use crate::weights::tests::Scratch;

fn compiled(seed: u64) -> Net {
    let mut net = Net::new(seed);
    net.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
    net
}

fn bits(net: &Net) -> Vec<u32> {
    net.weights()
        .iter()
        .flat_map(|w| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// Trains `net` on `x` and `y` for `epochs` epochs in batches of 8 with `callbacks`.
fn fit_with(
    net: &mut Net,
    data: &(Samples<Vector<2>>, Labels),
    epochs: usize,
    callbacks: Vec<&mut dyn Callback>,
) -> Result<History> {
    let mut fit = net
        .fit(&data.0, &data.1)
        .epochs(epochs)
        .batch_size(8)
        .validation_split(0.25)
        .verbose(Verbosity::Silent);
    for callback in callbacks {
        fit = fit.callback(callback);
    }
    fit.run()
}

#[test]
fn validation_split_holds_out_the_last_samples_before_shuffling() {
    let (x, y) = clusters(40, 1);
    let (head_x, tail_x) = (
        x.head(30),
        Samples::from_matrix(x.matrix().slice(ndarray::s![30.., ..]).to_owned()).unwrap(),
    );
    let (head_y, tail_y) = (y.head(30), Labels::new(y.as_slice()[30..].to_vec()));
    let mut split = compiled(2);
    let mut explicit = compiled(2);

    let by_fraction = split
        .fit(&x, &y)
        .epochs(3)
        .batch_size(8)
        .validation_split(0.25)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();
    let by_data = explicit
        .fit(&head_x, &head_y)
        .epochs(3)
        .batch_size(8)
        .validation_data(&tail_x, &tail_y)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    assert_eq!(by_fraction, by_data);
    assert!(by_fraction.get("val_loss").is_some());
    assert_eq!(bits(&split), bits(&explicit));
}

#[test]
fn bad_validation_splits_are_refused_before_training() {
    let (x, y) = clusters(10, 1);
    let (one_x, one_y) = (x.head(1), y.head(1));
    let mut net = compiled(2);
    let before = bits(&net);
    let split = |net: &mut Net, x: &Samples<Vector<2>>, y: &Labels, fraction: f64| {
        net.fit(x, y)
            .validation_split(fraction)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap_err()
    };

    for fraction in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        let err = split(&mut net, &x, &y, fraction);
        assert!(
            matches!(
                err,
                Error::InvalidConfig {
                    name: "validation_split",
                    ..
                }
            ),
            "{fraction}: {err:?}"
        );
    }
    let err = split(&mut net, &one_x, &one_y, 0.5);
    assert_eq!(
        err.to_string(),
        "invalid `validation_split`: 0.5 of 1 samples leaves 0 for training and 1 for \
         validation; each part needs at least one"
    );
    let err = split(&mut net, &x, &y.head(9), 0.2);
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                set: "training",
                ..
            }
        ),
        "{err:?}"
    );
    let err = net
        .fit(&x, &y)
        .validation_split(0.2)
        .validation_data(&x, &y)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    assert_eq!(bits(&net), before);
}

#[test]
fn initial_epoch_numbers_the_epochs_as_keras_does() {
    let data = clusters(20, 1);
    let mut net = compiled(3);

    let resumed = net
        .fit(&data.0, &data.1)
        .epochs(4)
        .initial_epoch(1)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();
    let nothing = net
        .fit(&data.0, &data.1)
        .epochs(2)
        .initial_epoch(2)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap();

    let epochs: Vec<usize> = resumed.records().iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, [2, 3, 4]);
    assert!(nothing.is_empty());
    assert_eq!(net.runtime().epoch(), 4);
}

/// Fails after the given epoch, as a full disk would.
struct FailsAfter(usize);

impl Callback for FailsAfter {
    fn on_epoch_end(&mut self, epoch: &EpochEnd<'_>, _ctx: &mut FitContext<'_, '_>) -> Result<()> {
        if epoch.record.epoch == self.0 {
            let full = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
            return Err(Error::io("somewhere", full));
        }
        Ok(())
    }
}

#[test]
fn a_failing_callback_ends_fit_with_its_error() {
    let data = clusters(20, 1);
    let mut net = compiled(3);
    let mut reference = compiled(3);
    fit_with(&mut reference, &data, 2, vec![]).unwrap();

    let err = fit_with(&mut net, &data, 5, vec![&mut FailsAfter(2)]).unwrap_err();

    assert!(
        matches!(&err, Error::Io { error, .. } if error.kind() == std::io::ErrorKind::StorageFull),
        "{err:?}"
    );
    assert_eq!(
        bits(&net),
        bits(&reference),
        "the epochs before keep their updates"
    );

    let dir = Scratch::new("checkpoint-into-nothing");
    let missing = dir.0.join("no-such-folder").join("e{epoch}.ckpt");
    let mut checkpoint = ModelCheckpoint::new(&missing);
    let before = bits(&net);
    let err = fit_with(&mut net, &data, 2, vec![&mut checkpoint]).unwrap_err();
    // Refused before the first epoch, not after it: nothing has trained.
    assert!(
        matches!(&err, Error::Io { path, error }
            if path.ends_with("no-such-folder/e{epoch}.ckpt")
                && error.to_string().contains("does not exist")),
        "{err:?}"
    );
    assert_eq!(bits(&net), before, "no epoch ran");
}

#[test]
fn early_stopping_ends_fit_and_restores_the_best_weights() {
    let data = clusters(24, 1);
    let mut after_one = compiled(4);
    fit_with(&mut after_one, &data, 1, vec![]).unwrap();
    let mut net = compiled(4);
    // No epoch can beat the first by a million: the second is the patience's last.
    let mut early = EarlyStopping::new()
        .monitor("loss")
        .min_delta(1e6)
        .patience(1)
        .restore_best_weights(true);

    let history = fit_with(&mut net, &data, 10, vec![&mut early]).unwrap();

    assert_eq!(history.len(), 2);
    assert_eq!(early.stopped_epoch(), Some(2));
    assert_eq!(early.best().map(|(epoch, _)| epoch), Some(1));
    let reason = history.stop_reason().unwrap();
    assert!(
        reason.starts_with("early stopping: `loss` has not improved by more than 1000000 for 1"),
        "{reason}"
    );
    assert_eq!(
        bits(&net),
        bits(&after_one),
        "the first epoch's weights came back"
    );
}

#[test]
fn callback_settings_are_checked_before_any_weight_changes() {
    let data = clusters(20, 1);
    let mut net = compiled(5);
    let before = bits(&net);
    let no_validation = |net: &mut Net, callback: &mut dyn Callback| {
        net.fit(&data.0, &data.1)
            .callback(callback)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap_err()
    };

    let err = no_validation(&mut net, &mut EarlyStopping::new());
    assert!(
        matches!(&err, Error::UnknownMetric { name, .. } if name == "val_loss"),
        "{err:?}"
    );
    let err = no_validation(&mut net, &mut EarlyStopping::new().monitor("los"));
    assert!(
        matches!(&err, Error::UnknownMetric { name, .. } if name == "los"),
        "{err:?}"
    );
    let err = no_validation(
        &mut net,
        &mut EarlyStopping::new().monitor("loss").min_delta(f64::NAN),
    );
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                name: "min_delta",
                ..
            }
        ),
        "{err:?}"
    );
    let err = no_validation(
        &mut net,
        &mut ReduceLrOnPlateau::new().monitor("loss").factor(1.0),
    );
    assert!(
        matches!(err, Error::InvalidConfig { name: "factor", .. }),
        "{err:?}"
    );
    let err = no_validation(&mut net, &mut ModelCheckpoint::new("e{val_accuracy}.ckpt"));
    assert!(
        matches!(
            err,
            Error::UnknownMetric {
                callback: "ModelCheckpoint",
                ..
            }
        ),
        "{err:?}"
    );
    let err = no_validation(&mut net, &mut ModelCheckpoint::new("e{epoch.ckpt"));
    assert!(
        matches!(err, Error::InvalidConfig { name: "path", .. }),
        "{err:?}"
    );
    assert_eq!(bits(&net), before);
    assert_eq!(net.runtime().epoch(), 0);
}

#[test]
fn reduce_lr_on_plateau_lowers_the_rate_after_patience_down_to_min_lr() {
    let data = clusters(24, 1);
    let rate_after_six = |cooldown: usize| {
        let mut net = compiled(6);
        // Nothing beats the first epoch by a million, so every later epoch counts.
        let mut plateau = ReduceLrOnPlateau::new()
            .monitor("loss")
            .min_delta(1e6)
            .patience(1)
            .factor(0.5)
            .cooldown(cooldown)
            .min_lr(0.001);
        fit_with(&mut net, &data, 6, vec![&mut plateau]).unwrap();
        net.runtime().optimizer().unwrap().learning_rate()
    };

    // Without cooldown epochs 2 to 6 each halve 0.01, down to the floor of 0.001.
    assert_eq!(rate_after_six(0), 0.001);
    // A cooldown of 2 leaves epochs 3 and 5 uncounted: 0.01 / 2³.
    assert_eq!(rate_after_six(2), 0.01 * 0.5 * 0.5 * 0.5);
}

#[test]
fn model_checkpoint_saves_each_epoch_and_a_run_resumes_from_any_of_them() {
    let dir = Scratch::new("every-epoch");
    let data = (bars(24, 1), bars(8, 2));
    let fit = |model: &mut TinyCnn, from: usize, callback: Option<&mut ModelCheckpoint>| {
        let mut fit = model
            .fit(&data.0 .0, &data.0 .1)
            .epochs(5)
            .initial_epoch(from)
            .batch_size(8)
            .validation_data(&data.1 .0, &data.1 .1)
            .verbose(Verbosity::Silent);
        if let Some(callback) = callback {
            fit = fit.callback(callback);
        }
        fit.run().unwrap()
    };
    let model = |seed| {
        let mut model = TinyCnn::new(seed, Some(0.5));
        model.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
        model
    };
    let mut every = ModelCheckpoint::new(dir.0.join("e{epoch:02d}-{val_loss:.3f}.ckpt"));

    let mut whole = model(1);
    let history = fit(&mut whole, 0, Some(&mut every));

    let names = dir.listing();
    assert_eq!(names.len(), 5, "{names:?}");
    let third = format!("e03-{:.3}.ckpt", history.records()[2].val_loss.unwrap());
    assert_eq!(names[2], third);
    let mut resumed = model(2);
    assert_eq!(resumed.load_checkpoint(dir.0.join(&third)).unwrap(), 3);
    let rest = fit(&mut resumed, 3, None);
    assert_eq!(rest.records(), &history.records()[3..]);
    assert_eq!(resumed.weights(), whole.weights());
}

#[test]
fn model_checkpoint_best_only_saves_the_epochs_that_improve() {
    let dir = Scratch::new("best-only");
    let data = clusters(24, 1);
    let mut net = compiled(7);
    let mut best = ModelCheckpoint::new(dir.0.join("best-{epoch}.ckpt"))
        .monitor("val_loss")
        .save_best_only(true);

    let history = fit_with(&mut net, &data, 6, vec![&mut best]).unwrap();

    let mut lowest = f64::INFINITY;
    let mut expected = Vec::new();
    for record in history.records() {
        let loss = record.val_loss.unwrap();
        if loss < lowest {
            lowest = loss;
            expected.push(format!("best-{}.ckpt", record.epoch));
        }
    }
    expected.sort();
    assert_eq!(dir.listing(), expected);
    assert_eq!(best.best(), Some(lowest));
}

#[test]
fn csv_logger_writes_what_history_to_csv_writes_and_can_append() {
    let dir = Scratch::new("csv");
    let (log_path, history_path) = (dir.0.join("log.csv"), dir.0.join("history.csv"));
    let data = clusters(20, 1);
    let mut net = compiled(8);
    let mut log = CsvLogger::new(&log_path);

    let history = fit_with(&mut net, &data, 3, vec![&mut log]).unwrap();
    history.to_csv(&history_path).unwrap();

    let logged = fs::read_to_string(&log_path).unwrap();
    assert_eq!(logged, fs::read_to_string(&history_path).unwrap());
    assert!(
        logged.starts_with("epoch,loss,accuracy,val_loss,val_accuracy\n1,"),
        "{logged}"
    );
    assert_eq!(logged.lines().count(), 4);

    let mut more = CsvLogger::new(&log_path).append(true);
    fit_with(&mut net, &data, 2, vec![&mut more]).unwrap();
    let appended = fs::read_to_string(&log_path).unwrap();
    assert_eq!(appended.lines().count(), 6);
    assert_eq!(appended.matches("epoch,").count(), 1, "{appended}");

    let mut nowhere = CsvLogger::new(dir.0.join("missing").join("log.csv"));
    let err = fit_with(&mut net, &data, 1, vec![&mut nowhere]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}
