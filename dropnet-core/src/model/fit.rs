//! How [`Model::fit`](super::Model::fit) is set up: the options, the validation split and
//! every check made before training; the loop itself is in `trainer`.

use super::chain::{Chain, Ends, Set};
use super::check::{check_batch_size, check_set};
use super::replicas::Replicas;
use super::trainer::Trainer;
use crate::callback::{Callback, Stop, Verbosity};
use crate::error::{Error, Result};
use crate::history::History;
use crate::layer::Layer;
use crate::loss::Loss;
use crate::network::Network;
use crate::optim::Optimizer;
use crate::runtime::Runtime;
use crate::shape::{Samples, Targets, TargetsRef};

/// A training run being set up; returned by [`Model::fit`](super::Model::fit) and started
/// with [`Fit::run`].
///
/// Defaults follow Keras: 1 epoch, batches of 32, shuffled every epoch, no validation, a
/// progress bar, epochs numbered from 1.
#[must_use = "nothing is trained until `.run()` is called"]
pub struct Fit<'a, N: Network + ?Sized> {
    model: &'a mut N,
    job: Job<'a>,
}

/// Everything a [`Fit`] holds but the model: the data, the settings and the callbacks.
///
/// The run itself works on this and on the model's layers, not on the model's type, so
/// that it is compiled once in this crate rather than again for every model in every crate
/// declaring one.
struct Job<'a> {
    train: Set<'a>,
    validation: Option<Set<'a>>,
    settings: Settings,
    callbacks: Vec<&'a mut dyn Callback>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) epochs: usize,
    pub(super) initial_epoch: usize,
    pub(super) batch_size: usize,
    pub(super) shuffle: bool,
    pub(super) verbosity: Verbosity,
    validation_split: Option<f64>,
}

impl<'a, N: Network + ?Sized> Fit<'a, N> {
    pub(crate) fn new(model: &'a mut N, x: &'a Samples<N::Input>, y: TargetsRef<'a>) -> Self {
        Self {
            model,
            job: Job {
                train: Set { x: x.matrix(), y },
                validation: None,
                settings: Settings {
                    epochs: 1,
                    initial_epoch: 0,
                    batch_size: 32,
                    shuffle: true,
                    verbosity: Verbosity::default(),
                    validation_split: None,
                },
                callbacks: Vec::new(),
            },
        }
    }

