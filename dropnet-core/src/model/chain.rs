//! One pass through the chain of layers: loading a batch, forward, loss, backward, update.
//!
//! The chain owns no memory of its own: activations, gradients and batch targets live in
//! the model's [`Buffers`], sized once for the batch size, and a smaller last batch uses
//! the first rows of each.

use ndarray::{s, ArrayD, ArrayView2, Axis};

use super::check::all_finite;
use crate::checkpoint::state_tensor_name;
use crate::error::{Error, Result};
use crate::layer::{Layer, Mode, Pass};
use crate::loss::Loss;
use crate::metrics;
use crate::network::Network;
use crate::optim::Optimizer;
use crate::runtime::Buffers;
use crate::shape::{Shape, TargetsRef};
use crate::weights::tensor_name;

/// Runs `work` on one of rayon's threads and waits for it.
///
/// The layers split each batch across rayon's threads. From a thread outside the pool,
/// every such split hands its work over and sleeps until it is done, two wake-ups each,
/// about a dozen times a batch; from inside the pool a split is a plain join. So a whole
/// training step, or a whole evaluation, goes to the pool as one piece of work. From a
/// thread already in the pool, `work` runs right there.
pub(crate) fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// A data set as the chain reads it.
#[derive(Clone, Copy)]
pub(crate) struct Set<'a> {
    /// Samples, `[n, input_len]`.
    pub(crate) x: ArrayView2<'a, f32>,
    /// Targets, one per sample.
    pub(crate) y: TargetsRef<'a>,
}

impl<'a> Set<'a> {
    /// The first `at` samples and the rest, each with its targets.
    ///
    /// # Panics
    /// If `at` exceeds the number of samples or of targets.
    pub(crate) fn split_at(self, at: usize) -> (Set<'a>, Set<'a>) {
        let (x_head, x_tail) = self.x.split_at(Axis(0), at);
        let (y_head, y_tail) = match self.y {
            TargetsRef::Classes(labels) => {
                let (head, tail) = labels.split_at(at);
                (TargetsRef::Classes(head), TargetsRef::Classes(tail))
            }
            TargetsRef::Values(values) => {
                let (head, tail) = values.split_at(Axis(0), at);
                (TargetsRef::Values(head), TargetsRef::Values(tail))
            }
        };
        let head = Set {
            x: x_head,
            y: y_head,
        };
        (
            head,
            Set {
                x: x_tail,
                y: y_tail,
            },
        )
    }
}

/// Which rows of a set make up a batch.
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    /// Rows `start..end`, in order.
    Range(usize, usize),
    /// The listed rows, in that order (a slice of a shuffled permutation).
    Picked(&'a [usize]),
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match *self {
            Rows::Range(start, end) => end - start,
            Rows::Picked(rows) => rows.len(),
        }
    }
}

/// Loss and number of right answers of one batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchScore {
    /// Mean loss over the batch.
    pub(crate) loss: f64,
    /// Samples whose argmax matched the target (0 for regression losses).
    pub(crate) correct: usize,
}

impl BatchScore {
    /// The score of no samples, to add parts to.
    pub(crate) const NONE: Self = Self {
        loss: 0.0,
        correct: 0,
    };

    /// Adds `share`, the score of a part of `len` samples of a batch of `rows`.
    pub(crate) fn add_part(&mut self, share: BatchScore, len: usize, rows: usize) {
        // A batch in one part reports its loss as it is (`x · n / n` can round off).
        self.loss = match len == rows {
            true => share.loss,
            false => self.loss + share.loss * len as f64 / rows as f64,
        };
        self.correct += share.correct;
    }
}

/// The layers of a model together with its buffers.
pub(crate) struct Chain<'m, 'l> {
    pub(crate) layers: &'m mut [&'l mut dyn Layer],
    buffers: &'m mut Buffers,
    /// True when the last layer hands logits to a loss that fuses with its activation.
    fused: bool,
}

