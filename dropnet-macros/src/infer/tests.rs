//! Inference rules exercised with plain numbers; the size arithmetic is written beside
//! each assertion.

use super::*;
use crate::ir::{Dropout, GaussianNoise, Lstm};

fn k(n: usize) -> Dim {
    Dim::Known(n)
}

fn layer(kind: LayerKind, text: &str) -> LayerSpec {
    LayerSpec {
        kind,
        activation: None,
        text: text.to_owned(),
    }
}

fn with(activation: Activation, mut spec: LayerSpec) -> LayerSpec {
    spec.activation = Some(activation);
    spec
}

fn conv(filters: usize, kernel: usize) -> LayerSpec {
    let conv = Conv2d {
        filters: k(filters),
        kernel: k(kernel),
        strides: None,
        padding: Padding::Valid,
    };
    layer(
        LayerKind::Conv2d(conv),
        &format!("conv2d({filters}, {kernel})"),
    )
}

fn conv_with(filters: usize, kernel: usize, strides: usize, padding: Padding) -> LayerSpec {
    let conv = Conv2d {
        filters: k(filters),
        kernel: k(kernel),
        strides: Some(k(strides)),
        padding,
    };
    layer(
        LayerKind::Conv2d(conv),
        &format!("conv2d({filters}, {kernel}, strides = {strides})"),
    )
}

fn pool(size: usize) -> LayerSpec {
    layer(
        LayerKind::MaxPool2d(MaxPool2d {
            pool: k(size),
            strides: None,
        }),
        &format!("maxpool({size})"),
    )
}

fn dropout(rate: f32) -> LayerSpec {
    layer(
        LayerKind::Dropout(Dropout {
            rate: Rate::Known(rate),
            noise_shape: None,
        }),
        &format!("dropout({rate})"),
    )
}

fn flatten() -> LayerSpec {
    layer(LayerKind::Flatten, "flatten")
}

fn dense(units: usize) -> LayerSpec {
    layer(
        LayerKind::Dense(Dense { units: k(units) }),
        &format!("dense({units})"),
    )
}

fn lstm(units: usize) -> LayerSpec {
    let lstm = Lstm {
        units: k(units),
        return_sequences: false,
        dropout: None,
        recurrent_dropout: None,
    };
    layer(LayerKind::Lstm(lstm), &format!("lstm({units})"))
}

fn lstm_seq(units: usize) -> LayerSpec {
    let lstm = Lstm {
        units: k(units),
        return_sequences: true,
        dropout: None,
        recurrent_dropout: None,
    };
    layer(
        LayerKind::Lstm(lstm),
        &format!("lstm({units}, return_sequences = true)"),
    )
}

fn model(input: &[usize], layers: Vec<LayerSpec>) -> ModelSpec {
    let input = Some(input.iter().map(|&n| k(n)).collect());
    ModelSpec {
        name: "Net".to_owned(),
        input,
        layers: layers.into_iter().map(Some).collect(),
    }
}

fn infer(model: &ModelSpec) -> Inference {
    shapes(model, &Symbols::default())
}

fn messages(inference: &Inference) -> Vec<&str> {
    inference
        .problems
        .iter()
        .map(|p| p.message.as_str())
        .collect()
}

fn seed_cnn() -> ModelSpec {
    model(
        &[28, 28, 1],
        vec![
            with(Activation::Relu, conv(32, 3)),
            pool(2),
            dropout(0.25),
            with(Activation::Relu, conv(64, 3)),
            pool(2),
            dropout(0.25),
            flatten(),
            with(Activation::Softmax, dense(10)),
        ],
    )
}

fn output_of(inference: &Inference, index: usize) -> Shape {
    inference.layers[index]
        .as_ref()
        .expect("layer is known")
        .output
        .clone()
}

#[test]
fn seed_cnn_has_the_keras_shapes_names_and_parameter_count() {
    let inference = infer(&seed_cnn());
    assert!(inference.is_valid(), "{:?}", inference.problems);

    // 28 - 3 + 1 = 26, pooled to 13; 13 - 3 + 1 = 11, pooled to 5 (rounding down).
    assert_eq!(output_of(&inference, 0), Shape::Image(k(26), k(26), k(32)));
    assert_eq!(output_of(&inference, 1), Shape::Image(k(13), k(13), k(32)));
    assert_eq!(output_of(&inference, 4), Shape::Image(k(5), k(5), k(64)));
    // 5 × 5 × 64 = 1600
    assert_eq!(output_of(&inference, 6), Shape::Vector(k(1600)));
    assert_eq!(inference.output(), Some(&Shape::Vector(k(10))));
    // 3·3·1·32 + 32 = 320, 3·3·32·64 + 64 = 18 496, 1600·10 + 10 = 16 010
    assert_eq!(inference.params, Some(k(320 + 18_496 + 16_010)));
    assert_eq!(inference.params, Some(k(34_826)));
    assert!(inference.checks.is_empty());

    let names: Vec<&str> = inference
        .layers
        .iter()
        .flatten()
        .map(|l| l.name.as_str())
        .collect();
    let expected = [
        "conv2d",
        "max_pooling2d",
        "dropout",
        "conv2d_1",
        "max_pooling2d_1",
        "dropout_1",
        "flatten",
        "dense",
    ];
    assert_eq!(names, expected);
}

#[test]
fn strides_and_same_padding_follow_keras() {
    let net = model(
        &[28, 28, 3],
        vec![
            conv_with(8, 3, 2, Padding::Valid),
            conv_with(8, 3, 2, Padding::Same),
            conv_with(4, 5, 1, Padding::Same),
            layer(
                LayerKind::MaxPool2d(MaxPool2d {
                    pool: k(3),
                    strides: Some(k(2)),
                }),
                "maxpool(3)",
            ),
        ],
    );
    let inference = infer(&net);

    // valid: (28 - 3) / 2 + 1 = 13; same: ceil(13 / 2) = 7; same, stride 1: 7.
    assert_eq!(output_of(&inference, 0), Shape::Image(k(13), k(13), k(8)));
    assert_eq!(output_of(&inference, 1), Shape::Image(k(7), k(7), k(8)));
    assert_eq!(output_of(&inference, 2), Shape::Image(k(7), k(7), k(4)));
    // pool 3, stride 2: (7 - 3) / 2 + 1 = 3
    assert_eq!(output_of(&inference, 3), Shape::Image(k(3), k(3), k(4)));
    // 3·3·3·8 + 8 = 224, 3·3·8·8 + 8 = 584, 5·5·8·4 + 4 = 804
    assert_eq!(inference.params, Some(k(224 + 584 + 804)));
}

#[test]
fn same_padding_accepts_a_kernel_larger_than_the_input() {
    let net = model(
        &[2, 2, 1],
        vec![conv_with(4, 5, 1, Padding::Same), flatten(), dense(1)],
    );
    let inference = infer(&net);

    assert!(inference.is_valid(), "{:?}", inference.problems);
    assert_eq!(output_of(&inference, 0), Shape::Image(k(2), k(2), k(4)));
}

