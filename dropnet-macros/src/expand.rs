//! Code generation: one struct per model, its constants, its `Network` impl, and the const
//! assertions for rules only the compiler can check.
//!
//! The expansion is wiring only. Layer fields are `dropnet::core::layers` types whose const
//! arguments carry the inferred sizes; forward, backward and training are generic code in
//! the core. An invalid model gets a stub instead (see [`stub`]).

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::args::Constants;
use crate::ast::{Call, Header, Model};
use crate::dim::{ConstId, Dim, Expr, Symbols};
use crate::infer::{self, Check, Cond, Inference, LayerInfo};
use crate::ir::{Activation, LayerKind, LayerSpec, Padding, Rate, Shape};

/// Generates every model of a call: the full model when valid, a stub otherwise. A name
/// already used earlier in the call is skipped (its error is reported), so that rustc does
/// not add a second "defined multiple times" error.
pub fn call(call: &Call, inferred: &[Inference]) -> TokenStream {
    let mut names: Vec<String> = Vec::new();
    let mut out = constant_items(&call.constants);

    for (model, inference) in call.models.iter().zip(inferred) {
        let name = model.header.name.to_string();
        if names.contains(&name) {
            continue;
        }
        names.push(name);
        let full = inference
            .is_valid()
            .then(|| full(model, inference, &call.constants))
            .flatten();
        out.extend(full.unwrap_or_else(|| {
            let stand_in = Stub {
                shapes: infer::stub_shapes(&model.spec, inference),
                params: inference.params.as_ref(),
            };
            stub(&model.header, &stand_in, &call.constants)
        }));
    }

    if let Some(header) = &call.broken {
        if !names.contains(&header.name.to_string()) {
            let stand_in = Stub {
                shapes: (infer::placeholder(), infer::placeholder()),
                params: None,
            };
            out.extend(stub(header, &stand_in, &call.constants));
        }
    }
    out
}

/// What a user constant is used as, which is the type of its private copy.
#[derive(Clone, Copy)]
enum Use {
    Size,
    Rate,
}

/// The name of the private copy of constant `id`: `__dropnet_Net_size_0`. The owner is a
/// model name, unique among the structs of the module, and the `_size_N` suffix is read
/// back unambiguously from the end, so two calls in one module never share a name.
fn constant_ident(constants: &Constants, id: ConstId, used: Use) -> Ident {
    let owner = &constants.owner;
    match used {
        Use::Size => format_ident!("__dropnet_{owner}_size_{}", id.0),
        Use::Rate => format_ident!("__dropnet_{owner}_rate_{}", id.0),
    }
}

/// One private constant per user constant and use, `const __dropnet_Net_size_0: usize =
/// K;`, which every other part of the expansion names instead of the path. The path keeps
/// its span, so a constant of the wrong type or an unknown one is one error at the user's
/// token, and nothing downstream repeats it: the copy has the right type either way.
fn constant_items(constants: &Constants) -> TokenStream {
    let mut items = TokenStream::new();
    for (index, constant) in constants.entries.iter().enumerate() {
        let path = &constant.path;
        let uses = [
            (constant.size, Use::Size, quote!(::core::primitive::usize)),
            (constant.rate, Use::Rate, quote!(::core::primitive::f32)),
        ];
        for (_, used, ty) in uses.into_iter().filter(|(is_used, ..)| *is_used) {
            let ident = constant_ident(constants, ConstId(index), used);
            items.extend(quote! {
                #[doc(hidden)]
                #[allow(dead_code, non_upper_case_globals)]
                const #ident: #ty = #path;
            });
        }
    }
    items
}

