//! Layer arguments: parsing `(32, 3, strides = 2)`, binding it to a layer's signature, and
//! converting values to sizes, rates and words.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Error, Ident, Lit, LitBool, Path, Token};

use crate::dim::{ConstId, Dim, Symbols};
use crate::ir::{Padding, Rate};
use crate::suggest;

/// A value as written: a literal, possibly negated, or a path (`K`, `config::K`, `same`).
#[derive(Debug, Clone)]
pub enum Value {
    /// `3`, `0.25`, `-0.5`, `"same"`
    Literal {
        /// The `-` before it, kept for its span.
        minus: Option<Token![-]>,
        /// The literal.
        lit: Lit,
    },
    /// A constant, or a word such as `same`.
    Path(Path),
}

impl Parse for Value {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![-]) && input.peek2(Lit) {
            let minus = Some(input.parse::<Token![-]>()?);
            return Ok(Value::Literal {
                minus,
                lit: input.parse()?,
            });
        }
        if input.peek(Lit) {
            return Ok(Value::Literal {
                minus: None,
                lit: input.parse()?,
            });
        }
        if input.peek(Ident::peek_any) || input.peek(Token![::]) {
            return Ok(Value::Path(input.call(Path::parse_mod_style)?));
        }
        Err(input.error("expected a number or the path of a constant"))
    }
}

impl ToTokens for Value {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Value::Literal { minus, lit } => {
                minus.to_tokens(tokens);
                lit.to_tokens(tokens);
            }
            Value::Path(path) => path.to_tokens(tokens),
        }
    }
}

impl Value {
    /// The value as the user wrote it, without token spacing: `-0.5`, `config::K`.
    pub fn text(&self) -> String {
        match self {
            Value::Literal { minus, lit } => {
                let sign = if minus.is_some() { "-" } else { "" };
                format!("{sign}{}", lit.to_token_stream())
            }
            Value::Path(path) => path_text(path),
        }
    }
}

/// `a::b::C` as written, with a leading `::` if there is one.
pub fn path_text(path: &Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let lead = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{lead}{}", segments.join("::"))
}

/// One argument: `3` or `strides = 2`.
#[derive(Debug, Clone)]
pub struct Arg {
    /// The keyword, for `name = value`.
    pub name: Option<Ident>,
    /// The value.
    pub value: Value,
}

impl Arg {
    /// The argument's tokens, for spans.
    pub fn tokens(&self) -> TokenStream {
        let value = &self.value;
        match &self.name {
            Some(name) => quote!(#name = #value),
            None => value.to_token_stream(),
        }
    }

    /// The argument as written: `strides = 2`.
    pub fn text(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} = {}", self.value.text()),
            None => self.value.text(),
        }
    }
}

/// Parses the inside of a layer's parentheses: arguments separated by commas.
pub fn parse_args(input: ParseStream<'_>) -> syn::Result<Vec<Arg>> {
    let mut args = Vec::new();
    while !input.is_empty() {
        let name =
            if input.peek(Ident::peek_any) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let name = input.call(Ident::parse_any)?;
                input.parse::<Token![=]>()?;
                Some(name)
            } else {
                None
            };
        args.push(Arg {
            name,
            value: input.parse()?,
        });

        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(args)
}

/// What a layer accepts: required arguments (positional or by name), then optional ones
/// (by name only), each with a placeholder for messages.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    /// The layer word, `conv2d`.
    pub name: &'static str,
    /// Required parameters in positional order.
    pub required: &'static [&'static str],
    /// Optional parameters and how to write them: `("padding", "valid | same")`.
    pub optional: &'static [(&'static str, &'static str)],
    /// Optional `true | false` parameters that may also be written as a bare word meaning
    /// `= true`, as `return_sequences` in `lstm(64, return_sequences)`.
    pub flags: &'static [&'static str],
}

impl Signature {
    /// `conv2d(filters, kernel)`
    fn usage(&self) -> String {
        format!("{}({})", self.name, self.required.join(", "))
    }

    fn params(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.required
            .iter()
            .copied()
            .chain(self.optional.iter().map(|(name, _)| *name))
    }
}

/// Arguments matched to parameter names.
#[derive(Debug, Default)]
pub struct Bound {
    args: Vec<(&'static str, Arg)>,
}

impl Bound {
    /// The argument given for `param`, if any.
    pub fn get(&self, param: &str) -> Option<&Arg> {
        self.args
            .iter()
            .find(|(name, _)| *name == param)
            .map(|(_, arg)| arg)
    }

