//! Shape inference and every check on a model, over plain numbers.
//!
//! [`shapes`] walks a model's layers in order and computes each output shape and parameter
//! count. Each rule is one function, with the rule in words above it. A rule on sizes the
//! macro knows either passes or records a [`Problem`] (a compile error on the offending
//! layer or argument). A rule on sizes that involve a user constant becomes a [`Check`],
//! which `expand` emits as a const assertion with the same message.
//!
//! One mistake gives one message: a layer whose arguments break a rule, or whose input is
//! unknown because an earlier layer failed, gets no output shape, and the layers after it
//! are checked only on their own arguments.
//!
//! `flatten` on a vector is accepted and is the identity, as in Keras.
//!
//! A message about a sequence or a vector that an `lstm` made names that `lstm`, even
//! through a dropout or noise layer in between, since the fix (`return_sequences`) is
//! written there.

mod guess;

pub use guess::{placeholder, stub_shapes};

use crate::dim::{ConstId, Dim, Overflow, Symbols};
use crate::ir::ModelSpec;
use crate::ir::{input_nouns, param_noun, Padding, Rate, Shape};
use crate::ir::{Activation, Conv2d, Dense, Dropout, LayerKind, LayerSpec, Lstm, MaxPool2d};

/// The most trainable parameters a model may have, and a layer: 2^31.
///
/// That many `f32` weights take 8 GiB, and training them with Adam (weights, gradients and
/// two moments) 32 GiB, beyond the machines this library is for. A larger count is far more
/// likely a slip (an extra zero in `dense(100000)`) than a plan, and refusing it here turns
/// what would be an allocation failure when the model is built into an error on the layer.
pub const MAX_PARAMS: usize = 1 << 31;

/// The most values one sample may hold at the input or at any layer's output: 2^31, for
/// the same reason as [`MAX_PARAMS`] (8 GiB per sample, times the batch size in training).
pub const MAX_SAMPLE_VALUES: usize = 1 << 31;

/// How messages write both bounds.
const BOUND_TEXT: &str = "2147483648 (2^31)";

/// Where a problem is, for `ast` to turn into a span. Indices are 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The model's name.
    Model,
    /// The parentheses around the input sizes.
    InputList,
    /// One input size.
    Input(usize),
    /// The `{ … }` around the layers.
    Body,
    /// A whole layer.
    Layer(usize),
    /// One argument of a layer, by parameter name.
    Arg(usize, &'static str),
    /// The activation word of a layer.
    Activation(usize),
}

/// A rule broken by sizes the macro knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where to point.
    pub site: Site,
    /// The compile error, lowercase, without a final period.
    pub message: String,
}

/// A condition on sizes only the compiler can evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `a <= b`
    AtMost(Dim, Dim),
    /// `a != 0`
    NonZero(Dim),
    /// Computing the size exactly does not overflow `usize`.
    Fits(Dim),
    /// `0.0 <= rate < 1.0`
    RateInRange(ConstId),
    /// `0.0 <= stddev <= f32::MAX`: not negative, not infinite, not NaN.
    StddevValid(ConstId),
    /// `a <= bound`, `a` computed with saturation, so an overflow fails it too (a [`Cond::Fits`]
    /// check on `a` comes first and says so).
    Bounded(Dim, usize),
    /// `a == 1 || a == b`
    OneOrEqual(Dim, Dim),
}

/// A rule deferred to const evaluation; the build fails with `message` if `cond` is false.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Where to point.
    pub site: Site,
    /// What must hold.
    pub cond: Cond,
    /// The error if it does not, phrased as for a [`Problem`].
    pub message: String,
}

/// What inference found out about one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// Keras name, unique in the model: `conv2d`, `conv2d_1`.
    pub name: String,
    /// Per-sample input shape.
    pub input: Shape,
    /// Per-sample output shape.
    pub output: Shape,
    /// Number of trainable scalars.
    pub params: Dim,
}

/// Everything inference found out about one model.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The input shape, if the input sizes are valid.
    pub input: Option<Shape>,
    /// One entry per layer; `None` where a layer failed or its input is unknown.
    pub layers: Vec<Option<LayerInfo>>,
    /// Total trainable scalars, if every layer is known.
    pub params: Option<Dim>,
    /// Rules left to the compiler, in the order they should be evaluated.
    pub checks: Vec<Check>,
    /// Broken rules; the model is invalid if there is any.
    pub problems: Vec<Problem>,
}

impl Inference {
    /// The output shape of the last layer, if known.
    pub fn output(&self) -> Option<&Shape> {
        self.layers.last()?.as_ref().map(|layer| &layer.output)
    }

    /// True if the model has no problem and every shape is known, so that the full model
    /// can be generated.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
            && self.input.is_some()
            && self.params.is_some()
            && !self.layers.is_empty()
            && self.layers.iter().all(Option::is_some)
    }
}

/// Infers every model of a call, including the rules between models.
pub fn call(models: &[ModelSpec], symbols: &Symbols) -> Vec<Inference> {
    let mut inferred: Vec<Inference> = models.iter().map(|m| shapes(m, symbols)).collect();
    for (index, problem) in check_unique_names(models) {
        if let Some(inference) = inferred.get_mut(index) {
            inference.problems.push(problem);
        }
    }
    inferred
}

