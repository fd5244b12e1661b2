//! Run-time state of a model that is not a layer: its seed, reusable buffers, and what
//! `compile` chose.
//!
//! Every generated model owns one [`Runtime`]. The training loop, evaluation and prediction
//! in [`crate::model`] keep everything they need between calls here: the optimiser and its
//! moments, the loss, the shuffling stream (so that a second `fit` continues where the first
//! stopped), the number of the last epoch trained, and the activation buffers.

use std::fmt;

use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

use crate::error::{Error, Result};
use crate::layer::Layer;
use crate::loss::{Loss, TargetKind};
use crate::optim::Optimizer;
use crate::rng::{self, Rng};
use crate::shape::TargetsRef;

/// Run-time state owned by every generated model.
pub struct Runtime {
    seed: u64,
    pub(crate) compiled: Option<Compiled>,
    pub(crate) buffers: Buffers,
    shuffle: Option<Rng>,
    epoch: usize,
}

/// Everything `fit` borrows from the runtime at once.
pub(crate) struct Parts<'a> {
    pub(crate) buffers: &'a mut Buffers,
    pub(crate) compiled: Option<&'a mut Compiled>,
    /// The shuffling stream, created from the seed on first use.
    pub(crate) shuffle: &'a mut Rng,
    /// The number of the last epoch trained.
    pub(crate) epoch: &'a mut usize,
}

/// What `compile` chose.
pub(crate) struct Compiled {
    pub(crate) optimizer: Box<dyn Optimizer>,
    pub(crate) loss: Box<dyn Loss>,
}

impl Runtime {
    /// Fresh state for a model built from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            compiled: None,
            buffers: Buffers::default(),
            shuffle: None,
            epoch: 0,
        }
    }

    /// The seed the model was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// True once `compile` has been called.
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// The compiled optimiser, if any.
    pub fn optimizer(&self) -> Option<&dyn Optimizer> {
        self.compiled.as_ref().map(|c| &*c.optimizer)
    }

    /// The compiled loss, if any.
    pub fn loss(&self) -> Option<&dyn Loss> {
        self.compiled.as_ref().map(|c| &*c.loss)
    }

    /// Stores the optimiser and the loss, replacing earlier ones (and their state).
    pub(crate) fn compile(&mut self, optimizer: Box<dyn Optimizer>, loss: Box<dyn Loss>) {
        self.compiled = Some(Compiled { optimizer, loss });
    }

    /// The number of the last epoch trained, as `fit` numbered it (see
    /// [`Fit::initial_epoch`](crate::model::Fit::initial_epoch)); 0 before any training,
    /// and the checkpoint's epoch after loading one.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The buffers, the compiled state and the shuffling stream, borrowed together.
    pub(crate) fn split(&mut self) -> (&mut Buffers, Option<&mut Compiled>, &mut Rng) {
        let parts = self.parts();
        (parts.buffers, parts.compiled, parts.shuffle)
    }

    /// Everything `fit` needs, borrowed together.
    pub(crate) fn parts(&mut self) -> Parts<'_> {
        let seed = self.seed;
        let shuffle = self.shuffle.get_or_insert_with(|| fresh_shuffle(seed));
        Parts {
            buffers: &mut self.buffers,
            compiled: self.compiled.as_mut(),
            shuffle,
            epoch: &mut self.epoch,
        }
    }

    /// The shuffling stream as it stands (as it will start, before the first `fit`).
    pub(crate) fn shuffle_stream(&self) -> Rng {
        match &self.shuffle {
            Some(stream) => stream.clone(),
            None => fresh_shuffle(self.seed),
        }
    }

    /// Puts back the shuffling stream and the epoch count of a checkpoint.
    pub(crate) fn restore(&mut self, shuffle: Rng, epoch: usize) {
        self.shuffle = Some(shuffle);
        self.epoch = epoch;
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("seed", &self.seed)
            .field("epoch", &self.epoch)
            .field("optimizer", &self.optimizer().map(|o| o.name()))
            .field("loss", &self.loss().map(|l| l.name()))
            .field("batch_capacity", &self.buffers.rows)
            .finish()
    }
}

/// The shuffling stream of a model built from `seed`, at its start.
fn fresh_shuffle(seed: u64) -> Rng {
    rng::stream(seed, "fit", "shuffle")
}

/// Activation, gradient and target buffers, allocated for a batch size and reused.
///
/// Activation `k` is the input of layer `k` and the output of layer `k − 1`, a
/// `[rows, width_k]` matrix. Backward passes need two gradient buffers at a time (the
/// gradient of a layer's output and of its input), so two flat buffers as wide as the widest
/// activation take turns. A batch smaller than `rows` works on the first rows of each.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    rows: usize,
    widths: Vec<usize>,
    activations: Vec<Array2<f32>>,
    grad_output: Vec<f32>,
    grad_input: Vec<f32>,
    labels: Vec<u32>,
    values: Array2<f32>,
}