/// Window start positions along an axis of `n`, counted one by one: valid padding keeps
/// the windows inside, same padding keeps every stride position that starts inside.
fn brute_force_positions(n: usize, window: usize, stride: usize, padding: Padding) -> usize {
    (0..n)
        .step_by(stride)
        .filter(|&start| padding == Padding::Same || start + window <= n)
        .count()
}

#[test]
fn output_size_formulas_match_a_count_of_window_positions() {
    for n in 1..=40 {
        for window in 1..=n + 3 {
            for stride in 1..=6 {
                for padding in [Padding::Valid, Padding::Same] {
                    if padding == Padding::Valid && window > n {
                        continue;
                    }
                    let formula = conv_output_size(&k(n), &k(window), &k(stride), padding);
                    let counted = brute_force_positions(n, window, stride, padding);
                    assert_eq!(
                        formula,
                        k(counted),
                        "n={n} k={window} s={stride} {padding:?}"
                    );

                    // Keras pads (out - 1)·s + k - n in total when positive, so the last
                    // window ends exactly at the padded border or before it.
                    if padding == Padding::Same {
                        let pad = ((counted - 1) * stride + window).saturating_sub(n);
                        assert!((counted - 1) * stride + window <= n + pad);
                    }
                }
            }
        }
    }
}

#[test]
fn symbolic_output_sizes_evaluate_like_known_ones() {
    let mut symbols = Symbols::default();
    let (n_id, k_id, s_id) = (
        symbols.intern("N"),
        symbols.intern("K"),
        symbols.intern("S"),
    );
    let (n, kernel, s) = (
        Dim::constant(n_id),
        Dim::constant(k_id),
        Dim::constant(s_id),
    );

    for padding in [Padding::Valid, Padding::Same] {
        let symbolic = conv_output_size(&n, &kernel, &s, padding);
        for (nv, kv, sv) in [(28, 3, 1), (28, 3, 2), (13, 3, 2), (7, 7, 3), (5, 2, 5)] {
            let value = |id: ConstId| [nv, kv, sv][id.0];
            let known = conv_output_size(&k(nv), &k(kv), &k(sv), padding);
            assert_eq!(Some(symbolic.eval_saturating(&value)), known.known());
        }
    }
}

#[test]
fn parameter_formulas() {
    // 3·3·1·32 + 32 and 1600·10 + 10
    assert_eq!(conv2d_params(&k(3), &k(1), &k(32)), Ok(k(320)));
    assert_eq!(dense_params(&k(1600), &k(10)), Ok(k(16_010)));
    assert_eq!(dense_params(&k(usize::MAX), &k(2)), Err(Overflow));
    assert_eq!(
        conv2d_params(&k(1 << 20), &k(1 << 20), &k(1 << 30)),
        Err(Overflow)
    );
}

#[test]
fn kernel_taller_than_the_input_says_height() {
    let inference = infer(&model(&[4, 10, 1], vec![conv(8, 5), flatten(), dense(2)]));

    assert_eq!(
        messages(&inference),
        [
            "layer 1 `conv2d(8, 5)` needs a map at least 5×5, but the model input is 4×10×1: \
          the kernel is larger than the input height; use a smaller kernel or `padding = same`"
        ]
    );
    assert_eq!(inference.problems[0].site, Site::Layer(0));
}

#[test]
fn pool_larger_than_the_map_names_the_layer_and_shape() {
    // 28 → conv 26 → pool 13 → conv 11 → pool 5 → conv 3 → pool 1; the last pool sees 1×1×64.
    let net = model(
        &[28, 28, 1],
        vec![
            conv(32, 3),
            pool(2),
            conv(64, 3),
            pool(2),
            conv(64, 3),
            pool(2),
            pool(2),
            flatten(),
            dense(1),
        ],
    );
    let inference = infer(&net);

    assert_eq!(
        messages(&inference),
        ["layer 7 `maxpool(2)` needs a map at least 2×2, but the previous layer outputs 1×1×64: \
          the pool is larger than the input height and width; use a smaller pool or remove \
          the layer"]
    );
}

#[test]
fn every_zero_size_is_an_error_on_its_argument() {
    let zero_strides = conv_with(8, 3, 0, Padding::Valid);
    let cases = [
        (
            conv(0, 3),
            Site::Arg(0, "filters"),
            "the number of filters is 0",
        ),
        (conv(8, 0), Site::Arg(0, "kernel"), "the kernel size is 0"),
        (zero_strides, Site::Arg(0, "strides"), "the stride is 0"),
        (pool(0), Site::Arg(0, "pool"), "the pool size is 0"),
    ];
    for (spec, site, what) in cases {
        let inference = infer(&model(&[8, 8, 1], vec![spec, flatten(), dense(1)]));
        assert_eq!(inference.problems.len(), 1, "{:?}", inference.problems);
        assert_eq!(inference.problems[0].site, site);
        assert!(
            inference.problems[0].message.contains(what),
            "{}",
            inference.problems[0].message
        );
    }

    let inference = infer(&model(&[8], vec![dense(0)]));
    assert_eq!(
        messages(&inference),
        ["layer 1 `dense(0)`: the number of units is 0, but it must be at least 1"]
    );
}

#[test]
fn zero_input_size_is_an_error_on_that_size() {
    let inference = infer(&model(&[28, 0, 1], vec![flatten(), dense(1)]));

    assert_eq!(
        messages(&inference),
        ["model `Net`: the input width is 0, but it must be at least 1"]
    );
    assert_eq!(inference.problems[0].site, Site::Input(1));
}

#[test]
fn input_rank_must_be_one_to_three() {
    let inference = infer(&model(&[2, 2, 2, 2], vec![flatten(), dense(1)]));

    assert_eq!(inference.problems.len(), 1);
    assert_eq!(inference.problems[0].site, Site::InputList);
    assert!(inference.problems[0]
        .message
        .starts_with("model `Net` has 4 input sizes"));
}

#[test]
fn dropout_rate_is_in_zero_to_one() {
    let ok = infer(&model(&[4], vec![dropout(0.0), dense(1)]));
    let one = infer(&model(&[4], vec![dropout(1.0), dense(1)]));
    let negative = infer(&model(&[4], vec![dropout(-0.5), dense(1)]));

    assert!(ok.is_valid());
    assert_eq!(
        messages(&one),
        [
            "layer 1 `dropout(1)`: the rate is 1.0, but it must be at least 0 and below 1 \
          (a rate of 1 or more drops every unit)"
        ]
    );
    assert_eq!(
        messages(&negative),
        ["layer 1 `dropout(-0.5)`: the rate is -0.5, but it must be at least 0 and below 1"]
    );
    assert_eq!(negative.problems[0].site, Site::Arg(0, "rate"));
}