/// Infers one model's shapes and parameter counts and checks every rule on it.
pub fn shapes(model: &ModelSpec, symbols: &Symbols) -> Inference {
    let mut cx = Cx {
        symbols,
        problems: Vec::new(),
        checks: Vec::new(),
    };
    let input = model
        .input
        .as_deref()
        .and_then(|dims| input_shape(&mut cx, &model.name, dims));

    let names = keras_names(model.layers.iter().map(|l| l.as_ref().map(|l| &l.kind)));
    let mut layers = Vec::with_capacity(model.layers.len());
    let mut current = input.clone();
    let mut from_lstm = None;
    for (index, (spec, name)) in model.layers.iter().zip(names).enumerate() {
        let info = spec.as_ref().and_then(|spec| {
            let at = At {
                index,
                text: &spec.text,
                from_lstm,
            };
            layer(&mut cx, &at, spec, current.as_ref(), name)
        });
        from_lstm = spec
            .as_ref()
            .and_then(|spec| next_from_lstm(from_lstm, index, spec, current.as_ref()));
        current = info.as_ref().map(|info| info.output.clone());
        layers.push(info);
    }

    check_last_layer(&mut cx, model);
    check_not_empty(&mut cx, model);
    let params = total_params(&mut cx, model, &layers);
    Inference {
        input,
        layers,
        params,
        checks: cx.checks,
        problems: cx.problems,
    }
}

/// Collects problems and deferred checks while inference runs.
struct Cx<'a> {
    symbols: &'a Symbols,
    problems: Vec<Problem>,
    checks: Vec<Check>,
}

impl Cx<'_> {
    fn fail(&mut self, site: Site, message: String) {
        self.problems.push(Problem { site, message });
    }

    fn defer(&mut self, site: Site, cond: Cond, message: String) {
        self.checks.push(Check {
            site,
            cond,
            message,
        });
    }

    fn show(&self, dim: &Dim) -> String {
        dim.show(self.symbols)
    }
}

/// The layer being checked, for messages: `layer 3 `conv2d(64, 3)``.
struct At<'s> {
    index: usize,
    text: &'s str,
    /// The `lstm` whose output this layer reads, if any.
    from_lstm: Option<FromLstm<'s>>,
}

/// An `lstm` whose output reaches a later layer unchanged (directly or through dropout).
#[derive(Debug, Clone, Copy)]
struct FromLstm<'s> {
    index: usize,
    text: &'s str,
    return_sequences: bool,
}

impl FromLstm<'_> {
    fn label(&self) -> String {
        format!("layer {} `{}`", self.index + 1, self.text)
    }
}

/// What the layer after `spec` reads from: `spec` itself if it is an `lstm`; the same
/// `lstm` as `spec` if `spec` keeps its input's shape (dropout, flatten of a vector);
/// otherwise no `lstm`.
fn next_from_lstm<'s>(
    from_lstm: Option<FromLstm<'s>>,
    index: usize,
    spec: &'s LayerSpec,
    input: Option<&Shape>,
) -> Option<FromLstm<'s>> {
    match &spec.kind {
        LayerKind::Lstm(lstm) => Some(FromLstm {
            index,
            text: &spec.text,
            return_sequences: lstm.return_sequences,
        }),
        kind if kind.is_noise() => from_lstm,
        LayerKind::Flatten if matches!(input, Some(Shape::Vector(_))) => from_lstm,
        _ => None,
    }
}

impl At<'_> {
    fn label(&self) -> String {
        format!("layer {} `{}`", self.index + 1, self.text)
    }

    /// How to introduce the layer's input: the first layer reads the model input.
    fn source(&self) -> &'static str {
        if self.index == 0 {
            "the model input is"
        } else {
            "the previous layer outputs"
        }
    }
}

/// Checks one layer and computes its output; `input` is `None` after an earlier failure.
fn layer(
    cx: &mut Cx<'_>,
    at: &At<'_>,
    spec: &LayerSpec,
    input: Option<&Shape>,
    name: String,
) -> Option<LayerInfo> {
    let arguments_ok = check_arguments(cx, at, &spec.kind);
    check_activation(cx, at, spec);

    let input = input?;
    if !arguments_ok {
        return None;
    }

    let (output, params) = match &spec.kind {
        LayerKind::Conv2d(conv) => conv2d(cx, at, conv, input)?,
        LayerKind::MaxPool2d(pool) => (maxpool2d(cx, at, pool, input)?, Dim::Known(0)),
        LayerKind::SpatialDropout2d(_) => (spatial_dropout2d(cx, at, input)?, Dim::Known(0)),
        LayerKind::Dropout(dropout_args) => (dropout(cx, at, dropout_args, input)?, Dim::Known(0)),
        LayerKind::GaussianDropout(_)
        | LayerKind::AlphaDropout(_)
        | LayerKind::GaussianNoise(_) => (input.clone(), Dim::Known(0)),
        LayerKind::Flatten => (flatten(cx, at, input)?, Dim::Known(0)),
        LayerKind::Dense(dense_args) => dense(cx, at, dense_args, input)?,
        LayerKind::Lstm(lstm_args) => lstm(cx, at, lstm_args, input)?,
    };

    let subject = format!("{} outputs", at.label());
    if !check_len(cx, Site::Layer(at.index), &subject, &output) {
        return None;
    }
    Some(LayerInfo {
        name,
        input: input.clone(),
        output,
        params,
    })
}

