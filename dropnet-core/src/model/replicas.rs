//! Training the parts of a batch side by side, each on a copy of the model.
//!
//! A batch cut into parts (see [`super::chain::part_size`]) can go forward and back one part
//! after another on the model's own layers, each layer spreading its part over the threads.
//! Or each thread can take whole parts through every layer on a copy of the model. The
//! second keeps a part's activations in its core's cache from the first layer to the last,
//! and the threads meet once a batch rather than once a layer: on the seed CNN at batch
//! 128, two threads on eight parts of 16 took about 20% off the epoch time of three parts
//! of 43 split layer by layer (and parts of 8 another 5–10%, see [`PART_VALUES`]), and at
//! batch 32 four parts of 8 took about 5% off the whole batch split layer by layer.
//!
//! Only layers that give a copy ([`Layer::replicate`]: dense, convolution, max-pooling,
//! flatten and plain dropout) and draw a known number of words per sample
//! ([`Layer::words_per_sample`]) can train this way; any other layer keeps the model on
//! the layer-by-layer path.
//!
//! The result does not depend on the number of threads. The parts depend on the batch size
//! and the model alone; every copy gets the batch's weights, and its random streams are set
//! where the whole batch would have drawn its part's noise; each part's gradient is kept
//! apart and the parts are added in order. One thread runs the same parts one after
//! another.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use super::chain::{part_size_within, sample_values, BatchScore, Chain, Ends, Set};
use crate::error::Result;
use crate::layer::Layer;
use crate::loss::Loss;
use crate::runtime::Buffers;

/// Buffer values (`f32`) a part may take when parts train side by side: 3 MiB. On the seed
/// CNN this gives parts of 8 samples, whose first activations (8 × 86.5 KB) fit in a 1 MiB
/// L2 cache: at batch 128, on a machine with such caches, 16 parts of 8 measured 5–10%
/// faster than 8 parts of 16 (seven runs of seven, alternating), and parts of 32 slower
/// again.
const PART_VALUES: usize = 3 << 18;

/// Parts come in multiples of this many, so that two or four threads share a batch evenly.
const PART_MULTIPLE: usize = 4;

/// A part's buffer values must be at least this many times the model's parameters for the
/// copies to pay: each part copies out and adds up a whole gradient, and each batch copies
/// every weight into every copy.
const VALUES_PER_PARAM: usize = 8;

/// The size of the parts a batch of `rows` samples trains in side by side on copies of a
/// model with `params` parameters whose samples take `values` values each in the buffers
/// ([`super::chain::sample_values`]), or `None` when the batch should train on the model's
/// own layers: when it would be one part, or parts too small for their work to outweigh
/// copying the gradient. It depends on the batch and the model alone, never on the threads.
pub(crate) fn part_size(rows: usize, values: usize, params: usize) -> Option<usize> {
    let part = part_size_within(rows, values, PART_VALUES, PART_MULTIPLE);
    (part < rows && part * values >= VALUES_PER_PARAM * params).then_some(part)
}

/// Parameters of `layers`, every value of every weight tensor.
fn param_count(layers: &[&mut dyn Layer]) -> usize {
    layers
        .iter()
        .flat_map(|l| l.params())
        .map(|p| p.len())
        .sum()
}

/// One copy of the model's layers, with buffers of its own.
struct Replica {
    layers: Vec<Box<dyn Layer>>,
    buffers: Buffers,
}

/// What one part left behind.
#[derive(Default)]
struct PartResult {
    /// The part's share of every parameter gradient, flat, layers and params in order.
    grads: Vec<f32>,
    score: Option<BatchScore>,
    finite: bool,
}

/// Copies of a model, one per thread, and the scratch of the parts they train.
pub(crate) struct Replicas {
    replicas: Vec<Replica>,
    results: Vec<Mutex<PartResult>>,
    /// Words each layer draws per sample from each of its training streams.
    words: Vec<u64>,
    /// Where each training stream of the model stood when the batch began, layer after
    /// layer, and how many streams each layer has.
    starts: Vec<u128>,
    streams: Vec<usize>,
    ends: Ends,
    /// Parameters of the model (see [`part_size`]).
    params: usize,
}