#[test]
fn dropout_cannot_be_the_last_layer() {
    let inference = infer(&model(&[4], vec![dense(2), dropout(0.5)]));

    assert_eq!(
        messages(&inference),
        [
            "layer 2 `dropout(0.5)` is the last layer, but a model cannot end with dropout; \
          remove it or add the output layer after it"
        ]
    );
}

#[test]
fn dense_on_a_map_or_sequence_suggests_flatten() {
    let map = infer(&model(&[28, 28, 1], vec![conv(32, 3), dense(10)]));
    let sequence = infer(&model(&[10, 8], vec![dense(10)]));

    assert_eq!(
        messages(&map),
        [
            "layer 2 `dense(10)` needs a flat input, but the previous layer outputs 26×26×32; \
          add `flatten;` before it"
        ]
    );
    assert_eq!(
        messages(&sequence),
        [
            "layer 1 `dense(10)` needs a flat input, but the model input is the sequence 10×8; \
          add `flatten;` before it, or read the sequence with an `lstm` layer first"
        ]
    );
}

#[test]
fn conv_and_pool_need_an_image() {
    let conv_on_vector = infer(&model(&[784], vec![conv(8, 3), flatten(), dense(10)]));
    let pool_on_sequence = infer(&model(
        &[10, 8],
        vec![dropout(0.1), pool(2), flatten(), dense(1)],
    ));

    assert_eq!(
        messages(&conv_on_vector),
        [
            "layer 1 `conv2d(8, 3)` needs an image (height×width×channels), but the model input \
          is the vector 784; declare the input as (height, width, channels)"
        ]
    );
    assert_eq!(
        messages(&pool_on_sequence),
        [
            "layer 2 `maxpool(2)` needs an image (height×width×channels), but the previous layer \
          outputs the sequence 10×8"
        ]
    );
}

#[test]
fn flatten_of_a_vector_is_the_identity() {
    let inference = infer(&model(&[12], vec![flatten(), dense(3)]));

    assert!(inference.is_valid());
    assert_eq!(output_of(&inference, 0), Shape::Vector(k(12)));
    // 12·3 + 3
    assert_eq!(inference.params, Some(k(39)));
}

#[test]
fn activations_only_where_they_mean_what_keras_means() {
    let on_pool = infer(&model(
        &[8, 8, 1],
        vec![
            conv(2, 3),
            with(Activation::Relu, pool(2)),
            flatten(),
            dense(1),
        ],
    ));
    let softmax_conv = infer(&model(
        &[8, 8, 1],
        vec![with(Activation::Softmax, conv(2, 3)), flatten(), dense(1)],
    ));

    assert_eq!(
        messages(&on_pool),
        [
            "layer 2 `maxpool(2)` takes no activation, but `relu` follows it; put the activation \
          on the layer before, or remove it"
        ]
    );
    assert_eq!(on_pool.problems[0].site, Site::Activation(1));
    assert!(messages(&softmax_conv)[0].contains("`softmax` is only supported on `dense`"));
}

#[test]
fn empty_model_and_duplicate_names() {
    let empty = model(&[4], vec![]);
    let first = model(&[4], vec![dense(1)]);
    let inferred = call(&[first.clone(), empty, first], &Symbols::default());

    assert!(inferred[0].is_valid());
    assert_eq!(
        messages(&inferred[1]),
        [
            "model `Net` has no layers; declare at least one, e.g. `dense(10) softmax;`",
            "model `Net` is already declared in this call; rename one of them"
        ]
    );
    assert_eq!(inferred[1].problems[0].site, Site::Body);
    assert_eq!(
        messages(&inferred[2]),
        ["model `Net` is already declared in this call; rename one of them"]
    );
}

#[test]
fn overflowing_products_are_errors() {
    let big = usize::MAX / 4;
    let input = infer(&model(&[big, big, 1], vec![flatten(), dense(1)]));
    // 8·big + big does not fit, though 8 inputs and big units each do.
    let params = infer(&model(&[8], vec![dense(big)]));

    assert_eq!(input.problems.len(), 1);
    assert_eq!(input.problems[0].site, Site::InputList);
    assert!(input.problems[0]
        .message
        .ends_with("more values than `usize` can hold"));
    assert_eq!(params.problems.len(), 1);
    assert!(params.problems[0].message.starts_with(&format!(
        "layer 1 `dense({big})` has more parameters than `usize`"
    )));
}

#[test]
fn a_layer_with_more_parameters_than_the_bound_names_its_shapes_and_count() {
    // 32767·65536 + 65536 = 65536·32768 = 2^31 exactly: the largest layer allowed.
    let at_bound = infer(&model(&[32_767], vec![dense(65_536)]));
    // 32768·65536 + 65536 = 2^31 + 65536: one input more is too many.
    let beyond = infer(&model(&[32_768], vec![dense(65_536)]));

    assert!(at_bound.is_valid(), "{:?}", at_bound.problems);
    assert_eq!(at_bound.params, Some(k(MAX_PARAMS)));
    assert_eq!(beyond.problems.len(), 1);
    assert_eq!(beyond.problems[0].site, Site::Layer(0));
    assert_eq!(
        messages(&beyond),
        [
            "layer 1 `dense(65536)` maps the vector 32768 to the vector 65536 with 2147549184 \
          parameters (32768*65536 + 65536), more than the 2147483648 (2^31) parameters a model \
          may have; use fewer units, or shrink its input (a `maxpool` or a stride before \
          `flatten`)"
        ]
    );
}

#[test]
fn conv_and_lstm_beyond_the_parameter_bound_are_refused_on_the_layer() {
    // 3·3·65536·4096 + 4096 = 2415923200 and 4·23170·(1 + 23170 + 1) = 2147580960, both
    // above 2^31 = 2147483648.
    let wide_conv = infer(&model(
        &[8, 8, 65_536],
        vec![conv(4096, 3), flatten(), dense(1)],
    ));
    let wide_lstm = infer(&model(&[5, 1], vec![lstm(23_170), dense(1)]));

    assert_eq!(wide_conv.problems.len(), 1, "{:?}", wide_conv.problems);
    assert!(
        messages(&wide_conv)[0].starts_with(
            "layer 1 `conv2d(4096, 3)` maps 8×8×65536 to 6×6×4096 with 2415923200 parameters \
             (3*3*65536*4096 + 4096)"
        ),
        "{:?}",
        messages(&wide_conv)
    );
    assert!(messages(&wide_conv)[0].ends_with("use fewer filters or a smaller kernel"));
    assert_eq!(
        messages(&wide_lstm),
        [
            "layer 1 `lstm(23170)` maps the sequence 5×1 to the vector 23170 with 2147580960 \
          parameters (4*23170*(1 + 23170 + 1)), more than the 2147483648 (2^31) parameters a \
          model may have; use fewer units"
        ]
    );
    // One unit fewer: 4·23169·23171 = 2147395596, under the bound.
    assert!(infer(&model(&[5, 1], vec![lstm(23_169), dense(1)])).is_valid());
}

