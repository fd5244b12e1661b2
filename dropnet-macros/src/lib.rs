//! The `model!` macro of dropnet.
use proc_macro::TokenStream;

/// Declares one or more statically shaped models.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
