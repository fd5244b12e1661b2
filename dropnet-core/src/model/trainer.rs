//! The training loop behind [`Fit::run`](super::Fit::run): epochs, batches, validation and
//! the callbacks' hooks.

use std::time::Instant;

use rand::Rng as _;

use super::chain::{on_pool, part_size, BatchScore, Chain, Set, Totals};
use super::fit::Settings;
use super::infer::evaluate_set;
use super::replicas::Replicas;
use crate::callback::{BatchEnd, Callback, EpochEnd, FitContext, Stop, TrainBegin};
use crate::error::{Error, Result};
use crate::history::{EpochRecord, History};
use crate::loss::Loss;
use crate::optim::Optimizer;
use crate::rng::Rng;

/// The state of one `fit` call.
pub(super) struct Trainer<'m, 'l, 'c> {
    pub(super) chain: Chain<'m, 'l>,
    /// Copies of the model that train the parts of a batch side by side, when every layer
    /// gives one.
    pub(super) replicas: Option<Replicas>,
    pub(super) loss: &'m dyn Loss,
    pub(super) optimizer: &'m mut dyn Optimizer,
    /// The model's shuffling stream, kept between calls.
    pub(super) shuffle: &'m mut Rng,
    /// The model's count of the last epoch trained, updated as each epoch ends.
    pub(super) epoch: &'m mut usize,
    /// The model's name, for checkpoints written by callbacks.
    pub(super) model: &'static str,
    pub(super) hooks: Vec<&'c mut dyn Callback>,
    pub(super) stop: Stop,
    pub(super) settings: Settings,
}

/// One batch's outcome: its score, and the error that kept its update from being applied
/// (a non-finite loss or gradient).
struct Step {
    score: BatchScore,
    skipped: Option<Error>,
}

impl Trainer<'_, '_, '_> {
    /// Runs every epoch, then returns the history.
    pub(super) fn run(&mut self, train: &Set<'_>, validation: Option<&Set<'_>>) -> Result<History> {
        let info = self.train_begin(train, validation);
        self.notify(|hook, ctx| hook.on_train_begin(&info, ctx))?;

        // One buffer for the visiting order, reshuffled in place every epoch.
        let mut order: Vec<usize> = (0..train.x.nrows()).collect();
        let mut history = History::new();
        for epoch in info.initial_epoch + 1..=info.epochs {
            if self.stop.requested {
                break;
            }
            let started = Instant::now();
            self.notify(|hook, ctx| hook.on_epoch_begin(epoch, ctx))?;
            if self.settings.shuffle {
                shuffle(&mut order, self.shuffle);
            }

            let (record, batches) = self.epoch(epoch, train, validation, &order)?;
            *self.epoch = epoch;
            let seconds = started.elapsed().as_secs_f64();
            let end = EpochEnd {
                record: &record,
                epochs: info.epochs,
                batches,
                seconds,
            };
            self.notify(|hook, ctx| hook.on_epoch_end(&end, ctx))?;
            history.push(record, seconds);
        }

        if self.stop.requested {
            let reason = self.stop.reason.take();
            history.set_stop_reason(Some(
                reason.unwrap_or_else(|| "a callback stopped training".to_owned()),
            ));
        }
        self.notify(|hook, ctx| hook.on_train_end(&history, ctx))?;
        Ok(history)
    }

    fn train_begin(&self, train: &Set<'_>, validation: Option<&Set<'_>>) -> TrainBegin {
        let samples = train.x.nrows();
        TrainBegin {
            epochs: self.settings.epochs,
            initial_epoch: self.settings.initial_epoch,
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
            let step = self.train_batch(train, picked, epoch, index + 1)?;
            totals.add(step.score, picked.len());
            batches += 1;
            if let Some(error) = step.skipped {
                self.notify(|hook, ctx| hook.on_non_finite(&error, ctx))?;
                if !self.stop.requested {
                    return Err(error);
                }
                break;
            }

            let info = BatchEnd {
                epoch,
                batch: index + 1,
                batches: order.len().div_ceil(self.settings.batch_size),
                seen: totals.seen,
                samples: order.len(),
                loss: totals.mean_loss(),
                accuracy: classification.then(|| totals.accuracy()),
            };
            self.notify(|hook, ctx| hook.on_batch_end(&info, ctx))?;
            if self.stop.requested {
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

    /// One gradient step on the samples `picked` of `train`: zero the gradients, then for
    /// each part of the batch (see [`part_size`]) forward in training mode, loss and its
    /// share of the gradient, backward; then update. A non-finite loss or gradient skips
    /// the update and is returned in the step.
    fn train_batch(
        &mut self,
        train: &Set<'_>,
        picked: &[usize],
        epoch: usize,
        batch: usize,
    ) -> Result<Step> {
        let (chain, loss, optimizer) = (&mut self.chain, self.loss, &mut *self.optimizer);
        let replicas = &mut self.replicas;
        let (rows, values) = (picked.len(), chain.sample_values());
        on_pool(|| {
            chain.zero_grads();
            // Whether the batch trains in parts side by side on the copies depends on the
            // batch and the model alone, never on the threads.
            let parts = replicas
                .as_mut()
                .and_then(|r| Some((r.part_size(rows, values)?, r)));
            let (score, finite) = match parts {
                Some((part, replicas)) => replicas.accumulate(chain, train, picked, loss, part)?,
                None => chain.accumulate(train, picked, loss, part_size(rows, values))?,
            };
            let skip = |error| {
                Ok(Step {
                    score,
                    skipped: Some(error),
                })
            };
            if !finite {
                let value = score.loss;
                return skip(Error::NonFiniteLoss {
                    epoch,
                    batch,
                    value,
                });
            }
            if let Some(tensor) = chain.non_finite_grad() {
                return skip(Error::NonFiniteGradient {
                    epoch,
                    batch,
                    tensor,
                });
            }
            chain.step(optimizer);
            if let Some(tensor) = chain.non_finite_weight(optimizer) {
                return skip(Error::NonFiniteWeight {
                    epoch,
                    batch,
                    tensor,
                });
            }
            Ok(Step {
                score,
                skipped: None,
            })
        })
    }

    /// Calls `event` on every hook with a context over the model, stopping at the first
    /// error.
    fn notify(
        &mut self,
        mut event: impl FnMut(&mut dyn Callback, &mut FitContext<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        let mut ctx = FitContext::new(
            self.chain.layers,
            self.optimizer,
            self.shuffle,
            *self.epoch,
            self.model,
            &mut self.stop,
        );
        for hook in self.hooks.iter_mut() {
            event(&mut **hook, &mut ctx)?;
        }
        Ok(())
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