#[test]
fn layers_within_the_bound_that_exceed_it_together_are_refused_on_the_model() {
    // 2^31 in the first dense, 65536·1 + 1 in the second.
    let net = model(&[32_767], vec![dense(65_536), dense(1)]);
    let inference = infer(&net);

    assert_eq!(inference.problems.len(), 1);
    assert_eq!(inference.problems[0].site, Site::Model);
    assert_eq!(
        messages(&inference),
        [
            "model `Net` has 2147549185 parameters in total, more than the 2147483648 (2^31) a \
          model may have; its largest layer is layer 1 `dense(65536)` with 2147483648"
        ]
    );
    assert_eq!(inference.params, None);
}

#[test]
fn a_sample_with_more_values_than_the_bound_is_refused() {
    // 65536·32768·1 = 2^31 values fit; 65536·32769 do not.
    let at_bound = infer(&model(
        &[65_536, 32_768, 1],
        vec![pool(2), flatten(), dense(1)],
    ));
    let input = infer(&model(&[65_536, 32_769, 1], vec![flatten(), dense(1)]));
    // 1024·1024 pixels × 4096 filters = 2^32 values out of a 1×1 convolution.
    let output = infer(&model(
        &[1024, 1024, 1],
        vec![conv(4096, 1), flatten(), dense(1)],
    ));

    assert!(at_bound.is_valid(), "{:?}", at_bound.problems);
    assert_eq!(input.problems[0].site, Site::InputList);
    assert_eq!(
        messages(&input),
        [
            "model `Net` has the input 65536×32769×1, 2147549184 values per sample, more than \
          the 2147483648 (2^31) one sample may hold; use smaller sizes"
        ]
    );
    assert_eq!(output.problems[0].site, Site::Layer(0));
    assert_eq!(
        messages(&output),
        [
            "layer 1 `conv2d(4096, 1)` outputs 1024×1024×4096, 4294967296 values per sample, more \
          than the 2147483648 (2^31) one sample may hold; use smaller sizes"
        ]
    );
}

#[test]
fn constant_sizes_are_held_to_the_bounds_by_the_compiler() {
    let mut symbols = Symbols::default();
    let units = Dim::constant(symbols.intern("UNITS"));
    let side = Dim::constant(symbols.intern("SIDE"));
    let wide = layer(
        LayerKind::Dense(Dense {
            units: units.clone(),
        }),
        "dense(UNITS)",
    );
    let net = ModelSpec {
        name: "Net".to_owned(),
        input: Some(vec![side.clone(), side.clone(), k(1)]),
        layers: vec![Some(flatten()), Some(wide), Some(dense(1))],
    };
    let inference = shapes(&net, &symbols);

    assert!(inference.is_valid(), "{:?}", inference.problems);
    let bounded: Vec<&Check> = inference
        .checks
        .iter()
        .filter(|c| matches!(c.cond, Cond::Bounded(..)))
        .collect();
    let sites: Vec<Site> = bounded.iter().map(|c| c.site).collect();
    // The input SIDE×SIDE×1, both dense layers' parameters, and their sum.
    assert_eq!(
        sites,
        [Site::InputList, Site::Layer(1), Site::Layer(2), Site::Model]
    );
    assert_eq!(
        bounded[1].message,
        "layer 2 `dense(UNITS)` maps the vector (SIDE*SIDE) to the vector UNITS with \
         (SIDE*SIDE)*UNITS + UNITS parameters, more than the 2147483648 (2^31) parameters a \
         model may have; use fewer units, or shrink its input (a `maxpool` or a stride before \
         `flatten`)"
    );

    // With SIDE = 28 the second layer has 784·UNITS + UNITS = 785·UNITS parameters, at most
    // 2^31 up to UNITS = 2735647 (2147483648 / 785 = 2735647.9). With the last layer's
    // UNITS + 1 the model has 786·UNITS + 1, at most 2^31 up to UNITS = 2732167.
    let holds = |check: &Check, units: usize| {
        let value = |id: ConstId| [units, 28][id.0];
        match &check.cond {
            Cond::Bounded(dim, bound) => dim.eval_saturating(&value) <= *bound,
            _ => false,
        }
    };
    assert!(holds(bounded[1], 2_735_647));
    assert!(!holds(bounded[1], 2_735_648));
    assert!(holds(bounded[3], 2_732_167));
    assert!(!holds(bounded[3], 2_732_168));
}

#[test]
fn errors_of_independent_layers_are_all_reported_without_cascades() {
    let net = model(
        &[8, 8, 1],
        vec![conv(0, 3), pool(2), dropout(1.0), flatten(), dense(0)],
    );
    let inference = infer(&net);

    // Zero filters, the rate and zero units; the pool after the bad conv is not judged.
    let sites: Vec<Site> = inference.problems.iter().map(|p| p.site).collect();
    assert_eq!(
        sites,
        [
            Site::Arg(0, "filters"),
            Site::Arg(2, "rate"),
            Site::Arg(4, "units")
        ]
    );
    assert!(!inference.is_valid());
}

#[test]
fn a_layer_that_failed_to_parse_stops_shape_checks_after_it() {
    let mut net = model(&[784], vec![dense(10), dense(10)]);
    net.layers.insert(0, None);
    net.layers.push(Some(conv(1, 3)));
    let inference = infer(&net);

    assert!(inference.problems.is_empty());
    assert!(inference.layers.iter().all(Option::is_none));
    assert!(!inference.is_valid());
}

#[test]
fn constant_sizes_become_deferred_checks_with_messages() {
    let mut symbols = Symbols::default();
    let h = Dim::constant(symbols.intern("H"));
    let kernel = Dim::constant(symbols.intern("K"));
    let conv = Conv2d {
        filters: k(4),
        kernel: kernel.clone(),
        strides: None,
        padding: Padding::Valid,
    };
    let net = ModelSpec {
        name: "Net".to_owned(),
        input: Some(vec![h.clone(), k(28), k(1)]),
        layers: vec![
            Some(layer(LayerKind::Conv2d(conv), "conv2d(4, K)")),
            Some(flatten()),
            Some(dense(10)),
        ],
    };
    let inference = shapes(&net, &symbols);

    assert!(inference.is_valid(), "{:?}", inference.problems);
    let at_most: Vec<&Check> = inference
        .checks
        .iter()
        .filter(|c| matches!(c.cond, Cond::AtMost(..)))
        .collect();
    assert_eq!(at_most.len(), 2);
    assert_eq!(at_most[0].cond, Cond::AtMost(kernel.clone(), h.clone()));
    assert_eq!(at_most[0].site, Site::Arg(0, "kernel"));
    assert_eq!(
        at_most[0].message,
        "layer 1 `conv2d(4, K)` needs a map at least K×K, but the model input is H×28×1: \
         the kernel is larger than the input height; use a smaller kernel or `padding = same`"
    );
    assert!(at_most[1].message.contains("larger than the input width"));

    let nonzero: Vec<&str> = inference
        .checks
        .iter()
        .filter(|c| matches!(c.cond, Cond::NonZero(_)))
        .map(|c| c.message.as_str())
        .collect();
    assert_eq!(
        nonzero,
        [
            "model `Net`: the input height H is 0, but it must be at least 1",
            "layer 1 `conv2d(4, K)`: the kernel size K is 0, but it must be at least 1"
        ]
    );

    // (H - K + 1)·(28 - K + 1)·4 can overflow, so flatten gets a Fits check.
    assert!(inference
        .checks
        .iter()
        .any(|c| matches!(c.cond, Cond::Fits(_))));
    assert_eq!(inference.output(), Some(&Shape::Vector(k(10))));
}