// ---- rules on the model ---------------------------------------------------------------

/// The input is `(height, width, channels)` for images, `(time, features)` for sequences
/// or `(length)` for vectors. Each size is at least 1, and one sample holds no more values
/// than `usize` can count.
fn input_shape(cx: &mut Cx<'_>, name: &str, dims: &[Dim]) -> Option<Shape> {
    let label = format!("model `{name}`");
    let Some(nouns) = input_nouns(dims.len()) else {
        let message = format!(
            "{label} has {} input sizes, but needs (height, width, channels) for images, \
             (time, features) for sequences or (length) for vectors",
            dims.len()
        );
        cx.fail(Site::InputList, message);
        return None;
    };

    let mut ok = true;
    for (index, (dim, noun)) in dims.iter().zip(nouns).enumerate() {
        ok &= check_positive(cx, &label, Site::Input(index), dim, noun);
    }
    let shape = match dims {
        [n] => Shape::Vector(n.clone()),
        [t, f] => Shape::Sequence(t.clone(), f.clone()),
        [h, w, c] => Shape::Image(h.clone(), w.clone(), c.clone()),
        _ => return None,
    };

    let subject = format!("{label} has the input");
    (ok && check_len(cx, Site::InputList, &subject, &shape)).then_some(shape)
}

/// A model has at least one layer: without one there is nothing to train.
fn check_not_empty(cx: &mut Cx<'_>, model: &ModelSpec) {
    if model.layers.is_empty() {
        let message = format!(
            "model `{}` has no layers; declare at least one, e.g. `dense(10) softmax;`",
            model.name
        );
        cx.fail(Site::Body, message);
    }
}

/// A model cannot end with dropout, or with any layer of its family or `gaussian_noise`.
/// They only act in training, so the model's output would be the previous layer's, made
/// noisy while training. Keras accepts it; the DSL treats it as a mistake.
fn check_last_layer(cx: &mut Cx<'_>, model: &ModelSpec) {
    let last = model.layers.len().checked_sub(1);
    if let (Some(index), Some(Some(spec))) = (last, model.layers.last()) {
        if spec.kind.is_noise() {
            let at = At {
                index,
                text: &spec.text,
                from_lstm: None,
            };
            let what = match spec.kind {
                LayerKind::Dropout(_) => "dropout".to_owned(),
                _ => format!("`{}`", spec.kind.keras_name()),
            };
            let message = format!(
                "{} is the last layer, but a model cannot end with {what}; \
                 remove it or add the output layer after it",
                at.label()
            );
            cx.fail(Site::Layer(index), message);
        }
    }
}

/// Two models of one call cannot share a name: they would be two structs of one name.
/// The second is reported, on its name.
fn check_unique_names(models: &[ModelSpec]) -> Vec<(usize, Problem)> {
    let mut found = Vec::new();
    for (index, model) in models.iter().enumerate() {
        if models
            .iter()
            .take(index)
            .any(|earlier| earlier.name == model.name)
        {
            let message = format!(
                "model `{}` is already declared in this call; rename one of them",
                model.name
            );
            found.push((
                index,
                Problem {
                    site: Site::Model,
                    message,
                },
            ));
        }
    }
    found
}

/// The model's parameter count is the sum of its layers'; it must fit in `usize` and stay
/// within [`MAX_PARAMS`]. (Each layer was held to the bound on its own; this catches many
/// layers that are large together.)
fn total_params(cx: &mut Cx<'_>, model: &ModelSpec, layers: &[Option<LayerInfo>]) -> Option<Dim> {
    let name = &model.name;
    let params: Option<Vec<&Dim>> = layers
        .iter()
        .map(|l| l.as_ref().map(|l| &l.params))
        .collect();
    let params = params?;
    let message = format!("model `{name}` has more parameters in total than `usize` can hold");

    let total = match Dim::sum(params.iter().copied()) {
        Ok(total) => total,
        Err(Overflow) => {
            cx.fail(Site::Model, message);
            return None;
        }
    };
    if total.may_overflow() {
        cx.defer(Site::Model, Cond::Fits(total.clone()), message);
    }

    let largest = largest_layer(cx, model, layers);
    match total.known() {
        Some(count) if count > MAX_PARAMS => {
            let message = format!(
                "model `{name}` has {count} parameters in total, more than the {BOUND_TEXT} a \
                 model may have; its largest layer is {largest}"
            );
            cx.fail(Site::Model, message);
            return None;
        }
        Some(_) => {}
        // A total that is one layer's count was held to the bound with that layer.
        None if params.iter().any(|p| **p == total) => {}
        None => {
            let message = format!(
                "model `{name}` has {} parameters in total, more than the {BOUND_TEXT} a model \
                 may have; its largest layer is {largest}",
                cx.show(&total)
            );
            cx.defer(
                Site::Model,
                Cond::Bounded(total.clone(), MAX_PARAMS),
                message,
            );
        }
    }
    Some(total)
}