/// The batch and what every part shares.
struct Batch<'a, 'b> {
    set: &'a Set<'b>,
    picked: &'a [usize],
    loss: &'a dyn Loss,
    part: usize,
    ends: Ends,
    words: &'a [u64],
    starts: &'a [u128],
    streams: &'a [usize],
}

impl Replicas {
    /// One copy of `layers` per thread when the model's training batches of `batch`
    /// samples would train on copies ([`part_size`]), else `None`: copies are made only
    /// where they are used.
    pub(crate) fn for_batches(layers: &[&mut dyn Layer], ends: Ends, batch: usize) -> Option<Self> {
        part_size(batch, sample_values(layers), param_count(layers))?;
        Self::new(layers, ends, rayon::current_num_threads())
    }

    /// `count` copies of `layers`, or `None` when some layer gives no copy
    /// ([`Layer::replicate`]) or draws an unknown number of words
    /// ([`Layer::words_per_sample`]); the model then trains its parts on its own layers.
    pub(crate) fn new(layers: &[&mut dyn Layer], ends: Ends, count: usize) -> Option<Self> {
        let words = layers
            .iter()
            .map(|l| l.words_per_sample())
            .collect::<Option<Vec<u64>>>()?;
        let replicas = (0..count.max(1))
            .map(|_| {
                let copies = layers.iter().map(|l| l.replicate());
                let layers = copies.collect::<Option<Vec<_>>>()?;
                Some(Replica {
                    layers,
                    buffers: Buffers::default(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let params = param_count(layers);
        Some(Self {
            replicas,
            results: Vec::new(),
            words,
            starts: Vec::new(),
            streams: Vec::new(),
            ends,
            params,
        })
    }

    /// [`part_size`] for this model.
    pub(crate) fn part_size(&self, rows: usize, values: usize) -> Option<usize> {
        part_size(rows, values, self.params)
    }

    /// [`Chain::accumulate`] with the parts on the copies, each copy taking the next part
    /// left until none is: the batch's score, whether every part's loss was finite, and
    /// (when it was) the batch's gradient added onto the parameter gradients of `main`'s
    /// layers. `main`'s random streams end where the whole batch would have left them.
    pub(crate) fn accumulate(
        &mut self,
        main: &mut Chain<'_, '_>,
        set: &Set<'_>,
        picked: &[usize],
        loss: &dyn Loss,
        part: usize,
    ) -> Result<(BatchScore, bool)> {
        let (rows, part) = (picked.len(), part.max(1));
        let parts = rows.div_ceil(part);
        self.begin(main);
        if self.results.len() < parts {
            self.results.resize_with(parts, Mutex::default);
        }

        let batch = Batch {
            set,
            picked,
            loss,
            part,
            ends: self.ends,
            words: &self.words,
            starts: &self.starts,
            streams: &self.streams,
        };
        // Each copy takes the next part not yet taken until none is left, so a copy slowed
        // down by something else on the machine takes fewer parts rather than holding the
        // others up. Which copy trains a part changes nothing in its result.
        let (next, results) = (AtomicUsize::new(0), &self.results[..parts]);
        self.replicas
            .par_iter_mut()
            .map(|replica| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(result) = results.get(k) else {
                    return Ok(());
                };
                let mut result = result.lock().unwrap_or_else(PoisonError::into_inner);
                replica.train(&batch, k, &mut result)?;
            })
            .collect::<Result<Vec<()>>>()?;

        let mut score = BatchScore::NONE;
        let mut finite = true;
        for (k, result) in self.results[..parts].iter_mut().enumerate() {
            let result = unlocked(result);
            let share = result.score.expect("every part was trained");
            score.add_part(share, part.min(rows - k * part), rows);
            finite &= result.finite;
        }
        if finite {
            add_grads(main, &mut self.results[..parts]);
        }
        self.end(main, rows);
        Ok((score, finite))
    }

    /// Copies the weights of `main` into every copy and notes where its streams stand.
    fn begin(&mut self, main: &Chain<'_, '_>) {
        for replica in &mut self.replicas {
            for (from, to) in main.layers.iter().zip(&mut replica.layers) {
                for (from, to) in from.params().into_iter().zip(to.params_mut()) {
                    to.value.assign(&from.value);
                }
            }
        }
        self.starts.clear();
        self.streams.clear();
        for layer in main.layers.iter() {
            let streams = layer.training_streams();
            self.streams.push(streams.len());
            self.starts
                .extend(streams.iter().map(|(_, rng)| rng.get_word_pos()));
        }
    }

    /// Moves the streams of `main` past the words the whole batch of `rows` drew.
    fn end(&mut self, main: &mut Chain<'_, '_>, rows: usize) {
        let mut starts = self.starts.iter();
        for (layer, &words) in main.layers.iter_mut().zip(&self.words) {
            for ((_, rng), &start) in layer.training_streams_mut().into_iter().zip(&mut starts) {
                rng.set_word_pos(start + u128::from(words) * rows as u128);
            }
        }
    }
}

impl Replica {
    /// Trains part `k` of `batch` on this copy and leaves its gradient and score in
    /// `result`.
    fn train(&mut self, batch: &Batch<'_, '_>, k: usize, result: &mut PartResult) -> Result<()> {
        let rows = batch.picked.len();
        let first = k * batch.part;
        let picked = &batch.picked[first..rows.min(first + batch.part)];

        // Each stream starts where the whole batch would have reached sample `first`.
        let mut starts = batch.starts.iter();
        let layers = self.layers.iter_mut().zip(batch.words).zip(batch.streams);
        for ((layer, &words), &count) in layers {
            let streams = layer.training_streams_mut();
            debug_assert_eq!(streams.len(), count, "a copy has the layer's streams");
            for ((_, rng), &start) in streams.into_iter().zip(&mut starts) {
                rng.set_word_pos(start + u128::from(words) * first as u128);
            }
        }

        let mut layers: Vec<&mut dyn Layer> = Vec::with_capacity(self.layers.len());
        for layer in &mut self.layers {
            layers.push(&mut **layer);
        }
        let loss = Some(batch.loss);
        let mut chain = Chain::new(&mut layers, &mut self.buffers, batch.part, loss, batch.ends)?;
        chain.zero_grads();
        let score = chain.forward_part(batch.set, picked, batch.loss, rows)?;
        result.finite = score.loss.is_finite();
        if result.finite {
            chain.backward(picked.len());
        }
        result.score = Some(score);
        result.grads.clear();
        for layer in chain.layers.iter() {
            for param in layer.params() {
                // Gradients are contiguous: copied whole rather than value by value.
                match param.grad.as_slice() {
                    Some(grad) => result.grads.extend_from_slice(grad),
                    None => result.grads.extend(param.grad.iter()),
                }
            }
        }
        Ok(())
    }
}

/// Adds the parts' gradients onto the parameter gradients of `main`, part after part.
fn add_grads(main: &mut Chain<'_, '_>, results: &mut [Mutex<PartResult>]) {
    let mut offset = 0;
    for layer in main.layers.iter_mut() {
        for param in layer.params_mut() {
            let len = param.grad.len();
            for result in results.iter_mut() {
                let share = &unlocked(result).grads[offset..offset + len];
                match param.grad.as_slice_mut() {
                    Some(grad) => grad.iter_mut().zip(share).for_each(|(g, &s)| *g += s),
                    None => param.grad.iter_mut().zip(share).for_each(|(g, &s)| *g += s),
                }
            }
            offset += len;
        }
    }
}

/// A part's result once no thread holds it. A part that panicked would have ended the
/// batch before its result is read, so a poisoned lock holds nothing worse than a stale
/// result, which the batch never reads.
fn unlocked(result: &mut Mutex<PartResult>) -> &PartResult {
    result.get_mut().unwrap_or_else(PoisonError::into_inner)
}