#[test]
fn constant_rate_is_checked_by_the_compiler() {
    let mut symbols = Symbols::default();
    let rate = symbols.intern("RATE");
    let spec = layer(
        LayerKind::Dropout(Dropout {
            rate: Rate::Const(rate),
            noise_shape: None,
        }),
        "dropout(RATE)",
    );
    let inference = shapes(&model(&[4], vec![spec, dense(1)]), &symbols);

    assert!(inference.is_valid());
    assert_eq!(inference.checks.len(), 1);
    assert_eq!(inference.checks[0].cond, Cond::RateInRange(rate));
    assert_eq!(
        inference.checks[0].message,
        "layer 1 `dropout(RATE)`: the rate RATE must be at least 0 and below 1"
    );
}

#[test]
fn keras_names_count_per_kind() {
    let kinds = [dense(1).kind, flatten().kind, dense(2).kind, dense(3).kind];
    let names = keras_names(kinds.iter().map(Some).chain([None]));

    assert_eq!(names, ["dense", "flatten", "dense_1", "dense_2", ""]);
}

#[test]
fn forecaster_has_the_keras_shapes_names_and_parameter_count() {
    let net = model(
        &[52, 1],
        vec![lstm_seq(64), dropout(0.3), lstm(32), dropout(0.3), dense(1)],
    );
    let inference = infer(&net);
    assert!(inference.is_valid(), "{:?}", inference.problems);

    // Every step of the first lstm, 52×64, kept by dropout; the second keeps the last step.
    assert_eq!(output_of(&inference, 0), Shape::Sequence(k(52), k(64)));
    assert_eq!(output_of(&inference, 1), Shape::Sequence(k(52), k(64)));
    assert_eq!(output_of(&inference, 2), Shape::Vector(k(32)));
    assert_eq!(inference.output(), Some(&Shape::Vector(k(1))));
    // 4·64·(1 + 64 + 1) = 16 896, 4·32·(64 + 32 + 1) = 12 416, 32·1 + 1 = 33 (Keras's summary)
    let params: Vec<Dim> = inference
        .layers
        .iter()
        .flatten()
        .map(|l| l.params.clone())
        .collect();
    assert_eq!(params, [k(16_896), k(0), k(12_416), k(0), k(33)]);
    assert_eq!(inference.params, Some(k(29_345)));
    assert!(inference.checks.is_empty());

    let names: Vec<&str> = inference
        .layers
        .iter()
        .flatten()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["lstm", "dropout", "lstm_1", "dropout_1", "dense"]);
}

#[test]
fn lstm_parameter_formula() {
    // Four gates, each (f + u + 1)·u: 4·64·66 and 4·32·97.
    assert_eq!(lstm_params(&k(1), &k(64)), Ok(k(16_896)));
    assert_eq!(lstm_params(&k(64), &k(32)), Ok(k(12_416)));
    assert_eq!(lstm_params(&k(3), &k(1)), Ok(k(20)));
    assert_eq!(lstm_params(&k(1), &k(usize::MAX / 4)), Err(Overflow));

    let mut symbols = Symbols::default();
    let f = Dim::constant(symbols.intern("F"));
    let u = Dim::constant(symbols.intern("U"));
    let symbolic = lstm_params(&f, &u).unwrap();
    assert_eq!(symbolic.show(&symbols), "4*U*(F + U + 1)");
    assert!(symbolic.may_overflow());
    let value = |id: ConstId| [64, 32][id.0];
    assert_eq!(symbolic.eval_checked(&value), Some(12_416));
}

#[test]
fn lstm_sequences_flatten_into_dense_and_one_step_is_enough() {
    let flat = infer(&model(
        &[10, 3],
        vec![lstm_seq(4), flatten(), with(Activation::Sigmoid, dense(1))],
    ));
    let one_step = infer(&model(&[1, 2], vec![lstm(3), dense(1)]));

    assert!(flat.is_valid(), "{:?}", flat.problems);
    // 10×4 flattened to 40; 4·4·(3 + 4 + 1) = 128, 40·1 + 1 = 41
    assert_eq!(output_of(&flat, 1), Shape::Vector(k(40)));
    assert_eq!(flat.params, Some(k(169)));
    assert!(one_step.is_valid(), "{:?}", one_step.problems);
    // 4·3·(2 + 3 + 1) = 72, 3·1 + 1 = 4
    assert_eq!(one_step.params, Some(k(76)));
}

#[test]
fn lstm_needs_a_sequence() {
    let image = infer(&model(&[28, 28, 1], vec![lstm(64), dense(10)]));
    let vector = infer(&model(&[52], vec![lstm(64), dense(1)]));
    let after_dense = infer(&model(&[8], vec![dense(4), lstm(2), dense(1)]));

    assert_eq!(
        messages(&image),
        [
            "layer 1 `lstm(64)` needs a sequence (time×features), but the model input is \
          28×28×1; declare the input as (time, features)"
        ]
    );
    assert_eq!(image.problems[0].site, Site::Layer(0));
    assert_eq!(
        messages(&vector),
        [
            "layer 1 `lstm(64)` needs a sequence (time×features), but the model input is the \
          vector 52; declare the input as (time, features), e.g. `(52, 1)` for one value per \
          step"
        ]
    );
    assert_eq!(
        messages(&after_dense),
        [
            "layer 2 `lstm(2)` needs a sequence (time×features), but the previous layer outputs \
          the vector 4"
        ]
    );
}

#[test]
fn stacked_lstm_without_return_sequences_names_the_earlier_layer() {
    let direct = infer(&model(&[52, 1], vec![lstm(64), lstm(32), dense(1)]));
    let through_dropout = infer(&model(
        &[52, 1],
        vec![lstm(64), dropout(0.3), flatten(), lstm(32), dense(1)],
    ));

    assert_eq!(
        messages(&direct),
        [
            "layer 2 `lstm(32)` needs a sequence (time×features), but the previous layer outputs \
          the vector 64 (only the last step of layer 1 `lstm(64)`); add \
          `return_sequences = true` to layer 1 `lstm(64)`"
        ]
    );
    assert_eq!(direct.problems[0].site, Site::Layer(1));
    // Dropout and the flatten of a vector keep the shape, so the lstm is still the cause.
    assert!(
        messages(&through_dropout)[0].starts_with("layer 4 `lstm(32)` needs a sequence"),
        "{:?}",
        through_dropout.problems
    );
    assert!(messages(&through_dropout)[0]
        .ends_with("add `return_sequences = true` to layer 1 `lstm(64)`"));
}

