//! The contract every layer fulfils.
//!
//! A model is a chain of [`Layer`]s. The chain owns the activation buffers: layer `k` reads
//! activation `k` and writes activation `k + 1`, each a `[batch, len]` matrix whose rows are
//! samples in channels-last order (see [`crate::shape`]). Because the chain keeps every
//! activation until the backward pass, a layer gets both its input and its output back in
//! [`Layer::backward`] and only caches what it cannot recompute cheaply (im2col patches,
//! max-pool indices, dropout masks, LSTM gates).
//!
//! Buffers are sized once for the largest batch and reused; a smaller final batch works on
//! a prefix of them, so layers must not assume the batch size stays the same between calls.
//!
//! The optimiser, the weight files and the summary see layers only through their
//! [`Param`]s, and the gradient checks in [`crate::gradcheck`] run against this trait, so a
//! new layer gets all of them by implementing it.

use ndarray::{ArrayD, ArrayView2, ArrayViewMut2};

use crate::activation::ActivationKind;
use crate::rng::Rng;

/// Whether a forward pass trains, infers, or samples for Monte Carlo prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training: stochastic layers are active and layers cache what backward needs.
    Train,
    /// Inference: stochastic layers are the identity, bit for bit.
    Infer,
    /// Monte Carlo sampling: stochastic layers are active but draw from a stream of their
    /// own, so sampling never changes what training would draw; nothing is cached.
    MonteCarlo,
}

/// What a forward or backward call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Training, inference or Monte Carlo sampling.
    pub mode: Mode,
    /// When true, the layer skips its activation in forward and backward: it outputs
    /// pre-activations (logits) and receives gradients with respect to them. The chain sets
    /// this only on the last layer, when the loss fuses with that layer's activation
    /// (softmax with cross-entropy).
    pub logits: bool,
}

impl Pass {
    /// A pass in `mode` that applies activations.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            logits: false,
        }
    }
}

/// One trainable variable of a layer with its accumulated gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The variable's Keras name within its layer: `kernel`, `bias`, `recurrent_kernel`.
    pub name: &'static str,
    /// The value, in Keras's layout (a conv kernel is `[k_h, k_w, in_channels, filters]`,
    /// a dense kernel `[in, out]`).
    pub value: ArrayD<f32>,
    /// The gradient of the mean batch loss, same shape as `value`. Backward passes add to
    /// it; the chain zeroes it before each batch.
    pub grad: ArrayD<f32>,
}

