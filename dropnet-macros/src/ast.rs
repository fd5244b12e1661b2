//! Parsing a `model!` call into models whose every part keeps its tokens.
//!
//! ```text
//! call   := model*
//! model  := attribute* visibility NAME '(' size (',' size)* ','? ')' '{' layers '}'
//! layers := (layer (';' layer)* ';'?)?
//! layer  := WORD ('(' args ')')? ACTIVATION?
//! args   := (arg (',' arg)* ','?)?
//! arg    := (IDENT '=')? value
//! value  := '-'? LITERAL | PATH
//! ```
//!
//! A positional argument that is the bare name of a layer's flag means `flag = true`:
//! `lstm(64, return_sequences)` is `lstm(64, return_sequences = true)`.
//!
//! Each model becomes a [`Model`]: its syntax (for spans and for the generated struct) plus
//! a syn-free [`ModelSpec`] for inference. Errors are collected, not returned at the first:
//! a layer that does not parse is reported and skipped up to the next `;`, and the layers
//! after it are still parsed. A malformed model header (attributes, name, input sizes,
//! braces) ends the parse of the call, since there is no reliable place to resume.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{Lookahead1, Parse, ParseBuffer, ParseStream, Parser};
use syn::{braced, parenthesized, token, Attribute, Error, Ident, Token, Visibility};

use crate::args::{self, Arg, Bound, Constants, Signature};
use crate::dim::Dim;
use crate::infer::Site;
use crate::ir::{self, Activation, LayerKind, LayerSpec, ModelSpec};
use crate::suggest;
use crate::value::{self, Value};

/// The layer and activation words, parsed as custom keywords so that `lookahead1` lists
/// them when something else is found.
mod kw {
    syn::custom_keyword!(conv2d);
    syn::custom_keyword!(maxpool);
    syn::custom_keyword!(dropout);
    syn::custom_keyword!(flatten);
    syn::custom_keyword!(dense);
    syn::custom_keyword!(lstm);
    syn::custom_keyword!(spatial_dropout2d);
    syn::custom_keyword!(gaussian_dropout);
    syn::custom_keyword!(alpha_dropout);
    syn::custom_keyword!(gaussian_noise);
    syn::custom_keyword!(relu);
    syn::custom_keyword!(sigmoid);
    syn::custom_keyword!(tanh);
    syn::custom_keyword!(softmax);
    syn::custom_keyword!(elu);
    syn::custom_keyword!(selu);
}

/// The layer words, for messages (and for the property tests' vocabulary).
pub(crate) const LAYER_WORDS: &[&str] = &[
    "conv2d",
    "maxpool",
    "dropout",
    "flatten",
    "dense",
    "lstm",
    "spatial_dropout2d",
    "gaussian_dropout",
    "alpha_dropout",
    "gaussian_noise",
];
/// The activation words.
pub(crate) const ACTIVATION_WORDS: &[&str] = &["relu", "sigmoid", "tanh", "softmax", "elu", "selu"];

/// Keras spellings a user may reach for, normalized as in [`suggest::nearest`].
const LAYER_ALIASES: &[(&str, &str)] = &[
    ("maxpooling2d", "maxpool"),
    ("maxpool2d", "maxpool"),
    ("maxpooling", "maxpool"),
    ("convolution2d", "conv2d"),
    ("linear", "dense"),
];

/// What each layer word accepts.
const CONV2D: Signature = Signature {
    name: "conv2d",
    required: &["filters", "kernel"],
    optional: &[("strides", "s"), ("padding", "valid | same")],
    flags: &[],
};
const MAXPOOL: Signature = Signature {
    name: "maxpool",
    required: &["pool"],
    optional: &[("strides", "s")],
    flags: &[],
};
const DROPOUT: Signature = Signature {
    name: "dropout",
    required: &["rate"],
    optional: &[("noise_shape", "(sizes)")],
    flags: &[],
};
const SPATIAL_DROPOUT2D: Signature = Signature {
    name: "spatial_dropout2d",
    ..RATE_ONLY
};
const GAUSSIAN_DROPOUT: Signature = Signature {
    name: "gaussian_dropout",
    ..RATE_ONLY
};
const ALPHA_DROPOUT: Signature = Signature {
    name: "alpha_dropout",
    ..RATE_ONLY
};
/// The rest of the dropout family takes a rate only.
const RATE_ONLY: Signature = Signature {
    name: "",
    required: &["rate"],
    optional: &[],
    flags: &[],
};
const GAUSSIAN_NOISE: Signature = Signature {
    name: "gaussian_noise",
    required: &["stddev"],
    optional: &[],
    flags: &[],
};
const FLATTEN: Signature = Signature {
    name: "flatten",
    required: &[],
    optional: &[],
    flags: &[],
};
const DENSE: Signature = Signature {
    name: "dense",
    required: &["units"],
    optional: &[],
    flags: &[],
};