    /// The number of the last epoch to train (default 1). Without
    /// [`Fit::initial_epoch`] this is the number of passes over the training set; 0 trains
    /// nothing.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.job.settings.epochs = epochs;
        self
    }

    /// Counts `initial_epoch` epochs as done, as Keras's `initial_epoch` does: the run
    /// trains epochs `initial_epoch + 1` to [`Fit::epochs`], numbered so in the history,
    /// the progress output and the callbacks (nothing when `epochs <= initial_epoch`).
    /// Default 0.
    ///
    /// To resume from a checkpoint, pass the epoch that
    /// [`Model::load_checkpoint`](super::Model::load_checkpoint) returns: with the same
    /// data and settings the run then continues bit for bit as if it had never stopped.
    pub fn initial_epoch(mut self, initial_epoch: usize) -> Self {
        self.job.settings.initial_epoch = initial_epoch;
        self
    }

    /// Samples per gradient step (default 32). The last batch of an epoch takes the
    /// remaining samples and may be smaller; validation uses the same size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.job.settings.batch_size = batch_size;
        self
    }

    /// Whether to visit the samples in a new random order every epoch (default true).
    ///
    /// The order comes from the model's shuffling stream, derived from its seed and kept
    /// between `fit` calls, so two calls of one epoch shuffle like one call of two.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.job.settings.shuffle = shuffle;
        self
    }

    /// A set evaluated in inference mode after every epoch, reported as `val_loss` and
    /// `val_accuracy`.
    pub fn validation_data(
        mut self,
        x: &'a Samples<N::Input>,
        y: &'a impl Targets<N::Output>,
    ) -> Self {
        self.job.validation = Some(Set {
            x: x.matrix(),
            y: y.targets(),
        });
        self
    }

    /// Holds out the last `fraction` of the samples (and their targets) as validation data,
    /// as Keras's `validation_split` does: the first `floor(n · (1 − fraction))` samples
    /// are trained on, the rest are evaluated after every epoch, reported as `val_loss`
    /// and `val_accuracy`. The split is taken before shuffling, so the same samples are
    /// held out in every epoch (shuffle the data beforehand if it is sorted).
    ///
    /// `fit` fails with [`Error::InvalidConfig`] for a fraction outside (0, 1), for one
    /// that leaves either part empty, and when [`Fit::validation_data`] is also given.
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.job.settings.validation_split = Some(fraction);
        self
    }

    /// How much to print (default [`Verbosity::ProgressBar`]).
    pub fn verbose(mut self, verbosity: Verbosity) -> Self {
        self.job.settings.verbosity = verbosity;
        self
    }

    /// Adds a callback; callbacks run in the order they were added.
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.job.callbacks.push(callback);
        self
    }

    /// Trains the model and returns the per-epoch losses and metrics.
    ///
    /// Everything is checked before any weight changes; on such an error the model is as
    /// it was. Fails with
    /// - [`Error::NotCompiled`] before `compile`,
    /// - [`Error::InvalidConfig`] for a batch size of 0, bad optimiser settings, a bad
    ///   validation split, or a callback's bad settings,
    /// - [`Error::UnknownMetric`] when a callback watches a metric the run does not report,
    /// - [`Error::EmptySet`], [`Error::LengthMismatch`], [`Error::TargetKind`],
    ///   [`Error::LabelOutOfRange`], [`Error::NonFiniteTarget`] or
    ///   [`Error::NonFiniteInput`] for the training or the validation set, naming the set
    ///   and the first bad sample (every input value is checked to be finite, in one pass
    ///   over the data per call).
    ///
    /// During training, it stops at the first batch that goes wrong, before that batch's
    /// update, and keeps the updates of the batches before it. It fails with
    /// - [`Error::NonFiniteLoss`] when a batch's loss is NaN or infinite,
    /// - [`Error::NonFiniteGradient`] when the loss is finite but a parameter gradient is
    ///   not, naming the tensor (`conv2d/kernel`). Every gradient is checked before each
    ///   update, in one pass that allocates nothing beyond the layers' parameter lists,
    /// - [`Error::NonFiniteWeight`] when the loss and gradients were finite but the update
    ///   made a weight, or the optimiser's state for one, NaN or infinite (values too large
    ///   for `f32`); this one is found after the update, which the weights then hold,
    ///
    /// and the history of the epochs so far is then not returned. With a
    /// [`TerminateOnNan`](crate::callback::TerminateOnNan) callback (Keras's
    /// `TerminateOnNaN`) training instead ends there gracefully and the history is
    /// returned, its last epoch showing the non-finite loss and
    /// [`History::stop_reason`] saying what happened. An error returned by a callback
    /// also ends training with that error.
    ///
    /// # Sparse cross-entropy and softmax
    /// [`SparseCategoricalCrossentropy`](crate::loss::SparseCategoricalCrossentropy) (and
    /// [`CategoricalCrossentropy`](crate::loss::CategoricalCrossentropy)) take
    /// probabilities, as Keras's losses do by default: the last layer should end in
    /// `softmax`. Training then runs that layer on its logits and computes the loss from
    /// them, exactly. Without a softmax the outputs are taken as probabilities and clipped
    /// to `[1e-7, 1 − 1e-7]` like Keras: a linear or relu last layer is not an error, but
    /// its outputs are not probabilities and a clipped output gets no gradient, so such a
    /// model trains poorly.
    pub fn run(self) -> Result<History> {
        let ends = Ends::of::<N>();
        let (mut layers, runtime) = self.model.parts_mut();
        let mut job = self.job;
        job.split()?;
        job.check(runtime, ends)?;
        job.train(&mut layers, runtime, ends, N::NAME)
    }

    /// The training loop, without the checks of [`Fit::run`] (tests call it to reach the
    /// guards that run during training).
    #[cfg(test)]
    pub(super) fn train(self) -> Result<History> {
        let ends = Ends::of::<N>();
        let (mut layers, runtime) = self.model.parts_mut();
        self.job.train(&mut layers, runtime, ends, N::NAME)
    }
}