#[test]
fn dense_after_lstm_sequences_suggests_dropping_return_sequences_or_flatten() {
    let inference = infer(&model(&[52, 1], vec![lstm_seq(64), dropout(0.3), dense(1)]));
    // A reshaping layer in between means the lstm is no longer the one to change.
    let reshaped = infer(&model(
        &[52, 1],
        vec![lstm_seq(64), flatten(), lstm(2), dense(1)],
    ));

    assert_eq!(
        messages(&inference),
        [
            "layer 3 `dense(1)` needs a flat input, but the previous layer outputs the sequence \
          52×64 (every step of layer 1 `lstm(64, return_sequences = true)`); remove \
          `return_sequences` from layer 1 to keep only the last step, or add `flatten;` \
          before this layer"
        ]
    );
    assert_eq!(inference.problems[0].site, Site::Layer(2));
    assert_eq!(
        messages(&reshaped),
        [
            "layer 3 `lstm(2)` needs a sequence (time×features), but the previous layer outputs \
          the vector 3328"
        ]
    );
}

#[test]
fn zero_lstm_units_is_an_error_on_the_argument() {
    let inference = infer(&model(&[52, 1], vec![lstm(0), dense(1)]));

    assert_eq!(
        messages(&inference),
        ["layer 1 `lstm(0)`: the number of units is 0, but it must be at least 1"]
    );
    assert_eq!(inference.problems[0].site, Site::Arg(0, "units"));
}

#[test]
fn lstm_takes_no_activation_word() {
    let inference = infer(&model(
        &[52, 1],
        vec![with(Activation::Relu, lstm(8)), dense(1)],
    ));

    assert_eq!(
        messages(&inference),
        [
            "layer 1 `lstm(8)` takes no activation word: its gates use sigmoid and its cell tanh, \
          as in Keras; remove `relu`"
        ]
    );
    assert_eq!(inference.problems[0].site, Site::Activation(0));
}

#[test]
fn softmax_over_one_unit_is_an_error() {
    let one = infer(&model(
        &[52, 1],
        vec![lstm(8), with(Activation::Softmax, dense(1))],
    ));
    let two = infer(&model(&[4], vec![with(Activation::Softmax, dense(2))]));
    let sigmoid = infer(&model(&[4], vec![with(Activation::Sigmoid, dense(1))]));

    assert_eq!(
        messages(&one),
        [
            "layer 2 `dense(1)`: `softmax` over a single unit always outputs 1; use `sigmoid` for \
          one probability, or no activation for a regression output"
        ]
    );
    assert_eq!(one.problems[0].site, Site::Activation(1));
    assert!(two.is_valid());
    assert!(sigmoid.is_valid());
}

#[test]
fn softmax_over_constant_units_is_checked_by_the_compiler() {
    let mut symbols = Symbols::default();
    let units = Dim::constant(symbols.intern("CLASSES"));
    let spec = with(
        Activation::Softmax,
        layer(
            LayerKind::Dense(Dense {
                units: units.clone(),
            }),
            "dense(CLASSES)",
        ),
    );
    let inference = shapes(&model(&[4], vec![spec]), &symbols);

    assert!(inference.is_valid(), "{:?}", inference.problems);
    // The zero check comes first, so a zero is not also reported as a single unit.
    let conds: Vec<&Cond> = inference.checks.iter().map(|c| &c.cond).collect();
    assert_eq!(conds[0], &Cond::NonZero(units.clone()));
    assert_eq!(conds[1], &Cond::AtMost(k(2), units));
    assert_eq!(inference.checks[1].site, Site::Activation(0));
    assert_eq!(
        inference.checks[1].message,
        "layer 1 `dense(CLASSES)`: `softmax` over a single unit always outputs 1, so CLASSES \
         must be at least 2; use `sigmoid` for one probability, or no activation for a \
         regression output"
    );
}

#[test]
fn constant_sequence_sizes_become_deferred_checks() {
    let mut symbols = Symbols::default();
    let window = Dim::constant(symbols.intern("WINDOW"));
    let features = Dim::constant(symbols.intern("FEATURES"));
    let units = Dim::constant(symbols.intern("UNITS"));
    let stacked = |units: &Dim, return_sequences| {
        let text = if return_sequences {
            "lstm(UNITS, return_sequences = true)"
        } else {
            "lstm(UNITS)"
        };
        let lstm = Lstm {
            units: units.clone(),
            return_sequences,
            dropout: None,
            recurrent_dropout: None,
        };
        Some(layer(LayerKind::Lstm(lstm), text))
    };
    let net = ModelSpec {
        name: "Net".to_owned(),
        input: Some(vec![window.clone(), features.clone()]),
        layers: vec![
            stacked(&units, true),
            Some(dropout(0.2)),
            stacked(&units, false),
            Some(dense(1)),
        ],
    };
    let inference = shapes(&net, &symbols);

    assert!(inference.is_valid(), "{:?}", inference.problems);
    assert_eq!(
        output_of(&inference, 1),
        Shape::Sequence(window.clone(), units.clone())
    );
    assert_eq!(output_of(&inference, 2), Shape::Vector(units.clone()));
    let nonzero: Vec<&str> = inference
        .checks
        .iter()
        .filter(|c| matches!(c.cond, Cond::NonZero(_)))
        .map(|c| c.message.as_str())
        .collect();
    assert_eq!(
        nonzero,
        [
            "model `Net`: the number of time steps WINDOW is 0, but it must be at least 1",
            "model `Net`: the number of features FEATURES is 0, but it must be at least 1",
            "layer 1 `lstm(UNITS, return_sequences = true)`: the number of units UNITS is 0, \
             but it must be at least 1",
            "layer 3 `lstm(UNITS)`: the number of units UNITS is 0, but it must be at least 1",
        ]
    );
    // Parameter counts and the WINDOW×UNITS sequence are products only rustc can check.
    let fits = inference
        .checks
        .iter()
        .filter(|c| matches!(c.cond, Cond::Fits(_)))
        .count();
    assert!(fits >= 3, "{:?}", inference.checks);

    // 4·U·(F + U + 1) twice, plus U·1 + 1, evaluated with F = 1, U = 64.
    let value = |id: ConstId| [52, 1, 64][id.0];
    let total = inference.params.as_ref().unwrap();
    assert_eq!(total.eval_checked(&value), Some(16_896 + 4 * 64 * 129 + 65));
}

#[test]
fn keras_names_number_lstms() {
    let kinds = [
        lstm_seq(4).kind,
        dropout(0.1).kind,
        lstm(2).kind,
        dense(1).kind,
    ];
    let names = keras_names(kinds.iter().map(Some));

    assert_eq!(names, ["lstm", "dropout", "lstm_1", "dense"]);
}

