//! Tests of checkpoints: bitwise resumption, atomic saves, and every refused file leaving
//! the model as it was.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use rand::RngCore as _;
use safetensors::tensor::{Dtype, TensorView};

use super::*;
use crate::activation::{Softmax, Tanh};
use crate::callback::Verbosity;
use crate::history::History;
use crate::layers::{Dense, Dropout};
use crate::loss::SparseCategoricalCrossentropy;
use crate::model::testing::{bars, clusters, Net, TinyCnn};
use crate::optim::{Adam, Sgd};
use crate::runtime::Runtime;
use crate::shape::{Image, Labels, Samples, Vector};
use crate::weights::tests::Scratch;
use crate::Model;

/// The tiny CNN with a dropout of rate 0.5, so that its masks matter, and Adam.
fn cnn(seed: u64) -> TinyCnn {
    let mut model = TinyCnn::new(seed, Some(0.5));
    model.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
    model
}

/// Training and validation bars.
struct Data {
    x: Samples<Image<6, 6, 1>>,
    y: Labels,
    val_x: Samples<Image<6, 6, 1>>,
    val_y: Labels,
}

fn data() -> Data {
    let (x, y) = bars(40, 1);
    let (val_x, val_y) = bars(12, 2);
    Data { x, y, val_x, val_y }
}

/// Trains `model` on `data` from epoch `from` to epoch `to`.
fn train(model: &mut TinyCnn, data: &Data, from: usize, to: usize) -> History {
    model
        .fit(&data.x, &data.y)
        .epochs(to)
        .initial_epoch(from)
        .batch_size(8)
        .validation_data(&data.val_x, &data.val_y)
        .verbose(Verbosity::Silent)
        .run()
        .unwrap()
}

/// Everything a checkpoint restores, down to the bit: weights, optimiser state and
/// counters, random streams, epoch.
fn state_of<N: Network>(model: &N) -> String {
    let mut state = String::new();
    let runtime = model.runtime();
    let optimizer = runtime.optimizer();
    let mut slot = 0;
    for layer in model.layers() {
        for param in layer.params() {
            let bits: Vec<u32> = param.value.iter().map(|v| v.to_bits()).collect();
            state.push_str(&format!("{} {bits:?}\n", param.name));
            for name in optimizer.map(|o| o.state_names()).unwrap_or_default() {
                let value = optimizer.and_then(|o| o.state(name, slot));
                let bits: Option<Vec<u32>> = value.map(|v| v.iter().map(|x| x.to_bits()).collect());
                state.push_str(&format!("  {name} {bits:?}\n"));
            }
            slot += 1;
        }
        for (purpose, stream) in layer.training_streams() {
            state.push_str(&format!("{purpose} {}\n", encode_stream(stream)));
        }
    }
    if let Some(optimizer) = optimizer {
        let lr = optimizer.learning_rate().to_bits();
        state.push_str(&format!("t {} lr {lr}\n", optimizer.iterations()));
    }
    let shuffle = encode_stream(&runtime.shuffle_stream());
    state.push_str(&format!("shuffle {shuffle} epoch {}\n", runtime.epoch()));
    state
}