const LSTM: Signature = Signature {
    name: "lstm",
    required: &["units"],
    optional: &[
        ("return_sequences", "true | false"),
        ("dropout", "rate"),
        ("recurrent_dropout", "rate"),
    ],
    flags: &["return_sequences"],
};

/// Everything a `model!` call declares.
#[derive(Default)]
pub struct Call {
    /// The models that parsed, in order.
    pub models: Vec<Model>,
    /// The model whose header failed to parse after its name, if any; it gets a stub.
    pub broken: Option<Header>,
    /// The constants the models refer to.
    pub constants: Constants,
}

impl Call {
    /// The plain-data description of each model, for inference.
    pub fn specs(&self) -> Vec<ModelSpec> {
        self.models.iter().map(|m| m.spec.clone()).collect()
    }
}

/// What the generated struct is declared with.
pub struct Header {
    /// Attributes and doc comments, passed through.
    pub attrs: Vec<Attribute>,
    /// `pub`, `pub(crate)` or nothing.
    pub vis: Visibility,
    /// The struct name.
    pub name: Ident,
}

/// One model, with the tokens of each part for spans.
pub struct Model {
    /// Attributes, visibility and name.
    pub header: Header,
    /// The parentheses around the input sizes.
    pub input_span: Span,
    /// Each input size as written.
    pub input: Vec<TokenStream>,
    /// The braces around the layers.
    pub body_span: Span,
    /// The layers, including those that failed to parse.
    pub layers: Vec<Layer>,
    /// The same model as plain data.
    pub spec: ModelSpec,
    /// Syntax and argument errors found while parsing it.
    pub errors: Vec<Error>,
}

/// One layer statement's tokens.
#[derive(Default)]
pub struct Layer {
    /// The layer word and its parentheses, without the activation: `conv2d(32, 3)`.
    pub original: TokenStream,
    /// Each bound argument's tokens, by parameter name.
    pub args: Vec<(&'static str, TokenStream)>,
    /// The activation word.
    pub activation: Option<Ident>,
}

impl Model {
    /// A compile error at `site`, covering its tokens.
    pub fn error(&self, site: Site, message: &str) -> Error {
        match self.tokens(site) {
            Some(tokens) if !tokens.is_empty() => Error::new_spanned(tokens, message),
            _ => Error::new(self.span(site), message),
        }
    }

    /// The first span of `site`, where a const assertion about it points.
    pub fn span(&self, site: Site) -> Span {
        match site {
            Site::InputList => self.input_span,
            Site::Body => self.body_span,
            _ => self
                .tokens(site)
                .and_then(|tokens| tokens.into_iter().next())
                .map_or_else(|| self.header.name.span(), |token| token.span()),
        }
    }

