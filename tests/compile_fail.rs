//! Compile-time behaviour of `model!`: every mistake in `tests/ui` is a compile error that
//! names the layer (each `.stderr` is the expected output), and every declaration in
//! `tests/pass` compiles and runs with the inferred types.
//!
//! The `.stderr` files depend on the compiler version; after a toolchain update regenerate
//! them with `TRYBUILD=overwrite cargo test --test compile_fail` and read the diff.

#[test]
fn model_macro() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/pass/*.rs");
}