/// `layer 2 `dense(10)` with 16010`: the layer with the most parameters, for messages. A
/// count the macro does not know is shown as its formula and ranks below any it knows.
fn largest_layer(cx: &Cx<'_>, model: &ModelSpec, layers: &[Option<LayerInfo>]) -> String {
    let largest = model
        .layers
        .iter()
        .zip(layers)
        .enumerate()
        .filter_map(|(index, (spec, info))| Some((index, spec.as_ref()?, info.as_ref()?)))
        .max_by_key(|(_, _, info)| info.params.known());
    match largest {
        Some((index, spec, info)) => format!(
            "layer {} `{}` with {}",
            index + 1,
            spec.text,
            cx.show(&info.params)
        ),
        None => "unknown".to_owned(),
    }
}

/// Keras numbers layers per kind: the first `dense` is `dense`, the next `dense_1`, then
/// `dense_2`. A layer that failed to parse gets an empty name and is not counted.
pub fn keras_names<'a>(kinds: impl Iterator<Item = Option<&'a LayerKind>>) -> Vec<String> {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    kinds
        .map(|kind| {
            let Some(kind) = kind else {
                return String::new();
            };
            let base = kind.keras_name();
            match seen.iter_mut().find(|(name, _)| *name == base) {
                Some((_, count)) => {
                    *count += 1;
                    format!("{base}_{count}")
                }
                None => {
                    seen.push((base, 0));
                    base.to_owned()
                }
            }
        })
        .collect()
}

// ---- rules on arguments ---------------------------------------------------------------

/// Checks a layer's own arguments, whatever its input; false if one is wrong.
fn check_arguments(cx: &mut Cx<'_>, at: &At<'_>, kind: &LayerKind) -> bool {
    let label = at.label();
    let positive = |cx: &mut Cx<'_>, param: &'static str, dim: &Dim| {
        check_positive(
            cx,
            &label,
            Site::Arg(at.index, param),
            dim,
            param_noun(param),
        )
    };
    match kind {
        LayerKind::Conv2d(conv) => {
            let mut ok = positive(cx, "filters", &conv.filters);
            ok &= positive(cx, "kernel", &conv.kernel);
            if let Some(strides) = &conv.strides {
                ok &= positive(cx, "strides", strides);
            }
            ok
        }
        LayerKind::MaxPool2d(pool) => {
            let mut ok = positive(cx, "pool", &pool.pool);
            if let Some(strides) = &pool.strides {
                ok &= positive(cx, "strides", strides);
            }
            ok
        }
        LayerKind::Dropout(dropout)
        | LayerKind::SpatialDropout2d(dropout)
        | LayerKind::GaussianDropout(dropout)
        | LayerKind::AlphaDropout(dropout) => check_rate(cx, at, "rate", &dropout.rate),
        LayerKind::GaussianNoise(noise) => check_stddev(cx, at, &noise.stddev),
        LayerKind::Flatten => true,
        LayerKind::Dense(dense) => positive(cx, "units", &dense.units),
        LayerKind::Lstm(lstm) => {
            let mut ok = positive(cx, "units", &lstm.units);
            if let Some(rate) = &lstm.dropout {
                ok &= check_rate(cx, at, "dropout", rate);
            }
            if let Some(rate) = &lstm.recurrent_dropout {
                ok &= check_rate(cx, at, "recurrent_dropout", rate);
            }
            ok
        }
    }
}

/// Every size is at least 1: input sizes, filters, kernel, pool, strides and units. A zero
/// would make an empty tensor, or for strides a division by zero.
fn check_positive(cx: &mut Cx<'_>, label: &str, site: Site, dim: &Dim, noun: &str) -> bool {
    match dim {
        Dim::Known(0) => {
            cx.fail(
                site,
                format!("{label}: {noun} is 0, but it must be at least 1"),
            );
            false
        }
        Dim::Known(_) => true,
        Dim::Sym(_) => {
            let message = format!(
                "{label}: {noun} {} is 0, but it must be at least 1",
                cx.show(dim)
            );
            cx.defer(site, Cond::NonZero(dim.clone()), message);
            true
        }
    }
}

/// A dropout rate is at least 0 (0 is the identity) and below 1: a rate of 1 would zero
/// every unit, and the survivors' scale 1 / (1 - rate) would divide by zero. `param` is
/// the argument: `rate`, or `dropout` and `recurrent_dropout` on an `lstm`.
fn check_rate(cx: &mut Cx<'_>, at: &At<'_>, param: &'static str, rate: &Rate) -> bool {
    let site = Site::Arg(at.index, param);
    let noun = param_noun(param);
    match rate {
        Rate::Known(r) if (0.0..1.0).contains(r) => true,
        Rate::Known(r) => {
            // `{:?}` keeps the decimal point: `1.0`, as the user most likely wrote it.
            let why = if *r >= 1.0 {
                " (a rate of 1 or more drops every unit)"
            } else {
                ""
            };
            let message = format!(
                "{}: {noun} is {r:?}, but it must be at least 0 and below 1{why}",
                at.label()
            );
            cx.fail(site, message);
            false
        }
        Rate::Const(id) => {
            let message = format!(
                "{}: {noun} {} must be at least 0 and below 1",
                at.label(),
                cx.symbols.name(*id)
            );
            cx.defer(site, Cond::RateInRange(*id), message);
            true
        }
    }
}