impl<'m, 'l> Chain<'m, 'l> {
    /// A chain over `layers` whose buffers hold batches of up to `rows` samples; `loss`
    /// decides whether the last layer runs without its activation.
    ///
    /// Fails when the layers do not take and produce samples of the lengths `ends` gives,
    /// or do not fit together.
    pub(crate) fn new(
        layers: &'m mut [&'l mut dyn Layer],
        buffers: &'m mut Buffers,
        rows: usize,
        loss: Option<&dyn Loss>,
        ends: Ends,
    ) -> Result<Self> {
        check_ends(layers, ends)?;
        buffers.ensure(layers, rows)?;
        let last = layers.last().map(|l| l.activation());
        let fused = matches!((loss, last), (Some(loss), Some(a)) if loss.fuses_with(a));
        Ok(Self {
            layers,
            buffers,
            fused,
        })
    }

    /// Values one sample takes in the buffers: every activation, and the two gradients.
    pub(crate) fn sample_values(&self) -> usize {
        sample_values(self.layers)
    }

    /// Copies the batch `rows` of `set` into the input buffer, and its targets (unless
    /// `with_targets` is false) into the target buffer.
    pub(crate) fn load(&mut self, set: &Set<'_>, rows: Rows<'_>, with_targets: bool) {
        let batch = rows.len();
        let mut input = self.buffers.input_mut(batch);
        match rows {
            Rows::Range(start, end) => input.assign(&set.x.slice(s![start..end, ..])),
            Rows::Picked(picked) => {
                for (mut dst, &row) in input.rows_mut().into_iter().zip(picked) {
                    dst.assign(&set.x.row(row));
                }
            }
        }
        if with_targets {
            self.load_targets(set.y, rows);
        }
    }

    fn load_targets(&mut self, y: TargetsRef<'_>, rows: Rows<'_>) {
        match y {
            TargetsRef::Classes(labels) => {
                let buffer = self.buffers.labels_mut();
                buffer.clear();
                match rows {
                    Rows::Range(start, end) => buffer.extend_from_slice(&labels[start..end]),
                    Rows::Picked(picked) => buffer.extend(picked.iter().map(|&i| labels[i])),
                }
            }
            TargetsRef::Values(values) => {
                let mut buffer = self.buffers.values_mut(rows.len());
                match rows {
                    Rows::Range(start, end) => buffer.assign(&values.slice(s![start..end, ..])),
                    Rows::Picked(picked) => {
                        for (mut dst, &row) in buffer.rows_mut().into_iter().zip(picked) {
                            dst.assign(&values.row(row));
                        }
                    }
                }
            }
        }
    }

    /// Runs every layer on the first `batch` rows of the input buffer.
    pub(crate) fn forward(&mut self, batch: usize, mode: Mode, logits: bool) {
        let last = self.layers.len() - 1;
        for (k, layer) in self.layers.iter_mut().enumerate() {
            let pass = Pass {
                mode,
                logits: logits && k == last,
            };
            let (input, output) = self.buffers.layer_io(k, batch);
            layer.forward(input, output, pass);
        }
    }

    /// Runs the forward pass the loss needs (logits when fused) in `mode`.
    pub(crate) fn forward_for_loss(&mut self, batch: usize, mode: Mode) {
        self.forward(batch, mode, self.fused);
    }

    /// The loss of the loaded batch, and its gradient in the gradient buffer when
    /// `with_grad`. Targets must have been loaded in the kind `loss` takes.
    pub(crate) fn score(
        &mut self,
        loss: &dyn Loss,
        batch: usize,
        with_grad: bool,
    ) -> Result<BatchScore> {
        let views = self.buffers.loss_views(batch, loss.target_kind());
        let (output, targets) = (views.output, views.targets);

        let grad = with_grad.then_some(views.grad);
        let value = loss.compute(output, targets, self.fused, grad)?;
        let correct = if loss.is_classification() {
            metrics::correct(output, targets)
        } else {
            0
        };
        Ok(BatchScore {
            loss: value,
            correct,
        })
    }

    /// The score of the loaded `part` rows, which are part of a batch of `batch` rows, and
    /// their share of the gradient of the batch's mean loss in the gradient buffer: the
    /// loss averages over the part, so its gradient is scaled by `part / batch`.
    pub(crate) fn score_part(
        &mut self,
        loss: &dyn Loss,
        part: usize,
        batch: usize,
    ) -> Result<BatchScore> {
        let score = self.score(loss, part, true)?;
        if part != batch {
            let share = part as f32 / batch as f32;
            let mut grad = self.buffers.loss_views(part, loss.target_kind()).grad;
            grad.mapv_inplace(|g| g * share);
        }
        Ok(score)
    }

    /// The forward and backward passes of one training step on the samples `picked` of
    /// `set`, in parts of `part` samples (the last may be smaller), each part's share of
    /// the gradient of the batch's mean loss added to the parameter gradients. Returns the
    /// batch's score and whether every part's loss was finite.
    ///
    /// After a non-finite loss the other parts still run forward, so that the dropout
    /// streams advance as far as for the whole batch at once; nothing more runs back.
    ///
    /// Each stochastic layer draws a part's noise right after the previous part's, from the
    /// same stream. For every layer but one that gives the whole batch's masks; an LSTM
    /// with both input and recurrent dropout draws its two masks per forward, so in parts
    /// its masks interleave and differ from the whole batch's (still the same from run to
    /// run).
    pub(crate) fn accumulate(
        &mut self,
        set: &Set<'_>,
        picked: &[usize],
        loss: &dyn Loss,
        part: usize,
    ) -> Result<(BatchScore, bool)> {
        let rows = picked.len();
        let mut score = BatchScore::NONE;
        let mut finite = true;
        for picked in picked.chunks(part.max(1)) {
            let share = self.forward_part(set, picked, loss, rows)?;
            score.add_part(share, picked.len(), rows);
            finite &= share.loss.is_finite();
            if finite {
                self.backward(picked.len());
            }
        }
        Ok((score, finite))
    }

    /// Loads the samples `picked` of `set`, runs them forward for training and scores them
    /// as a part of a batch of `rows` samples ([`Chain::score_part`]).
    pub(crate) fn forward_part(
        &mut self,
        set: &Set<'_>,
        picked: &[usize],
        loss: &dyn Loss,
        rows: usize,
    ) -> Result<BatchScore> {
        self.load(set, Rows::Picked(picked), true);
        self.forward_for_loss(picked.len(), Mode::Train);
        self.score_part(loss, picked.len(), rows)
    }

    /// Sets every parameter gradient to zero.
    pub(crate) fn zero_grads(&mut self) {
        for layer in self.layers.iter_mut() {
            for param in layer.params_mut() {
                param.grad.fill(0.0);
            }
        }
    }

    /// Back-propagates the loss gradient from the gradient buffer through every layer, last
    /// to first; the first layer gets no input gradient to write.
    pub(crate) fn backward(&mut self, batch: usize) {
        let last = self.layers.len() - 1;
        for k in (0..self.layers.len()).rev() {
            let pass = Pass {
                mode: Mode::Train,
                logits: self.fused && k == last,
            };
            let views = self.buffers.backward_views(k, batch);
            self.layers[k].backward(
                views.input,
                views.output,
                views.grad_output,
                views.grad_input,
                pass,
            );
            self.buffers.swap_grads();
        }
    }

    /// The name (`<layer>/<param>`) of the first parameter whose gradient holds a NaN or
    /// an infinity, layers and params in order; `None` when all are finite.
    pub(crate) fn non_finite_grad(&self) -> Option<String> {
        for layer in self.layers.iter() {
            for param in layer.params() {
                if !tensor_finite(&param.grad) {
                    return Some(tensor_name(layer.name(), param.name));
                }
            }
        }
        None
    }

    /// The name of the first parameter, or optimiser state of one, holding a NaN or an
    /// infinity after an update (layers and params in order, each weight before its
    /// states); `None` when all are finite. Names are built only for the one found: this
    /// runs after every training step.
    pub(crate) fn non_finite_weight(&self, optimizer: &dyn Optimizer) -> Option<String> {
        let states = optimizer.state_names();
        let mut slot = 0;
        for layer in self.layers.iter() {
            for param in layer.params() {
                if !tensor_finite(&param.value) {
                    return Some(tensor_name(layer.name(), param.name));
                }
                let bad = states.iter().find(|&&state| {
                    optimizer
                        .state(state, slot)
                        .is_some_and(|values| !tensor_finite(values))
                });
                if let Some(state) = bad {
                    let variable = tensor_name(layer.name(), param.name);
                    return Some(state_tensor_name(&variable, state));
                }
                slot += 1;
            }
        }
        None
    }

    /// Lets `optimizer` update every parameter, layers in order and each layer's params in
    /// its own order; the position in that walk is the optimiser's slot.
    pub(crate) fn step(&mut self, optimizer: &mut dyn Optimizer) {
        optimizer.begin_step();
        let mut slot = 0;
        for layer in self.layers.iter_mut() {
            for param in layer.params_mut() {
                optimizer.update(slot, param);
                slot += 1;
            }
        }
    }

    /// The first `batch` rows of the model output.
    pub(crate) fn output(&self, batch: usize) -> ArrayView2<'_, f32> {
        self.buffers.output(batch)
    }
}

