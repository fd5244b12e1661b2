//! The `model!` macro of dropnet.
#![allow(dead_code)]
mod dim;
mod infer;
mod ir;
mod suggest;
use proc_macro::TokenStream;

/// Declares one or more statically shaped models.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