impl Job<'_> {
    /// Replaces the training set by its two parts when a validation split was asked for.
    fn split(&mut self) -> Result<()> {
        let Some(fraction) = self.settings.validation_split else {
            return Ok(());
        };
        if self.validation.is_some() {
            let reason = "give either `validation_data` or `validation_split`, not both";
            return Err(Error::config("validation_split", reason));
        }
        let samples = self.train.x.nrows();
        if samples == 0 {
            return Err(Error::EmptySet { what: "training" });
        }
        // Splitting targets of another count would cut them at the wrong sample.
        if self.train.y.len() != samples {
            return Err(Error::LengthMismatch {
                set: "training",
                inputs: samples,
                targets: self.train.y.len(),
            });
        }
        let at = split_point(samples, fraction)?;
        let (train, validation) = self.train.split_at(at);
        self.train = train;
        self.validation = Some(validation);
        Ok(())
    }

    /// Every check on the settings and the data, against the compiled loss and optimiser.
    fn check(&self, runtime: &mut Runtime, ends: Ends) -> Result<()> {
        let (_, compiled, _) = runtime.split();
        let compiled = compiled.ok_or(Error::NotCompiled { call: "fit" })?;
        check_all(
            &self.settings,
            &self.train,
            self.validation.as_ref(),
            ends.output,
            &*compiled.loss,
            &*compiled.optimizer,
        )
    }

    /// The training loop of the model `model` made of `layers` and `runtime`.
    fn train(
        self,
        layers: &mut [&mut dyn Layer],
        runtime: &mut Runtime,
        ends: Ends,
        model: &'static str,
    ) -> Result<History> {
        let Job {
            train,
            validation,
            settings,
            mut callbacks,
        } = self;
        let parts = runtime.parts();
        let compiled = parts.compiled.ok_or(Error::NotCompiled { call: "fit" })?;
        let (optimizer, loss) = (&mut *compiled.optimizer, &*compiled.loss);

        let largest = train.x.nrows().max(validation.map_or(0, |v| v.x.nrows()));
        let rows = settings.batch_size.min(largest);
        let batch = settings.batch_size.min(train.x.nrows());
        let replicas = Replicas::for_batches(layers, ends, batch);
        let chain = Chain::new(layers, parts.buffers, rows, Some(loss), ends)?;

        let mut printer = settings.verbosity.callback();
        let mut hooks: Vec<&mut dyn Callback> = Vec::new();
        if let Some(printer) = printer.as_deref_mut() {
            hooks.push(printer);
        }
        for callback in callbacks.iter_mut() {
            hooks.push(&mut **callback);
        }

        let mut trainer = Trainer {
            chain,
            replicas,
            loss,
            optimizer,
            shuffle: parts.shuffle,
            epoch: parts.epoch,
            model,
            hooks,
            stop: Stop::default(),
            settings,
        };
        trainer.run(&train, validation.as_ref())
    }
}

/// The number of training samples when `fraction` of `samples` is held out for
/// validation, as Keras computes it: `floor(samples · (1 − fraction))`.
///
/// Fails unless `fraction` lies in (0, 1) and both parts get at least one sample.
fn split_point(samples: usize, fraction: f64) -> Result<usize> {
    if !(fraction > 0.0 && fraction < 1.0) {
        let reason = format!("must lie strictly between 0 and 1, got {fraction}");
        return Err(Error::config("validation_split", reason));
    }
    let at = (samples as f64 * (1.0 - fraction)).floor() as usize;
    if at == 0 || at >= samples {
        let reason = format!(
            "{fraction} of {samples} samples leaves {at} for training and {} for validation; \
             each part needs at least one",
            samples - at.min(samples)
        );
        return Err(Error::config("validation_split", reason));
    }
    Ok(at)
}

/// Every check `fit` makes before touching weights.
fn check_all(
    settings: &Settings,
    train: &Set<'_>,
    validation: Option<&Set<'_>>,
    classes: usize,
    loss: &dyn Loss,
    optimizer: &dyn Optimizer,
) -> Result<()> {
    check_batch_size(settings.batch_size)?;
    optimizer.validate()?;
    check_set("training", train.x, train.y, classes, loss)?;
    if let Some(set) = validation {
        check_set("validation", set.x, set.y, classes, loss)?;
    }
    Ok(())
}