/// The standard deviation of `gaussian_noise` is at least 0 (0 adds nothing) and finite.
/// A literal too large for an `f32` was refused when parsed.
fn check_stddev(cx: &mut Cx<'_>, at: &At<'_>, stddev: &Rate) -> bool {
    let site = Site::Arg(at.index, "stddev");
    match stddev {
        Rate::Known(s) if *s >= 0.0 && s.is_finite() => true,
        Rate::Known(s) => {
            let message = format!(
                "{}: the standard deviation is {s:?}, but it must be at least 0",
                at.label()
            );
            cx.fail(site, message);
            false
        }
        Rate::Const(id) => {
            let message = format!(
                "{}: the standard deviation {} must be at least 0 and finite",
                at.label(),
                cx.symbols.name(*id)
            );
            cx.defer(site, Cond::StddevValid(*id), message);
            true
        }
    }
}

/// Only `conv2d` and `dense` take an activation; on `maxpool`, `dropout` or `flatten` it
/// belongs on the layer before. `softmax` is taken over each sample's whole output, which
/// is Keras's meaning only for a vector, so only `dense` takes it. An `lstm` has its
/// activations built in (sigmoid gates, tanh cell, as Keras's defaults).
fn check_activation(cx: &mut Cx<'_>, at: &At<'_>, spec: &LayerSpec) {
    let Some(activation) = spec.activation else {
        return;
    };
    let site = Site::Activation(at.index);
    match (&spec.kind, activation) {
        (LayerKind::Conv2d(_), Activation::Softmax) => {
            let message = format!(
                "{}: `softmax` is only supported on `dense`, where it is taken over the output \
                 vector; use `relu`, `sigmoid`, `tanh`, `elu` or `selu` here",
                at.label()
            );
            cx.fail(site, message);
        }
        (LayerKind::Dense(dense), Activation::Softmax) => check_softmax_units(cx, at, &dense.units),
        (LayerKind::Conv2d(_) | LayerKind::Dense(_), _) => {}
        (LayerKind::Lstm(_), _) => {
            let message = format!(
                "{} takes no activation word: its gates use sigmoid and its cell tanh, as in \
                 Keras; remove `{}`",
                at.label(),
                activation.word()
            );
            cx.fail(site, message);
        }
        _ => {
            let message = format!(
                "{} takes no activation, but `{}` follows it; put the activation on the layer \
                 before, or remove it",
                at.label(),
                activation.word()
            );
            cx.fail(site, message);
        }
    }
}

/// `softmax` over one unit is `e^x / e^x`, always 1, so it needs at least 2 units. A
/// single probability is a `sigmoid`; a single regression output has no activation.
fn check_softmax_units(cx: &mut Cx<'_>, at: &At<'_>, units: &Dim) {
    let site = Site::Activation(at.index);
    let fix = "use `sigmoid` for one probability, or no activation for a regression output";
    match units {
        Dim::Known(1) => {
            let message = format!(
                "{}: `softmax` over a single unit always outputs 1; {fix}",
                at.label()
            );
            cx.fail(site, message);
        }
        Dim::Known(_) => {}
        Dim::Sym(_) => {
            let message = format!(
                "{}: `softmax` over a single unit always outputs 1, so {} must be at least 2; \
                 {fix}",
                at.label(),
                cx.show(units)
            );
            cx.defer(site, Cond::AtMost(Dim::Known(2), units.clone()), message);
        }
    }
}

// ---- rules on shapes ------------------------------------------------------------------

/// `conv2d` and `maxpool` slide a window over height and width, so their input must be an
/// image.
fn expect_image<'s>(cx: &mut Cx<'_>, at: &At<'_>, input: &'s Shape) -> Option<[&'s Dim; 3]> {
    if let Shape::Image(h, w, c) = input {
        return Some([h, w, c]);
    }
    let fix = if at.index == 0 {
        "; declare the input as (height, width, channels)"
    } else {
        ""
    };
    let message = format!(
        "{} needs an image (height×width×channels), but {} {}{fix}",
        at.label(),
        at.source(),
        input.describe(cx.symbols)
    );
    cx.fail(Site::Layer(at.index), message);
    None
}