impl Buffers {
    /// Makes room for batches of up to `rows` samples through `layers`, allocating only
    /// when the capacity or the chain changed since the last call.
    ///
    /// Fails when consecutive layers disagree on the width between them.
    pub(crate) fn ensure(&mut self, layers: &[&mut dyn Layer], rows: usize) -> Result<()> {
        check_chain(layers)?;
        let same_chain = self.widths.len() == layers.len() + 1
            && layers
                .iter()
                .zip(&self.widths[1..])
                .all(|(l, &w)| l.output_len() == w);
        if same_chain && self.rows >= rows {
            return Ok(());
        }

        log::debug!("allocating activation buffers for batches of {rows}");
        self.widths = layers.first().map(|l| l.input_len()).into_iter().collect();
        self.widths.extend(layers.iter().map(|l| l.output_len()));
        self.activations = self
            .widths
            .iter()
            .map(|&w| Array2::zeros((rows, w)))
            .collect();
        let widest = self.widths.iter().copied().max().unwrap_or(0);
        self.grad_output = vec![0.0; rows * widest];
        self.grad_input = vec![0.0; rows * widest];
        self.labels = Vec::with_capacity(rows);
        self.values = Array2::zeros((rows, self.widths.last().copied().unwrap_or(0)));
        self.rows = rows;
        Ok(())
    }

    /// The first `batch` rows of the model input, to be filled.
    pub(crate) fn input_mut(&mut self, batch: usize) -> ArrayViewMut2<'_, f32> {
        self.activations[0].slice_mut(s![..batch, ..])
    }

    /// The first `batch` rows of the model output.
    pub(crate) fn output(&self, batch: usize) -> ArrayView2<'_, f32> {
        let last = self.activations.len() - 1;
        self.activations[last].slice(s![..batch, ..])
    }

    /// The input and output of layer `k` for the first `batch` rows.
    pub(crate) fn layer_io(
        &mut self,
        k: usize,
        batch: usize,
    ) -> (ArrayView2<'_, f32>, ArrayViewMut2<'_, f32>) {
        let (head, tail) = self.activations.split_at_mut(k + 1);
        (
            head[k].slice(s![..batch, ..]),
            tail[0].slice_mut(s![..batch, ..]),
        )
    }

    /// The first `batch` target values, to be filled (for losses that take values).
    pub(crate) fn values_mut(&mut self, batch: usize) -> ArrayViewMut2<'_, f32> {
        self.values.slice_mut(s![..batch, ..])
    }

    /// The label buffer, to be filled (for losses that take classes).
    pub(crate) fn labels_mut(&mut self) -> &mut Vec<u32> {
        &mut self.labels
    }

    /// The model output, the buffer for the loss gradient with respect to it, and the
    /// loaded targets of `kind`.
    ///
    /// # Shapes
    /// - output and gradient: `[batch, output_len]`
    /// - targets: `batch` labels or `[batch, output_len]` values
    pub(crate) fn loss_views(&mut self, batch: usize, kind: TargetKind) -> LossViews<'_> {
        let last = self.activations.len() - 1;
        let width = self.widths[last];
        let targets = match kind {
            TargetKind::Classes => TargetsRef::Classes(&self.labels[..batch]),
            TargetKind::Values => TargetsRef::Values(self.values.slice(s![..batch, ..])),
        };
        LossViews {
            output: self.activations[last].slice(s![..batch, ..]),
            grad: view_mut(&mut self.grad_output, batch, width),
            targets,
        }
    }

    /// Everything the backward pass of layer `k` touches: its input and output activations,
    /// the gradient of its output, and (unless `k` is 0) room for the gradient of its input.
    ///
    /// After layer `k` ran, call [`Buffers::swap_grads`] so that the gradient of its input
    /// becomes the gradient of the output of layer `k − 1`.
    pub(crate) fn backward_views(&mut self, k: usize, batch: usize) -> BackwardViews<'_> {
        let (input_width, output_width) = (self.widths[k], self.widths[k + 1]);
        BackwardViews {
            input: self.activations[k].slice(s![..batch, ..]),
            output: self.activations[k + 1].slice(s![..batch, ..]),
            grad_output: view_mut(&mut self.grad_output, batch, output_width),
            grad_input: (k > 0).then(|| view_mut(&mut self.grad_input, batch, input_width)),
        }
    }

    /// Exchanges the two gradient buffers between layers of the backward pass.
    pub(crate) fn swap_grads(&mut self) {
        std::mem::swap(&mut self.grad_output, &mut self.grad_input);
    }
}

/// What the loss reads and writes; see [`Buffers::loss_views`].
pub(crate) struct LossViews<'a> {
    pub(crate) output: ArrayView2<'a, f32>,
    pub(crate) grad: ArrayViewMut2<'a, f32>,
    pub(crate) targets: TargetsRef<'a>,
}

/// The views a layer's backward pass works on; see [`Buffers::backward_views`].
pub(crate) struct BackwardViews<'a> {
    pub(crate) input: ArrayView2<'a, f32>,
    pub(crate) output: ArrayView2<'a, f32>,
    pub(crate) grad_output: ArrayViewMut2<'a, f32>,
    pub(crate) grad_input: Option<ArrayViewMut2<'a, f32>>,
}

/// The first `rows * width` values of `flat` as a `[rows, width]` matrix.
fn view_mut(flat: &mut [f32], rows: usize, width: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, width), &mut flat[..rows * width])
        .expect("buffers hold at least rows times the widest activation")
}

/// Checks that every layer takes as many values as the layer before it produces.
fn check_chain(layers: &[&mut dyn Layer]) -> Result<()> {
    if layers.is_empty() {
        return Err(Error::config("model", "it has no layers"));
    }
    for pair in layers.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.output_len() != b.input_len() {
            let reason = format!(
                "layer `{}` outputs {} values per sample but `{}` takes {}",
                a.name(),
                a.output_len(),
                b.name(),
                b.input_len()
            );
            return Err(Error::config("model", reason));
        }
    }
    Ok(())
}