    fn tokens(&self, site: Site) -> Option<TokenStream> {
        let layer = |index: usize| self.layers.get(index);
        match site {
            Site::Model => {
                let name = &self.header.name;
                Some(quote!(#name))
            }
            Site::InputList | Site::Body => None,
            Site::Input(index) => self.input.get(index).cloned(),
            Site::Layer(index) => layer(index).map(|l| l.original.clone()),
            Site::Arg(index, param) => layer(index).map(|l| {
                let arg = l.args.iter().find(|(name, _)| *name == param);
                arg.map_or_else(|| l.original.clone(), |(_, tokens)| tokens.clone())
            }),
            Site::Activation(index) => layer(index).map(|l| match &l.activation {
                Some(word) => quote!(#word),
                None => l.original.clone(),
            }),
        }
    }
}

/// Parses a whole call. Never fails: errors within a model are kept in [`Model::errors`],
/// and a header error that ends the parse is returned with the call. A call without any
/// model, and tokens after a model that cannot start another, are errors too.
pub fn parse(tokens: TokenStream) -> (Call, Vec<Error>) {
    let mut call = Call::default();
    let mut errors = Vec::new();

    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        while !input.is_empty() {
            if !starts_model(input) {
                let previous = call.models.last().map(|m| &m.header.name);
                errors.push(not_a_model(input, previous));
                return Ok(());
            }
            let start = errors.len();
            match parse_model(input, &mut call.constants, &mut errors) {
                Ok(mut model) => {
                    model.errors = errors.split_off(start);
                    call.models.push(model);
                }
                Err((header, error)) => {
                    errors.push(error);
                    call.broken = header;
                    skip_rest(input);
                }
            }
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
    }
    let owner = call
        .models
        .first()
        .map(|m| &m.header)
        .or(call.broken.as_ref());
    // Unraw: the owner goes inside other identifiers, where `r#Net` would not be one.
    call.constants.owner = owner.map_or_else(String::new, |h| h.name.unraw().to_string());
    if call.models.is_empty() && call.broken.is_none() && errors.is_empty() {
        let message = "`model!` declares no model; write one as `Name(input sizes) { layers }`, \
                       e.g. `Net(4) { dense(1); }`";
        errors.push(Error::new(Span::call_site(), message));
    }
    (call, errors)
}

/// True unless `input` clearly cannot start a model: after its attributes and visibility,
/// a model has a name and then brackets (parentheses, or the braces or square brackets of
/// a slip that [`parse_model`] reports). Attributes that do not parse count as a start, so
/// that their own error is reported.
fn starts_model(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    if fork.call(Attribute::parse_outer).is_err() || fork.parse::<Visibility>().is_err() {
        return true;
    }
    fork.parse::<Ident>().is_ok() && matches!(fork.parse::<TokenTree>(), Ok(TokenTree::Group(_)))
}

/// The error for tokens that are not a model, covering all of them, and consuming them.
fn not_a_model(input: ParseStream<'_>, previous: Option<&Ident>) -> Error {
    let first = input
        .cursor()
        .token_tree()
        .map(|(token, _)| value::tokens_text(token.into()))
        .unwrap_or_default();
    let rest: TokenStream = input.parse().unwrap_or_default();
    let model = "each model is `Name(input sizes) { layers }`";
    let message = match previous {
        Some(name) => format!("unexpected `{first}` after model `{name}`; {model}"),
        None => format!("expected a model, found `{first}`; {model}"),
    };
    Error::new_spanned(rest, message)
}

/// Consumes everything left, so that the parser does not report it again.
fn skip_rest(input: ParseStream<'_>) {
    while !input.is_empty() {
        if input.parse::<TokenTree>().is_err() {
            return;
        }
    }
}

/// Parses one model. A header error returns the header if its name was reached.
fn parse_model(
    input: ParseStream<'_>,
    constants: &mut Constants,
    errors: &mut Vec<Error>,
) -> Result<Model, (Option<Header>, Error)> {
    let attrs = input.call(Attribute::parse_outer).map_err(|e| (None, e))?;
    let vis: Visibility = input.parse().map_err(|e| (None, e))?;
    let name: Ident = input.parse().map_err(|e| (None, e))?;
    let header = Header { attrs, vis, name };
    let label = format!("model `{}`", header.name);

    let sizes = match parse_sizes(input, &label, constants, errors) {
        Ok(sizes) => sizes,
        Err(error) => return Err((Some(header), error)),
    };
    let (brace, body) = match braced_body(input) {
        Ok(parsed) => parsed,
        Err(error) => return Err((Some(header), error)),
    };
    let (layers, specs) = match parse_layers(&body, constants, errors) {
        Ok(parsed) => parsed,
        Err(error) => return Err((Some(header), error)),
    };

    let (input_span, input, dims) = sizes;
    let spec = ModelSpec {
        name: header.name.to_string(),
        input: dims,
        layers: specs,
    };
    let body_span = brace.span.join();
    Ok(Model {
        header,
        input_span,
        input,
        body_span,
        layers,
        spec,
        errors: Vec::new(),
    })
}

fn braced_body<'a>(input: ParseStream<'a>) -> syn::Result<(token::Brace, ParseBuffer<'a>)> {
    let body;
    let brace = braced!(body in input);
    Ok((brace, body))
}

type Sizes = (Span, Vec<TokenStream>, Option<Vec<Dim>>);

/// Parses `(28, 28, 1)`: the sizes' tokens and, if each is a valid size, their values.
fn parse_sizes(
    input: ParseStream<'_>,
    label: &str,
    constants: &mut Constants,
    errors: &mut Vec<Error>,
) -> syn::Result<Sizes> {
    let content;
    let paren = parenthesized!(content in input);
    let items = value::parse_list(&content)?;

    let nouns = ir::input_nouns(items.len());
    let params = ir::input_params(items.len());
    let mut dims = Some(Vec::with_capacity(items.len()));
    let mut tokens = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let noun = nouns
            .and_then(|n| n.get(index))
            .map_or("an input size", |n| n);
        let param = params.and_then(|p| p.get(index)).map_or("size", |p| p);
        let arg = Arg {
            name: None,
            value: Value::parse.parse2(item)?,
        };
        tokens.push(arg.tokens());
        match args::to_dim(&arg, &format!("{label}: {noun}"), param, constants) {
            Ok(dim) => {
                if let Some(dims) = dims.as_mut() {
                    dims.push(dim);
                }
            }
            Err(error) => {
                errors.push(error);
                dims = None;
            }
        }
    }
    Ok((paren.span.join(), tokens, dims))
}

/// Parses the statements inside the braces, collecting layer errors as it goes.
fn parse_layers(
    body: ParseStream<'_>,
    constants: &mut Constants,
    errors: &mut Vec<Error>,
) -> syn::Result<(Vec<Layer>, Vec<Option<LayerSpec>>)> {
    let mut layers = Vec::new();
    let mut specs = Vec::new();

    while !body.is_empty() {
        if body.peek(Token![;]) {
            // A stray `;` is not a layer.
            body.parse::<Token![;]>()?;
            continue;
        }
        let position = layers.len() + 1;
        match parse_layer(body, position, constants, errors) {
            Ok((layer, spec)) => {
                layers.push(layer);
                specs.push(spec);
            }
            Err(error) => {
                errors.push(error);
                skip_statement(body);
                layers.push(Layer::default());
                specs.push(None);
            }
        }
        if !body.is_empty() {
            body.parse::<Token![;]>()?;
        }
    }
    Ok((layers, specs))
}

/// Skips to the next top-level `;` (groups count as one token).
fn skip_statement(body: ParseStream<'_>) {
    while !body.is_empty() && !body.peek(Token![;]) {
        if body.parse::<TokenTree>().is_err() {
            return;
        }
    }
}

/// The layer words, as the lookahead found them.
#[derive(Clone, Copy)]
enum Word {
    Conv2d,
    MaxPool,
    Dropout,
    Flatten,
    Dense,
    Lstm,
    SpatialDropout2d,
    GaussianDropout,
    AlphaDropout,
    GaussianNoise,
}

impl Word {
    fn signature(self) -> &'static Signature {
        match self {
            Word::Conv2d => &CONV2D,
            Word::MaxPool => &MAXPOOL,
            Word::Dropout => &DROPOUT,
            Word::Flatten => &FLATTEN,
            Word::Dense => &DENSE,
            Word::Lstm => &LSTM,
            Word::SpatialDropout2d => &SPATIAL_DROPOUT2D,
            Word::GaussianDropout => &GAUSSIAN_DROPOUT,
            Word::AlphaDropout => &ALPHA_DROPOUT,
            Word::GaussianNoise => &GAUSSIAN_NOISE,
        }
    }
}

/// Parses one layer up to (not including) its `;`. A syntax error is returned; errors in
/// the arguments are collected and give a layer without a spec.
fn parse_layer(
    input: ParseStream<'_>,
    position: usize,
    constants: &mut Constants,
    errors: &mut Vec<Error>,
) -> syn::Result<(Layer, Option<LayerSpec>)> {
    let (ident, word) = parse_word(input, position)?;
    let (group, args) = if input.peek(token::Paren) {
        let group = input.fork().parse::<TokenTree>()?;
        let content;
        parenthesized!(content in input);
        let args = args::parse_args(&content).map_err(|error| {
            Error::new(error.span(), format!("layer {position} `{ident}`: {error}"))
        })?;
        (Some(group), args)
    } else {
        (None, Vec::new())
    };

    let original = quote!(#ident #group);
    let text = match group {
        Some(_) => format!(
            "{ident}({})",
            args.iter().map(Arg::text).collect::<Vec<_>>().join(", ")
        ),
        None => ident.to_string(),
    };
    let label = format!("layer {position} `{text}`");
    let activation = parse_activation(input, &label)?;

    let (bound, bind_errors) = args::bind(word.signature(), args, &label, &original);
    let mut binder = Binder {
        bound: &bound,
        label: &label,
        constants,
        errors: bind_errors,
    };
    let kind = binder.kind(word);
    let ok = binder.errors.is_empty();
    errors.append(&mut binder.errors);

    let spec = kind.filter(|_| ok).map(|kind| LayerSpec {
        kind,
        activation: activation.as_ref().map(|(_, a)| *a),
        text,
    });
    let layer = Layer {
        original,
        args: bound.sites(),
        activation: activation.map(|(word, _)| word),
    };
    Ok((layer, spec))
}

/// Parses the layer word through a lookahead, so that anything else gets the list of
/// layer words, plus the nearest one when it looks like a typo.
fn parse_word(input: ParseStream<'_>, position: usize) -> syn::Result<(Ident, Word)> {
    let lookahead = input.lookahead1();
    let word = if lookahead.peek(kw::conv2d) {
        Word::Conv2d
    } else if lookahead.peek(kw::maxpool) {
        Word::MaxPool
    } else if lookahead.peek(kw::dropout) {
        Word::Dropout
    } else if lookahead.peek(kw::flatten) {
        Word::Flatten
    } else if lookahead.peek(kw::dense) {
        Word::Dense
    } else if lookahead.peek(kw::lstm) {
        Word::Lstm
    } else if lookahead.peek(kw::spatial_dropout2d) {
        Word::SpatialDropout2d
    } else if lookahead.peek(kw::gaussian_dropout) {
        Word::GaussianDropout
    } else if lookahead.peek(kw::alpha_dropout) {
        Word::AlphaDropout
    } else if lookahead.peek(kw::gaussian_noise) {
        Word::GaussianNoise
    } else {
        return Err(unknown_layer(input, lookahead, position));
    };
    Ok((input.call(Ident::parse_any)?, word))
}

fn unknown_layer(input: ParseStream<'_>, lookahead: Lookahead1<'_>, position: usize) -> Error {
    let expected = lookahead.error();
    match input.cursor().ident() {
        Some((ident, _)) => {
            let word = ident.to_string();
            let hint = suggest::did_you_mean(&word, LAYER_WORDS, LAYER_ALIASES);
            let message =
                format!("layer {position} `{word}` is not a known layer ({expected}){hint}");
            Error::new(ident.span(), message)
        }
        None => Error::new(expected.span(), format!("layer {position}: {expected}")),
    }
}

/// Parses the optional activation word after a layer and checks that the statement ends
/// there.
fn parse_activation(
    input: ParseStream<'_>,
    label: &str,
) -> syn::Result<Option<(Ident, Activation)>> {
    if input.is_empty() || input.peek(Token![;]) {
        return Ok(None);
    }

    let lookahead = input.lookahead1();
    let activation = if lookahead.peek(kw::relu) {
        Activation::Relu
    } else if lookahead.peek(kw::sigmoid) {
        Activation::Sigmoid
    } else if lookahead.peek(kw::tanh) {
        Activation::Tanh
    } else if lookahead.peek(kw::softmax) {
        Activation::Softmax
    } else if lookahead.peek(kw::elu) {
        Activation::Elu
    } else if lookahead.peek(kw::selu) {
        Activation::Selu
    } else {
        return Err(unknown_activation(input, lookahead, label));
    };
    let word = input.call(Ident::parse_any)?;

    if !input.is_empty() && !input.peek(Token![;]) {
        return Err(input.error(format!("expected `;` after {label} {word}")));
    }
    Ok(Some((word, activation)))
}

fn unknown_activation(input: ParseStream<'_>, lookahead: Lookahead1<'_>, label: &str) -> Error {
    let expected = lookahead.error();
    let Some((ident, _)) = input.cursor().ident() else {
        let message = format!("expected `;` or an activation after {label}; {expected}");
        return Error::new(expected.span(), message);
    };

    let word = ident.to_string();
    let message = if LAYER_WORDS.contains(&word.as_str()) {
        format!("expected `;` between {label} and `{word}`")
    } else if word == "linear" {
        format!("{label}: a layer without an activation is linear; remove `linear`")
    } else {
        let hint = suggest::did_you_mean(&word, ACTIVATION_WORDS, &[]);
        format!("{label} has an unknown activation `{word}` ({expected}){hint}")
    };
    Error::new(ident.span(), message)
}

/// Converts bound arguments to a [`LayerKind`], collecting every conversion error.
struct Binder<'a> {
    bound: &'a Bound,
    label: &'a str,
    constants: &'a mut Constants,
    errors: Vec<Error>,
}

impl Binder<'_> {
    fn subject(&self, param: &str) -> String {
        format!("{}: {}", self.label, ir::param_noun(param))
    }

