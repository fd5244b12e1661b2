//! The training loop behind [`Model::fit`](super::Model::fit).

use std::time::Instant;

use rand::Rng as _;

use super::chain::{on_pool, BatchScore, Chain, Rows, Set, Totals};
use super::check::{check_batch_size, check_set};
use super::infer::evaluate_set;
use crate::callback::{BatchEnd, Callback, EpochEnd, FitContext, TrainBegin, Verbosity};
use crate::error::{Error, Result};
use crate::history::{EpochRecord, History};
use crate::layer::Mode;
use crate::loss::Loss;
use crate::network::Network;
use crate::optim::Optimizer;
use crate::rng::Rng;
use crate::shape::{Samples, Shape, Targets, TargetsRef};

/// A training run being set up; returned by [`Model::fit`](super::Model::fit) and started
/// with [`Fit::run`].
///
/// Defaults follow Keras: 1 epoch, batches of 32, shuffled every epoch, no validation, a
/// progress bar.
#[must_use = "nothing is trained until `.run()` is called"]
pub struct Fit<'a, N: Network + ?Sized> {
    model: &'a mut N,
    train: Set<'a>,
    validation: Option<Set<'a>>,
    settings: Settings,
    callbacks: Vec<&'a mut dyn Callback>,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    epochs: usize,
    batch_size: usize,
    shuffle: bool,
    verbosity: Verbosity,
}

impl<'a, N: Network + ?Sized> Fit<'a, N> {
    pub(crate) fn new(model: &'a mut N, x: &'a Samples<N::Input>, y: TargetsRef<'a>) -> Self {
        Self {
            model,
            train: Set { x: x.matrix(), y },
            validation: None,
            settings: Settings {
                epochs: 1,
                batch_size: 32,
                shuffle: true,
                verbosity: Verbosity::default(),
            },
            callbacks: Vec::new(),
        }
    }

    /// Number of passes over the training set (default 1; 0 trains nothing).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.settings.epochs = epochs;
        self
    }

    /// Samples per gradient step (default 32). The last batch of an epoch takes the
    /// remaining samples and may be smaller; validation uses the same size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.settings.batch_size = batch_size;
        self
    }

    /// Whether to visit the samples in a new random order every epoch (default true).
    ///
    /// The order comes from the model's shuffling stream, derived from its seed and kept
    /// between `fit` calls, so two calls of one epoch shuffle like one call of two.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.settings.shuffle = shuffle;
        self
    }

    /// A set evaluated in inference mode after every epoch, reported as `val_loss` and
    /// `val_accuracy`.
    pub fn validation_data(
        mut self,
        x: &'a Samples<N::Input>,
        y: &'a impl Targets<N::Output>,
    ) -> Self {
        self.validation = Some(Set {
            x: x.matrix(),
            y: y.targets(),
        });
        self
    }

    /// How much to print (default [`Verbosity::ProgressBar`]).
    pub fn verbose(mut self, verbosity: Verbosity) -> Self {
        self.settings.verbosity = verbosity;
        self
    }

    /// Adds a callback; callbacks run in the order they were added.
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Trains the model and returns the per-epoch losses and metrics.
    ///
    /// Everything is checked before any weight changes; on such an error the model is as
    /// it was. Fails with
    /// - [`Error::NotCompiled`] before `compile`,
    /// - [`Error::InvalidConfig`] for a batch size of 0 or bad optimiser settings,
    /// - [`Error::EmptySet`], [`Error::LengthMismatch`], [`Error::TargetKind`],
    ///   [`Error::LabelOutOfRange`], [`Error::NonFiniteTarget`] or
    ///   [`Error::NonFiniteInput`] for the training or the validation set, naming the set
    ///   and the first bad sample (every input value is checked to be finite, in one pass
    ///   over the data per call).
    ///
    /// During training, it stops at the first batch that goes wrong, before that batch's
    /// update, and keeps the updates of the batches before it (as Keras's
    /// `TerminateOnNaN` does); the history of the epochs so far is not returned. It fails
    /// with
    /// - [`Error::NonFiniteLoss`] when a batch's loss is NaN or infinite,
    /// - [`Error::NonFiniteGradient`] when the loss is finite but a parameter gradient is
    ///   not, naming the tensor (`conv2d/kernel`). Every gradient is checked before each
    ///   update, in one pass that allocates nothing beyond the layers' parameter lists.
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
    pub fn run(mut self) -> Result<History> {
        self.check()?;
        self.train()
    }

    /// Every check on the settings and the data, against the compiled loss and optimiser.
    fn check(&mut self) -> Result<()> {
        let (_, runtime) = self.model.parts_mut();
        let (_, compiled, _) = runtime.split();
        let compiled = compiled.ok_or(Error::NotCompiled { call: "fit" })?;
        check_all(
            &self.settings,
            &self.train,
            self.validation.as_ref(),
            N::Output::LEN,
            &*compiled.loss,
            &*compiled.optimizer,
        )
    }

    /// The training loop, without the checks of [`Fit::run`] (tests call it to reach the
    /// guards that run during training).
    pub(super) fn train(self) -> Result<History> {
        let Fit {
            model,
            train,
            validation,
            settings,
            mut callbacks,
        } = self;
        let (mut layers, runtime) = model.parts_mut();
        let (buffers, compiled, shuffle) = runtime.split();
        let compiled = compiled.ok_or(Error::NotCompiled { call: "fit" })?;
        let (optimizer, loss) = (&mut *compiled.optimizer, &*compiled.loss);

        let largest = train.x.nrows().max(validation.map_or(0, |v| v.x.nrows()));
        let rows = settings.batch_size.min(largest);
        let chain = Chain::new::<N::Input, N::Output>(&mut layers, buffers, rows, Some(loss))?;

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
            loss,
            optimizer,
            hooks,
            stop: false,
            settings,
        };
        trainer.run(&train, validation.as_ref(), shuffle)
    }
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

