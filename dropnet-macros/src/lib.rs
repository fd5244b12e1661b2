//! The `model!` macro of dropnet: a small DSL for statically shaped neural networks.
//!
//! ```text
//! dropnet::model! {
//!     /// Doc comments and attributes pass through to the generated struct.
//!     pub MnistCnn(28, 28, 1) {
//!         conv2d(32, 3) relu;
//!         maxpool(2);
//!         dropout(0.25);
//!         conv2d(64, 3) relu;
//!         maxpool(2);
//!         dropout(0.25);
//!         flatten;
//!         dense(10) softmax;
//!     }
//! }
//! ```
//!
//! The macro runs in three steps, one module each: `ast` parses the tokens into models
//! that keep their spans, `infer` computes every shape and checks every rule over plain
//! numbers, and `expand` generates the structs. Use the macro through the `dropnet`
//! crate, which re-exports it next to the core types the expansion names.

mod args;
mod ast;
mod dim;
mod expand;
mod infer;
mod ir;
mod suggest;
mod value;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;

/// Declares one or more statically shaped models.
///
/// Each model is `attributes visibility Name(input sizes) { layers }`: the input is
/// `(height, width, channels)`, `(time, features)` or `(length)`, and layers are
/// `conv2d(filters, kernel, strides = s, padding = valid | same)`, `maxpool(pool, strides = s)`,
/// `dropout(rate)`, `flatten`, `dense(units)`, `lstm(units, return_sequences = true |
/// false)` (the bare word `return_sequences` means `= true`), and the rest of the dropout
/// family: `spatial_dropout2d(rate)` (images only; drops whole channels),
/// `gaussian_dropout(rate)`, `alpha_dropout(rate)` and `gaussian_noise(stddev)`. The
/// dropout family keeps its input's shape, takes no activation and cannot end a model.
/// `dropout(rate, noise_shape = (1, 1, c))` shares one mask value along each axis whose
/// entry is 1, as Keras's `noise_shape` without the batch axis: one entry per input axis,
/// each 1 or that axis's size.
/// `conv2d` and `dense` may be followed by `relu`, `sigmoid`, `tanh`, `elu`, `selu` or
/// `softmax` (`softmax` on `dense` only, with at least 2 units). Layers are separated by
/// `;`. Sizes are integer literals or paths to `usize` constants; a rate (at least 0,
/// below 1) or a standard deviation (at least 0) is a literal or a path to an `f32`
/// constant. Each constant is read once, so one of another type, or an unknown name, is
/// one error at its first use. A literal rate is checked as the `f32` the layer receives.
///
/// An `lstm` needs a sequence and outputs the hidden state after the last step, a vector
/// of `units`, or with `return_sequences` the state at every step, `time×units`, which a
/// second `lstm` reads. `lstm(units, dropout = r, recurrent_dropout = r)` adds variational
/// dropout on its inputs and on its recurrent state (one mask per sequence, reused at
/// every step); an omitted rate is 0.
///
/// Every shape mistake is a compile error on the offending layer; with constant sizes the
/// same rules are checked by const evaluation. A model with errors still declares its
/// struct, with `new` and an implementation of `Network` that has no layers, so that code
/// using it reports nothing beyond the model's own errors.
///
/// # Known limits
///
/// - The generated code names the `dropnet` crate by its path, `::dropnet`, so the macro
///   only works when the dependency keeps that name: under `[dependencies]
///   nn = { package = "dropnet", … }` the expansion does not resolve.
/// - Derives that need every field, such as `#[derive(Clone)]`, do not compile on a
///   model: besides its layers it holds its run-time state (the chosen optimiser and loss,
///   buffers, the shuffling stream), which does not implement them. Attributes that only
///   read the item, such as doc comments or `#[allow(…)]`, pass through.
/// - Rules on sizes given by constants are checked by const evaluation, which stops at the
///   first failing check of a model: each build reports one broken rule per model, the
///   earliest in the declaration, and the next one once that is fixed. Rules on literal
///   sizes are all reported together.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    expand_model(input.into()).into()
}

/// Parse, infer, generate: the macro without the compiler's token types.
fn expand_model(tokens: TokenStream2) -> TokenStream2 {
    let (call, call_errors) = ast::parse(tokens);
    let inferred = infer::call(&call.specs(), &call.constants.symbols);
    let errors = combine_errors(&call, call_errors, &inferred).map(|e| e.to_compile_error());
    let code = expand::call(&call, &inferred);
    quote!(#errors #code)
}

/// Every error of a call, model by model (parse errors, then broken rules), as one error.
fn combine_errors(
    call: &ast::Call,
    call_errors: Vec<syn::Error>,
    inferred: &[infer::Inference],
) -> Option<syn::Error> {
    let per_model = call
        .models
        .iter()
        .zip(inferred)
        .flat_map(|(model, inference)| {
            let problems = inference.problems.iter();
            let problems = problems.map(|problem| model.error(problem.site, &problem.message));
            model.errors.iter().cloned().chain(problems)
        });
    per_model.chain(call_errors).reduce(|mut all, error| {
        all.combine(error);
        all
    })
}

/// Parses and checks a call without generating code: `Ok` with what inference found, or
/// every error the macro would report, combined. This is the entry point for tests that
/// feed the macro arbitrary tokens.
#[cfg(test)]
fn check(tokens: TokenStream2) -> syn::Result<Vec<infer::Inference>> {
    let (call, call_errors) = ast::parse(tokens);
    let inferred = infer::call(&call.specs(), &call.constants.symbols);
    match combine_errors(&call, call_errors, &inferred) {
        Some(error) => Err(error),
        None => Ok(inferred),
    }
}

#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;