    /// A required size; `None` if it is missing (already reported) or invalid.
    fn dim(&mut self, param: &str) -> Option<Dim> {
        self.optional_dim(param).flatten()
    }

    /// An optional size: `Some(None)` when absent, `None` when invalid.
    fn optional_dim(&mut self, param: &str) -> Option<Option<Dim>> {
        let Some(arg) = self.bound.get(param) else {
            return Some(None);
        };
        let subject = self.subject(param);
        let result = args::to_dim(arg, &subject, param, self.constants);
        self.keep(result).map(Some)
    }

    fn keep<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.errors.push(error)).ok()
    }

    /// Converts every argument before giving up, so that all their errors are reported.
    fn kind(&mut self, word: Word) -> Option<LayerKind> {
        match word {
            Word::Conv2d => {
                let filters = self.dim("filters");
                let kernel = self.dim("kernel");
                let strides = self.optional_dim("strides");
                let padding = match self.bound.get("padding") {
                    Some(arg) => {
                        let subject = self.subject("padding");
                        self.keep(args::to_padding(arg, &subject))
                    }
                    None => Some(ir::Padding::Valid),
                };
                let (filters, kernel, strides, padding) = (filters?, kernel?, strides?, padding?);
                Some(LayerKind::Conv2d(ir::Conv2d {
                    filters,
                    kernel,
                    strides,
                    padding,
                }))
            }
            Word::MaxPool => {
                let pool = self.dim("pool");
                let strides = self.optional_dim("strides");
                Some(LayerKind::MaxPool2d(ir::MaxPool2d {
                    pool: pool?,
                    strides: strides?,
                }))
            }
            Word::Dropout => self.dropout(),
            Word::SpatialDropout2d => Some(LayerKind::SpatialDropout2d(self.rate()?)),
            Word::GaussianDropout => Some(LayerKind::GaussianDropout(self.rate()?)),
            Word::AlphaDropout => Some(LayerKind::AlphaDropout(self.rate()?)),
            Word::GaussianNoise => {
                let arg = self.bound.get("stddev")?;
                let subject = self.subject("stddev");
                let result = args::to_stddev(arg, &subject, self.constants);
                let stddev = self.keep(result)?;
                Some(LayerKind::GaussianNoise(ir::GaussianNoise { stddev }))
            }
            Word::Flatten => Some(LayerKind::Flatten),
            Word::Dense => Some(LayerKind::Dense(ir::Dense {
                units: self.dim("units")?,
            })),
            Word::Lstm => self.lstm(),
        }
    }

    /// The `rate` of the dropout family.
    fn rate(&mut self) -> Option<ir::Dropout> {
        let arg = self.bound.get("rate")?;
        let subject = self.subject("rate");
        let result = args::to_rate(arg, &subject, self.constants);
        let rate = self.keep(result)?;
        Some(ir::Dropout {
            rate,
            noise_shape: None,
        })
    }

    /// `dropout(rate, noise_shape = (sizes))`, where the noise shape is optional.
    fn dropout(&mut self) -> Option<LayerKind> {
        let dropout = self.rate();
        let noise_shape = match self.bound.get("noise_shape") {
            Some(arg) => {
                let subject = self.subject("noise_shape");
                let result = args::to_sizes(arg, &subject, "noise_shape", self.constants);
                Some(Some(self.keep(result)?))
            }
            None => Some(None),
        };
        Some(LayerKind::Dropout(ir::Dropout {
            noise_shape: noise_shape?,
            ..dropout?
        }))
    }

    /// `lstm(units, return_sequences = b, dropout = r, recurrent_dropout = r)`, where
    /// `return_sequences` defaults to false and the rates to none.
    fn lstm(&mut self) -> Option<LayerKind> {
        let units = self.dim("units");
        let return_sequences = match self.bound.get("return_sequences") {
            Some(arg) => {
                let subject = self.subject("return_sequences");
                self.keep(args::to_bool(arg, &subject))
            }
            None => Some(false),
        };
        let dropout = self.optional_rate("dropout");
        let recurrent_dropout = self.optional_rate("recurrent_dropout");
        Some(LayerKind::Lstm(ir::Lstm {
            units: units?,
            return_sequences: return_sequences?,
            dropout: dropout?,
            recurrent_dropout: recurrent_dropout?,
        }))
    }

    /// An optional rate: `Some(None)` when absent, `None` when invalid.
    fn optional_rate(&mut self, param: &str) -> Option<Option<ir::Rate>> {
        let Some(arg) = self.bound.get(param) else {
            return Some(None);
        };
        let subject = self.subject(param);
        let result = args::to_rate(arg, &subject, self.constants);
        self.keep(result).map(Some)
    }
}