impl Param {
    /// A variable with the given initial value and a zero gradient.
    pub fn new(name: &'static str, value: ArrayD<f32>) -> Self {
        let grad = ArrayD::zeros(value.raw_dim());
        Self { name, value, grad }
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// True for a variable with no elements.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// A layer: forward, backward, and access to its parameters.
///
/// Layers are statically shaped: their input and output sample shapes are fixed by const
/// generic parameters, and only the batch size varies at run time.
pub trait Layer: Send {
    /// The layer's Keras name, unique in its model (`conv2d`, `conv2d_1`, `dense`).
    fn name(&self) -> &str;

    /// The Keras class name shown by the summary (`Conv2D`, `MaxPooling2D`, `Dense`).
    fn kind(&self) -> &'static str;

    /// The per-sample input shape, e.g. `[28, 28, 1]`.
    fn input_dims(&self) -> &'static [usize];

    /// The per-sample output shape, e.g. `[26, 26, 32]`.
    fn output_dims(&self) -> &'static [usize];

    /// Number of values in one input sample.
    fn input_len(&self) -> usize {
        values_in(self.input_dims())
    }

    /// Number of values in one output sample.
    fn output_len(&self) -> usize {
        values_in(self.output_dims())
    }

    /// The activation fused into this layer.
    fn activation(&self) -> ActivationKind {
        ActivationKind::Linear
    }

    /// True for layers that behave differently in training (dropout and its family).
    fn is_stochastic(&self) -> bool {
        false
    }

    /// Restarts the stream that [`Mode::MonteCarlo`] passes draw from, as the stream
    /// `(seed, name, "mc")` of [`crate::rng::stream`], so that a run of Monte Carlo
    /// predictions repeats exactly from the same `seed`.
    ///
    /// Training streams are left alone. The default does nothing, which is right for every
    /// layer that draws nothing.
    fn reseed_monte_carlo(&mut self, _seed: u64) {}

    /// A copy of the layer (weights, streams, everything) that trains on parts of a batch
    /// on another thread, while this layer and other copies take the other parts.
    ///
    /// The training loop runs a batch's parts on copies only when every layer of the model
    /// gives one and tells its [`Layer::words_per_sample`]; it copies the weights in before
    /// each batch and adds the parts' gradients, in part order, onto this layer's. The
    /// default, `None`, keeps a model's batches on its own layers, one part after another.
    fn replicate(&self) -> Option<Box<dyn Layer>> {
        None
    }

    /// How many 32-bit words a [`Mode::Train`] forward draws from each of the layer's
    /// [`Layer::training_streams`] per sample, when that is a fixed number: `Some(0)` for a
    /// layer that draws nothing.
    ///
    /// A copy training part of a batch (see [`Layer::replicate`]) starts its streams that
    /// many words per earlier sample of the batch ahead, so it draws what the whole batch
    /// would have drawn for its samples. The default is `Some(0)` for layers that are not
    /// stochastic and `None` (unknown) for those that are.
    fn words_per_sample(&self) -> Option<u64> {
        (!self.is_stochastic()).then_some(0)
    }

    /// The random streams that [`Mode::Train`] passes draw from, each with its purpose
    /// (`"dropout"`), in a fixed order. Checkpoints store where each stream stands, so a
    /// resumed run draws the masks an uninterrupted one would have drawn.
    ///
    /// The default has none, which is right for every layer that draws nothing in
    /// training. A stochastic layer that reports no stream can still be checkpointed, but a
    /// run resumed from the checkpoint draws other masks (saving logs a warning).
    fn training_streams(&self) -> Vec<(&'static str, &Rng)> {
        Vec::new()
    }

    /// The streams of [`Layer::training_streams`], mutably and in the same order, for
    /// restoring a checkpoint.
    fn training_streams_mut(&mut self) -> Vec<(&'static str, &mut Rng)> {
        Vec::new()
    }

    /// Computes the output of a batch.
    ///
    /// In [`Mode::Train`] the layer caches what [`Layer::backward`] will need.
    ///
    /// # Shapes
    /// - `input`: `[batch, input_len]`
    /// - `output`: `[batch, output_len]`, fully overwritten
    fn forward(&mut self, input: ArrayView2<'_, f32>, output: ArrayViewMut2<'_, f32>, pass: Pass);

    /// Back-propagates the gradient of the batch loss through the layer.
    ///
    /// Called after a [`Mode::Train`] forward with the same `input` and `output`. Adds the
    /// parameter gradients to each [`Param::grad`], and writes the gradient with respect to
    /// the input into `grad_input` unless it is `None` (the first layer of a model needs
    /// none). The layer may overwrite `grad_output`.
    ///
    /// # Shapes
    /// - `input`, `grad_input`: `[batch, input_len]`
    /// - `output`, `grad_output`: `[batch, output_len]`
    fn backward(
        &mut self,
        input: ArrayView2<'_, f32>,
        output: ArrayView2<'_, f32>,
        grad_output: ArrayViewMut2<'_, f32>,
        grad_input: Option<ArrayViewMut2<'_, f32>>,
        pass: Pass,
    );

    /// The trainable variables, in a fixed order.
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }

    /// The trainable variables, mutably, in the same order as [`Layer::params`].
    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }

    /// Number of trainable scalars.
    fn param_count(&self) -> usize {
        scalars_in(&self.params())
    }
}

// The trait's provided methods are compiled again for every layer type, and so for every
// layer shape of every model; they hand their loops to these functions, compiled once.

/// Values in a tensor of shape `dims`.
fn values_in(dims: &[usize]) -> usize {
    dims.iter().product()
}

/// Scalars in all of `params`.
fn scalars_in(params: &[&Param]) -> usize {
    params.iter().map(|p| p.len()).sum()
}
