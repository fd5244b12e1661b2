//! Sizes the macro knows as numbers, or only as expressions over the user's constants.
//!
//! `Net(WINDOW, FEATURES)` names its sizes by constant paths whose values only rustc knows.
//! Inference still runs on them: a size is a [`Dim`], a number or an [`Expr`] over those
//! constants, and arithmetic on two numbers folds back to a number. Constants are kept as
//! indices into a [`Symbols`] table, so this module never sees a syn type.
//!
//! The generated code evaluates an expression with saturating operations and divides by
//! `max(divisor, 1)`. A size that breaks a rule is reported once, by the const assertion
//! that checks it, instead of also as an overflow inside a type. The tests evaluate sizes
//! both that way and exactly, as the overflow check does.

use std::fmt;
use std::rc::Rc;

/// Index of a user constant in the call's [`Symbols`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConstId(pub usize);

/// The constants a macro call refers to, by name as written (`WINDOW`, `config::K`).
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    names: Vec<String>,
}

impl Symbols {
    /// The id of `name`, adding it on first use; equal names share one id.
    pub fn intern(&mut self, name: &str) -> ConstId {
        if let Some(index) = self.names.iter().position(|n| n == name) {
            return ConstId(index);
        }
        self.names.push(name.to_owned());
        ConstId(self.names.len() - 1)
    }

    /// The name of a constant, as written by the user.
    pub fn name(&self, id: ConstId) -> &str {
        self.names.get(id.0).map_or("?", String::as_str)
    }
}

/// A size: a number, or an expression over constants the compiler will evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A number the macro knows.
    Known(usize),
    /// An expression over user constants.
    Sym(Rc<Expr>),
}

/// An expression over user constants; see the module docs for how it is evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A user constant.
    Const(ConstId),
    /// Sum (saturating in generated code; overflow is a deferred check).
    Add(Dim, Dim),
    /// Difference, saturating at zero.
    Sub(Dim, Dim),
    /// Product (saturating in generated code; overflow is a deferred check).
    Mul(Dim, Dim),
    /// Quotient rounded down, a zero divisor counting as one.
    Div(Dim, Dim),
}