/// Buffer values (activations and gradients, `f32`) that the samples of one part of a
/// batch may take: 16 MiB, which a part keeps within the caches of a current processor as
/// it goes forward and back through the layers.
const PART_VALUES: usize = 1 << 22;

/// The size of the parts a batch of `rows` samples is cut into, for a model whose samples
/// take `values` values each in the buffers ([`Chain::sample_values`]): as even as
/// possible, each within [`PART_VALUES`].
///
/// In training each part goes forward and back in turn and their gradients add up before
/// the one update: the gradient of the whole batch, up to the order of its sums (and LSTM
/// masks, see [`Chain::accumulate`]). Evaluation and prediction go forward part by part. A
/// batch run whole works on activations too large to stay in the caches, and each layer's
/// pass then waits on memory: on the seed CNN, cutting training batches of 128 into parts of
/// 43 took 22% off the processor time of training and 15% off its epoch time. A model whose
/// layers can all be copied trains its batches in smaller parts side by side instead, when
/// they are large enough (see `super::replicas`).
pub(crate) fn part_size(rows: usize, values: usize) -> usize {
    part_size_within(rows, values, PART_VALUES, 1)
}

/// [`part_size`] with parts of at most `budget` values, and as many parts as the next
/// multiple of `multiple` (when the batch has enough samples).
pub(crate) fn part_size_within(
    rows: usize,
    values: usize,
    budget: usize,
    multiple: usize,
) -> usize {
    let most = (budget / values.max(1)).max(1);
    let parts = rows.div_ceil(most).max(1).next_multiple_of(multiple.max(1));
    rows.div_ceil(parts.min(rows).max(1))
}

