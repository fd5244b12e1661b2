//! The whole macro on token streams: parse, infer and expand together.

use quote::quote;

use super::{check, expand_model};
use crate::dim::{ConstId, Dim};
use crate::ir::Shape;

fn error_messages(tokens: proc_macro2::TokenStream) -> Vec<String> {
    match check(tokens) {
        Ok(_) => Vec::new(),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    }
}

/// Token text without the spaces `quote` puts between tokens.
fn compact(tokens: proc_macro2::TokenStream) -> String {
    tokens
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

#[test]
fn seed_cnn_expands_to_the_core_types() {
    let code = compact(expand_model(quote! {
        /// The seed model.
        pub MnistCnn(28, 28, 1) {
            conv2d(32, 3) relu;
            maxpool(2);
            dropout(0.25);
            conv2d(64, 3) relu;
            maxpool(2);
            dropout(0.25);
            flatten;
            dense(10) softmax;
        }
    }));

    assert!(!code.contains("compile_error"), "{code}");
    for expected in [
        "pubconv2d:::dropnet::core::layers::Conv2d<28,28,1,32,3,1,false,\
         ::dropnet::core::activation::Relu>",
        "pubmax_pooling2d:::dropnet::core::layers::MaxPool2d<26,26,32,2,2>",
        "pubdropout:::dropnet::core::layers::Dropout<::dropnet::core::Image<13,13,32>>",
        "pubconv2d_1:::dropnet::core::layers::Conv2d<13,13,32,64,3,1,false,",
        "pubdropout_1:",
        "pubflatten:::dropnet::core::layers::Flatten<::dropnet::core::Image<5,5,64>>",
        "pubdense:::dropnet::core::layers::Dense<1600,10,::dropnet::core::activation::Softmax>",
        "pubconstPARAM_COUNT:usize=34826;",
        "pubconstINPUT_SHAPE:[usize;3]=[28,28,1];",
        "typeOutput=::dropnet::core::Vector<10>;",
        "constNAME:&'staticstr=\"MnistCnn\";",
        "::new(\"dropout_1\",seed,0.25)",
        "#[doc=\"Layer1:`conv2d(32,3)relu`,output26×26×32,320parameters.\"]",
    ] {
        assert!(code.contains(expected), "missing {expected} in {code}");
    }
}

#[test]
fn constant_sizes_become_braced_expressions_and_const_assertions() {
    let code = compact(expand_model(quote! {
        Net(H, W, 1) { conv2d(4, K, strides = 2); flatten; dense(UNITS); }
    }));
    // Each path is evaluated once, into a private constant that the rest names.
    let (h, w, k) = (
        "__dropnet_Net_size_0",
        "__dropnet_Net_size_1",
        "__dropnet_Net_size_2",
    );

    assert!(!code.contains("compile_error"), "{code}");
    for (name, path) in [
        (h, "H"),
        (w, "W"),
        (k, "K"),
        ("__dropnet_Net_size_3", "UNITS"),
    ] {
        let item = format!("const{name}:::core::primitive::usize={path};");
        assert_eq!(code.matches(&item).count(), 1, "{item} in {code}");
    }
    assert!(!code.contains("saturating_sub(H,K)"), "{code}");
    assert!(
        code.contains(&format!("Conv2d<{{{h}}},{{{w}}},1,4,{{{k}}},2,false,")),
        "{code}"
    );
    assert!(
        code.contains(&format!("usize::saturating_sub({h},{k})/{{letdivisor=2;")),
        "{code}"
    );
    assert!(
        code.contains(&format!(
            "::core::assert!({k}<={h},\"layer1`conv2d(4,K,strides=2)`needsamapatleastK×K"
        )),
        "{code}"
    );
    assert!(code.contains("__dropnet_checked_mul"), "{code}");
}

#[test]
fn a_constant_rate_is_copied_into_an_f32() {
    let code = compact(expand_model(quote! {
        Net(N) { dropout(P); dense(N); }
    }));

    // The input size N comes first, so it is constant 0 and P constant 1.
    assert!(
        code.contains("const__dropnet_Net_size_0:::core::primitive::usize=N;"),
        "{code}"
    );
    assert!(
        code.contains("const__dropnet_Net_rate_1:::core::primitive::f32=P;"),
        "{code}"
    );
    assert!(
        code.contains("::new(\"dropout\",seed,__dropnet_Net_rate_1)"),
        "{code}"
    );
    assert!(
        code.contains("::core::assert!(__dropnet_Net_rate_1>=0.0&&__dropnet_Net_rate_1<1.0"),
        "{code}"
    );
}

#[test]
fn every_error_of_a_call_is_reported() {
    let messages = error_messages(quote! {
        A(8, 8, 1) { conv3d(4, 3); dense(0); }
        B(4) { dense(2) relux; dropout(1.0); dense(1); }
        A(4) { dense(1); }
    });

    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert!(
        messages[0].starts_with("layer 1 `conv3d` is not a known layer (expected one of: `conv2d`")
    );
    assert!(messages[0].ends_with("; did you mean `conv2d`?"));
    assert!(messages[1].starts_with("layer 2 `dense(0)`: the number of units is 0"));
    assert!(messages[2].starts_with("layer 1 `dense(2)` has an unknown activation `relux`"));
    assert!(messages[3].starts_with("layer 2 `dropout(1.0)`: the rate is 1.0,"));
    assert!(messages[4].starts_with("model `A` is already declared"));
}

#[test]
fn argument_mistakes_name_the_layer() {
    let messages = error_messages(quote! {
        Net(8, 8, 1) {
            conv2d(32);
            conv2d(8, 3, stride = 2);
            conv2d(8, 3, strides = 1, strides = 2);
            conv2d(8, 3, padding = full);
            dense(1.5);
            flatten(2);
            dense(10, 20);
        }
    });

    assert_eq!(
        messages,
        [
            "layer 1 `conv2d(32)` needs 2 arguments, `conv2d(filters, kernel)`, but got 1",
            "layer 2 `conv2d(8, 3, stride = 2)` has no argument `stride` (it takes `filters`, \
             `kernel`, `strides`, `padding`); did you mean `strides`?",
            "layer 3 `conv2d(8, 3, strides = 1, strides = 2)` is given `strides` twice",
            "layer 4 `conv2d(8, 3, padding = full)`: the padding must be `valid` or `same`, \
             got `full`",
            "layer 5 `dense(1.5)`: the number of units must be a whole number or a path to a \
             `usize` constant, got `1.5`",
            "layer 6 `flatten(2)` takes no arguments, but got 1",
            "layer 7 `dense(10, 20)` takes 1 positional argument, `dense(units)`, but got 2",
        ]
    );
}

#[test]
fn keras_habits_get_a_pointed_message() {
    let messages = error_messages(quote! {
        Net(8, 8, 1) {
            conv2d(8, 3, padding = "same");
            MaxPooling2D(2);
            flatten;
            dense(1) linear;
        }
    });

    assert_eq!(
        messages,
        [
            "layer 1 `conv2d(8, 3, padding = \"same\")`: the padding is a word, not a string: \
             write `same` without quotes",
            "layer 2 `MaxPooling2D` is not a known layer (expected one of: `conv2d`, `maxpool`, \
             `dropout`, `flatten`, `dense`, `lstm`, `spatial_dropout2d`, `gaussian_dropout`, \
             `alpha_dropout`, `gaussian_noise`); did you mean `maxpool`?",
            "layer 4 `dense(1)`: a layer without an activation is linear; remove `linear`",
        ]
    );
}

#[test]
fn integer_zero_rate_and_shared_constants_are_accepted() {
    let inferred = check(quote! {
        Net(N, N) { dropout(0); flatten; dense(N); }
    })
    .expect("valid model");

    // One constant used three times is one symbol: N×N flattened to N*N, then N units.
    let n = Dim::constant(ConstId(0));
    let flat = n
        .mul(&n)
        .expect("symbolic products do not overflow in the macro");
    let outputs: Vec<&Shape> = inferred[0]
        .layers
        .iter()
        .flatten()
        .map(|l| &l.output)
        .collect();
    let expected = [
        Shape::Sequence(n.clone(), n.clone()),
        Shape::Vector(flat),
        Shape::Vector(n),
    ];
    assert_eq!(outputs, expected.iter().collect::<Vec<_>>());
}

#[test]
fn forecaster_expands_to_lstm_types() {
    let code = compact(expand_model(quote! {
        pub Forecaster(52, 1) {
            lstm(64, return_sequences = true);
            dropout(0.3);
            lstm(32);
            dropout(0.3);
            dense(1);
        }
    }));

    assert!(!code.contains("compile_error"), "{code}");
    for expected in [
        "publstm:::dropnet::core::layers::Lstm<52,1,64,true>",
        "pubdropout:::dropnet::core::layers::Dropout<::dropnet::core::Sequence<52,64>>",
        "publstm_1:::dropnet::core::layers::Lstm<52,64,32,false>",
        "pubdropout_1:::dropnet::core::layers::Dropout<::dropnet::core::Vector<32>>",
        "pubdense:::dropnet::core::layers::Dense<32,1,::dropnet::core::activation::Linear>",
        "lstm:<::dropnet::core::layers::Lstm<52,1,64,true>>::new(\"lstm\",seed)",
        "lstm_1:<::dropnet::core::layers::Lstm<52,64,32,false>>::new(\"lstm_1\",seed)",
        "pubconstPARAM_COUNT:usize=29345;",
        "typeInput=::dropnet::core::Sequence<52,1>;",
        "typeOutput=::dropnet::core::Vector<1>;",
    ] {
        assert!(code.contains(expected), "missing {expected} in {code}");
    }
}

#[test]
fn return_sequences_is_a_keyword_or_a_bare_word() {
    let inferred = check(quote! {
        Net(10, 2) {
            lstm(8, return_sequences);
            lstm(units = 6, return_sequences = true);
            lstm(4, return_sequences = false);
            dense(1);
        }
    })
    .expect("valid model");

    let outputs: Vec<&Shape> = inferred[0]
        .layers
        .iter()
        .flatten()
        .map(|l| &l.output)
        .collect();
    let expected = [
        Shape::Sequence(Dim::Known(10), Dim::Known(8)),
        Shape::Sequence(Dim::Known(10), Dim::Known(6)),
        Shape::Vector(Dim::Known(4)),
        Shape::Vector(Dim::Known(1)),
    ];
    assert_eq!(outputs, expected.iter().collect::<Vec<_>>());
}

#[test]
fn lstm_argument_mistakes_name_the_layer() {
    let messages = error_messages(quote! {
        Net(10, 2) {
            lstm(8, return_sequence = true);
            lstm(8, return_sequences = 3);
            lstm(8, return_sequences = True);
            lstm(8, return_sequences = "true");
            lstm(8, return_sequences, return_sequences = false);
            lstm(8, return_sequence);
            lstm(return_sequences);
            lstm(8, recurrent_dropout = "0.2");
            lstm(8, dropout = 1.0, recurrent_dropout = -0.1);
        }
    });

    assert_eq!(
        messages,
        [
            "layer 1 `lstm(8, return_sequence = true)` has no argument `return_sequence` (it \
             takes `units`, `return_sequences`, `dropout`, `recurrent_dropout`); did you mean \
             `return_sequences`?",
            "layer 2 `lstm(8, return_sequences = 3)`: `return_sequences` must be `true` or \
             `false`, got `3`",
            "layer 3 `lstm(8, return_sequences = True)`: `return_sequences` must be `true` or \
             `false`, got `True`; did you mean `true`?",
            "layer 4 `lstm(8, return_sequences = \"true\")`: `return_sequences` must be `true` \
             or `false`, got `\"true\"`; write `true` without quotes",
            "layer 5 `lstm(8, return_sequences, return_sequences = false)` is given \
             `return_sequences` twice",
            "layer 6 `lstm(8, return_sequence)` takes 1 positional argument, `lstm(units)`, but \
             got 2; give the others by name: `return_sequences = true | false`, `dropout = \
             rate`, `recurrent_dropout = rate`; did you mean `return_sequences`?",
            "layer 7 `lstm(return_sequences)` is missing `units`; write `lstm(units)`",
            "layer 8 `lstm(8, recurrent_dropout = \"0.2\")`: the recurrent dropout rate must be \
             a number or a path to an `f32` constant, got `\"0.2\"`",
            "layer 9 `lstm(8, dropout = 1.0, recurrent_dropout = -0.1)`: the dropout rate is \
             1.0, but it must be at least 0 and below 1 (a rate of 1 or more drops every unit)",
            "layer 9 `lstm(8, dropout = 1.0, recurrent_dropout = -0.1)`: the recurrent dropout \
             rate is -0.1, but it must be at least 0 and below 1",
        ]
    );
}

#[test]
fn lstm_shape_mistakes_are_reported_with_the_rest() {
    let messages = error_messages(quote! {
        Net(52, 1) { lstm(64); lstm(32); dense(1) softmax; }
    });

    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(messages[0].starts_with("layer 2 `lstm(32)` needs a sequence"));
    assert!(messages[0].ends_with("add `return_sequences = true` to layer 1 `lstm(64)`"));
    assert!(messages[1].starts_with("layer 3 `dense(1)`: `softmax` over a single unit"));
}

#[test]
fn a_missing_semicolon_is_pointed_out() {
    let messages = error_messages(quote! { Net(4) { flatten dense(2); } });

    assert_eq!(
        messages,
        ["expected `;` between layer 1 `flatten` and `dense`"]
    );
}

#[test]
fn invalid_models_expand_to_a_stub_with_new() {
    let code = compact(expand_model(quote! { pub(crate) Net(4) { dense(0); } }));

    assert!(code.contains("compile_error"), "{code}");
    assert!(
        code.contains("pub(crate)structNet{runtime:::dropnet::core::Runtime,}"),
        "{code}"
    );
    assert!(code.contains("pubfnnew(seed:u64)->Self"), "{code}");
}

#[test]
fn a_stub_implements_network_with_best_effort_shapes() {
    let broken_chain = compact(expand_model(quote! {
        Net(5, 5, 1) { conv2d(4, 7) relu; flatten; dense(3) softmax; }
    }));
    let broken_header = compact(expand_model(quote! { Net[28] { dense(1); } }));

    for code in [&broken_chain, &broken_header] {
        assert!(code.contains("compile_error"), "{code}");
        assert!(
            code.contains("impl::dropnet::core::NetworkforNet"),
            "{code}"
        );
        assert!(code.contains("::std::vec::Vec::new()"), "{code}");
    }
    assert!(
        broken_chain.contains("typeInput=::dropnet::core::Image<5,5,1>;"),
        "{broken_chain}"
    );
    assert!(
        broken_chain.contains("typeOutput=::dropnet::core::Vector<3>;"),
        "{broken_chain}"
    );
    assert!(
        broken_chain.contains("pubconstOUTPUT_SHAPE:[usize;1]=[3];"),
        "{broken_chain}"
    );
    assert!(
        broken_header.contains("typeInput=::dropnet::core::Vector<1>;"),
        "{broken_header}"
    );
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let inputs = [
        quote!(),
        quote!(Net),
        quote!(pub Net(28, 28, 1)),
        quote!(Net[28] { dense(1); }),
        quote!(Net(28) { dense(1) }),
        quote!(Net(28) { ; ; dense(1);; }),
        quote!(Net(-28) { dense(-1); }),
        quote!(Net(99999999999999999999999999) { dense(1); }),
        quote!(Net(28u8, "x", 1.5) { dense(1); }),
        quote!(Net(28) { dense(units = 2, units = 3); dropout(rate = x::y); }),
        quote!(Net(28) { dense(1) relu relu; 42; (dense); dropout(-); }),
        quote!(Net(18446744073709551615, 18446744073709551615) { flatten; dense(2); }),
        quote!(Net(1, 1, 1) { conv2d(1, 1, strides = 0, padding = "same"); }),
        quote!(Net(4, 1) { lstm(8, return_sequences = -true); lstm(return_sequences =); }),
        quote!(Net(4, 1) { lstm(return_sequences, 8); lstm(8, true); lstm; dense(1); }),
    ];
    for input in inputs {
        let code = expand_model(input.clone());
        let _ = check(input);
        assert!(!code.is_empty() || code.is_empty());
    }
}

#[test]
fn unsupported_argument_syntax_names_the_layer_and_what_is_accepted() {
    let messages = error_messages(quote! {
        Net(8, 8, 1) {
            conv2d(4, (3, 3));
            conv2d(4, 3, strides = (2, 1));
            maxpool([2]);
            dropout(1.0 - P);
            flatten;
            dense([4]);
            dense(((2)));
            dense(A + 1);
            dense(4, ,);
        }
    });

    assert_eq!(
        messages,
        [
            "layer 1 `conv2d(4, (3, 3))`: the kernel size is one whole number (square kernels \
             only), got `(3, 3)`; write `3`",
            "layer 2 `conv2d(4, 3, strides = (2, 1))`: the stride is one whole number (the same \
             step along height and width), got `(2, 1)`",
            "layer 3 `maxpool([2])`: the pool size must be a whole number or a path to a `usize` \
             constant, got `[2]`; write `2`",
            "layer 4 `dropout(1.0 - P)`: the rate is an expression, `1.0 - P`, but rates are \
             literals or paths to `f32` constants; define `const RATE: f32 = 1.0 - P;` and use it",
            "layer 6 `dense([4])`: the number of units must be a whole number or a path to a \
             `usize` constant, got `[4]`; write `4`",
            "layer 7 `dense(((2)))`: the number of units must be a whole number or a path to a \
             `usize` constant, got `((2))`; write `2`",
            "layer 8 `dense(A + 1)`: the number of units is an expression, `A + 1`, but sizes \
             are integer literals or paths to `usize` constants; define \
             `const UNITS: usize = A + 1;` and use it",
            "layer 9 `dense`: expected a value before this comma",
        ]
    );
}

#[test]
fn unsupported_input_sizes_name_the_model() {
    let messages = error_messages(quote! {
        Net((28, 28), H * 2) { flatten; dense(1); }
    });

    assert_eq!(
        messages,
        [
            "model `Net`: the number of time steps must be a whole number or a path to a `usize` \
             constant, got `(28, 28)`",
            "model `Net`: the number of features is an expression, `H * 2`, but sizes are \
             integer literals or paths to `usize` constants; define \
             `const FEATURES: usize = H * 2;` and use it",
        ]
    );
}

#[test]
fn a_call_without_models_is_an_error() {
    assert_eq!(
        error_messages(quote!()),
        [
            "`model!` declares no model; write one as `Name(input sizes) { layers }`, e.g. \
             `Net(4) { dense(1); }`"
        ]
    );
    assert_eq!(
        error_messages(quote!(extra)),
        ["expected a model, found `extra`; each model is `Name(input sizes) { layers }`"]
    );
}

#[test]
fn tokens_after_a_model_are_one_error_and_no_stub() {
    let tokens = quote! { Net(4) { dense(1); } extra };
    let code = compact(expand_model(tokens.clone()));

    assert_eq!(
        error_messages(tokens),
        ["unexpected `extra` after model `Net`; each model is `Name(input sizes) { layers }`"]
    );
    assert!(!code.contains("structextra"), "{code}");
    // The model before is complete, so it is generated in full.
    assert!(code.contains("pubconstPARAM_COUNT:usize=5;"), "{code}");
    assert_eq!(
        error_messages(quote! { Net(4) { dense(1); }; }),
        ["unexpected `;` after model `Net`; each model is `Name(input sizes) { layers }`"]
    );
}

#[test]
fn elu_and_selu_name_the_core_activations() {
    let code = compact(expand_model(quote! {
        Net(8, 8, 1) { conv2d(2, 3) elu; flatten; dense(4) selu; dense(1); }
    }));

    assert!(!code.contains("compile_error"), "{code}");
    assert!(
        code.contains("Conv2d<8,8,1,2,3,1,false,::dropnet::core::activation::Elu>"),
        "{code}"
    );
    assert!(
        code.contains("Dense<72,4,::dropnet::core::activation::Selu>"),
        "{code}"
    );
    assert!(code.contains("Layer3:`dense(4)selu`"), "{code}");
}

#[test]
fn the_dropout_family_expands_to_the_core_types_with_rates() {
    let code = compact(expand_model(quote! {
        Net(8, 8, 1) {
            conv2d(2, 3) relu;
            spatial_dropout2d(0.2);
            gaussian_dropout(RATE);
            flatten;
            dense(4) selu;
            alpha_dropout(0.1);
            gaussian_noise(SIGMA);
            gaussian_noise(-0.0);
            dense(1);
        }
    }));

    assert!(!code.contains("compile_error"), "{code}");
    for expected in [
        "pubspatial_dropout2d:::dropnet::core::layers::SpatialDropout2d<\
         ::dropnet::core::Image<6,6,2>>",
        "pubgaussian_dropout:::dropnet::core::layers::GaussianDropout<\
         ::dropnet::core::Image<6,6,2>>",
        "pubalpha_dropout:::dropnet::core::layers::AlphaDropout<::dropnet::core::Vector<4>>",
        "pubgaussian_noise_1:::dropnet::core::layers::GaussianNoise<::dropnet::core::Vector<4>>",
        "::new(\"spatial_dropout2d\",seed,0.2)",
        "::new(\"gaussian_dropout\",seed,__dropnet_Net_rate_0)",
        "::new(\"alpha_dropout\",seed,0.1)",
        "::new(\"gaussian_noise\",seed,__dropnet_Net_rate_1)",
        "::new(\"gaussian_noise_1\",seed,0.0)",
        "const__dropnet_Net_rate_1:::core::primitive::f32=SIGMA;",
        "::core::assert!(__dropnet_Net_rate_1>=0.0&&__dropnet_Net_rate_1<=\
         ::core::primitive::f32::MAX",
    ] {
        assert!(code.contains(expected), "missing {expected} in {code}");
    }
}

#[test]
fn standard_deviation_literals_are_read_as_f32() {
    let messages = error_messages(quote! {
        Net(4) { gaussian_noise(1e39); gaussian_noise(0.1 + 0.2); gaussian_noise(-1); dense(1); }
    });

    assert_eq!(
        messages,
        [
            "layer 1 `gaussian_noise(1e39)`: the standard deviation `1e39` is too large for an \
             `f32`",
            "layer 2 `gaussian_noise(0.1 + 0.2)`: the standard deviation is an expression, \
             `0.1 + 0.2`, but standard deviations are literals or paths to `f32` constants; \
             define `const STDDEV: f32 = 0.1 + 0.2;` and use it",
            "layer 3 `gaussian_noise(-1)`: the standard deviation is -1.0, but it must be at \
             least 0",
        ]
    );
}

#[test]
fn a_noise_shape_becomes_with_noise_shape() {
    let same = compact(expand_model(quote! {
        Net(6, 6, C) { dropout(0.25, noise_shape = (1, 1, C)); flatten; dense(1); }
    }));
    let other = compact(expand_model(quote! {
        Net(6, 6, 4) { dropout(0.25, noise_shape = (1, 1, C)); flatten; dense(1); }
    }));

    assert!(!same.contains("compile_error"), "{same}");
    assert!(
        same.contains(
            "::new(\"dropout\",seed,0.25).with_noise_shape(&[1,1,{__dropnet_Net_size_0}])"
        ),
        "{same}"
    );
    // An entry that is the axis's own constant needs no check; another constant does.
    assert!(!same.contains("==1||"), "{same}");
    assert!(
        other.contains("::core::assert!(__dropnet_Net_size_0==1||__dropnet_Net_size_0==4,"),
        "{other}"
    );
}

#[test]
fn noise_shape_mistakes_name_the_layer() {
    let messages = error_messages(quote! {
        Net(4, 4, 2) {
            dropout(0.1, noise_shape = [1, 1, 2]);
            dropout(0.1, noise_shape = (1, -1, 2.0));
            spatial_dropout2d(0.1, noise_shape = (1, 1, 2));
            dropout(0.1, noise_shape = ());
            flatten;
            dense(1);
        }
    });

    assert_eq!(
        messages,
        [
            "layer 1 `dropout(0.1, noise_shape = [1, 1, 2])`: the noise shape must be a tuple \
             of sizes, one per axis of the layer's input, e.g. `(1, 1, 32)`, got `[1, 1, 2]`",
            "layer 2 `dropout(0.1, noise_shape = (1, -1, 2.0))`: the noise shape: entry 2 must \
             be a whole number of at least 1, got `-1`",
            "layer 2 `dropout(0.1, noise_shape = (1, -1, 2.0))`: the noise shape: entry 3 must \
             be a whole number or a path to a `usize` constant, got `2.0`",
            "layer 3 `spatial_dropout2d(0.1, noise_shape = (1, 1, 2))` has no argument \
             `noise_shape` (it takes `rate`)",
            "layer 4 `dropout(0.1, noise_shape = ())`: the noise shape is empty; give one size \
             per axis of the layer's input",
        ]
    );
}

#[test]
fn lstm_dropout_rates_become_with_dropout() {
    let code = compact(expand_model(quote! {
        Net(10, 2) {
            lstm(8, return_sequences, dropout = 0.2, recurrent_dropout = R);
            lstm(4, return_sequences, recurrent_dropout = 0.5);
            lstm(3, return_sequences, dropout = 0.1);
            lstm(2);
            dense(1);
        }
    }));

    assert!(!code.contains("compile_error"), "{code}");
    for expected in [
        "::new(\"lstm\",seed).with_dropout(0.2,__dropnet_Net_rate_0)",
        "::new(\"lstm_1\",seed).with_dropout(0.0,0.5)",
        "::new(\"lstm_2\",seed).with_dropout(0.1,0.0)",
        "::new(\"lstm_3\",seed),",
        "::core::assert!(__dropnet_Net_rate_0>=0.0&&__dropnet_Net_rate_0<1.0,\"layer1\
         `lstm(8,return_sequences,dropout=0.2,recurrent_dropout=R)`:therecurrent\
         dropoutrateRmustbeatleast0andbelow1\"",
    ] {
        assert!(code.contains(expected), "missing {expected} in {code}");
    }
}

/// Found by the property test: a raw identifier as the model name made the names of the
/// private constants invalid identifiers, and the macro panicked.
#[test]
fn a_raw_model_name_with_constant_sizes_expands() {
    let tokens = quote! { r#Net(N) { dense(UNITS); } };

    let code = compact(expand_model(tokens.clone()));

    assert!(check(tokens).is_ok());
    assert!(
        code.contains("const__dropnet_Net_size_0:::core::primitive::usize=N;"),
        "{code}"
    );
    assert!(code.contains("structr#Net{"), "{code}");
}