#[test]
fn elu_and_selu_go_where_relu_goes() {
    let ok = infer(&model(
        &[8, 8, 1],
        vec![
            with(Activation::Elu, conv(2, 3)),
            flatten(),
            with(Activation::Selu, dense(4)),
            dense(1),
        ],
    ));
    let on_dropout = infer(&model(
        &[4],
        vec![dense(4), with(Activation::Selu, dropout(0.1)), dense(1)],
    ));
    let on_lstm = infer(&model(&[5, 1], vec![with(Activation::Elu, lstm(3))]));

    assert!(ok.is_valid(), "{:?}", ok.problems);
    assert_eq!(
        messages(&on_dropout),
        [
            "layer 2 `dropout(0.1)` takes no activation, but `selu` follows it; put the \
          activation on the layer before, or remove it"
        ]
    );
    assert!(messages(&on_lstm)[0].ends_with("remove `elu`"));
}

fn spatial(rate: f32) -> LayerSpec {
    let kind = LayerKind::SpatialDropout2d(Dropout {
        rate: Rate::Known(rate),
        noise_shape: None,
    });
    layer(kind, &format!("spatial_dropout2d({rate})"))
}

fn gaussian_dropout(rate: f32) -> LayerSpec {
    let kind = LayerKind::GaussianDropout(Dropout {
        rate: Rate::Known(rate),
        noise_shape: None,
    });
    layer(kind, &format!("gaussian_dropout({rate})"))
}

fn alpha_dropout(rate: f32) -> LayerSpec {
    let kind = LayerKind::AlphaDropout(Dropout {
        rate: Rate::Known(rate),
        noise_shape: None,
    });
    layer(kind, &format!("alpha_dropout({rate})"))
}

fn noise(stddev: f32) -> LayerSpec {
    let kind = LayerKind::GaussianNoise(GaussianNoise {
        stddev: Rate::Known(stddev),
    });
    layer(kind, &format!("gaussian_noise({stddev})"))
}

#[test]
fn the_dropout_family_keeps_shapes_and_is_numbered_per_kind() {
    let inference = infer(&model(
        &[8, 8, 1],
        vec![
            conv(4, 3),
            spatial(0.2),
            spatial(0.1),
            gaussian_dropout(0.3),
            flatten(),
            with(Activation::Selu, dense(6)),
            alpha_dropout(0.1),
            noise(0.0),
            noise(0.5),
            dense(1),
        ],
    ));

    assert!(inference.is_valid(), "{:?}", inference.problems);
    // conv2d(4, 3) on 8×8×1 gives 6×6×4; each noise layer keeps its input's shape.
    let map = Shape::Image(k(6), k(6), k(4));
    for index in 1..=3 {
        assert_eq!(output_of(&inference, index), map, "layer {index}");
    }
    for index in 6..=8 {
        assert_eq!(
            output_of(&inference, index),
            Shape::Vector(k(6)),
            "layer {index}"
        );
    }
    let names: Vec<&str> = inference
        .layers
        .iter()
        .map(|l| l.as_ref().map_or("", |l| l.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            "conv2d",
            "spatial_dropout2d",
            "spatial_dropout2d_1",
            "gaussian_dropout",
            "flatten",
            "dense",
            "alpha_dropout",
            "gaussian_noise",
            "gaussian_noise_1",
            "dense_1"
        ]
    );
    // 3·3·1·4 + 4 = 40, 144·6 + 6 = 870, 6·1 + 1 = 7: the noise layers have none.
    assert_eq!(inference.params, Some(k(40 + 870 + 7)));
}

#[test]
fn spatial_dropout_needs_an_image_and_suggests_dropout() {
    let vector = infer(&model(&[16], vec![dense(8), spatial(0.2), dense(1)]));
    let sequence = infer(&model(&[5, 3], vec![spatial(0.2), lstm(2)]));

    assert_eq!(
        messages(&vector),
        [
            "layer 2 `spatial_dropout2d(0.2)` needs an image (height×width×channels), since it \
          drops whole channels, but the previous layer outputs the vector 8; use `dropout` here"
        ]
    );
    assert_eq!(vector.problems[0].site, Site::Layer(1));
    assert!(messages(&sequence)[0].ends_with(
        "but the model input is the sequence 5×3; use `dropout(rate, noise_shape = (1, 3))` to \
         drop whole features at every step, or `dropout(rate)` for single values"
    ));
}

#[test]
fn the_dropout_family_checks_rates_like_dropout() {
    let one = infer(&model(&[4], vec![gaussian_dropout(1.0), dense(1)]));
    let negative = infer(&model(&[4], vec![alpha_dropout(-0.1), dense(1)]));
    let spatial_one = infer(&model(&[4, 4, 1], vec![spatial(1.0), flatten(), dense(1)]));

    assert_eq!(
        messages(&one),
        [
            "layer 1 `gaussian_dropout(1)`: the rate is 1.0, but it must be at least 0 and \
          below 1 (a rate of 1 or more drops every unit)"
        ]
    );
    assert_eq!(one.problems[0].site, Site::Arg(0, "rate"));
    assert!(messages(&negative)[0].contains("the rate is -0.1, but it must be at least 0"));
    assert_eq!(spatial_one.problems.len(), 1);
    assert_eq!(spatial_one.problems[0].site, Site::Arg(0, "rate"));
}

#[test]
fn gaussian_noise_needs_a_standard_deviation_of_at_least_zero() {
    let zero = infer(&model(&[4], vec![noise(0.0), dense(1)]));
    let minus_zero = infer(&model(&[4], vec![noise(-0.0), dense(1)]));
    let negative = infer(&model(&[4], vec![noise(-0.5), dense(1)]));
    let infinite = infer(&model(&[4], vec![noise(f32::INFINITY), dense(1)]));

    assert!(zero.is_valid());
    assert!(minus_zero.is_valid());
    assert_eq!(
        messages(&negative),
        [
            "layer 1 `gaussian_noise(-0.5)`: the standard deviation is -0.5, but it must be at \
          least 0"
        ]
    );
    assert_eq!(negative.problems[0].site, Site::Arg(0, "stddev"));
    assert_eq!(infinite.problems.len(), 1);
}

#[test]
fn constant_standard_deviation_is_checked_by_the_compiler() {
    let mut symbols = Symbols::default();
    let stddev = symbols.intern("SIGMA");
    let spec = layer(
        LayerKind::GaussianNoise(GaussianNoise {
            stddev: Rate::Const(stddev),
        }),
        "gaussian_noise(SIGMA)",
    );
    let inference = shapes(&model(&[4], vec![spec, dense(1)]), &symbols);

    assert!(inference.is_valid());
    assert_eq!(inference.checks[0].cond, Cond::StddevValid(stddev));
    assert_eq!(
        inference.checks[0].message,
        "layer 1 `gaussian_noise(SIGMA)`: the standard deviation SIGMA must be at least 0 and \
         finite"
    );
}