/// A sum or product of two known sizes does not fit in `usize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl Dim {
    /// The size named by a user constant.
    pub fn constant(id: ConstId) -> Dim {
        Dim::Sym(Rc::new(Expr::Const(id)))
    }

    /// The number, if the macro knows it.
    pub fn known(&self) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }

    /// `self + other`; an error only when both are known and the sum overflows.
    pub fn add(&self, other: &Dim) -> Result<Dim, Overflow> {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => a.checked_add(*b).map(Dim::Known).ok_or(Overflow),
            (Dim::Known(0), d) | (d, Dim::Known(0)) => Ok(d.clone()),
            _ => Ok(Dim::Sym(Rc::new(Expr::Add(self.clone(), other.clone())))),
        }
    }

    /// `self * other`; an error only when both are known and the product overflows.
    pub fn mul(&self, other: &Dim) -> Result<Dim, Overflow> {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => a.checked_mul(*b).map(Dim::Known).ok_or(Overflow),
            (Dim::Known(1), d) | (d, Dim::Known(1)) => Ok(d.clone()),
            _ => Ok(Dim::Sym(Rc::new(Expr::Mul(self.clone(), other.clone())))),
        }
    }

    /// `self - other`, zero when `other` is larger.
    pub fn sub_saturating(&self, other: &Dim) -> Dim {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => Dim::Known(a.saturating_sub(*b)),
            (d, Dim::Known(0)) => d.clone(),
            _ => Dim::Sym(Rc::new(Expr::Sub(self.clone(), other.clone()))),
        }
    }

    /// `self / other` rounded down, dividing by one when `other` is zero.
    pub fn div_guarded(&self, other: &Dim) -> Dim {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => Dim::Known(a / (*b).max(1)),
            (d, Dim::Known(0 | 1)) => d.clone(),
            _ => Dim::Sym(Rc::new(Expr::Div(self.clone(), other.clone()))),
        }
    }

    /// The product of `dims` (1 for none).
    pub fn product<'a>(dims: impl IntoIterator<Item = &'a Dim>) -> Result<Dim, Overflow> {
        dims.into_iter()
            .try_fold(Dim::Known(1), |acc, d| acc.mul(d))
    }

    /// The sum of `dims` (0 for none).
    pub fn sum<'a>(dims: impl IntoIterator<Item = &'a Dim>) -> Result<Dim, Overflow> {
        dims.into_iter()
            .try_fold(Dim::Known(0), |acc, d| acc.add(d))
    }

    /// True if computing this size multiplies or adds something the macro does not know,
    /// so that only the compiler can tell whether it overflows.
    pub fn may_overflow(&self) -> bool {
        match self {
            Dim::Known(_) => false,
            Dim::Sym(expr) => match &**expr {
                Expr::Const(_) => false,
                Expr::Add(..) | Expr::Mul(..) => true,
                Expr::Sub(a, b) | Expr::Div(a, b) => a.may_overflow() || b.may_overflow(),
            },
        }
    }

    #[cfg(test)]
    /// The value the generated code computes, given the constants' values.
    pub fn eval_saturating(&self, value: &dyn Fn(ConstId) -> usize) -> usize {
        match self {
            Dim::Known(n) => *n,
            Dim::Sym(expr) => match &**expr {
                Expr::Const(id) => value(*id),
                Expr::Add(a, b) => a
                    .eval_saturating(value)
                    .saturating_add(b.eval_saturating(value)),
                Expr::Sub(a, b) => a
                    .eval_saturating(value)
                    .saturating_sub(b.eval_saturating(value)),
                Expr::Mul(a, b) => a
                    .eval_saturating(value)
                    .saturating_mul(b.eval_saturating(value)),
                Expr::Div(a, b) => a.eval_saturating(value) / b.eval_saturating(value).max(1),
            },
        }
    }

    #[cfg(test)]
    /// The exact value, or `None` if a sum or product on the way overflows.
    pub fn eval_checked(&self, value: &dyn Fn(ConstId) -> usize) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(expr) => match &**expr {
                Expr::Const(id) => Some(value(*id)),
                Expr::Add(a, b) => a.eval_checked(value)?.checked_add(b.eval_checked(value)?),
                Expr::Mul(a, b) => a.eval_checked(value)?.checked_mul(b.eval_checked(value)?),
                Expr::Sub(..) | Expr::Div(..) => {
                    // Subtraction saturates and division cannot grow, so these only need
                    // their operands checked; the saturating value is then the exact one.
                    Some(self.eval_saturating(value))
                }
            },
        }
    }

    /// Formats the size for messages: `28`, `WINDOW`, `(H - 3) / 2 + 1`.
    pub fn show(&self, symbols: &Symbols) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = Show {
            dim: self,
            symbols,
            parent: 0,
            right: false,
        }
        .write(&mut out);
        out
    }

    /// Like [`Dim::show`], with parentheses around anything that is not a number or a
    /// name, for use between `×` signs.
    pub fn show_atom(&self, symbols: &Symbols) -> String {
        let mut out = String::new();
        let _ = Show {
            dim: self,
            symbols,
            parent: 3,
            right: false,
        }
        .write(&mut out);
        out
    }
}

/// Precedence-aware printing: `parent` is the binding strength of the enclosing operator
/// (0 none, 1 `+ -`, 2 `* /`, 3 `×`), `right` whether this is its right operand.
struct Show<'a> {
    dim: &'a Dim,
    symbols: &'a Symbols,
    parent: u8,
    right: bool,
}

