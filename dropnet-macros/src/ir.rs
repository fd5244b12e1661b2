//! The parsed model as plain data: what [`crate::ast`] produces from the tokens and what
//! [`crate::infer`] checks. Nothing here refers to syn, so inference can be unit-tested
//! with numbers alone.
//!
//! Adding a layer kind means: a variant of [`LayerKind`] with a struct of its arguments, an
//! entry in the signature table and the keyword list of `ast`, one rule function in
//! `infer`, and one arm in `expand`. [`Lstm`] is the model to follow. The dropout family
//! (`dropout`, `spatial_dropout2d`, `gaussian_dropout`, `alpha_dropout`, `gaussian_noise`)
//! shares the identity shape and the rules of [`LayerKind::is_noise`].

use crate::dim::{ConstId, Dim, Symbols};

/// One model of a `model!` call.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// The struct name.
    pub name: String,
    /// The per-sample input sizes, or `None` if they failed to parse.
    pub input: Option<Vec<Dim>>,
    /// The layers in order; `None` for a layer that failed to parse (already reported).
    pub layers: Vec<Option<LayerSpec>>,
}

/// One layer statement, `conv2d(32, 3) relu`.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// What the layer is, with its arguments.
    pub kind: LayerKind,
    /// The activation word after it, if any (none means linear).
    pub activation: Option<Activation>,
    /// The layer as written, without its activation, for messages: `conv2d(32, 3)`.
    pub text: String,
}

/// The kinds of layer the DSL knows.
#[derive(Debug, Clone)]
pub enum LayerKind {
    /// `conv2d(filters, kernel, strides = s, padding = valid | same)`
    Conv2d(Conv2d),
    /// `maxpool(pool, strides = s)`
    MaxPool2d(MaxPool2d),
    /// `dropout(rate, noise_shape = (sizes))`
    Dropout(Dropout),
    /// `flatten`
    Flatten,
    /// `dense(units)`
    Dense(Dense),
    /// `lstm(units, return_sequences = true | false, dropout = r, recurrent_dropout = r)`
    Lstm(Lstm),
    /// `spatial_dropout2d(rate)`: drops whole channels of an image.
    SpatialDropout2d(Dropout),
    /// `gaussian_dropout(rate)`: multiplies by noise of mean 1, variance rate / (1 − rate).
    GaussianDropout(Dropout),
    /// `alpha_dropout(rate)`: dropout that keeps the mean and variance of SELU outputs.
    AlphaDropout(Dropout),
    /// `gaussian_noise(stddev)`: adds noise of mean 0 in training.
    GaussianNoise(GaussianNoise),
}

/// Arguments of `conv2d`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Number of output channels.
    pub filters: Dim,
    /// Side of the square kernel.
    pub kernel: Dim,
    /// Step between windows; `None` means 1.
    pub strides: Option<Dim>,
    /// Border handling.
    pub padding: Padding,
}

/// Arguments of `maxpool`.
#[derive(Debug, Clone)]
pub struct MaxPool2d {
    /// Side of the square window.
    pub pool: Dim,
    /// Step between windows; `None` means the pool size.
    pub strides: Option<Dim>,
}

/// Arguments of `dropout`, and of `spatial_dropout2d`, `gaussian_dropout` and
/// `alpha_dropout`, which take the same rate.
#[derive(Debug, Clone)]
pub struct Dropout {
    /// Fraction of units zeroed in training.
    pub rate: Rate,
    /// One entry per input axis, each 1 (the mask is shared along that axis) or the axis
    /// size; `None` for one mask value per unit. Only `dropout` takes it.
    pub noise_shape: Option<Vec<Dim>>,
}

/// Arguments of `gaussian_noise`.
#[derive(Debug, Clone)]
pub struct GaussianNoise {
    /// Standard deviation of the added noise, an `f32` like a rate (at least 0, finite).
    pub stddev: Rate,
}

/// Arguments of `dense`.
#[derive(Debug, Clone)]
pub struct Dense {
    /// Number of outputs.
    pub units: Dim,
}

/// Arguments of `lstm`.
#[derive(Debug, Clone)]
pub struct Lstm {
    /// Size of the hidden state, and of the output at each step.
    pub units: Dim,
    /// Output every step (`time×units`) instead of the last step only (`units`).
    pub return_sequences: bool,
    /// Variational dropout rate on the inputs (one mask per sequence), if given.
    pub dropout: Option<Rate>,
    /// Variational dropout rate on the recurrent state, if given.
    pub recurrent_dropout: Option<Rate>,
}

/// Convolution border handling, as in Keras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding: windows stay inside the input.
    Valid,
    /// Zero padding so that the output has `ceil(input / stride)` positions.
    Same,
}

/// A dropout rate: a number the macro knows or an `f32` constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Rate {
    /// A literal rate as the `f32` the core receives (negative if written with a minus
    /// sign).
    Known(f32),
    /// A user constant.
    Const(ConstId),
}