#[test]
fn no_layer_of_the_dropout_family_ends_a_model_or_takes_an_activation() {
    for spec in [
        spatial(0.1),
        gaussian_dropout(0.1),
        alpha_dropout(0.1),
        noise(0.1),
    ] {
        let word = spec.kind.keras_name();
        let input = if word == "spatial_dropout2d" {
            vec![4, 4, 1]
        } else {
            vec![4]
        };
        let last = infer(&model(&input, vec![spec.clone()]));
        let activated = infer(&model(
            &input,
            vec![with(Activation::Relu, spec), flatten(), dense(1)],
        ));

        assert_eq!(
            messages(&last),
            [format!(
                "layer 1 `{}` is the last layer, but a model cannot end with `{word}`; remove \
                 it or add the output layer after it",
                last_text(word)
            )],
        );
        assert_eq!(activated.problems.len(), 1, "{word}");
        assert_eq!(activated.problems[0].site, Site::Activation(0), "{word}");
    }
}

fn last_text(word: &str) -> String {
    match word {
        "gaussian_noise" => "gaussian_noise(0.1)".to_owned(),
        _ => format!("{word}(0.1)"),
    }
}

#[test]
fn an_lstm_is_named_through_any_noise_layer() {
    let inference = infer(&model(&[5, 2], vec![lstm(3), noise(0.1), lstm(2)]));

    assert!(messages(&inference)[0].contains("add `return_sequences = true` to layer 1 `lstm(3)`"));
}

fn dropout_noise(rate: f32, noise: &[usize]) -> LayerSpec {
    let kind = LayerKind::Dropout(Dropout {
        rate: Rate::Known(rate),
        noise_shape: Some(noise.iter().map(|&n| k(n)).collect()),
    });
    layer(kind, &format!("dropout({rate}, noise_shape = {noise:?})"))
}

#[test]
fn a_noise_shape_has_one_entry_per_axis_each_one_or_the_axis_size() {
    let channels = infer(&model(
        &[6, 6, 4],
        vec![dropout_noise(0.2, &[1, 1, 4]), flatten(), dense(1)],
    ));
    let full = infer(&model(&[5, 3], vec![dropout_noise(0.2, &[5, 3]), lstm(2)]));
    let wrong = infer(&model(
        &[6, 6, 4],
        vec![dropout_noise(0.2, &[1, 3, 0]), flatten(), dense(1)],
    ));
    let rank = infer(&model(&[16], vec![dropout_noise(0.2, &[1, 16]), dense(1)]));

    assert!(channels.is_valid(), "{:?}", channels.problems);
    assert_eq!(output_of(&channels, 0), Shape::Image(k(6), k(6), k(4)));
    assert!(full.is_valid(), "{:?}", full.problems);
    assert_eq!(
        messages(&wrong),
        [
            "layer 1 `dropout(0.2, noise_shape = [1, 3, 0])`: noise shape entry 2 is 3, but the \
          width is 6; each entry is 1 (one mask value shared along that axis) or the axis size",
            "layer 1 `dropout(0.2, noise_shape = [1, 3, 0])`: noise shape entry 3 is 0, but the \
          number of channels is 4; each entry is 1 (one mask value shared along that axis) or \
          the axis size",
        ]
    );
    assert_eq!(wrong.problems[0].site, Site::Arg(0, "noise_shape"));
    // The failing dropout stops the checks after it, so flatten and dense add nothing.
    assert_eq!(wrong.problems.len(), 2);
    assert_eq!(
        messages(&rank),
        [
            "layer 1 `dropout(0.2, noise_shape = [1, 16])`: the noise shape has 2 entries, but \
          the model input is the vector 16, which has 1 axis (length); give one entry per axis"
        ]
    );
}

#[test]
fn a_constant_noise_shape_entry_is_checked_by_the_compiler() {
    let mut symbols = Symbols::default();
    let c = symbols.intern("C");
    let kind = LayerKind::Dropout(Dropout {
        rate: Rate::Known(0.5),
        noise_shape: Some(vec![k(1), Dim::constant(c)]),
    });
    let spec = layer(kind, "dropout(0.5, noise_shape = (1, C))");
    let inference = shapes(&model(&[3, 8], vec![spec, flatten(), dense(1)]), &symbols);

    assert!(inference.is_valid(), "{:?}", inference.problems);
    assert_eq!(
        inference.checks[0].cond,
        Cond::OneOrEqual(Dim::constant(c), k(8))
    );
    assert_eq!(
        inference.checks[0].message,
        "layer 1 `dropout(0.5, noise_shape = (1, C))`: noise shape entry 2 is C, which is \
         neither 1 nor the number of features, 8; each entry is 1 (one mask value shared along \
         that axis) or the axis size"
    );
}

fn lstm_dropout(units: usize, dropout: Option<Rate>, recurrent: Option<Rate>) -> LayerSpec {
    let lstm = Lstm {
        units: k(units),
        return_sequences: false,
        dropout,
        recurrent_dropout: recurrent,
    };
    layer(LayerKind::Lstm(lstm), &format!("lstm({units}, …)"))
}

#[test]
fn lstm_dropout_rates_are_checked_like_dropout() {
    let mut symbols = Symbols::default();
    let r = symbols.intern("R");
    let ok = infer(&model(
        &[5, 2],
        vec![lstm_dropout(
            3,
            Some(Rate::Known(0.2)),
            Some(Rate::Known(0.0)),
        )],
    ));
    let wrong = infer(&model(
        &[5, 2],
        vec![lstm_dropout(
            3,
            Some(Rate::Known(-0.5)),
            Some(Rate::Known(1.0)),
        )],
    ));
    let constant = shapes(
        &model(&[5, 2], vec![lstm_dropout(3, None, Some(Rate::Const(r)))]),
        &symbols,
    );

    assert!(ok.is_valid(), "{:?}", ok.problems);
    assert_eq!(output_of(&ok, 0), Shape::Vector(k(3)));
    assert_eq!(
        messages(&wrong),
        [
            "layer 1 `lstm(3, …)`: the dropout rate is -0.5, but it must be at least 0 and \
          below 1",
            "layer 1 `lstm(3, …)`: the recurrent dropout rate is 1.0, but it must be at least 0 \
          and below 1 (a rate of 1 or more drops every unit)",
        ]
    );
    assert_eq!(wrong.problems[0].site, Site::Arg(0, "dropout"));
    assert_eq!(wrong.problems[1].site, Site::Arg(0, "recurrent_dropout"));
    assert!(constant.is_valid());
    assert_eq!(constant.checks[0].cond, Cond::RateInRange(r));
    assert_eq!(constant.checks[0].site, Site::Arg(0, "recurrent_dropout"));
    assert_eq!(
        constant.checks[0].message,
        "layer 1 `lstm(3, …)`: the recurrent dropout rate R must be at least 0 and below 1"
    );
}
