//! Property tests of the parse-and-check step and the expansion on arbitrary tokens.
//!
//! Three generators feed [`check`] and [`expand_model`] thousands of token streams from a
//! fixed seed, so every run sees the same cases and a failure names one that reproduces:
//!
//! - random streams from a vocabulary of the DSL's words, other identifiers (raw ones
//!   too), literals of every kind and size, punctuation and nested groups;
//! - random declarations that follow the grammar, with arbitrary values where sizes and
//!   rates go, so that inference sees zero, negative, huge and fractional sizes;
//! - mutations of valid models: tokens dropped, duplicated, swapped or replaced at any
//!   depth of nesting, and numbers made 0, large (past the size bounds), huge (past
//!   `usize`) or negative.
//!
//! Whatever the input, neither step may panic, and what the check accepts must be a model
//! the expansion generates in full, within the size bounds of [`infer`]. Mutations whose
//! outcome is known (a size made 0 or negative or too large for `usize`, a layer word
//! misspelt, a rate of 1) must be errors.

use std::panic::{self, AssertUnwindSafe};

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::quote;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{check, expand_model};
use crate::ast::{ACTIVATION_WORDS, LAYER_WORDS};
use crate::dim::Dim;
use crate::infer::{self, Inference, MAX_PARAMS, MAX_SAMPLE_VALUES};

/// Cases per generator. The 10,000 cases take about five seconds in a debug build.
const CASES: usize = 2000;

/// Identifiers besides the layer and activation words: argument names and words, paths,
/// keywords and raw identifiers.
const WORDS: &[&str] = &[
    "Net",
    "Other",
    "K",
    "H",
    "config",
    "pub",
    "crate",
    "linear",
    "strides",
    "padding",
    "valid",
    "same",
    "noise_shape",
    "return_sequences",
    "units",
    "rate",
    "stddev",
    "true",
    "false",
    "self",
    "Self",
    "super",
    "doc",
    "_",
    "r#Net",
    "r#dense",
    "r#type",
    "conv3d",
    "Dense",
];

/// Literals: sizes at and beyond every bound, suffixes, floats, strings, characters.
const LITERALS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "28",
    "65536",
    "2147483648",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "3u8",
    "2usize",
    "0x10",
    "1_000",
    "0.0",
    "0.25",
    "0.5",
    "1.0",
    "0.99999999",
    "1e-50",
    "1e400",
    "3.4e38",
    "2.5f32",
    "7f64",
    "\"same\"",
    "\"true\"",
    "'c'",
    "b\"x\"",
    "r\"raw\"",
];

/// Sizes that mutations put in place of a model's numbers: small ones, ones that make a
/// layer or a sample larger than the bounds without overflowing, and ones that overflow.
const SIZES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "28",
    "64",
    "1000",
    "4096",
    "65536",
    "1048576",
    "2147483648",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
];

/// Punctuation, as sequences of single characters with their spacing.
const PUNCTS: &[&str] = &[
    ";", ",", "=", "-", "::", "#", "!", "+", "*", "/", ".", "<", ">", "==", "&", "=>", "..", "?",
    "@", "$", "|",
];

/// Declarations the macro accepts, which the mutations start from.
fn valid_models() -> Vec<TokenStream> {
    vec![
        quote! {
            /// The seed model.
            pub MnistCnn(28, 28, 1) {
                conv2d(32, 3) relu;
                maxpool(2);
                dropout(0.25);
                conv2d(64, 3, strides = 1, padding = same) relu;
                maxpool(2, strides = 2);
                dropout(0.25, noise_shape = (1, 1, 64));
                flatten;
                dense(10) softmax;
            }
        },
        quote! {
            pub(crate) Forecaster(52, 3) {
                lstm(32, return_sequences, dropout = 0.1, recurrent_dropout = 0.2);
                gaussian_noise(0.5);
                lstm(16);
                dense(8) elu;
                dense(1);
            }
            Other(16) { alpha_dropout(0.1); dense(4) selu; gaussian_dropout(0.2); dense(2); }
        },
        quote! {
            Patches(H, W, 1) {
                conv2d(config::FILTERS, K, strides = S) tanh;
                spatial_dropout2d(0.3);
                maxpool(P);
                dropout(RATE);
                flatten;
                dense(UNITS) sigmoid;
            }
        },
    ]
}

/// A token tree that mutations can walk into.
#[derive(Clone)]
enum Node {
    Leaf(TokenTree),
    Group(Delimiter, Vec<Node>),
}

fn nodes(tokens: TokenStream) -> Vec<Node> {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => Node::Group(group.delimiter(), nodes(group.stream())),
            leaf => Node::Leaf(leaf),
        })
        .collect()
}

