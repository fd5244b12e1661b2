//! Argument values as written: a literal, a path, or anything else kept whole so that its
//! message can say what is accepted instead.
//!
//! A value is everything between two top-level commas. What the DSL accepts is a literal,
//! possibly negated, or a path; a tuple, brackets or an expression are still parsed (as
//! [`Value::Other`]) so that the layer's own conversion reports them, naming the layer and
//! the parameter, with one error and no follow-up syntax errors.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Error, Expr, Ident, Lit, Path, Stmt, Token};

/// A value as written: a literal, possibly negated, a path (`K`, `config::K`, `same`), or
/// anything else.
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
    /// Anything else, kept for its message and span: `(3, 3)`, `[4]`, `A + 1`.
    Other(TokenStream),
}

impl Parse for Value {
    /// Parses the whole of `input` as one value; it is never empty when called from
    /// [`parse_list`].
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let tokens: TokenStream = input.parse()?;
        if tokens.is_empty() {
            return Err(input.error("expected a value"));
        }
        Ok(supported
            .parse2(tokens.clone())
            .unwrap_or(Value::Other(tokens)))
    }
}

/// A literal, a negated literal or a path, and nothing after it.
fn supported(input: ParseStream<'_>) -> syn::Result<Value> {
    let value = if input.peek(Token![-]) && input.peek2(Lit) {
        Value::Literal {
            minus: Some(input.parse()?),
            lit: input.parse()?,
        }
    } else if input.peek(Lit) {
        Value::Literal {
            minus: None,
            lit: input.parse()?,
        }
    } else if input.peek(Ident::peek_any) || input.peek(Token![::]) {
        Value::Path(input.call(Path::parse_mod_style)?)
    } else {
        return Err(input.error("expected a literal or a path"));
    };
    if !input.is_empty() {
        return Err(input.error("expected the end of the value"));
    }
    Ok(value)
}

impl ToTokens for Value {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Value::Literal { minus, lit } => {
                minus.to_tokens(tokens);
                lit.to_tokens(tokens);
            }
            Value::Path(path) => path.to_tokens(tokens),
            Value::Other(other) => other.to_tokens(tokens),
        }
    }
}

impl Value {
    /// The value as the user wrote it, with Rust's usual spacing: `-0.5`, `config::K`,
    /// `(3, 3)`, `A + 1`.
    pub fn text(&self) -> String {
        match self {
            Value::Literal { minus, lit } => {
                let sign = if minus.is_some() { "-" } else { "" };
                format!("{sign}{}", lit.to_token_stream())
            }
            Value::Path(path) => path_text(path),
            Value::Other(tokens) => tokens_text(tokens.clone()),
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

/// Splits `input` at its top-level commas (a comma inside brackets is part of a value).
/// Every token is consumed, so that a mistake inside one item is reported once, by whoever
/// reads that item. An empty item, as in `(4,, 2)`, is an error on its comma.
pub fn parse_list(input: ParseStream<'_>) -> syn::Result<Vec<TokenStream>> {
    let mut items = Vec::new();
    let mut item = TokenStream::new();
    let mut error: Option<Error> = None;
    while !input.is_empty() {
        let token: TokenTree = input.parse()?;
        if let TokenTree::Punct(punct) = &token {
            if punct.as_char() == ',' {
                if item.is_empty() {
                    let empty = Error::new(punct.span(), "expected a value before this comma");
                    error.get_or_insert(empty);
                }
                items.push(std::mem::take(&mut item));
                continue;
            }
        }
        item.extend([token]);
    }
    if !item.is_empty() {
        items.push(item);
    }
    match error {
        Some(error) => Err(error),
        None => Ok(items.into_iter().filter(|i| !i.is_empty()).collect()),
    }
}

/// What an unsupported value looks like, so that its message can say how to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// `(3, 3)`: a tuple, with its elements as written.
    Tuple(Vec<String>),
    /// `(2)`, `[4]`, `{K}`, `((2))`: one supported value in brackets, as it should be
    /// written: `2`.
    Wrapped(String),
    /// `A + 1`, `K as usize`, `f(2)`: something a constant could hold, as written (without
    /// brackets around it).
    Expression(String),
    /// Anything else.
    Other,
}

impl Unsupported {
    /// Classifies the tokens of a [`Value::Other`].
    pub fn of(tokens: &TokenStream) -> Unsupported {
        let Ok(expr) = syn::parse2::<Expr>(tokens.clone()) else {
            return Unsupported::Other;
        };
        if let Expr::Tuple(tuple) = &expr {
            let elements = tuple.elems.iter().map(expr_text).collect();
            return Unsupported::Tuple(elements);
        }

        let inner = unwrap(&expr);
        let text = expr_text(inner);
        let wrapped = !std::ptr::eq(inner, &expr);
        match inner {
            _ if wrapped && supported.parse2(inner.to_token_stream()).is_ok() => {
                Unsupported::Wrapped(text)
            }
            Expr::Assign(_) | Expr::Tuple(_) | Expr::Array(_) | Expr::Block(_) => {
                Unsupported::Other
            }
            Expr::Lit(_) | Expr::Path(_) | Expr::Range(_) | Expr::Verbatim(_) => Unsupported::Other,
            _ => Unsupported::Expression(text),
        }
    }
}

/// The expression inside redundant brackets: `2` in `((2))`, `[2]` or `{ 2 }`.
fn unwrap(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(paren) => unwrap(&paren.expr),
        Expr::Group(group) => unwrap(&group.expr),
        Expr::Array(array) if array.elems.len() == 1 => unwrap(&array.elems[0]),
        Expr::Block(block) if block.block.stmts.len() == 1 && block.label.is_none() => {
            match &block.block.stmts[0] {
                Stmt::Expr(inner, None) => unwrap(inner),
                _ => expr,
            }
        }
        _ => expr,
    }
}

fn expr_text(expr: &Expr) -> String {
    tokens_text(expr.to_token_stream())
}

/// Tokens as a person would write them: `(3, 3)`, `A + 1`, `f(2)`, `-K`, `a::B`.
pub fn tokens_text(tokens: TokenStream) -> String {
    let mut out = String::new();
    let mut previous: Option<TokenTree> = None;
    // A sign at the start or after another operator is unary and binds to what follows.
    let mut unary = false;
    for token in tokens {
        match &previous {
            Some(previous) if !unary && space_between(previous, &token) => out.push(' '),
            _ => {}
        }
        let sign = matches!(&token, TokenTree::Punct(p) if "-!&*".contains(p.as_char()));
        unary = sign
            && previous
                .as_ref()
                .is_none_or(|p| matches!(p, TokenTree::Punct(p) if p.spacing() == Spacing::Alone));

        match &token {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                out.push_str(&tokens_text(group.stream()));
                out.push_str(close);
            }
            other => out.push_str(&other.to_string()),
        }
        previous = Some(token);
    }
    out
}