/// A valid model's full expansion; `None` if some piece is unexpectedly missing.
fn full(model: &Model, inference: &Inference, constants: &Constants) -> Option<TokenStream> {
    let Header { attrs, vis, name } = &model.header;
    let (input, output, params) = (
        inference.input.as_ref()?,
        inference.output()?,
        inference.params.as_ref()?,
    );
    let symbols = &constants.symbols;

    let mut fields = Vec::new();
    let mut types = Vec::new();
    let mut docs = Vec::new();
    let mut constructors = Vec::new();
    for (index, (spec, info)) in model.spec.layers.iter().zip(&inference.layers).enumerate() {
        let (spec, info) = (spec.as_ref()?, info.as_ref()?);
        let ty = layer_type(spec, info, constants)?;
        let keras_name = Literal::string(&info.name);
        constructors.push(match &spec.kind {
            LayerKind::Dropout(dropout) => {
                let rate = rate(&dropout.rate, constants);
                let built = quote!(<#ty>::new(#keras_name, seed, #rate));
                match &dropout.noise_shape {
                    Some(noise) => {
                        let noise = noise.iter().map(|value| dim(value, constants));
                        quote!(#built.with_noise_shape(&[#(#noise),*]))
                    }
                    None => built,
                }
            }
            LayerKind::SpatialDropout2d(dropout)
            | LayerKind::GaussianDropout(dropout)
            | LayerKind::AlphaDropout(dropout) => {
                let rate = rate(&dropout.rate, constants);
                quote!(<#ty>::new(#keras_name, seed, #rate))
            }
            LayerKind::GaussianNoise(noise) => {
                let stddev = rate(&noise.stddev, constants);
                quote!(<#ty>::new(#keras_name, seed, #stddev))
            }
            LayerKind::Lstm(lstm) if lstm.dropout.is_some() || lstm.recurrent_dropout.is_some() => {
                // An omitted rate is 0.0, Keras's default: no dropout there.
                let zero = Rate::Known(0.0);
                let dropout = rate(lstm.dropout.as_ref().unwrap_or(&zero), constants);
                let recurrent = rate(lstm.recurrent_dropout.as_ref().unwrap_or(&zero), constants);
                quote!(<#ty>::new(#keras_name, seed).with_dropout(#dropout, #recurrent))
            }
            _ => quote!(<#ty>::new(#keras_name, seed)),
        });
        fields.push(format_ident!("{}", info.name));
        docs.push(layer_doc(index, spec, info, symbols));
        types.push(ty);
    }

    let struct_doc = model_doc(attrs, input, output, params, symbols);
    let (input_ty, output_ty) = (shape_type(input, constants), shape_type(output, constants));
    let (input_dims, output_dims) = (shape_dims(input, constants), shape_dims(output, constants));
    let input_rank = Literal::usize_unsuffixed(input.dims().len());
    let output_rank = Literal::usize_unsuffixed(output.dims().len());
    let params = dim(params, constants);
    let model_name = Literal::string(&name.to_string());
    let checks = checks(model, &inference.checks, constants);

    Some(quote! {
        #(#attrs)*
        #struct_doc
        #vis struct #name {
            #( #[doc = #docs] pub #fields: #types, )*
            runtime: ::dropnet::core::Runtime,
        }

        impl #name {
            /// The per-sample input shape, channels last.
            pub const INPUT_SHAPE: [usize; #input_rank] = [#(#input_dims),*];
            /// The per-sample output shape.
            pub const OUTPUT_SHAPE: [usize; #output_rank] = [#(#output_dims),*];
            /// Number of trainable parameters.
            pub const PARAM_COUNT: usize = #params;

            /// Builds the model with Keras initialisation drawn from `seed`.
            pub fn new(seed: u64) -> Self {
                Self {
                    #( #fields: #constructors, )*
                    runtime: ::dropnet::core::Runtime::new(seed),
                }
            }
        }

        impl ::dropnet::core::Network for #name {
            type Input = #input_ty;
            type Output = #output_ty;
            const NAME: &'static str = #model_name;
            const PARAM_COUNT: usize = #params;

            fn layers(&self) -> ::std::vec::Vec<&dyn ::dropnet::core::Layer> {
                ::std::vec![#( &self.#fields as &dyn ::dropnet::core::Layer ),*]
            }

            fn parts_mut(
                &mut self,
            ) -> (
                ::std::vec::Vec<&mut dyn ::dropnet::core::Layer>,
                &mut ::dropnet::core::Runtime,
            ) {
                let layers = ::std::vec![
                    #( &mut self.#fields as &mut dyn ::dropnet::core::Layer ),*
                ];
                (layers, &mut self.runtime)
            }

            fn runtime(&self) -> &::dropnet::core::Runtime {
                &self.runtime
            }
        }

        #checks
    })
}

/// What a stand-in declares: input and output shapes, and the parameter count if known.
struct Stub<'a> {
    shapes: (Shape, Shape),
    params: Option<&'a Dim>,
}

/// The stand-in for an invalid model: a struct of the same name and visibility with
/// `new(seed)`, the shape constants and a `Network` impl with no layers, so that code
/// using the model (`compile`, `fit`, `predict`, `summary`) does not pile unrelated errors
/// on top of the real ones. Its shapes are best-effort (see [`infer::stub_shapes`]); it
/// can never run, since the crate does not compile.
fn stub(header: &Header, stand_in: &Stub<'_>, constants: &Constants) -> TokenStream {
    let Header { attrs, vis, name } = header;
    let (input, output) = &stand_in.shapes;
    let params = stand_in
        .params
        .map_or_else(|| quote!(0), |p| dim(p, constants));
    let (input_ty, output_ty) = (shape_type(input, constants), shape_type(output, constants));
    let (input_dims, output_dims) = (shape_dims(input, constants), shape_dims(output, constants));
    let input_rank = Literal::usize_unsuffixed(input.dims().len());
    let output_rank = Literal::usize_unsuffixed(output.dims().len());
    let model_name = Literal::string(&name.to_string());

    quote! {
        #(#attrs)*
        #[allow(dead_code)]
        #vis struct #name {
            runtime: ::dropnet::core::Runtime,
        }

        #[allow(dead_code)]
        impl #name {
            /// The per-sample input shape (a stand-in: the declaration has errors).
            pub const INPUT_SHAPE: [usize; #input_rank] = [#(#input_dims),*];
            /// The per-sample output shape (a stand-in: the declaration has errors).
            pub const OUTPUT_SHAPE: [usize; #output_rank] = [#(#output_dims),*];
            /// Number of trainable parameters (a stand-in: the declaration has errors).
            pub const PARAM_COUNT: usize = #params;

            /// Builds the model from `seed` (a stand-in: the declaration has errors).
            pub fn new(seed: u64) -> Self {
                Self { runtime: ::dropnet::core::Runtime::new(seed) }
            }
        }

        impl ::dropnet::core::Network for #name {
            type Input = #input_ty;
            type Output = #output_ty;
            const NAME: &'static str = #model_name;
            const PARAM_COUNT: usize = #params;
            fn layers(&self) -> ::std::vec::Vec<&dyn ::dropnet::core::Layer> {
                ::std::vec::Vec::new()
            }
            fn parts_mut(
                &mut self,
            ) -> (
                ::std::vec::Vec<&mut dyn ::dropnet::core::Layer>,
                &mut ::dropnet::core::Runtime,
            ) {
                (::std::vec::Vec::new(), &mut self.runtime)
            }
            fn runtime(&self) -> &::dropnet::core::Runtime {
                &self.runtime
            }
        }
    }
}

/// The core type of a layer, sized by inference.
fn layer_type(spec: &LayerSpec, info: &LayerInfo, constants: &Constants) -> Option<TokenStream> {
    let d = |value: &Dim| dim(value, constants);
    let activation = activation_type(spec.activation);
    let ty = match (&spec.kind, &info.input) {
        (LayerKind::Conv2d(conv), Shape::Image(h, w, c)) => {
            let (h, w, c, f, k) = (d(h), d(w), d(c), d(&conv.filters), d(&conv.kernel));
            let s = d(conv.strides.as_ref().unwrap_or(&Dim::Known(1)));
            let same = conv.padding == Padding::Same;
            quote!(::dropnet::core::layers::Conv2d<#h, #w, #c, #f, #k, #s, #same, #activation>)
        }
        (LayerKind::MaxPool2d(pool), Shape::Image(h, w, c)) => {
            let (h, w, c, p) = (d(h), d(w), d(c), d(&pool.pool));
            let s = d(pool.strides.as_ref().unwrap_or(&pool.pool));
            quote!(::dropnet::core::layers::MaxPool2d<#h, #w, #c, #p, #s>)
        }
        (LayerKind::Dropout(_), input) => {
            let input = shape_type(input, constants);
            quote!(::dropnet::core::layers::Dropout<#input>)
        }
        (LayerKind::SpatialDropout2d(_), input @ Shape::Image(..)) => {
            let input = shape_type(input, constants);
            quote!(::dropnet::core::layers::SpatialDropout2d<#input>)
        }
        (LayerKind::GaussianDropout(_), input) => {
            let input = shape_type(input, constants);
            quote!(::dropnet::core::layers::GaussianDropout<#input>)
        }
        (LayerKind::AlphaDropout(_), input) => {
            let input = shape_type(input, constants);
            quote!(::dropnet::core::layers::AlphaDropout<#input>)
        }
        (LayerKind::GaussianNoise(_), input) => {
            let input = shape_type(input, constants);
            quote!(::dropnet::core::layers::GaussianNoise<#input>)
        }
        (LayerKind::Flatten, input) => {
            let input = shape_type(input, constants);
            quote!(::dropnet::core::layers::Flatten<#input>)
        }
        (LayerKind::Dense(dense), Shape::Vector(n)) => {
            let (n, units) = (d(n), d(&dense.units));
            quote!(::dropnet::core::layers::Dense<#n, #units, #activation>)
        }
        (LayerKind::Lstm(lstm), Shape::Sequence(t, f)) => {
            let (t, f, units) = (d(t), d(f), d(&lstm.units));
            let seq = lstm.return_sequences;
            quote!(::dropnet::core::layers::Lstm<#t, #f, #units, #seq>)
        }
        _ => return None,
    };
    Some(ty)
}

fn activation_type(activation: Option<Activation>) -> TokenStream {
    match activation {
        None => quote!(::dropnet::core::activation::Linear),
        Some(Activation::Relu) => quote!(::dropnet::core::activation::Relu),
        Some(Activation::Sigmoid) => quote!(::dropnet::core::activation::Sigmoid),
        Some(Activation::Tanh) => quote!(::dropnet::core::activation::Tanh),
        Some(Activation::Softmax) => quote!(::dropnet::core::activation::Softmax),
        Some(Activation::Elu) => quote!(::dropnet::core::activation::Elu),
        Some(Activation::Selu) => quote!(::dropnet::core::activation::Selu),
    }
}

/// `::dropnet::core::Image<28, 28, 1>` and the like.
fn shape_type(shape: &Shape, constants: &Constants) -> TokenStream {
    let d = |value: &Dim| dim(value, constants);
    match shape {
        Shape::Image(h, w, c) => {
            let (h, w, c) = (d(h), d(w), d(c));
            quote!(::dropnet::core::Image<#h, #w, #c>)
        }
        Shape::Sequence(t, f) => {
            let (t, f) = (d(t), d(f));
            quote!(::dropnet::core::Sequence<#t, #f>)
        }
        Shape::Vector(n) => {
            let n = d(n);
            quote!(::dropnet::core::Vector<#n>)
        }
    }
}

fn shape_dims(shape: &Shape, constants: &Constants) -> Vec<TokenStream> {
    shape
        .dims()
        .into_iter()
        .map(|value| dim(value, constants))
        .collect()
}

/// A size as a const argument: a literal, or `{ expr }` over the user's constants.
fn dim(value: &Dim, constants: &Constants) -> TokenStream {
    match value {
        Dim::Known(_) => saturating(value, constants),
        Dim::Sym(_) => {
            let expr = saturating(value, constants);
            quote!({ #expr })
        }
    }
}

/// The value of a size as the generated code computes it: saturating `+ - *`, and a
/// division by `max(divisor, 1)`, so that a broken rule shows up only as its own const
/// assertion and never as an overflow inside a type.
fn saturating(value: &Dim, constants: &Constants) -> TokenStream {
    let expr = match value {
        Dim::Known(n) => {
            let n = Literal::usize_unsuffixed(*n);
            return quote!(#n);
        }
        Dim::Sym(expr) => &**expr,
    };
    let usize_fn = |name: &str, a: &Dim, b: &Dim| {
        let (name, a, b) = (
            format_ident!("{name}"),
            saturating(a, constants),
            saturating(b, constants),
        );
        quote!(::core::primitive::usize::#name(#a, #b))
    };
    match expr {
        Expr::Const(id) => {
            let ident = constant_ident(constants, *id, Use::Size);
            quote!(#ident)
        }
        Expr::Add(a, b) => usize_fn("saturating_add", a, b),
        Expr::Sub(a, b) => usize_fn("saturating_sub", a, b),
        Expr::Mul(a, b) => usize_fn("saturating_mul", a, b),
        Expr::Div(a, b) => {
            let (a, b) = (saturating(a, constants), saturating(b, constants));
            quote!((#a / { let divisor = #b; if divisor == 0 { 1 } else { divisor } }))
        }
    }
}

/// The exact value as an `Option<usize>`, `None` on overflow, for `Cond::Fits`. Uses the
/// helper functions emitted by [`checks`].
fn checked(value: &Dim, constants: &Constants) -> TokenStream {
    let Dim::Sym(expr) = value else {
        let exact = saturating(value, constants);
        return quote!(::core::option::Option::Some(#exact));
    };
    match &**expr {
        Expr::Add(a, b) => {
            let (a, b) = (checked(a, constants), checked(b, constants));
            quote!(__dropnet_checked_add(#a, #b))
        }
        Expr::Mul(a, b) => {
            let (a, b) = (checked(a, constants), checked(b, constants));
            quote!(__dropnet_checked_mul(#a, #b))
        }
        // A constant, a difference or a quotient cannot overflow by itself; their operands
        // were checked where they were built.
        Expr::Const(_) | Expr::Sub(..) | Expr::Div(..) => {
            let exact = saturating(value, constants);
            quote!(::core::option::Option::Some(#exact))
        }
    }
}

/// One `const _: () = { … };` per model holding its deferred checks in inference order.
/// Const evaluation stops at the first failing assertion, so a zero size is not reported
/// again as, say, a kernel larger than the input. Each assertion carries the span of the
/// layer or argument it is about, so rustc's error points into the model.
fn checks(model: &Model, checks: &[Check], constants: &Constants) -> TokenStream {
    if checks.is_empty() {
        return TokenStream::new();
    }
    let needs_helpers = checks.iter().any(|c| matches!(c.cond, Cond::Fits(_)));
    let helpers = needs_helpers.then(|| {
        quote! {
            const fn __dropnet_checked_add(
                a: ::core::option::Option<usize>,
                b: ::core::option::Option<usize>,
            ) -> ::core::option::Option<usize> {
                match (a, b) {
                    (::core::option::Option::Some(a), ::core::option::Option::Some(b)) => {
                        a.checked_add(b)
                    }
                    _ => ::core::option::Option::None,
                }
            }
            const fn __dropnet_checked_mul(
                a: ::core::option::Option<usize>,
                b: ::core::option::Option<usize>,
            ) -> ::core::option::Option<usize> {
                match (a, b) {
                    (::core::option::Option::Some(a), ::core::option::Option::Some(b)) => {
                        a.checked_mul(b)
                    }
                    _ => ::core::option::Option::None,
                }
            }
        }
    });

    let asserts = checks.iter().map(|check| {
        let cond = condition(&check.cond, constants);
        let span = model.span(check.site);
        let message = Literal::string(&check.message);
        quote_spanned!(span=> ::core::assert!(#cond, #message);)
    });
    quote! {
        const _: () = {
            #helpers
            #(#asserts)*
        };
    }
}

fn condition(cond: &Cond, constants: &Constants) -> TokenStream {
    match cond {
        Cond::AtMost(a, b) => {
            let (a, b) = (saturating(a, constants), saturating(b, constants));
            quote!(#a <= #b)
        }
        Cond::NonZero(a) => {
            let a = saturating(a, constants);
            quote!(#a != 0)
        }
        Cond::Fits(a) => {
            let a = checked(a, constants);
            quote!(#a.is_some())
        }
        Cond::RateInRange(id) => {
            let rate = constant_ident(constants, *id, Use::Rate);
            quote!(#rate >= 0.0 && #rate < 1.0)
        }
        Cond::OneOrEqual(a, b) => {
            let (a, b) = (saturating(a, constants), saturating(b, constants));
            quote!(#a == 1 || #a == #b)
        }
        Cond::Bounded(a, bound) => {
            let (a, bound) = (saturating(a, constants), Literal::usize_unsuffixed(*bound));
            quote!(#a <= #bound)
        }
        Cond::StddevValid(id) => {
            // NaN fails both comparisons, infinity the second.
            let stddev = constant_ident(constants, *id, Use::Rate);
            quote!(#stddev >= 0.0 && #stddev <= ::core::primitive::f32::MAX)
        }
    }
}

/// A dropout rate or a standard deviation as an `f32` argument.
fn rate(rate: &Rate, constants: &Constants) -> TokenStream {
    match rate {
        Rate::Known(r) => {
            // Inference accepted it, so it is at least 0 (perhaps `-0.0`, written `-0.0` or
            // `-1e-50`, which `abs` makes a plain zero) and finite; the guard keeps this
            // total.
            let r = if r.is_finite() { r.abs() } else { 0.0 };
            let lit = Literal::f32_unsuffixed(r);
            quote!(#lit)
        }
        Rate::Const(id) => {
            let rate = constant_ident(constants, *id, Use::Rate);
            quote!(#rate)
        }
    }
}

/// `Layer 1: `conv2d(32, 3) relu`, output 26×26×32, 320 parameters.`
fn layer_doc(index: usize, spec: &LayerSpec, info: &LayerInfo, symbols: &Symbols) -> String {
    let activation = spec
        .activation
        .map(|a| format!(" {}", a.word()))
        .unwrap_or_default();
    format!(
        " Layer {}: `{}{activation}`, output {}, {}.",
        index + 1,
        spec.text,
        info.output.show(symbols),
        count(&info.params, symbols)
    )
}

/// The user's doc comments, then a line with the shapes and the parameter count.
fn model_doc(
    attrs: &[syn::Attribute],
    input: &Shape,
    output: &Shape,
    params: &Dim,
    symbols: &Symbols,
) -> TokenStream {
    let summary = format!(
        " Input {}, output {}, {} (declared with `dropnet::model!`).",
        input.show(symbols),
        output.show(symbols),
        count(params, symbols)
    );
    if attrs.iter().any(|a| a.path().is_ident("doc")) {
        quote!(#[doc = ""] #[doc = #summary])
    } else {
        quote!(#[doc = #summary])
    }
}

fn count(params: &Dim, symbols: &Symbols) -> String {
    match params {
        Dim::Known(0) => "no parameters".to_owned(),
        Dim::Known(1) => "1 parameter".to_owned(),
        _ => format!("{} parameters", params.show(symbols)),
    }
}