/// Values one sample takes in the buffers of a chain of `layers`: every activation, and the
/// two gradients.
pub(crate) fn sample_values(layers: &[&mut dyn Layer]) -> usize {
    let first = layers.first().map_or(0, |l| l.input_len());
    let outputs = layers.iter().map(|l| l.output_len());
    let widest = outputs.clone().chain([first]).max().unwrap_or(0);
    first + outputs.sum::<usize>() + 2 * widest
}

/// True when every value of `values` is finite; contiguous tensors are checked in one
/// vectorised pass.
fn tensor_finite(values: &ArrayD<f32>) -> bool {
    match values.as_slice_memory_order() {
        Some(values) => all_finite(values),
        None => values.iter().all(|v| v.is_finite()),
    }
}

/// The sample lengths a model's types promise: what its first layer must take and its
/// last must produce.
///
/// The code around the chain (training, evaluation, prediction) takes these as values
/// rather than as the model's type, so that it is compiled once in this crate, not again
/// for every model in every crate declaring one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ends {
    /// Values per input sample.
    pub(crate) input: usize,
    /// Values per output sample.
    pub(crate) output: usize,
}

impl Ends {
    /// The ends of the model type `N`.
    pub(crate) fn of<N: Network + ?Sized>() -> Self {
        Self {
            input: N::Input::LEN,
            output: N::Output::LEN,
        }
    }
}

/// Fails unless the first layer takes and the last produces samples of the lengths `ends`
/// gives.
fn check_ends(layers: &[&mut dyn Layer], ends: Ends) -> Result<()> {
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
        return Err(Error::config("model", "it has no layers"));
    };
    if first.input_len() != ends.input || last.output_len() != ends.output {
        let reason = format!(
            "its layers take {} and produce {} values per sample, but its shapes say {} and {}",
            first.input_len(),
            last.output_len(),
            ends.input,
            ends.output
        );
        return Err(Error::config("model", reason));
    }
    Ok(())
}

/// Sample-weighted sums over the batches of an epoch or a data set.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    /// Samples so far.
    pub(crate) seen: usize,
    loss_sum: f64,
    correct: usize,
}

impl Totals {
    /// Adds a batch of `rows` samples.
    pub(crate) fn add(&mut self, score: BatchScore, rows: usize) {
        self.seen += rows;
        self.loss_sum += score.loss * rows as f64;
        self.correct += score.correct;
    }

    /// Mean loss per sample so far.
    pub(crate) fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    /// Fraction of samples classified right so far.
    pub(crate) fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::{part_size, part_size_within};

    #[test]
    fn parts_are_even_and_within_the_budget() {
        // The seed CNN: 89,050 values a sample, 47 samples at most a part.
        assert_eq!(part_size(32, 89_050), 32);
        assert_eq!(part_size(47, 89_050), 47);
        assert_eq!(part_size(48, 89_050), 24);
        assert_eq!(part_size(128, 89_050), 43);
        // Small samples keep any batch whole; a sample over the budget goes alone.
        assert_eq!(part_size(1024, 100), 1024);
        assert_eq!(part_size(5, 1 << 30), 1);
        assert_eq!(part_size(0, 10), 0);
    }

    #[test]
    fn parts_come_in_multiples_when_the_batch_allows() {
        // The seed CNN in 8 MiB parts: 23 samples at most, 6 parts rounded up to 8.
        assert_eq!(part_size_within(128, 89_050, 1 << 21, 4), 16);
        assert_eq!(part_size_within(256, 89_050, 1 << 21, 4), 22);
        assert_eq!(part_size_within(128, 89_050, 1 << 21, 1), 22);
        // Never more parts than samples, never an empty part.
        assert_eq!(part_size_within(3, 10, 100, 4), 1);
        assert_eq!(part_size_within(1, 10, 100, 4), 1);
        assert_eq!(part_size_within(0, 10, 100, 4), 0);
    }
}