    /// Each bound parameter with the tokens of its value (not its keyword), for spans.
    pub fn sites(&self) -> Vec<(&'static str, TokenStream)> {
        self.args
            .iter()
            .map(|(name, arg)| (*name, arg.value.to_token_stream()))
            .collect()
    }
}

/// Matches `args` to `signature`: positional ones to the required parameters in order,
/// keyword ones by name. Every mistake is reported: too many or too few arguments, a
/// positional one after a keyword, an unknown or repeated keyword. `layer` is the layer's
/// tokens, where a missing argument is reported.
pub fn bind(
    signature: &Signature,
    args: Vec<Arg>,
    label: &str,
    layer: &TokenStream,
) -> (Bound, Vec<Error>) {
    let mut bound = Bound::default();
    let mut errors = Vec::new();
    let mut extra = Vec::new();
    let mut positional = 0;
    let mut keyword_seen = false;

    for arg in args {
        let arg = flag_to_keyword(signature, arg);
        match arg.name.clone() {
            None if keyword_seen => {
                let message =
                    format!("{label}: a positional argument cannot follow a keyword argument");
                errors.push(Error::new_spanned(arg.tokens(), message));
            }
            None => {
                match signature.required.get(positional) {
                    Some(param) => bound.args.push((param, arg)),
                    None => extra.push(arg),
                }
                positional += 1;
            }
            Some(name) => {
                keyword_seen = true;
                match keyword(signature, &name, &bound, label) {
                    Ok(param) => bound.args.push((param, arg)),
                    Err(error) => errors.push(error),
                }
            }
        }
    }

    if let Some(first) = extra.first() {
        errors.push(too_many(signature, positional, label, first));
    }
    if signature
        .required
        .iter()
        .any(|param| bound.get(param).is_none())
    {
        errors.push(missing(signature, &bound, keyword_seen, label, layer));
    }
    (bound, errors)
}

/// A bare word naming one of the signature's flags, `return_sequences`, becomes the keyword
/// argument `return_sequences = true`, spanned on the word; any other argument is unchanged.
fn flag_to_keyword(signature: &Signature, arg: Arg) -> Arg {
    let word = match (&arg.name, &arg.value) {
        (None, Value::Path(path)) => path.get_ident().cloned(),
        _ => None,
    };
    match word {
        Some(word) if signature.flags.iter().any(|flag| word == flag) => {
            let lit = Lit::Bool(LitBool::new(true, word.span()));
            Arg {
                name: Some(word),
                value: Value::Literal { minus: None, lit },
            }
        }
        _ => arg,
    }
}

/// The parameter a keyword names, or why it cannot be used.
fn keyword(
    signature: &Signature,
    name: &Ident,
    bound: &Bound,
    label: &str,
) -> Result<&'static str, Error> {
    let word = name.to_string();
    let Some(param) = signature.params().find(|param| *param == word) else {
        let params: Vec<&str> = signature.params().collect();
        let listed: Vec<String> = params.iter().map(|p| format!("`{p}`")).collect();
        let hint = suggest::did_you_mean(&word, &params, &[]);
        let takes = if listed.is_empty() {
            "no arguments".to_owned()
        } else {
            listed.join(", ")
        };
        let message = format!("{label} has no argument `{word}` (it takes {takes}){hint}");
        return Err(Error::new(name.span(), message));
    };
    if bound.get(param).is_some() {
        return Err(Error::new(
            name.span(),
            format!("{label} is given `{param}` twice"),
        ));
    }
    Ok(param)
}

fn too_many(signature: &Signature, given: usize, label: &str, first: &Arg) -> Error {
    let expected = signature.required.len();
    let message = if expected == 0 && signature.optional.is_empty() {
        format!("{label} takes no arguments, but got {given}")
    } else {
        let plural = if expected == 1 { "" } else { "s" };
        let mut message = format!(
            "{label} takes {expected} positional argument{plural}, `{}`, but got {given}",
            signature.usage()
        );
        if !signature.optional.is_empty() {
            let named: Vec<String> = signature
                .optional
                .iter()
                .map(|(name, how)| format!("`{name} = {how}`"))
                .collect();
            message.push_str(&format!("; give the others by name: {}", named.join(", ")));
        }
        // A misspelt flag arrives as an extra positional word: `return_sequence`.
        if let Value::Path(path) = &first.value {
            let word = path_text(path);
            message.push_str(&suggest::did_you_mean(&word, signature.flags, &[]));
        }
        message
    };
    Error::new_spanned(first.tokens(), message)
}

fn missing(
    signature: &Signature,
    bound: &Bound,
    keyword_seen: bool,
    label: &str,
    layer: &TokenStream,
) -> Error {
    let expected = signature.required.len();
    let plural = if expected == 1 { "" } else { "s" };
    let usage = signature.usage();
    let message = if keyword_seen {
        let absent: Vec<String> = signature
            .required
            .iter()
            .filter(|param| bound.get(param).is_none())
            .map(|param| format!("`{param}`"))
            .collect();
        format!(
            "{label} is missing {}; write `{usage}`",
            absent.join(" and ")
        )
    } else {
        let given = bound.args.len();
        format!("{label} needs {expected} argument{plural}, `{usage}`, but got {given}")
    };
    Error::new_spanned(layer, message)
}

/// The constants a call refers to: their names for inference and their paths for code.
#[derive(Debug, Default)]
pub struct Constants {
    /// Names, indexed by [`ConstId`].
    pub symbols: Symbols,
    /// Paths as written, indexed by [`ConstId`].
    pub paths: Vec<Path>,
}