/// With valid padding a window (kernel or pool) must fit inside the map: its size is at
/// most the input height and at most the input width. (Same padding pads the input, so
/// any kernel fits.) False if it does not, for sizes the macro knows.
fn check_window_fits(
    cx: &mut Cx<'_>,
    at: &At<'_>,
    window: (&Dim, &'static str),
    input: &Shape,
    fix: &str,
) -> bool {
    let (size, arg) = window;
    let Shape::Image(h, w, _) = input else {
        return true;
    };
    let message = |cx: &Cx<'_>, axes: &str| {
        let k = size.show_atom(cx.symbols);
        let what = if arg == "pool" { "pool" } else { "kernel" };
        let (label, source, shape) = (at.label(), at.source(), input.show(cx.symbols));
        format!(
            "{label} needs a map at least {k}×{k}, but {source} {shape}: \
             the {what} is larger than the input {axes}; {fix}"
        )
    };

    let mut too_small = Vec::new();
    for (axis, extent) in [("height", h), ("width", w)] {
        match (size.known(), extent.known()) {
            (Some(k), Some(n)) if k > n => too_small.push(axis),
            (Some(_), Some(_)) => {}
            _ => {
                let message = message(cx, axis);
                cx.defer(
                    Site::Arg(at.index, arg),
                    Cond::AtMost(size.clone(), extent.clone()),
                    message,
                );
            }
        }
    }
    if too_small.is_empty() {
        return true;
    }
    let message = message(cx, &too_small.join(" and "));
    cx.fail(Site::Layer(at.index), message);
    false
}

/// Positions of a window along one axis of length `n`, as Keras computes them.
/// Valid padding: the windows that fit entirely, `(n - k) / s + 1` rounded down.
/// Same padding: one position per stride that starts inside the input, `ceil(n / s)`,
/// written `(n - 1) / s + 1` so that it cannot overflow.
pub fn conv_output_size(n: &Dim, k: &Dim, s: &Dim, padding: Padding) -> Dim {
    let one = Dim::Known(1);
    let start = match padding {
        Padding::Valid => n.sub_saturating(k),
        Padding::Same => n.sub_saturating(&one),
    };
    // Adding 1 to a quotient of sizes that fit cannot overflow.
    start
        .div_guarded(s)
        .add(&one)
        .unwrap_or(Dim::Known(usize::MAX))
}

/// A `conv2d` has a `k×k×c` kernel per filter plus one bias per filter: `k*k*c*f + f`.
pub fn conv2d_params(k: &Dim, c: &Dim, f: &Dim) -> Result<Dim, Overflow> {
    Dim::product([k, k, c, f])?.add(f)
}

/// A `dense` has an `in×out` kernel plus one bias per output: `in*out + out`.
pub fn dense_params(inputs: &Dim, units: &Dim) -> Result<Dim, Overflow> {
    inputs.mul(units)?.add(units)
}

/// A layer's parameter count fits in `usize` and is at most [`MAX_PARAMS`]. `shapes` are
/// the layer's input and output, which the message names with the count; `fix` says what
/// makes the layer smaller.
fn check_params(
    cx: &mut Cx<'_>,
    at: &At<'_>,
    params: Result<Dim, Overflow>,
    formula: String,
    shapes: (&Shape, &Shape, &str),
) -> Option<Dim> {
    let message = format!(
        "{} has more parameters than `usize` can hold ({formula})",
        at.label()
    );
    let params = match params {
        Ok(params) => params,
        Err(Overflow) => {
            cx.fail(Site::Layer(at.index), message);
            return None;
        }
    };
    if params.may_overflow() {
        cx.defer(Site::Layer(at.index), Cond::Fits(params.clone()), message);
    }

    let (input, output, fix) = shapes;
    let too_many = |cx: &Cx<'_>, count: String| {
        format!(
            "{} maps {} to {} with {count}, more than the {BOUND_TEXT} parameters a model may \
             have; {fix}",
            at.label(),
            input.describe(cx.symbols),
            output.describe(cx.symbols),
        )
    };
    match params.known() {
        Some(count) if count > MAX_PARAMS => {
            let message = too_many(cx, format!("{count} parameters ({formula})"));
            cx.fail(Site::Layer(at.index), message);
            None
        }
        Some(_) => Some(params),
        None => {
            let message = too_many(cx, format!("{formula} parameters"));
            let cond = Cond::Bounded(params.clone(), MAX_PARAMS);
            cx.defer(Site::Layer(at.index), cond, message);
            Some(params)
        }
    }
}

/// A shape holds no more values than `usize` can count (its sizes' product fits), and at
/// most [`MAX_SAMPLE_VALUES`].
///
/// Only the compiler knows whether a length over constants fits. A vector's length is not
/// deferred: it is the product of a shape checked before it (`flatten`) or a unit count,
/// which the same layer's larger parameter count bounds.
fn check_len(cx: &mut Cx<'_>, site: Site, subject: &str, shape: &Shape) -> bool {
    let shown = shape.show(cx.symbols);
    let message = format!("{subject} {shown}, more values than `usize` can hold");
    let len = match Dim::product(shape.dims()) {
        Ok(len) => len,
        Err(Overflow) => {
            cx.fail(site, message);
            return false;
        }
    };
    let deferred = !matches!(shape, Shape::Vector(_));
    if len.may_overflow() && deferred {
        cx.defer(site, Cond::Fits(len.clone()), message);
    }

    let too_many = |count: String| {
        format!(
            "{subject} {shown}, {count} values per sample, more than the {BOUND_TEXT} one \
             sample may hold; use smaller sizes"
        )
    };
    match len.known() {
        Some(count) if count > MAX_SAMPLE_VALUES => {
            cx.fail(site, too_many(count.to_string()));
            false
        }
        Some(_) => true,
        None => {
            if deferred {
                let message = too_many(len.show(cx.symbols));
                cx.defer(site, Cond::Bounded(len, MAX_SAMPLE_VALUES), message);
            }
            true
        }
    }
}