/// An activation word after a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `relu`
    Relu,
    /// `sigmoid`
    Sigmoid,
    /// `tanh`
    Tanh,
    /// `softmax`
    Softmax,
    /// `elu` (α = 1, as Keras's default)
    Elu,
    /// `selu` (Keras's constants), the activation `alpha_dropout` is made for
    Selu,
}

impl Activation {
    /// The word as written in the DSL.
    pub fn word(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::Elu => "elu",
            Activation::Selu => "selu",
        }
    }
}

impl LayerKind {
    /// The layer's Keras name before numbering (`max_pooling2d`, then `max_pooling2d_1`).
    pub fn keras_name(&self) -> &'static str {
        match self {
            LayerKind::Conv2d(_) => "conv2d",
            LayerKind::MaxPool2d(_) => "max_pooling2d",
            LayerKind::Dropout(_) => "dropout",
            LayerKind::Flatten => "flatten",
            LayerKind::Dense(_) => "dense",
            LayerKind::Lstm(_) => "lstm",
            LayerKind::SpatialDropout2d(_) => "spatial_dropout2d",
            LayerKind::GaussianDropout(_) => "gaussian_dropout",
            LayerKind::AlphaDropout(_) => "alpha_dropout",
            LayerKind::GaussianNoise(_) => "gaussian_noise",
        }
    }

    /// True for the layers that only add noise in training and are the identity otherwise:
    /// the dropout family and `gaussian_noise`. They keep their input's shape, take no
    /// activation and cannot end a model.
    pub fn is_noise(&self) -> bool {
        matches!(
            self,
            LayerKind::Dropout(_)
                | LayerKind::SpatialDropout2d(_)
                | LayerKind::GaussianDropout(_)
                | LayerKind::AlphaDropout(_)
                | LayerKind::GaussianNoise(_)
        )
    }
}

/// A per-sample shape, channels last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `[height, width, channels]`
    Image(Dim, Dim, Dim),
    /// `[time, features]`
    Sequence(Dim, Dim),
    /// `[length]`
    Vector(Dim),
}

impl Shape {
    /// The sizes, outermost first.
    pub fn dims(&self) -> Vec<&Dim> {
        match self {
            Shape::Image(h, w, c) => vec![h, w, c],
            Shape::Sequence(t, f) => vec![t, f],
            Shape::Vector(n) => vec![n],
        }
    }

    /// `5×5×64`
    pub fn show(&self, symbols: &Symbols) -> String {
        let dims: Vec<String> = self.dims().iter().map(|d| d.show_atom(symbols)).collect();
        dims.join("×")
    }

    /// How messages name each axis: `height`, `width`, `channels`.
    pub fn axis_names(&self) -> &'static [&'static str] {
        match self {
            Shape::Image(..) => &["height", "width", "number of channels"],
            Shape::Sequence(..) => &["number of time steps", "number of features"],
            Shape::Vector(..) => &["length"],
        }
    }

    /// The shape with a word saying what it is when that is not obvious:
    /// `5×5×64`, `the sequence 10×8`, `the vector 1600`.
    pub fn describe(&self, symbols: &Symbols) -> String {
        match self {
            Shape::Image(..) => self.show(symbols),
            Shape::Sequence(..) => format!("the sequence {}", self.show(symbols)),
            Shape::Vector(..) => format!("the vector {}", self.show(symbols)),
        }
    }
}

/// How messages name a layer parameter: `the number of filters`.
pub fn param_noun(param: &str) -> &'static str {
    match param {
        "filters" => "the number of filters",
        "kernel" => "the kernel size",
        "strides" => "the stride",
        "padding" => "the padding",
        "pool" => "the pool size",
        "rate" => "the rate",
        "stddev" => "the standard deviation",
        "noise_shape" => "the noise shape",
        "units" => "the number of units",
        "return_sequences" => "`return_sequences`",
        "dropout" => "the dropout rate",
        "recurrent_dropout" => "the recurrent dropout rate",
        _ => "the argument",
    }
}

/// How messages name the input sizes of a model of `rank` sizes, if that rank is allowed.
pub fn input_nouns(rank: usize) -> Option<&'static [&'static str]> {
    match rank {
        1 => Some(&["the input length"]),
        2 => Some(&["the number of time steps", "the number of features"]),
        3 => Some(&[
            "the input height",
            "the input width",
            "the number of input channels",
        ]),
        _ => None,
    }
}

/// The parameter names of the input sizes of a model of `rank` sizes, if that rank is
/// allowed; messages suggest constants named after them (`HEIGHT`).
pub fn input_params(rank: usize) -> Option<&'static [&'static str]> {
    match rank {
        1 => Some(&["length"]),
        2 => Some(&["time_steps", "features"]),
        3 => Some(&["height", "width", "channels"]),
        _ => None,
    }
}
