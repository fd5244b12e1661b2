//! Layer arguments: parsing `(32, 3, strides = 2)`, binding it to a layer's signature, and
//! converting values to sizes, rates and words.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Error, Ident, Lit, LitBool, Path, Token};

use crate::dim::{ConstId, Dim, Symbols};
use crate::ir::{Padding, Rate};
use crate::suggest;
use crate::value::{self, path_text, Unsupported, Value};

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

/// Parses the inside of a layer's parentheses: arguments separated by commas. Every
/// token is consumed even when an argument is malformed, so that it is reported once.
pub fn parse_args(input: ParseStream<'_>) -> syn::Result<Vec<Arg>> {
    value::parse_list(input)?
        .into_iter()
        .map(|tokens| arg.parse2(tokens))
        .collect()
}

/// One argument, the whole of `input`: `3` or `strides = 2`.
fn arg(input: ParseStream<'_>) -> syn::Result<Arg> {
    let name = if input.peek(Ident::peek_any) && input.peek2(Token![=]) && !input.peek2(Token![==])
    {
        let name = input.call(Ident::parse_any)?;
        let eq = input.parse::<Token![=]>()?;
        if input.is_empty() {
            let message = format!("expected a value after `{name} =`");
            return Err(Error::new(eq.span, message));
        }
        Some(name)
    } else {
        None
    };
    Ok(Arg {
        name,
        value: input.parse()?,
    })
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

/// The constants a call refers to: their names for inference, and for code their paths
/// and how each is used.
///
/// The expansion evaluates each path once, into a private constant of the type it is used
/// as (see `expand`), so that a constant of the wrong type, or an unknown one, is one
/// error at the user's token rather than one per use.
#[derive(Debug, Default)]
pub struct Constants {
    /// Names, indexed by [`ConstId`].
    pub symbols: Symbols,
    /// Paths as first written and their uses, indexed by [`ConstId`].
    pub entries: Vec<Constant>,
    /// The name of the call's first model, which names the private constants so that two
    /// calls in one module do not clash (model names are unique there, being struct names).
    pub owner: String,
}

/// One constant of a call.
#[derive(Debug, Clone)]
pub struct Constant {
    /// The path where it first appears; its span is where a type error points.
    pub path: Path,
    /// Used as a size, a `usize`.
    pub size: bool,
    /// Used as a dropout rate, an `f32`.
    pub rate: bool,
}

impl Constants {
    /// The id of `path` used as a size; equal paths share one.
    pub fn size(&mut self, path: &Path) -> ConstId {
        let id = self.intern(path);
        if let Some(entry) = self.entries.get_mut(id.0) {
            entry.size = true;
        }
        id
    }

    /// The id of `path` used as a rate; equal paths share one.
    pub fn rate(&mut self, path: &Path) -> ConstId {
        let id = self.intern(path);
        if let Some(entry) = self.entries.get_mut(id.0) {
            entry.rate = true;
        }
        id
    }

    fn intern(&mut self, path: &Path) -> ConstId {
        let id = self.symbols.intern(&path_text(path));
        if id.0 == self.entries.len() {
            self.entries.push(Constant {
                path: path.clone(),
                size: false,
                rate: false,
            });
        }
        id
    }
}

/// A size: a whole number that fits in `usize` (zero is left to inference, which reports
/// it as a broken rule), or a path to a `usize` constant. `param` is the parameter's name
/// (`kernel`, `units`, `height`), for the messages about unsupported values.
pub fn to_dim(
    arg: &Arg,
    subject: &str,
    param: &str,
    constants: &mut Constants,
) -> syn::Result<Dim> {
    let tokens = arg.value.to_token_stream();
    let got = arg.value.text();
    let lit = match &arg.value {
        Value::Path(path) => return Ok(Dim::constant(constants.size(path))),
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
            let message = format!("{subject} must be {SIZE}, got `{got}`");
            return Err(Error::new_spanned(tokens, message));
        }
        Value::Other(other) => {
            let message = unsupported_size(other, subject, param, &got);
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

/// A tuple of sizes, `(1, 1, 32)`, each read as by [`to_dim`]; one size may also be
/// written bare or as `(32,)`. Every entry's error is reported.
pub fn to_sizes(
    arg: &Arg,
    subject: &str,
    param: &str,
    constants: &mut Constants,
) -> syn::Result<Vec<Dim>> {
    let tokens = arg.value.to_token_stream();
    let inner = match &arg.value {
        Value::Other(other) => match other.clone().into_iter().collect::<Vec<_>>().as_slice() {
            [TokenTree::Group(group)] if group.delimiter() == Delimiter::Parenthesis => {
                group.stream()
            }
            _ => {
                let got = arg.value.text();
                let message = format!(
                    "{subject} must be a tuple of sizes, one per axis of the layer's input, \
                     e.g. `(1, 1, 32)`, got `{got}`"
                );
                return Err(Error::new_spanned(tokens, message));
            }
        },
        _ => return to_dim(arg, subject, param, constants).map(|dim| vec![dim]),
    };
    let items = value::parse_list.parse2(inner)?;
    if items.is_empty() {
        let message = format!("{subject} is empty; give one size per axis of the layer's input");
        return Err(Error::new_spanned(tokens, message));
    }

    let mut sizes = Vec::with_capacity(items.len());
    let mut errors: Option<Error> = None;
    for (index, item) in items.into_iter().enumerate() {
        let entry = Arg {
            name: None,
            value: Value::parse.parse2(item)?,
        };
        let entry_subject = format!("{subject}: entry {}", index + 1);
        match to_dim(&entry, &entry_subject, param, constants) {
            Ok(dim) => sizes.push(dim),
            Err(error) => match errors.as_mut() {
                Some(all) => all.combine(error),
                None => errors = Some(error),
            },
        }
    }
    errors.map_or(Ok(sizes), Err)
}

/// What a size may be, for messages.
const SIZE: &str = "a whole number or a path to a `usize` constant";

/// Why a tuple, bracketed value or expression is not a size, and how to write it instead.
fn unsupported_size(tokens: &TokenStream, subject: &str, param: &str, got: &str) -> String {
    let square = match param {
        "kernel" => Some("square kernels only"),
        "pool" => Some("square pools only"),
        "strides" => Some("the same step along height and width"),
        _ => None,
    };
    match (Unsupported::of(tokens), square) {
        (Unsupported::Tuple(elements), Some(why)) => {
            // `(3, 3)` means `3`; `(3, 5)` has no equivalent.
            let fix = match elements.split_first() {
                Some((first, rest)) if rest.iter().all(|e| e == first) => {
                    format!("; write `{first}`")
                }
                _ => String::new(),
            };
            format!("{subject} is one whole number ({why}), got `{got}`{fix}")
        }
        (Unsupported::Wrapped(inner), _) => {
            format!("{subject} must be {SIZE}, got `{got}`; write `{inner}`")
        }
        (Unsupported::Expression(expr), _) => format!(
            "{subject} is an expression, `{expr}`, but sizes are integer literals or paths to \
             `usize` constants; define `const {}: usize = {expr};` and use it",
            param.to_uppercase()
        ),
        _ => format!("{subject} must be {SIZE}, got `{got}`"),
    }
}

/// `; write `same`` when `value` is a supported value in needless brackets, `(same)`.
fn wrapped_hint(value: &Value) -> String {
    match value {
        Value::Other(tokens) => match Unsupported::of(tokens) {
            Unsupported::Wrapped(inner) => format!("; write `{inner}`"),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// A dropout rate: a float literal, an integer literal (for `0`; other integers fail the
/// range rule in inference), or a path to an `f32` constant. A literal becomes the `f32`
/// the core receives, so that inference checks the value that is used; a literal below 1
/// that rounds up to 1, or one too large for an `f32`, is reported here, since the value
/// inference would see is not what the user wrote.
pub fn to_rate(arg: &Arg, subject: &str, constants: &mut Constants) -> syn::Result<Rate> {
    let tokens = arg.value.to_token_stream();
    let got = arg.value.text();
    let (negative, digits) = match float_arg(arg, subject, constants, ("rates", "RATE"))? {
        FloatArg::Const(id) => return Ok(Rate::Const(id)),
        FloatArg::Literal { negative, digits } => (negative, digits),
    };

    let message = match f32_rate(digits, negative) {
        Ok(rate) => return Ok(Rate::Known(rate)),
        Err(RateLiteral::OutOfRange) => format!(
            "{subject} `{got}` is out of range: it is too large for an `f32`, and a rate must \
             be at least 0 and below 1"
        ),
        Err(RateLiteral::RoundsToOne) => format!(
            "{subject} `{got}` rounds to 1 as an `f32`, but it must be below 1; the largest \
             `f32` below 1 is {:?}",
            1.0_f32 - f32::EPSILON / 2.0
        ),
    };
    Err(Error::new_spanned(tokens, message))
}

/// What a rate may be, for messages.
const RATE: &str = "a number or a path to an `f32` constant";

/// An `f32` argument as written: a constant, or a literal's sign and digits.
enum FloatArg<'a> {
    Const(ConstId),
    Literal { negative: bool, digits: &'a str },
}

/// Splits a float argument (a float literal, an unsuffixed integer literal, or a path to
/// an `f32` constant) into its parts, or says why it cannot be one. `what` names the
/// argument in the plural and the constant to suggest: `("rates", "RATE")`.
fn float_arg<'a>(
    arg: &'a Arg,
    subject: &str,
    constants: &mut Constants,
    what: (&str, &str),
) -> syn::Result<FloatArg<'a>> {
    let tokens = arg.value.to_token_stream();
    let got = arg.value.text();
    let (plural, name) = what;
    match &arg.value {
        Value::Path(path) => Ok(FloatArg::Const(constants.rate(path))),
        Value::Literal {
            lit: Lit::Float(lit),
            minus,
        } if matches!(lit.suffix(), "" | "f32" | "f64") => Ok(FloatArg::Literal {
            negative: minus.is_some(),
            digits: lit.base10_digits(),
        }),
        Value::Literal {
            lit: Lit::Int(lit),
            minus,
        } if lit.suffix().is_empty() => Ok(FloatArg::Literal {
            negative: minus.is_some(),
            digits: lit.base10_digits(),
        }),
        Value::Other(other) => {
            let message = match Unsupported::of(other) {
                Unsupported::Expression(expr) => format!(
                    "{subject} is an expression, `{expr}`, but {plural} are literals or paths \
                     to `f32` constants; define `const {name}: f32 = {expr};` and use it"
                ),
                _ => format!(
                    "{subject} must be {RATE}, got `{got}`{}",
                    wrapped_hint(&arg.value)
                ),
            };
            Err(Error::new_spanned(tokens, message))
        }
        Value::Literal { .. } => {
            let message = format!("{subject} must be {RATE}, got `{got}`");
            Err(Error::new_spanned(tokens, message))
        }
    }
}

/// A standard deviation, read like a rate: a literal becomes the nearest `f32` (a negative
/// one is left to inference, which reports it as a broken rule), one too large for an
/// `f32` is reported here; a path is an `f32` constant.
pub fn to_stddev(arg: &Arg, subject: &str, constants: &mut Constants) -> syn::Result<Rate> {
    let (negative, digits) =
        match float_arg(arg, subject, constants, ("standard deviations", "STDDEV"))? {
            FloatArg::Const(id) => return Ok(Rate::Const(id)),
            FloatArg::Literal { negative, digits } => (negative, digits),
        };
    match digits.parse::<f32>() {
        Ok(magnitude) if magnitude.is_finite() => {
            Ok(Rate::Known(if negative { -magnitude } else { magnitude }))
        }
        _ => {
            let got = arg.value.text();
            let message = format!("{subject} `{got}` is too large for an `f32`");
            Err(Error::new_spanned(arg.value.to_token_stream(), message))
        }
    }
}

/// Why a rate literal cannot be used as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RateLiteral {
    /// Its magnitude is beyond the largest `f32`.
    OutOfRange,
    /// It is below 1, but the nearest `f32` is 1.
    RoundsToOne,
}

/// The `f32` nearest to the decimal literal `digits` (as syn gives them: no underscores,
/// no suffix), negated if `negative`; a negative zero becomes zero.
fn f32_rate(digits: &str, negative: bool) -> Result<f32, RateLiteral> {
    // Rust's float parsing rounds to nearest and gives infinity past `f32::MAX`.
    let magnitude = digits.parse::<f32>().map_err(|_| RateLiteral::OutOfRange)?;
    if !magnitude.is_finite() {
        return Err(RateLiteral::OutOfRange);
    }
    if magnitude >= 1.0 && decimal_below_one(digits) {
        return Err(RateLiteral::RoundsToOne);
    }
    Ok(if negative && magnitude != 0.0 {
        -magnitude
    } else {
        magnitude
    })
}

/// True if the decimal `digits` (`0.99999999`, `9.9e-1`, `12`) is exactly below 1, judged
/// on the text so that no rounding is involved: the first nonzero digit sits after the
/// decimal point once the exponent is applied, or there is none.
fn decimal_below_one(digits: &str) -> bool {
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            // An exponent too long for `i64` only matters by its sign.
            let exponent = exponent.trim_start_matches('+');
            let fallback = if exponent.starts_with('-') {
                i64::MIN / 2
            } else {
                i64::MAX / 2
            };
            (mantissa, exponent.parse::<i64>().unwrap_or(fallback))
        }
        None => (digits, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));

    // The place of the first nonzero digit: 0 for units, -1 for tenths.
    let first_nonzero = whole.chars().chain(fraction.chars()).position(|c| c != '0');
    match (first_nonzero, i64::try_from(whole.len())) {
        (None, _) => true,
        (Some(position), Ok(whole_len)) => {
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            whole_len
                .saturating_sub(1)
                .saturating_sub(position)
                .saturating_add(exponent)
                < 0
        }
        (Some(_), Err(_)) => false,
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
        Value::Literal { .. } | Value::Other(_) => None,
    };
    match word.as_deref() {
        Some("valid") => Ok(Padding::Valid),
        Some("same") => Ok(Padding::Same),
        _ => {
            let got = arg.value.text();
            let hint = match &arg.value {
                Value::Other(_) => wrapped_hint(&arg.value),
                _ => suggest::did_you_mean(&got, &["valid", "same"], &[]),
            };
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
        Value::Other(_) => wrapped_hint(&arg.value),
    };
    let message = format!("{subject} must be `true` or `false`, got `{got}`{hint}");
    Err(Error::new_spanned(tokens, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_literals_become_the_nearest_f32() {
        assert_eq!(f32_rate("0.25", false), Ok(0.25));
        assert_eq!(f32_rate("0.5", true), Ok(-0.5));
        assert_eq!(f32_rate("0", false), Ok(0.0));
        // The largest f32 below 1 is kept; a literal that is 1 is left to the range rule.
        assert_eq!(f32_rate("0.99999994", false), Ok(1.0 - f32::EPSILON / 2.0));
        assert_eq!(f32_rate("1", false), Ok(1.0));
        assert_eq!(f32_rate("10e-1", false), Ok(1.0));
        // Underflow is a plain zero, whatever the sign.
        let tiny = f32_rate("1e-400", true);
        assert_eq!(tiny, Ok(0.0));
        assert!(tiny.is_ok_and(|r| r.is_sign_positive()));
    }

    #[test]
    fn rate_literals_below_one_that_round_to_one_are_refused() {
        for digits in [
            "0.99999999",
            "9.9999999e-1",
            "0.999999999999999999999999999",
        ] {
            assert_eq!(
                f32_rate(digits, false),
                Err(RateLiteral::RoundsToOne),
                "{digits}"
            );
        }
        for digits in ["1e400", "1e39", "4e38", "1e99999999999999999999999"] {
            assert_eq!(
                f32_rate(digits, false),
                Err(RateLiteral::OutOfRange),
                "{digits}"
            );
        }
        // 3.4e38 is just below f32::MAX, so it is a (too large) rate, not out of range.
        assert_eq!(f32_rate("3.4e38", false), Ok(3.4e38));
    }

    #[test]
    fn below_one_is_judged_on_the_decimal_text() {
        assert!(decimal_below_one("0.99999999"));
        assert!(decimal_below_one("0.000"));
        assert!(decimal_below_one("99e-2"));
        assert!(decimal_below_one("5e-99999999999999999999"));
        assert!(!decimal_below_one("1"));
        assert!(!decimal_below_one("0.1e1"));
        assert!(!decimal_below_one("00.5e1"));
        assert!(!decimal_below_one("1e-0"));
    }
}