/// `conv2d(f, k)` maps an `h×w×c` image to `h'×w'×f`, each side by [`conv_output_size`].
fn conv2d(cx: &mut Cx<'_>, at: &At<'_>, conv: &Conv2d, input: &Shape) -> Option<(Shape, Dim)> {
    let [h, w, c] = expect_image(cx, at, input)?;
    let fix = "use a smaller kernel or `padding = same`";
    if conv.padding == Padding::Valid
        && !check_window_fits(cx, at, (&conv.kernel, "kernel"), input, fix)
    {
        return None;
    }

    let stride = conv.strides.clone().unwrap_or(Dim::Known(1));
    let out_h = conv_output_size(h, &conv.kernel, &stride, conv.padding);
    let out_w = conv_output_size(w, &conv.kernel, &stride, conv.padding);
    let output = Shape::Image(out_h, out_w, conv.filters.clone());

    let [k, c_text, f] = [&conv.kernel, c, &conv.filters].map(|d| d.show_atom(cx.symbols));
    let formula = format!("{k}*{k}*{c_text}*{f} + {f}");
    let fix = "use fewer filters or a smaller kernel";
    let params = check_params(
        cx,
        at,
        conv2d_params(&conv.kernel, c, &conv.filters),
        formula,
        (input, &output, fix),
    )?;
    Some((output, params))
}

/// `maxpool(p)` maps `h×w×c` to `h'×w'×c` with valid padding, `(n - p) / s + 1`, the
/// stride defaulting to the pool size.
fn maxpool2d(cx: &mut Cx<'_>, at: &At<'_>, pool: &MaxPool2d, input: &Shape) -> Option<Shape> {
    let [h, w, c] = expect_image(cx, at, input)?;
    let fix = "use a smaller pool or remove the layer";
    if !check_window_fits(cx, at, (&pool.pool, "pool"), input, fix) {
        return None;
    }

    let stride = pool.strides.as_ref().unwrap_or(&pool.pool);
    let out_h = conv_output_size(h, &pool.pool, stride, Padding::Valid);
    let out_w = conv_output_size(w, &pool.pool, stride, Padding::Valid);
    Some(Shape::Image(out_h, out_w, c.clone()))
}

/// `dropout(rate, noise_shape = (…))` shares one mask value along each axis where the
/// noise shape is 1, like Keras's `noise_shape` without the batch axis. So the noise shape
/// has one entry per axis of the input, each 1 or that axis's size; it keeps the input's
/// shape.
fn dropout(cx: &mut Cx<'_>, at: &At<'_>, dropout: &Dropout, input: &Shape) -> Option<Shape> {
    let Some(noise) = &dropout.noise_shape else {
        return Some(input.clone());
    };
    let site = Site::Arg(at.index, "noise_shape");
    let (axes, names) = (input.dims(), input.axis_names());
    if noise.len() != axes.len() {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let message = format!(
            "{}: the noise shape has {}, but {} {}, which has {} ({}); give one entry per axis",
            at.label(),
            plural(noise.len(), "entry", "entries"),
            at.source(),
            input.describe(cx.symbols),
            plural(axes.len(), "axis", "axes"),
            names.join(", ")
        );
        cx.fail(site, message);
        return None;
    }

    let mut ok = true;
    for (index, ((entry, axis), name)) in noise.iter().zip(axes).zip(names).enumerate() {
        // Known sizes say what is wrong; a deferred check says it when it fails.
        let message = |cx: &Cx<'_>, known: bool| {
            let (e, a) = (cx.show(entry), cx.show(axis));
            let what = if known {
                format!("{e}, but the {name} is {a}")
            } else {
                format!("{e}, which is neither 1 nor the {name}, {a}")
            };
            format!(
                "{}: noise shape entry {} is {what}; each entry is 1 (one mask value shared \
                 along that axis) or the axis size",
                at.label(),
                index + 1,
            )
        };
        match (entry.known(), axis.known()) {
            (Some(1), _) => {}
            _ if entry == axis => {}
            (Some(_), Some(_)) => {
                let message = message(cx, true);
                cx.fail(site, message);
                ok = false;
            }
            _ => {
                let message = message(cx, false);
                cx.defer(site, Cond::OneOrEqual(entry.clone(), axis.clone()), message);
            }
        }
    }
    ok.then(|| input.clone())
}

/// `spatial_dropout2d` drops whole channels of an image (every pixel of a channel of a
/// sample together), so its input must be an image; it keeps that shape. On a vector,
/// plain `dropout` drops values one by one; on a sequence, a noise shape of `(1, features)`
/// drops whole features at every step (Keras's `SpatialDropout1D`).
fn spatial_dropout2d(cx: &mut Cx<'_>, at: &At<'_>, input: &Shape) -> Option<Shape> {
    let fix = match input {
        Shape::Image(..) => return Some(input.clone()),
        Shape::Sequence(_, f) => format!(
            "use `dropout(rate, noise_shape = (1, {}))` to drop whole features at every \
             step, or `dropout(rate)` for single values",
            cx.show(f)
        ),
        Shape::Vector(_) => "use `dropout` here".to_owned(),
    };
    let message = format!(
        "{} needs an image (height×width×channels), since it drops whole channels, but {} \
         {}; {fix}",
        at.label(),
        at.source(),
        input.describe(cx.symbols)
    );
    cx.fail(Site::Layer(at.index), message);
    None
}