fn stream(nodes: &[Node]) -> TokenStream {
    nodes
        .iter()
        .map(|node| match node {
            Node::Leaf(leaf) => leaf.clone(),
            Node::Group(delimiter, inner) => {
                TokenTree::Group(Group::new(*delimiter, stream(inner)))
            }
        })
        .collect()
}

fn word(rng: &mut ChaCha8Rng) -> TokenTree {
    let words = match rng.random_range(0..3) {
        0 => LAYER_WORDS,
        1 => ACTIVATION_WORDS,
        _ => WORDS,
    };
    let text = words.choose(rng).copied().unwrap_or("Net");
    match text.strip_prefix("r#") {
        Some(raw) => TokenTree::Ident(Ident::new_raw(raw, Span::call_site())),
        None => TokenTree::Ident(Ident::new(text, Span::call_site())),
    }
}

fn literal(rng: &mut ChaCha8Rng) -> TokenTree {
    let text = LITERALS.choose(rng).copied().unwrap_or("0");
    let parsed: Option<TokenTree> = text.parse::<TokenStream>().ok().and_then(|t| {
        let mut tokens = t.into_iter();
        tokens.next()
    });
    parsed.unwrap_or_else(|| TokenTree::Literal(Literal::usize_unsuffixed(0)))
}

/// One punctuation sequence; all but its last character are joint, as `::` is lexed.
fn punct(rng: &mut ChaCha8Rng) -> Vec<Node> {
    let text = PUNCTS.choose(rng).copied().unwrap_or(";");
    let count = text.chars().count();
    text.chars()
        .enumerate()
        .map(|(index, c)| {
            let spacing = if index + 1 < count {
                Spacing::Joint
            } else {
                Spacing::Alone
            };
            Node::Leaf(TokenTree::Punct(Punct::new(c, spacing)))
        })
        .collect()
}

fn delimiter(rng: &mut ChaCha8Rng) -> Delimiter {
    *[
        Delimiter::Parenthesis,
        Delimiter::Brace,
        Delimiter::Bracket,
        Delimiter::None,
    ]
    .choose(rng)
    .unwrap_or(&Delimiter::Parenthesis)
}

/// A random sequence of up to `len` items, groups nested up to `depth`.
fn random_nodes(rng: &mut ChaCha8Rng, len: usize, depth: usize) -> Vec<Node> {
    let mut out = Vec::new();
    for _ in 0..rng.random_range(0..=len) {
        match rng.random_range(0..10) {
            0..=3 => out.push(Node::Leaf(word(rng))),
            4..=5 => out.push(Node::Leaf(literal(rng))),
            6..=7 => out.extend(punct(rng)),
            _ if depth > 0 => {
                let inner = random_nodes(rng, len, depth - 1);
                out.push(Node::Group(delimiter(rng), inner));
            }
            _ => out.push(Node::Leaf(word(rng))),
        }
    }
    out
}

