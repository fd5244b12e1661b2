//! Best-effort shapes for the stand-in of an invalid model.
//!
//! The stand-in implements `Network`, so that code using the model (`compile`, `fit`,
//! `predict`, `summary`) type-checks and the user sees only the real errors. Its input is
//! the declared one when that is valid. Its output is what inference found, continued past
//! a failing layer by assuming that layer produced what its own rule yields for the input
//! it was given: `dense(3)` outputs a vector of 3 whatever it read, and a `conv2d` whose
//! kernel does not fit is taken to output one position per axis. What cannot be guessed
//! is a vector of 1.

use super::{conv_output_size, Inference};
use crate::dim::Dim;
use crate::ir::{LayerKind, ModelSpec, Padding, Shape};

/// The input and output shapes a stand-in for `model` declares.
pub fn stub_shapes(model: &ModelSpec, inference: &Inference) -> (Shape, Shape) {
    let mut current = inference.input.clone();
    for (spec, info) in model.layers.iter().zip(&inference.layers) {
        current = match info {
            Some(info) => Some(info.output.clone()),
            None => spec
                .as_ref()
                .and_then(|spec| guess_output(&spec.kind, current.as_ref())),
        };
    }
    let input = inference
        .input
        .clone()
        .map_or_else(placeholder, at_least_one);
    (input, current.map_or_else(placeholder, at_least_one))
}

/// The shape used when nothing better is known.
pub fn placeholder() -> Shape {
    Shape::Vector(Dim::Known(1))
}

/// What a layer outputs by its own rule, given the input it was handed (if known), even
/// when that input breaks the rule.
fn guess_output(kind: &LayerKind, input: Option<&Shape>) -> Option<Shape> {
    let image = match input {
        Some(Shape::Image(h, w, c)) => Some((h, w, c)),
        _ => None,
    };
    let one = Dim::Known(1);
    match kind {
        LayerKind::Dense(dense) => Some(Shape::Vector(dense.units.clone())),
        LayerKind::Lstm(lstm) if lstm.return_sequences => {
            let time = match input {
                Some(Shape::Sequence(t, _)) => t.clone(),
                _ => one,
            };
            Some(Shape::Sequence(time, lstm.units.clone()))
        }
        LayerKind::Lstm(lstm) => Some(Shape::Vector(lstm.units.clone())),
        LayerKind::Conv2d(conv) => {
            let stride = conv.strides.clone().unwrap_or(Dim::Known(1));
            let side = |n: &Dim| conv_output_size(n, &conv.kernel, &stride, conv.padding);
            let (h, w) = image.map_or((one.clone(), one), |(h, w, _)| (side(h), side(w)));
            Some(Shape::Image(h, w, conv.filters.clone()))
        }
        LayerKind::MaxPool2d(pool) => {
            let (h, w, c) = image?;
            let stride = pool.strides.as_ref().unwrap_or(&pool.pool);
            let side = |n: &Dim| conv_output_size(n, &pool.pool, stride, Padding::Valid);
            Some(Shape::Image(side(h), side(w), c.clone()))
        }
        LayerKind::Dropout(_)
        | LayerKind::SpatialDropout2d(_)
        | LayerKind::GaussianDropout(_)
        | LayerKind::AlphaDropout(_)
        | LayerKind::GaussianNoise(_) => input.cloned(),
        LayerKind::Flatten => Dim::product(input?.dims()).ok().map(Shape::Vector),
    }
}

/// The shape with every known zero size made 1: a guess built on a zero-sized argument
/// (already reported) should not also make an empty shape.
fn at_least_one(shape: Shape) -> Shape {
    let fix = |d: Dim| match d {
        Dim::Known(0) => Dim::Known(1),
        d => d,
    };
    match shape {
        Shape::Image(h, w, c) => Shape::Image(fix(h), fix(w), fix(c)),
        Shape::Sequence(t, f) => Shape::Sequence(fix(t), fix(f)),
        Shape::Vector(n) => Shape::Vector(fix(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dim::Symbols;
    use crate::infer::shapes;
    use crate::ir::{Conv2d, Dense, LayerSpec};

    fn layer(kind: LayerKind) -> Option<LayerSpec> {
        Some(LayerSpec {
            kind,
            activation: None,
            text: String::new(),
        })
    }

    fn dense(units: usize) -> Option<LayerSpec> {
        layer(LayerKind::Dense(Dense {
            units: Dim::Known(units),
        }))
    }

    fn conv(filters: usize, kernel: usize) -> Option<LayerSpec> {
        layer(LayerKind::Conv2d(Conv2d {
            filters: Dim::Known(filters),
            kernel: Dim::Known(kernel),
            strides: None,
            padding: Padding::Valid,
        }))
    }

    fn stub(input: Option<Vec<usize>>, layers: Vec<Option<LayerSpec>>) -> (Shape, Shape) {
        let model = ModelSpec {
            name: "Net".to_owned(),
            input: input.map(|dims| dims.into_iter().map(Dim::Known).collect()),
            layers,
        };
        stub_shapes(&model, &shapes(&model, &Symbols::default()))
    }

    fn image(h: usize, w: usize, c: usize) -> Shape {
        Shape::Image(Dim::Known(h), Dim::Known(w), Dim::Known(c))
    }

    fn vector(n: usize) -> Shape {
        Shape::Vector(Dim::Known(n))
    }

    #[test]
    fn inference_continues_past_a_failing_layer() {
        // The 7×7 kernel does not fit 5×5: taken as one position, 1×1×4, flattened to 4.
        let flat = stub(
            Some(vec![5, 5, 1]),
            vec![conv(4, 7), layer(LayerKind::Flatten)],
        );
        let classified = stub(
            Some(vec![5, 5, 1]),
            vec![conv(4, 7), layer(LayerKind::Flatten), dense(3)],
        );

        assert_eq!(flat, (image(5, 5, 1), vector(4)));
        assert_eq!(classified, (image(5, 5, 1), vector(3)));
    }

    #[test]
    fn the_last_layer_decides_when_it_does_not_depend_on_its_input() {
        // A layer that failed to parse leaves nothing to go on, but dense(2) does not care.
        let unparsed = stub(Some(vec![8]), vec![None, dense(2)]);
        let unknown_end = stub(Some(vec![8]), vec![None, layer(LayerKind::Flatten)]);

        assert_eq!(unparsed, (vector(8), vector(2)));
        assert_eq!(unknown_end, (vector(8), vector(1)));
    }

    #[test]
    fn an_invalid_input_becomes_a_placeholder() {
        let four_sizes = stub(Some(vec![2, 2, 2, 2]), vec![dense(3)]);
        let unparsed = stub(None, vec![dense(3)]);
        let zero_units = stub(Some(vec![4]), vec![dense(0)]);

        assert_eq!(four_sizes, (vector(1), vector(3)));
        assert_eq!(unparsed, (vector(1), vector(3)));
        assert_eq!(zero_units, (vector(4), vector(1)));
    }
}
