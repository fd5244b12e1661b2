//! A Keras-style text summary of a model: one row per layer, then parameter totals.
//!
//! ```text
//! Model: "MnistCnn"
//! ___________________________________________________________________________
//!  Layer (type)                       Output Shape                  Param #
//! ===========================================================================
//!  conv2d (Conv2D)                    (None, 26, 26, 32)                320
//!  …
//! ===========================================================================
//!  Total params: 34,826
//!  Trainable params: 34,826
//!  Non-trainable params: 0
//! ___________________________________________________________________________
//! ```
//!
//! The text is returned, not printed; printing is the caller's choice.

use std::fmt::Write;

use crate::layer::Layer;
use crate::network::Network;
use crate::shape::format_shape;

/// The summary table of `model`.
pub fn summary<N: Network + ?Sized>(model: &N) -> String {
    summary_of(N::NAME, &model.layers())
}

/// The summary table of the model called `name` made of `layers`; not generic, so that it
/// is compiled once.
fn summary_of(name: &str, layers: &[&dyn Layer]) -> String {
    let rows: Vec<[String; 3]> = layers
        .iter()
        .map(|layer| {
            [
                format!("{} ({})", layer.name(), layer.kind()),
                format_shape(layer.output_dims()),
                group_digits(layer.param_count()),
            ]
        })
        .collect();
    let total: usize = layers.iter().map(|layer| layer.param_count()).sum();
    table(name, &rows, total)
}

/// Lays out the rows under the header, each column as wide as its widest cell (with a
/// floor so that small models still look like Keras's tables).
fn table(name: &str, rows: &[[String; 3]], total: usize) -> String {
    let header = ["Layer (type)", "Output Shape", "Param #"];
    let width = |column: usize, floor: usize| {
        let widest = rows
            .iter()
            .map(|r| r[column].chars().count())
            .max()
            .unwrap_or(0);
        widest.max(header[column].len()).max(floor)
    };
    let (name_w, shape_w, param_w) = (width(0, 28), width(1, 20), width(2, 10));
    let line_w = 1 + name_w + 2 + shape_w + 2 + param_w;
    let row = |cells: [&str; 3]| {
        let [layer, shape, params] = cells;
        format!(" {layer:<name_w$}  {shape:<shape_w$}  {params:>param_w$}\n")
    };

    let mut text = format!("Model: \"{name}\"\n{}\n", "_".repeat(line_w));
    text.push_str(&row(header));
    text.push_str(&format!("{}\n", "=".repeat(line_w)));
    for [layer, shape, params] in rows {
        text.push_str(&row([layer, shape, params]));
    }
    text.push_str(&format!("{}\n", "=".repeat(line_w)));
    let _ = writeln!(text, " Total params: {}", group_digits(total));
    let _ = writeln!(text, " Trainable params: {}", group_digits(total));
    let _ = writeln!(text, " Non-trainable params: 0");
    text.push_str(&format!("{}\n", "_".repeat(line_w)));
    text
}

/// `34826` → `"34,826"`.
pub fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_thousands() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(34_826), "34,826");
        assert_eq!(group_digits(1_234_567), "1,234,567");
    }
}