impl Constants {
    /// The id of `path`; equal paths share one.
    pub fn intern(&mut self, path: &Path) -> ConstId {
        let id = self.symbols.intern(&path_text(path));
        if id.0 == self.paths.len() {
            self.paths.push(path.clone());
        }
        id
    }

    /// The path of a constant.
    pub fn path(&self, id: ConstId) -> Option<&Path> {
        self.paths.get(id.0)
    }
}

/// A size: a whole number that fits in `usize` (zero is left to inference, which reports
/// it as a broken rule), or a path to a `usize` constant.
pub fn to_dim(arg: &Arg, subject: &str, constants: &mut Constants) -> syn::Result<Dim> {
    let tokens = arg.value.to_token_stream();
    let got = arg.value.text();
    let lit = match &arg.value {
        Value::Path(path) => return Ok(Dim::constant(constants.intern(path))),
        Value::Literal {
            lit: Lit::Int(lit),
            minus: None,
        } => lit,
        Value::Literal {
            lit: Lit::Int(_),
            minus: Some(_),
        } => {
            let message = format!("{subject} must be a whole number of at least 1, got `{got}`");
            return Err(Error::new_spanned(tokens, message));
        }
        Value::Literal { .. } => {
            let message = format!(
                "{subject} must be a whole number or a path to a `usize` constant, got `{got}`"
            );
            return Err(Error::new_spanned(tokens, message));
        }
    };

    if !matches!(lit.suffix(), "" | "usize") {
        let message = format!("{subject} must be a `usize`, got `{got}`; drop the suffix");
        return Err(Error::new_spanned(tokens, message));
    }
    match lit.base10_parse::<usize>() {
        Ok(n) => Ok(Dim::Known(n)),
        Err(_) => Err(Error::new_spanned(
            tokens,
            format!("{subject} `{got}` does not fit in `usize`"),
        )),
    }
}

/// A dropout rate: a float literal, an integer literal (for `0`; other integers fail the
/// range rule in inference), or a path to an `f32` constant.
pub fn to_rate(arg: &Arg, subject: &str, constants: &mut Constants) -> syn::Result<Rate> {
    let sign = |minus: &Option<Token![-]>| if minus.is_some() { -1.0 } else { 1.0 };
    let parsed = match &arg.value {
        Value::Path(path) => return Ok(Rate::Const(constants.intern(path))),
        Value::Literal {
            lit: Lit::Float(lit),
            minus,
        } if matches!(lit.suffix(), "" | "f32" | "f64") => {
            lit.base10_parse::<f64>().ok().map(|r| r * sign(minus))
        }
        Value::Literal {
            lit: Lit::Int(lit),
            minus,
        } if lit.suffix().is_empty() => lit
            .base10_parse::<u32>()
            .ok()
            .map(|r| f64::from(r) * sign(minus)),
        Value::Literal { .. } => None,
    };
    match parsed {
        Some(rate) if rate.is_finite() => Ok(Rate::Known(rate)),
        _ => {
            let message = format!(
                "{subject} must be a number or a path to an `f32` constant, got `{}`",
                arg.value.text()
            );
            Err(Error::new_spanned(arg.value.to_token_stream(), message))
        }
    }
}

/// `valid` or `same`, written as a bare word.
pub fn to_padding(arg: &Arg, subject: &str) -> syn::Result<Padding> {
    let tokens = arg.value.to_token_stream();
    let word = match &arg.value {
        Value::Path(path) => path.get_ident().map(Ident::to_string),
        Value::Literal {
            lit: Lit::Str(s),
            minus: None,
        } => {
            let message = format!(
                "{subject} is a word, not a string: write `{}` without quotes",
                s.value()
            );
            return Err(Error::new_spanned(tokens, message));
        }
        Value::Literal { .. } => None,
    };
    match word.as_deref() {
        Some("valid") => Ok(Padding::Valid),
        Some("same") => Ok(Padding::Same),
        _ => {
            let got = arg.value.text();
            let hint = suggest::did_you_mean(&got, &["valid", "same"], &[]);
            let message = format!("{subject} must be `valid` or `same`, got `{got}`{hint}");
            Err(Error::new_spanned(tokens, message))
        }
    }
}

/// `true` or `false`, written as a bare word.
pub fn to_bool(arg: &Arg, subject: &str) -> syn::Result<bool> {
    let tokens = arg.value.to_token_stream();
    let got = arg.value.text();
    let hint = match &arg.value {
        Value::Literal {
            lit: Lit::Bool(value),
            minus: None,
        } => return Ok(value.value),
        Value::Literal {
            lit: Lit::Str(s),
            minus: None,
        } if matches!(s.value().as_str(), "true" | "false") => {
            format!("; write `{}` without quotes", s.value())
        }
        // Python's spelling, `True`, is the likely slip.
        Value::Path(path) => suggest::did_you_mean(&path_text(path), &["true", "false"], &[]),
        Value::Literal { .. } => String::new(),
    };
    let message = format!("{subject} must be `true` or `false`, got `{got}`{hint}");
    Err(Error::new_spanned(tokens, message))
}