fn weight_bits<N: Network>(model: &N) -> Vec<u32> {
    model
        .layers()
        .iter()
        .flat_map(|layer| layer.params())
        .flat_map(|param| param.value.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

#[test]
fn four_epochs_and_a_resumed_four_equal_eight_bit_for_bit() {
    let data = data();
    let dir = Scratch::new("resume-bitwise");
    let path = dir.0.join("run.ckpt");

    let mut whole = cnn(5);
    let eight = train(&mut whole, &data, 0, 8);

    let mut first = cnn(5);
    let four = train(&mut first, &data, 0, 4);
    first.save_checkpoint(&path).unwrap();
    first
        .save_weights(dir.0.join("weights.safetensors"))
        .unwrap();
    // Another seed: everything that matters must come from the file.
    let mut resumed = cnn(77);
    let epoch = resumed.load_checkpoint(&path).unwrap();
    let rest = train(&mut resumed, &data, epoch, 8);

    assert_eq!(epoch, 4);
    assert_eq!(
        rest.records().iter().map(|r| r.epoch).collect::<Vec<_>>(),
        [5, 6, 7, 8]
    );
    assert_eq!(eight.records(), [four.records(), rest.records()].concat());
    assert_eq!(weight_bits(&whole), weight_bits(&resumed));
    assert_eq!(state_of(&whole), state_of(&resumed));

    // The weights alone do not continue the run: the optimiser, the shuffling and the
    // dropout masks would start over.
    let mut weights_only = cnn(5);
    weights_only
        .load_weights(dir.0.join("weights.safetensors"))
        .unwrap();
    let restarted = train(&mut weights_only, &data, 4, 8);
    assert_ne!(rest.records(), restarted.records());
}

/// `Vector<2>` → dense(4096) tanh → dropout(0.5) → dense(3) softmax: a batch of 10 draws
/// 40,960 mask words, so the dropout fills its mask in parallel parts from several
/// positions of its stream.
struct WideDropout {
    dense: Dense<2, 4096, Tanh>,
    dropout: Dropout<Vector<4096>>,
    dense_1: Dense<4096, 3, Softmax>,
    runtime: Runtime,
}

impl WideDropout {
    fn compiled(seed: u64) -> Self {
        let mut model = Self {
            dense: Dense::new("dense", seed),
            dropout: Dropout::new("dropout", seed, 0.5),
            dense_1: Dense::new("dense_1", seed),
            runtime: Runtime::new(seed),
        };
        model.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
        model
    }
}

impl Network for WideDropout {
    type Input = Vector<2>;
    type Output = Vector<3>;
    const NAME: &'static str = "WideDropout";
    const PARAM_COUNT: usize = 2 * 4096 + 4096 + 4096 * 3 + 3;

    fn layers(&self) -> Vec<&dyn Layer> {
        vec![&self.dense, &self.dropout, &self.dense_1]
    }

    fn parts_mut(&mut self) -> (Vec<&mut dyn Layer>, &mut Runtime) {
        let layers: Vec<&mut dyn Layer> =
            vec![&mut self.dense, &mut self.dropout, &mut self.dense_1];
        (layers, &mut self.runtime)
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

#[test]
fn masks_drawn_in_parallel_parts_resume_bit_for_bit() {
    let (x, y) = clusters(30, 1);
    let dir = Scratch::new("resume-wide-dropout");
    let path = dir.0.join("run.ckpt");
    let train = |model: &mut WideDropout, from: usize, to: usize| {
        model
            .fit(&x, &y)
            .epochs(to)
            .initial_epoch(from)
            .batch_size(10)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap()
    };

    let mut whole = WideDropout::compiled(4);
    let four = train(&mut whole, 0, 4);
    let mut first = WideDropout::compiled(4);
    let two = train(&mut first, 0, 2);
    first.save_checkpoint(&path).unwrap();
    let mut resumed = WideDropout::compiled(99);
    let epoch = resumed.load_checkpoint(&path).unwrap();
    let rest = train(&mut resumed, epoch, 4);

    assert_eq!(four.records(), [two.records(), rest.records()].concat());
    assert_eq!(state_of(&whole), state_of(&resumed));
}

#[test]
fn sgd_momentum_resumes_bit_for_bit() {
    let (x, y) = clusters(30, 1);
    let dir = Scratch::new("resume-sgd");
    let path = dir.0.join("run.ckpt");
    let model = || {
        let mut net: Net = Net::new(3);
        net.compile(Sgd::new(0.05).momentum(0.9), SparseCategoricalCrossentropy);
        net
    };
    let fit = |net: &mut Net, from: usize, to: usize| {
        net.fit(&x, &y)
            .epochs(to)
            .initial_epoch(from)
            .batch_size(4)
            .verbose(Verbosity::Silent)
            .run()
            .unwrap()
    };

    let mut whole = model();
    let all = fit(&mut whole, 0, 6);
    let mut part = model();
    let first = fit(&mut part, 0, 3);
    part.save_checkpoint(&path).unwrap();
    let mut resumed = model();
    let epoch = resumed.load_checkpoint(&path).unwrap();
    let rest = fit(&mut resumed, epoch, 6);

    assert_eq!(all.records(), [first.records(), rest.records()].concat());
    assert_eq!(state_of(&whole), state_of(&resumed));
    assert!(resumed
        .runtime()
        .optimizer()
        .unwrap()
        .state("velocity", 0)
        .is_some());
}

/// A trained CNN saved at `path`, and its state before saving.
fn saved(path: &Path) -> TinyCnn {
    let data = data();
    let mut model = cnn(5);
    train(&mut model, &data, 0, 2);
    model.save_checkpoint(path).unwrap();
    model
}

/// A CNN trained otherwise than the saved one, whose state a refused load must keep.
fn other() -> TinyCnn {
    let mut model = cnn(9);
    train(&mut model, &data(), 0, 1);
    model
}

/// Loads `path` into `model`, expecting an error, and checks that nothing changed.
fn refused<N: Network>(model: &mut N, path: &Path) -> Error {
    let before = state_of(model);
    let err = model.load_checkpoint(path).unwrap_err();
    assert_eq!(
        state_of(model),
        before,
        "a refused checkpoint changed the model"
    );
    err
}

fn problem(err: Error) -> CheckpointProblem {
    match err {
        Error::Checkpoint { problem, .. } => problem,
        other => panic!("not a checkpoint problem: {other:?}"),
    }
}

#[test]
fn a_truncated_file_is_named_truncated_wherever_it_was_cut() {
    let dir = Scratch::new("truncated");
    let path = dir.0.join("run.ckpt");
    saved(&path);
    let bytes = fs::read(&path).unwrap();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut model = other();

    for cut in [0, 5, 8, header_end / 2, header_end, bytes.len() - 1] {
        let short = dir.0.join("short.ckpt");
        fs::write(&short, &bytes[..cut]).unwrap();

        let err = refused(&mut model, &short);

        let message = err.to_string();
        match problem(err) {
            CheckpointProblem::Truncated { len, needed } => {
                assert_eq!(len, cut as u64);
                assert!(needed > len, "{message}");
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
        assert!(message.contains("truncated"), "{message}");
    }
}

#[test]
fn a_corrupt_header_or_body_is_named_corrupt() {
    let dir = Scratch::new("corrupt");
    let path = dir.0.join("run.ckpt");
    saved(&path);
    let bytes = fs::read(&path).unwrap();
    let mut model = other();
    let write = |name: &str, content: &[u8]| {
        let path = dir.0.join(name);
        fs::write(&path, content).unwrap();
        path
    };

    // Not JSON where the header starts.
    let mut garbled = bytes.clone();
    garbled[8] = b'#';
    let err = refused(&mut model, &write("garbled.ckpt", &garbled));
    assert!(matches!(
        problem(err),
        CheckpointProblem::CorruptHeader { .. }
    ));

    // A length prefix no header has.
    let mut length = bytes.clone();
    length[7] = 0x40;
    let err = refused(&mut model, &write("length.ckpt", &length));
    assert!(matches!(
        problem(err),
        CheckpointProblem::CorruptHeader { .. }
    ));

    // Bytes after the last tensor.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"tail");
    let err = refused(&mut model, &write("longer.ckpt", &longer));
    let message = err.to_string();
    assert!(matches!(
        problem(err),
        CheckpointProblem::CorruptHeader { .. }
    ));
    assert!(
        message.contains("4 bytes after the last tensor"),
        "{message}"
    );

    // One flipped bit in the tensor data.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    let err = refused(&mut model, &write("flipped.ckpt", &flipped));
    let message = err.to_string();
    assert!(
        matches!(problem(err), CheckpointProblem::Checksum { expected, got } if expected != got)
    );
    assert!(message.contains("tensor data is corrupt"), "{message}");
}

/// The checkpoint at `path` rewritten with tensor `name` stored as `F64`, its checksum
/// updated so that only the dtype is wrong.
fn with_f64_tensor(path: &Path, name: &str, out: &Path) {
    let bytes = fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (tensor, view) in file.tensors() {
        let (dtype, data) = if tensor == name {
            let wide = view
                .data()
                .chunks_exact(4)
                .flat_map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
                .collect();
            (Dtype::F64, wide)
        } else {
            (view.dtype(), view.data().to_vec())
        };
        tensors.push((tensor, dtype, view.shape().to_vec(), data));
    }
    let mut metadata: HashMap<String, String> = header.metadata().clone().unwrap();
    let data = tensors
        .iter()
        .map(|(n, _, _, d)| (n.as_str(), d.as_slice()));
    metadata.insert("checksum".into(), format!("{:08x}", checksum(data)));
    let views = tensors.iter().map(|(n, dtype, shape, data)| {
        (
            n.clone(),
            TensorView::new(*dtype, shape.clone(), data).unwrap(),
        )
    });
    fs::write(out, safetensors::serialize(views, Some(metadata)).unwrap()).unwrap();
}

#[test]
fn a_wrong_dtype_names_the_tensor() {
    let dir = Scratch::new("dtype");
    let path = dir.0.join("run.ckpt");
    saved(&path);
    let wide = dir.0.join("wide.ckpt");
    with_f64_tensor(&path, "optimizer/dense/bias/v", &wide);
    let mut model = other();

    let err = refused(&mut model, &wide);

    assert!(
        matches!(&err, Error::TensorDtype { name, got }
            if name == "optimizer/dense/bias/v" && got == "F64"),
        "{err:?}"
    );
}

#[test]
fn another_architecture_is_refused_naming_what_differs() {
    let dir = Scratch::new("architecture");
    let path = dir.0.join("run.ckpt");
    saved(&path);

    // Same weights, no dropout layer: its stream is left over.
    let mut plain = TinyCnn::new(5, None);
    plain.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
    let err = refused(&mut plain, &path);
    assert_eq!(
        problem(err),
        CheckpointProblem::UnexpectedStream {
            name: "dropout/dropout".into()
        }
    );

    // A dropout layer the checkpoint does not know.
    let plain_path = dir.0.join("plain.ckpt");
    plain.save_checkpoint(&plain_path).unwrap();
    let err = refused(&mut other(), &plain_path);
    assert_eq!(
        problem(err),
        CheckpointProblem::MissingStream {
            name: "dropout/dropout".into()
        }
    );

    // Other layers altogether: the first weight that differs is named.
    let mut dense: Net = Net::new(1);
    dense.compile(Adam::new(0.01), SparseCategoricalCrossentropy);
    let err = refused(&mut dense, &path);
    assert!(
        matches!(&err, Error::TensorShape { name, expected, got }
            if name == "dense/kernel" && expected == &[2, 8] && got == &[16, 2]),
        "{err:?}"
    );
}

#[test]
fn the_optimiser_must_match_and_be_compiled() {
    let dir = Scratch::new("optimizer");
    let path = dir.0.join("run.ckpt");
    saved(&path);

    let mut sgd = TinyCnn::new(5, Some(0.5));
    sgd.compile(Sgd::new(0.1), SparseCategoricalCrossentropy);
    let err = refused(&mut sgd, &path);
    assert!(err.to_string().ends_with(
        "the checkpoint holds the state of a `Adam` optimiser, but the model is compiled with \
         `SGD`"
    ));
    assert!(matches!(problem(err), CheckpointProblem::Optimizer { .. }));

    let mut bare = TinyCnn::new(5, Some(0.5));
    let err = bare.load_checkpoint(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotCompiled {
                call: "load_checkpoint"
            }
        ),
        "{err:?}"
    );
    let err = bare.save_checkpoint(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotCompiled {
                call: "save_checkpoint"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_weight_file_is_not_a_checkpoint() {
    let dir = Scratch::new("weights");
    let path = dir.0.join("model.safetensors");
    let model = saved(&dir.0.join("run.ckpt"));
    model.save_weights(&path).unwrap();

    let err = refused(&mut other(), &path);

    assert!(err
        .to_string()
        .ends_with("a weight file, not a checkpoint: load it with `load_weights`"));
    assert_eq!(
        problem(err),
        CheckpointProblem::NotACheckpoint {
            format: Some("dropnet".into())
        }
    );
}

#[test]
fn a_save_failing_half_way_leaves_the_previous_checkpoint_loadable() {
    let dir = Scratch::new("half-way");
    let path = dir.0.join("run.ckpt");
    let mut model = saved(&path);
    let before = state_of(&model);
    train(&mut model, &data(), 2, 3);

    let layers = model.layers();
    let shuffle = model.runtime().shuffle_stream();
    let snapshot = Snapshot {
        model: "TinyCnn",
        layers,
        optimizer: model.runtime().optimizer().unwrap(),
        shuffle: &shuffle,
        epoch: model.runtime().epoch(),
    };
    let err = save_with(&snapshot, &path, |file, bytes| {
        file.write_all(&bytes[..bytes.len() / 2])?;
        Err(io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left on device",
        ))
    })
    .unwrap_err();

    assert!(
        matches!(&err, Error::Io { path: p, error } if p == &path
            && error.kind() == io::ErrorKind::StorageFull),
        "{err:?}"
    );
    assert_eq!(
        dir.listing(),
        ["run.ckpt"],
        "the temporary file was removed"
    );
    let mut restored = other();
    assert_eq!(restored.load_checkpoint(&path).unwrap(), 2);
    assert_eq!(state_of(&restored), before);
}

#[test]
fn streams_round_trip_at_any_position() {
    let mut rng = crate::rng::stream(3, "dropout", "dropout");
    rng.set_stream(7);
    for draws in [0, 1, 15, 16, 17, 1000] {
        let mut copy = decode_stream(&encode_stream(&rng)).unwrap();

        assert_eq!(copy, rng, "after {draws} more draws");
        assert_eq!(copy.next_u64(), rng.clone().next_u64());
        for _ in 0..draws {
            rng.next_u32();
        }
    }
    for bad in ["", "00:1:2", &format!("{}:x:0", "0".repeat(64)), "a:b:c:d"] {
        assert!(decode_stream(bad).is_none(), "{bad}");
    }
}