/// A value where a size or rate goes: usually a literal, sometimes negated, a path or junk.
fn random_value(rng: &mut ChaCha8Rng) -> TokenStream {
    match rng.random_range(0..10) {
        0..=5 => stream(&[Node::Leaf(literal(rng))]),
        6 => {
            let lit = literal(rng);
            quote!(- #lit)
        }
        7 => stream(&[Node::Leaf(word(rng))]),
        8 => {
            let (a, b) = (word(rng), word(rng));
            quote!(#a :: #b)
        }
        _ => stream(&random_nodes(rng, 3, 1)),
    }
}

/// A declaration that follows the grammar, with random words and values in it.
fn random_model(rng: &mut ChaCha8Rng) -> TokenStream {
    let name = if rng.random_bool(0.8) {
        TokenTree::Ident(Ident::new("Net", Span::call_site()))
    } else {
        word(rng)
    };
    let sizes: Vec<TokenStream> = (0..rng.random_range(0..=4))
        .map(|_| random_value(rng))
        .collect();
    let mut layers = TokenStream::new();
    for _ in 0..rng.random_range(0..=6) {
        let layer_word = word(rng);
        let args: Vec<TokenStream> = (0..rng.random_range(0..=3))
            .map(|_| {
                let value = random_value(rng);
                if rng.random_bool(0.3) {
                    let key = word(rng);
                    quote!(#key = #value)
                } else {
                    value
                }
            })
            .collect();
        let group = (rng.random_bool(0.85)).then(|| quote!((#(#args),*)));
        let activation = rng.random_bool(0.3).then(|| word(rng));
        layers.extend(quote!(#layer_word #group #activation;));
    }
    quote!(#name(#(#sizes),*) { #layers })
}

/// The path of indices to a random node, walking into groups at random.
fn random_path(rng: &mut ChaCha8Rng, nodes: &[Node]) -> Vec<usize> {
    let mut path = Vec::new();
    let mut level = nodes;
    while !level.is_empty() {
        let index = rng.random_range(0..level.len());
        path.push(index);
        match &level[index] {
            Node::Group(_, inner) if !inner.is_empty() && rng.random_bool(0.6) => level = inner,
            _ => break,
        }
    }
    path
}

/// The sequence holding the node at `path`, and the node's index in it.
fn parent_mut<'a>(nodes: &'a mut Vec<Node>, path: &[usize]) -> Option<(&'a mut Vec<Node>, usize)> {
    let (&last, outer) = path.split_last()?;
    let mut level = nodes;
    for &index in outer {
        level = match level.get_mut(index)? {
            Node::Group(_, inner) => inner,
            Node::Leaf(_) => return None,
        };
    }
    (last < level.len()).then_some((level, last))
}

/// One random edit at a random depth.
fn mutate(rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>) {
    let path = random_path(rng, nodes);
    let choice = rng.random_range(0..7);
    let Some((level, index)) = parent_mut(nodes, &path) else {
        return;
    };
    match choice {
        0 => {
            level.remove(index);
        }
        1 => {
            let copy = level[index].clone();
            level.insert(index, copy);
        }
        2 if index + 1 < level.len() => level.swap(index, index + 1),
        3 => level[index] = Node::Leaf(word(rng)),
        4 => level[index] = Node::Leaf(literal(rng)),
        5 => {
            let puncts = punct(rng);
            level.splice(index..=index, puncts);
        }
        _ => {
            let extra = random_nodes(rng, 3, 1);
            level.splice(index..index, extra);
        }
    }
}

/// Why a case failed, with the tokens that make it fail.
struct Failure {
    case: String,
    tokens: String,
    problem: String,
}

/// Runs both steps on `tokens`; `expect_error` is set when the input is known to be
/// invalid. Returns what went wrong, if anything.
fn run(tokens: TokenStream, expect_error: bool) -> Option<String> {
    let checked = panic::catch_unwind(AssertUnwindSafe(|| check(tokens.clone())));
    let expanded = panic::catch_unwind(AssertUnwindSafe(|| expand_model(tokens.clone())));
    let (checked, expanded) = match (checked, expanded) {
        (Ok(checked), Ok(expanded)) => (checked, expanded),
        (Err(panic), _) | (_, Err(panic)) => return Some(panic_text(&*panic)),
    };

    let code = expanded.to_string();
    match checked {
        Ok(_) if expect_error => Some("an input known to be invalid was accepted".to_owned()),
        Ok(inferred) => accepted_problem(&inferred, &code),
        Err(_) if !code.contains("compile_error") => {
            Some("the check failed but the expansion holds no compile error".to_owned())
        }
        Err(_) => None,
    }
}

/// What is wrong with an accepted call, if anything: a model that would be generated as a
/// stub without an error, or one beyond the size bounds.
fn accepted_problem(inferred: &[Inference], code: &str) -> Option<String> {
    if code.contains("compile_error") {
        return Some("the check passed but the expansion holds a compile error".to_owned());
    }
    for inference in inferred {
        if !inference.is_valid() {
            return Some("an accepted model is not valid, so it would expand to a stub".into());
        }
        if let Some(count) = inference.params.as_ref().and_then(Dim::known) {
            if count > MAX_PARAMS {
                return Some(format!("an accepted model has {count} parameters"));
            }
        }
        let shapes = inference.input.iter().chain(
            inference
                .layers
                .iter()
                .flatten()
                .map(|layer: &infer::LayerInfo| &layer.output),
        );
        for shape in shapes {
            let len = Dim::product(shape.dims()).ok().and_then(|len| len.known());
            if len.is_some_and(|len| len > MAX_SAMPLE_VALUES) {
                return Some(format!("an accepted shape holds {len:?} values"));
            }
        }
    }
    None
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("panicked: {message}")
}

/// Runs `CASES` cases of `generate`, keeping the first few failures.
fn run_cases(
    failures: &mut Vec<Failure>,
    name: &str,
    seed: u64,
    mut generate: impl FnMut(&mut ChaCha8Rng) -> (TokenStream, bool),
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for index in 0..CASES {
        let (tokens, expect_error) = generate(&mut rng);
        if let Some(problem) = run(tokens.clone(), expect_error) {
            if failures.len() < 5 {
                failures.push(Failure {
                    case: format!("{name} case {index}"),
                    tokens: tokens.to_string(),
                    problem,
                });
            }
        }
    }
}

/// The integer literals of a model, as paths to them.
fn int_paths(nodes: &[Node], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (index, node) in nodes.iter().enumerate() {
        prefix.push(index);
        match node {
            Node::Leaf(TokenTree::Literal(lit)) if is_int(lit) => out.push(prefix.clone()),
            Node::Group(_, inner) => int_paths(inner, prefix, out),
            Node::Leaf(_) => {}
        }
        prefix.pop();
    }
}

fn is_int(lit: &Literal) -> bool {
    let text = lit.to_string();
    text.bytes().all(|b| b.is_ascii_digit())
}

/// A mutation whose outcome is known: every size in the valid models is an integer literal
/// or a constant, and every rate a float literal or a constant, so each of these edits
/// breaks a rule.
fn known_invalid(rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>) {
    let mut ints = Vec::new();
    int_paths(nodes, &mut Vec::new(), &mut ints);
    let choice = rng.random_range(0..4);
    let Some(path) = ints.choose(rng).cloned() else {
        return;
    };
    let Some((level, index)) = parent_mut(nodes, &path) else {
        return;
    };
    match choice {
        0 => level[index] = Node::Leaf(TokenTree::Literal(Literal::usize_unsuffixed(0))),
        1 => {
            let huge = "18446744073709551616"
                .parse::<TokenStream>()
                .ok()
                .and_then(nodes_of);
            if let Some(node) = huge {
                level[index] = node;
            }
        }
        2 => level.insert(
            index,
            Node::Leaf(TokenTree::Punct(Punct::new('-', Spacing::Alone))),
        ),
        _ => {
            // A layer word misspelt: the ident before the group holding this size.
            if path.len() >= 3 {
                let layer = &path[..path.len() - 1];
                if let Some((layers, at)) = parent_mut(nodes, layer) {
                    if at > 0 {
                        let misspelt = Ident::new("conv3d", Span::call_site());
                        layers[at - 1] = Node::Leaf(TokenTree::Ident(misspelt));
                    }
                }
            } else {
                level[index] = Node::Leaf(TokenTree::Literal(Literal::usize_unsuffixed(0)));
            }
        }
    }
}

/// Replaces one to three of a model's integer literals with sizes from [`SIZES`].
fn renumber(rng: &mut ChaCha8Rng, nodes: &mut Vec<Node>) {
    let mut ints = Vec::new();
    int_paths(nodes, &mut Vec::new(), &mut ints);
    for _ in 0..rng.random_range(1..=3) {
        let (Some(path), Some(size)) = (ints.choose(rng), SIZES.choose(rng)) else {
            return;
        };
        let node = size.parse::<TokenStream>().ok().and_then(nodes_of);
        if let (Some((level, index)), Some(node)) = (parent_mut(nodes, path), node) {
            level[index] = node;
        }
    }
}

fn nodes_of(tokens: TokenStream) -> Option<Node> {
    nodes(tokens).into_iter().next()
}

#[test]
fn arbitrary_tokens_never_panic_and_accepted_models_are_sound() {
    let models: Vec<Vec<Node>> = valid_models().into_iter().map(nodes).collect();
    for model in &models {
        assert_eq!(
            run(stream(model), false),
            None,
            "a valid model: {}",
            stream(model)
        );
    }
    let mut failures = Vec::new();

    run_cases(&mut failures, "random tokens", 1, |rng| {
        (stream(&random_nodes(rng, 12, 3)), false)
    });
    run_cases(&mut failures, "random declaration", 2, |rng| {
        (random_model(rng), false)
    });
    run_cases(&mut failures, "mutated model", 3, |rng| {
        let mut model = models.choose(rng).cloned().unwrap_or_default();
        for _ in 0..rng.random_range(1..=4) {
            mutate(rng, &mut model);
        }
        (stream(&model), false)
    });
    run_cases(&mut failures, "renumbered model", 4, |rng| {
        let mut model = models.choose(rng).cloned().unwrap_or_default();
        renumber(rng, &mut model);
        (stream(&model), false)
    });
    run_cases(&mut failures, "known invalid", 5, |rng| {
        let mut model = models.choose(rng).cloned().unwrap_or_default();
        known_invalid(rng, &mut model);
        (stream(&model), true)
    });

    let report: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}\n    {}", f.case, f.problem, f.tokens))
        .collect();
    assert!(report.is_empty(), "\n{}", report.join("\n"));
}