/// `flatten` turns an image or a sequence into a vector of all its values, in
/// channels-last order; on a vector it is the identity.
fn flatten(cx: &mut Cx<'_>, at: &At<'_>, input: &Shape) -> Option<Shape> {
    match Dim::product(input.dims()) {
        Ok(len) => Some(Shape::Vector(len)),
        Err(Overflow) => {
            // The input's length was checked when it was produced; kept for safety.
            let subject = format!("{} outputs", at.label());
            check_len(cx, Site::Layer(at.index), &subject, input);
            None
        }
    }
}

/// `dense(units)` multiplies a flat vector by its kernel, so its input must be a vector;
/// a map or a sequence needs `flatten;` first. A sequence of every step of an `lstm` can
/// also become its last step only, by dropping that layer's `return_sequences`.
fn dense(cx: &mut Cx<'_>, at: &At<'_>, dense: &Dense, input: &Shape) -> Option<(Shape, Dim)> {
    let Shape::Vector(inputs) = input else {
        let (label, source) = (at.label(), at.source());
        let got = input.describe(cx.symbols);
        let message = match (input, at.from_lstm) {
            (Shape::Sequence(..), Some(lstm)) if lstm.return_sequences => format!(
                "{label} needs a flat input, but {source} {got} (every step of {}); remove \
                 `return_sequences` from layer {} to keep only the last step, or add \
                 `flatten;` before this layer",
                lstm.label(),
                lstm.index + 1
            ),
            (Shape::Sequence(..), _) => format!(
                "{label} needs a flat input, but {source} {got}; add `flatten;` before it, or \
                 read the sequence with an `lstm` layer first"
            ),
            _ => {
                format!("{label} needs a flat input, but {source} {got}; add `flatten;` before it")
            }
        };
        cx.fail(Site::Layer(at.index), message);
        return None;
    };

    let [i, u] = [inputs, &dense.units].map(|d| d.show_atom(cx.symbols));
    let output = Shape::Vector(dense.units.clone());
    let fix = "use fewer units, or shrink its input (a `maxpool` or a stride before `flatten`)";
    let params = check_params(
        cx,
        at,
        dense_params(inputs, &dense.units),
        format!("{i}*{u} + {u}"),
        (input, &output, fix),
    )?;
    Some((output, params))
}

/// An `lstm` has four gates (input, forget, cell, output), each with an `f×u` input
/// kernel, a `u×u` recurrent kernel and `u` biases: `4*u*(f + u + 1)`.
pub fn lstm_params(features: &Dim, units: &Dim) -> Result<Dim, Overflow> {
    let per_unit = features.add(units)?.add(&Dim::Known(1))?;
    Dim::Known(4).mul(units)?.mul(&per_unit)
}

/// An `lstm` reads its input one time step at a time, so the input must be a sequence.
fn expect_sequence<'s>(cx: &mut Cx<'_>, at: &At<'_>, input: &'s Shape) -> Option<[&'s Dim; 2]> {
    if let Shape::Sequence(t, f) = input {
        return Some([t, f]);
    }
    let fix = match (input, at.from_lstm) {
        (Shape::Vector(_), Some(lstm)) if !lstm.return_sequences => format!(
            " (only the last step of {0}); add `return_sequences = true` to {0}",
            lstm.label()
        ),
        (Shape::Vector(n), _) if at.index == 0 => format!(
            "; declare the input as (time, features), e.g. `({}, 1)` for one value per step",
            cx.show(n)
        ),
        _ if at.index == 0 => "; declare the input as (time, features)".to_owned(),
        _ => String::new(),
    };
    let message = format!(
        "{} needs a sequence (time×features), but {} {}{fix}",
        at.label(),
        at.source(),
        input.describe(cx.symbols)
    );
    cx.fail(Site::Layer(at.index), message);
    None
}

/// `lstm(u)` maps a `t×f` sequence to its hidden state at every step, `t×u`, with
/// `return_sequences`, and otherwise to the state after the last step, `u`.
fn lstm(cx: &mut Cx<'_>, at: &At<'_>, lstm: &Lstm, input: &Shape) -> Option<(Shape, Dim)> {
    let [t, f] = expect_sequence(cx, at, input)?;
    let output = if lstm.return_sequences {
        Shape::Sequence(t.clone(), lstm.units.clone())
    } else {
        Shape::Vector(lstm.units.clone())
    };

    let [f_text, u] = [f, &lstm.units].map(|d| d.show_atom(cx.symbols));
    let formula = format!("4*{u}*({f_text} + {u} + 1)");
    let shapes = (input, &output, "use fewer units");
    let params = check_params(cx, at, lstm_params(f, &lstm.units), formula, shapes)?;
    Some((output, params))
}

#[cfg(test)]
mod tests;