/// The state of one `fit` call.
struct Trainer<'m, 'l, 'c> {
    chain: Chain<'m, 'l>,
    loss: &'m dyn Loss,
    optimizer: &'m mut dyn Optimizer,
    hooks: Vec<&'c mut dyn Callback>,
    stop: bool,
    settings: Settings,
}

impl Trainer<'_, '_, '_> {
    fn run(
        &mut self,
        train: &Set<'_>,
        validation: Option<&Set<'_>>,
        rng: &mut Rng,
    ) -> Result<History> {
        let info = self.train_begin(train, validation);
        self.notify(|hook, ctx| hook.on_train_begin(&info, ctx));

        // One buffer for the visiting order, reshuffled in place every epoch.
        let mut order: Vec<usize> = (0..train.x.nrows()).collect();
        let mut history = History::new();
        for epoch in 1..=self.settings.epochs {
            if self.stop {
                break;
            }
            let started = Instant::now();
            self.notify(|hook, ctx| hook.on_epoch_begin(epoch, ctx));
            if self.settings.shuffle {
                shuffle(&mut order, rng);
            }

            let (record, batches) = self.epoch(epoch, train, validation, &order)?;
            let seconds = started.elapsed().as_secs_f64();
            let end = EpochEnd {
                record: &record,
                epochs: self.settings.epochs,
                batches,
                seconds,
            };
            self.notify(|hook, ctx| hook.on_epoch_end(&end, ctx));
            history.push(record, seconds);
        }

        self.notify(|hook, ctx| hook.on_train_end(&history, ctx));
        Ok(history)
    }

    fn train_begin(&self, train: &Set<'_>, validation: Option<&Set<'_>>) -> TrainBegin {
        let samples = train.x.nrows();
        TrainBegin {
            epochs: self.settings.epochs,
            samples,
            batch_size: self.settings.batch_size,
            batches: samples.div_ceil(self.settings.batch_size),
            validation_samples: validation.map_or(0, |v| v.x.nrows()),
            classification: self.loss.is_classification(),
        }
    }

    /// One pass over `order`, then validation. Returns the record and the batches run
    /// (fewer than all when a callback stopped training).
    fn epoch(
        &mut self,
        epoch: usize,
        train: &Set<'_>,
        validation: Option<&Set<'_>>,
        order: &[usize],
    ) -> Result<(EpochRecord, usize)> {
        let classification = self.loss.is_classification();
        let mut totals = Totals::default();
        let mut batches = 0;
        for (index, picked) in order.chunks(self.settings.batch_size).enumerate() {
            let score = self.train_batch(train, picked, epoch, index + 1)?;
            totals.add(score, picked.len());
            batches += 1;

            let info = BatchEnd {
                epoch,
                batch: index + 1,
                batches: order.len().div_ceil(self.settings.batch_size),
                seen: totals.seen,
                samples: order.len(),
                loss: totals.mean_loss(),
                accuracy: classification.then(|| totals.accuracy()),
            };
            self.notify(|hook, ctx| hook.on_batch_end(&info, ctx));
            if self.stop {
                break;
            }
        }

        let val = match validation {
            Some(set) => Some(evaluate_set(
                &mut self.chain,
                self.loss,
                set,
                self.settings.batch_size,
            )?),
            None => None,
        };
        let record = EpochRecord {
            epoch,
            loss: totals.mean_loss(),
            accuracy: classification.then(|| totals.accuracy()),
            val_loss: val.map(|v| v.loss),
            val_accuracy: val.and_then(|v| v.accuracy),
        };
        Ok((record, batches))
    }

    /// One gradient step on the samples `picked` of `train`: zero the gradients, forward in
    /// training mode, loss and its gradient, backward, update. A non-finite loss or
    /// gradient stops before the update.
    fn train_batch(
        &mut self,
        train: &Set<'_>,
        picked: &[usize],
        epoch: usize,
        batch: usize,
    ) -> Result<BatchScore> {
        let (chain, loss, optimizer) = (&mut self.chain, self.loss, &mut *self.optimizer);
        on_pool(|| {
            let rows = picked.len();
            chain.load(train, Rows::Picked(picked), true);
            chain.zero_grads();
            chain.forward_for_loss(rows, Mode::Train);

            let score = chain.score(loss, rows, true)?;
            if !score.loss.is_finite() {
                return Err(Error::NonFiniteLoss {
                    epoch,
                    batch,
                    value: score.loss,
                });
            }

            chain.backward(rows);
            if let Some(tensor) = chain.non_finite_grad() {
                return Err(Error::NonFiniteGradient {
                    epoch,
                    batch,
                    tensor,
                });
            }
            chain.step(optimizer);
            Ok(score)
        })
    }

    /// Calls `event` on every hook with a context over the model.
    fn notify(&mut self, mut event: impl FnMut(&mut dyn Callback, &mut FitContext<'_, '_>)) {
        let mut ctx = FitContext::new(self.chain.layers, self.optimizer, &mut self.stop);
        for hook in self.hooks.iter_mut() {
            event(&mut **hook, &mut ctx);
        }
    }
}

/// Puts a fresh random permutation of `0..order.len()` into `order` (Fisher–Yates).
///
/// Starting from the identity every time makes the permutation depend only on the stream,
/// not on the previous epoch's order. Draws are `u64`, so the permutation is the same on
/// 32- and 64-bit targets.
fn shuffle(order: &mut [usize], rng: &mut Rng) {
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i as u64) as usize;
        order.swap(i, j);
    }
}