impl Show<'_> {
    fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let expr = match self.dim {
            Dim::Known(n) => return write!(out, "{n}"),
            Dim::Sym(expr) => expr,
        };
        let (a, op, b, level) = match &**expr {
            Expr::Const(id) => return write!(out, "{}", self.symbols.name(*id)),
            Expr::Add(a, b) => (a, " + ", b, 1),
            Expr::Sub(a, b) => (a, " - ", b, 1),
            Expr::Mul(a, b) => (a, "*", b, 2),
            Expr::Div(a, b) => (a, " / ", b, 2),
        };

        // `a - (b + c)` and `a / (b * c)` need parentheses on the right; `(a + b) * c` on both.
        let paren = level < self.parent || (level == self.parent && self.right);
        if paren {
            out.write_char('(')?;
        }
        Show {
            dim: a,
            symbols: self.symbols,
            parent: level,
            right: false,
        }
        .write(out)?;
        out.write_str(op)?;
        Show {
            dim: b,
            symbols: self.symbols,
            parent: level,
            right: true,
        }
        .write(out)?;
        if paren {
            out.write_char(')')?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (Symbols, Dim, Dim) {
        let mut symbols = Symbols::default();
        let h = Dim::constant(symbols.intern("H"));
        let k = Dim::constant(symbols.intern("K"));
        (symbols, h, k)
    }

    #[test]
    fn known_sizes_fold() {
        let (a, b) = (Dim::Known(28), Dim::Known(3));

        assert_eq!(
            a.sub_saturating(&b).div_guarded(&Dim::Known(2)),
            Dim::Known(12)
        );
        assert_eq!(b.sub_saturating(&a), Dim::Known(0));
        assert_eq!(a.div_guarded(&Dim::Known(0)), Dim::Known(28));
        assert_eq!(
            Dim::product(&[a.clone(), b.clone(), Dim::Known(2)]),
            Ok(Dim::Known(168))
        );
        assert_eq!(Dim::sum(&[a, b]), Ok(Dim::Known(31)));
    }

    #[test]
    fn known_overflow_is_an_error_not_a_panic() {
        let big = Dim::Known(usize::MAX / 2 + 1);

        assert_eq!(big.mul(&Dim::Known(2)), Err(Overflow));
        assert_eq!(big.add(&big), Err(Overflow));
        assert_eq!(Dim::product(&[big.clone(), Dim::Known(1)]), Ok(big));
    }

    #[test]
    fn identities_do_not_build_expressions() {
        let (_, h, _) = table();

        assert_eq!(h.mul(&Dim::Known(1)), Ok(h.clone()));
        assert_eq!(h.add(&Dim::Known(0)), Ok(h.clone()));
        assert_eq!(h.div_guarded(&Dim::Known(1)), h);
        assert_eq!(h.sub_saturating(&Dim::Known(0)), h);
    }

    #[test]
    fn symbolic_sizes_evaluate_like_the_generated_code() {
        let (_, h, k) = table();
        // (H - K) / 2 + 1 with H = 28, K = 3 is 13; with K > H it saturates to 0 / 2 + 1.
        let out = h
            .sub_saturating(&k)
            .div_guarded(&Dim::Known(2))
            .add(&Dim::Known(1))
            .unwrap();
        let values = |h: usize, k: usize| move |id: ConstId| if id.0 == 0 { h } else { k };

        assert_eq!(out.eval_saturating(&values(28, 3)), 13);
        assert_eq!(out.eval_saturating(&values(2, 3)), 1);
        assert_eq!(out.eval_checked(&values(28, 3)), Some(13));
    }

    #[test]
    fn checked_evaluation_sees_overflow_that_saturation_hides() {
        let (_, h, k) = table();
        let product = h.mul(&k).unwrap();
        let huge = |_: ConstId| usize::MAX / 2;

        assert!(product.may_overflow());
        assert_eq!(product.eval_saturating(&huge), usize::MAX);
        assert_eq!(product.eval_checked(&huge), None);
        assert!(!h.sub_saturating(&k).may_overflow());
    }

    #[test]
    fn shows_with_the_parentheses_it_needs() {
        let (symbols, h, k) = table();
        let valid = h
            .sub_saturating(&k)
            .div_guarded(&Dim::Known(2))
            .add(&Dim::Known(1))
            .unwrap();
        let nested = h.sub_saturating(&k.add(&Dim::Known(1)).unwrap());
        let params = k
            .mul(&k)
            .unwrap()
            .mul(&Dim::Known(4))
            .unwrap()
            .add(&Dim::Known(4))
            .unwrap();

        assert_eq!(valid.show(&symbols), "(H - K) / 2 + 1");
        assert_eq!(valid.show_atom(&symbols), "((H - K) / 2 + 1)");
        assert_eq!(nested.show(&symbols), "H - (K + 1)");
        assert_eq!(params.show(&symbols), "K*K*4 + 4");
        assert_eq!(h.show_atom(&symbols), "H");
        assert_eq!(Dim::Known(7).show_atom(&symbols), "7");
    }
}