/// Whether a space goes between two adjacent tokens: around binary operators and between
/// words, but not around `::` or `.`, before `,` or `;`, inside a multi-character
/// operator, or between a name and the brackets of a call or an index.
fn space_between(previous: &TokenTree, next: &TokenTree) -> bool {
    let is = |token: &TokenTree, chars: &str| match token {
        TokenTree::Punct(p) => chars.contains(p.as_char()),
        _ => false,
    };
    if is(next, ",;.:") || is(previous, ".:") {
        return false;
    }
    match (previous, next) {
        (TokenTree::Punct(p), _) if p.spacing() == Spacing::Joint => false,
        (TokenTree::Ident(_), TokenTree::Group(g)) => g.delimiter() == Delimiter::Brace,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn value(tokens: TokenStream) -> Value {
        Value::parse.parse2(tokens).expect("one value")
    }

    #[test]
    fn supported_values_parse_to_literals_and_paths() {
        assert!(matches!(
            value(quote!(3)),
            Value::Literal { minus: None, .. }
        ));
        assert!(matches!(
            value(quote!(-0.5)),
            Value::Literal { minus: Some(_), .. }
        ));
        assert!(matches!(value(quote!(config::K)), Value::Path(_)));
        assert_eq!(value(quote!(::config::K)).text(), "::config::K");
    }

    #[test]
    fn anything_else_is_kept_whole() {
        let cases = [
            (quote!((3, 3)), "(3, 3)"),
            (quote!(A + 1), "A + 1"),
            (quote!([4]), "[4]"),
            (quote! { ((2)) }, "((2))"),
            (quote!(K as usize), "K as usize"),
            (quote!(f(2) * -K), "f(2) * -K"),
            (quote!(m::f(2).len()), "m::f(2).len()"),
            (quote!({ K }), "{ K }"),
            (quote!(2 3), "2 3"),
            (quote!((-1, -K)), "(-1, -K)"),
            (quote!(A <= -B), "A <= -B"),
        ];
        for (tokens, text) in cases {
            let parsed = value(tokens);
            assert!(matches!(parsed, Value::Other(_)), "{text}");
            assert_eq!(parsed.text(), text);
        }
    }

    #[test]
    fn unsupported_values_are_classified_for_their_message() {
        let of = |tokens: TokenStream| Unsupported::of(&tokens);

        assert_eq!(
            of(quote!((3, 3))),
            Unsupported::Tuple(vec!["3".into(), "3".into()])
        );
        // Braces keep rustfmt from removing the parentheses inside.
        assert_eq!(of(quote! { ((2)) }), Unsupported::Wrapped("2".into()));
        assert_eq!(of(quote!([4])), Unsupported::Wrapped("4".into()));
        assert_eq!(of(quote!({ K })), Unsupported::Wrapped("K".into()));
        assert_eq!(of(quote!(A + 1)), Unsupported::Expression("A + 1".into()));
        assert_eq!(of(quote!((A + 1))), Unsupported::Expression("A + 1".into()));
        assert_eq!(
            of(quote!(K as usize)),
            Unsupported::Expression("K as usize".into())
        );
        assert_eq!(of(quote!([4, 4])), Unsupported::Other);
        assert_eq!(of(quote!(h = 28)), Unsupported::Other);
        assert_eq!(of(quote!(2 3)), Unsupported::Other);
        assert_eq!(of(quote!(0..2)), Unsupported::Other);
    }

    #[test]
    fn lists_split_at_top_level_commas_only() {
        let items = parse_list.parse2(quote!(4, (3, 3), strides = 2,)).unwrap();
        let texts: Vec<String> = items.into_iter().map(tokens_text).collect();

        assert_eq!(texts, ["4", "(3, 3)", "strides = 2"]);
        assert!(parse_list.parse2(quote!(4,, 2)).is_err());
        assert!(parse_list.parse2(quote!()).unwrap().is_empty());
    }
}
