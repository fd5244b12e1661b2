//! Weight files: round trips, every way a file can fail to fit, and atomic saves.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dropnet_core::activation::{Relu, Softmax};
use dropnet_core::layers::{Conv2d, Dense, Flatten};
use dropnet_core::weights::{self, FORMAT, FORMAT_VERSION};
use dropnet_core::{Error, Image, Layer, Network, Runtime, Vector};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// Declares a model struct by hand, as `model!` would generate it: one field per layer,
/// named as Keras names the layer, and a runtime.
macro_rules! hand_model {
    (
        $model:ident($input:ty) -> $output:ty, $count:literal params {
            $($field:ident: $layer:ty = $name:literal,)*
        }
    ) => {
        struct $model {
            $($field: $layer,)*
            runtime: Runtime,
        }

        impl $model {
            fn new(seed: u64) -> Self {
                Self { $($field: <$layer>::new($name, seed),)* runtime: Runtime::new(seed) }
            }
        }

        impl Network for $model {
            type Input = $input;
            type Output = $output;
            const NAME: &'static str = stringify!($model);
            const PARAM_COUNT: usize = $count;

            fn layers(&self) -> Vec<&dyn Layer> {
                vec![$(&self.$field,)*]
            }

            fn parts_mut(&mut self) -> (Vec<&mut dyn Layer>, &mut Runtime) {
                (vec![$(&mut self.$field,)*], &mut self.runtime)
            }

            fn runtime(&self) -> &Runtime {
                &self.runtime
            }
        }
    };
}

// 4×4×1 → conv 3×3, 2 filters → 2×2×2 → flatten 8 → dense 3.
hand_model!(Net(Image<4, 4, 1>) -> Vector<3>, 47 params {
    conv2d: Conv2d<4, 4, 1, 2, 3, 1, false, Relu> = "conv2d",
    flatten: Flatten<Image<2, 2, 2>> = "flatten",
    dense: Dense<8, 3, Softmax> = "dense",
});

// The same chain with three filters: another architecture.
hand_model!(Wider(Image<4, 4, 1>) -> Vector<3>, 69 params {
    conv2d: Conv2d<4, 4, 1, 3, 3, 1, false, Relu> = "conv2d",
    flatten: Flatten<Image<2, 2, 3>> = "flatten",
    dense: Dense<12, 3, Softmax> = "dense",
});

// Two layers under one name, which no file can tell apart.
hand_model!(Twins(Vector<8>) -> Vector<8>, 144 params {
    dense: Dense<8, 8, Relu> = "dense",
    dense_1: Dense<8, 8, Relu> = "dense",
});

/// The model the tests save and load.
fn model(seed: u64) -> Net {
    Net::new(seed)
}

/// Every parameter value of `model` as bits, for exact comparisons (NaN and -0.0 included).
fn bits<N: Network>(model: &N) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    let mut out = Vec::new();
    for layer in model.layers() {
        for param in layer.params() {
            let name = format!("{}/{}", layer.name(), param.name);
            let values = param.value.iter().map(|v| v.to_bits()).collect();
            out.push((name, param.value.shape().to_vec(), values));
        }
    }
    out
}

/// A folder of its own for one test, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("dropnet-weights-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names in the folder, sorted, to spot leftover temporary files.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The tensors of `model` as F32 bytes, to build files by hand.
fn tensors_of<N: Network>(model: &N) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    bits(model)
        .into_iter()
        .map(|(name, shape, values)| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect()
}

/// Writes a safetensors file of `(name, dtype, shape, bytes)` tensors.
fn write_file(path: &Path, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                name.as_str(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// The model's own tensors, as F32 entries for [`write_file`].
fn f32_entries<N: Network>(model: &N) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    tensors_of(model)
        .into_iter()
        .map(|(n, s, b)| (n, Dtype::F32, s, b))
        .collect()
}

/// Loads `path` into a fresh model, checks that it failed, and that nothing changed.
fn load_fails(path: &Path) -> Error {
    let mut target = model(7);
    let before = bits(&target);

    let err = weights::load(&mut target, path).unwrap_err();

    assert_eq!(
        bits(&target),
        before,
        "a failed load changed the model ({err})"
    );
    err
}

#[test]
fn round_trip_is_bitwise() {
    let dir = Scratch::new("round-trip");
    let path = dir.path("model.safetensors");
    let mut source = model(1);
    // Values that a lossy format would change: -0.0, a subnormal, a NaN with a payload.
    let mut params = source.conv2d.params_mut();
    let kernel = &mut params[0].value;
    kernel[[0, 0, 0, 0]] = -0.0;
    kernel[[1, 2, 0, 1]] = f32::from_bits(1);
    kernel[[2, 1, 0, 1]] = f32::from_bits(0x7fc0_1234);
    let mut target = model(2);
    assert_ne!(bits(&target), bits(&source));

    weights::save(&source, &path).unwrap();
    weights::load(&mut target, &path).unwrap();

    assert_eq!(bits(&target), bits(&source));
    assert_eq!(
        dir.listing(),
        ["model.safetensors"],
        "no temporary file is left behind"
    );
}

#[test]
fn file_names_tensors_by_layer_and_records_metadata() {
    let dir = Scratch::new("layout");
    let path = dir.path("model.safetensors");

    weights::save(&model(1), &path).unwrap();

    let bytes = fs::read(&path).unwrap();
    let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(
        names,
        ["conv2d/bias", "conv2d/kernel", "dense/bias", "dense/kernel"]
    );
    // Keras layouts: conv kernel [k_h, k_w, in_channels, filters], dense kernel [in, out].
    let shapes: Vec<(Dtype, Vec<usize>)> = ["conv2d/kernel", "conv2d/bias", "dense/kernel"]
        .iter()
        .map(|name| file.tensor(name).unwrap())
        .map(|t| (t.dtype(), t.shape().to_vec()))
        .collect();
    assert_eq!(
        shapes,
        [
            (Dtype::F32, vec![3, 3, 1, 2]),
            (Dtype::F32, vec![2]),
            (Dtype::F32, vec![8, 3])
        ]
    );
    let saved: Vec<f32> = file
        .tensor("conv2d/kernel")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let reference = model(1);
    let kernel: Vec<f32> = reference.conv2d.params()[0].value.iter().copied().collect();
    assert_eq!(saved, kernel, "row-major values in the HWIO layout");
    let expected = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("model".to_string(), "Net".to_string()),
    ]);
    assert_eq!(metadata.metadata().as_ref(), Some(&expected));
}

#[test]
fn other_architecture_names_tensor_and_both_shapes() {
    let dir = Scratch::new("architecture");
    let path = dir.path("wider.safetensors");
    weights::save(&Wider::new(1), &path).unwrap();

    let err = load_fails(&path);

    assert!(
        matches!(&err, Error::TensorShape { name, expected, got }
            if name == "conv2d/kernel" && expected == &[3, 3, 1, 2] && got == &[3, 3, 1, 3]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tensor `conv2d/kernel` has shape [3, 3, 1, 3] in the file but the model needs [3, 3, 1, 2]"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = Scratch::new("missing");
    let path = dir.path("partial.safetensors");
    let mut entries = f32_entries(&model(1));
    entries.retain(|(name, ..)| name != "dense/bias");
    write_file(&path, &entries);

    let err = load_fails(&path);

    assert!(
        matches!(&err, Error::MissingTensor { name, expected }
            if name == "dense/bias" && expected == &[3]),
        "{err:?}"
    );
}

#[test]
fn extra_tensor_is_named() {
    let dir = Scratch::new("extra");
    let path = dir.path("extra.safetensors");
    let mut entries = f32_entries(&model(1));
    entries.push(("dense_1/bias".to_string(), Dtype::F32, vec![2], vec![0; 8]));
    write_file(&path, &entries);

    let err = load_fails(&path);

    assert!(
        matches!(&err, Error::UnexpectedTensor { name } if name == "dense_1/bias"),
        "{err:?}"
    );
}

#[test]
fn wrong_dtype_is_named() {
    let dir = Scratch::new("dtype");
    let path = dir.path("f64.safetensors");
    let mut entries = f32_entries(&model(1));
    let bias = entries
        .iter_mut()
        .find(|(name, ..)| name == "dense/bias")
        .unwrap();
    bias.1 = Dtype::F64;
    bias.3 = [1.0f64, 2.0, 3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_file(&path, &entries);

    let err = load_fails(&path);

    assert!(
        matches!(&err, Error::TensorDtype { name, got } if name == "dense/bias" && got == "F64"),
        "{err:?}"
    );
}

#[test]
fn truncated_file_is_refused() {
    let dir = Scratch::new("truncated");
    let path = dir.path("model.safetensors");
    weights::save(&model(1), &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();

    let err = load_fails(&path);

    assert!(matches!(err, Error::WeightFile { .. }), "{err:?}");
}

#[test]
fn random_garbage_is_refused() {
    let dir = Scratch::new("garbage");
    let path = dir.path("garbage.safetensors");
    // A fixed xorshift sequence: reproducible noise without a random generator.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    fs::write(&path, garbage).unwrap();

    let err = load_fails(&path);

    assert!(matches!(err, Error::WeightFile { .. }), "{err:?}");
}

#[test]
fn huge_file_is_refused_before_reading() {
    let dir = Scratch::new("huge");
    let path = dir.path("huge.safetensors");
    // A sparse 64 GiB file: reading it whole would take minutes and all the memory.
    fs::File::create(&path).unwrap().set_len(64 << 30).unwrap();

    let start = Instant::now();
    let err = load_fails(&path);

    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    let Error::WeightFile { reason, .. } = &err else {
        panic!("expected WeightFile: {err:?}")
    };
    assert!(reason.contains(&(64u64 << 30).to_string()), "{reason}");
}

#[test]
fn a_reader_loads_as_the_file_does() {
    let dir = Scratch::new("reader");
    let path = dir.path("model.safetensors");
    let source = model(1);
    weights::save(&source, &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    let mut target = model(2);

    weights::load_from(&mut target, bytes.as_slice(), "in memory").unwrap();

    assert_eq!(bits(&target), bits(&source));
}

#[test]
fn an_endless_stream_is_cut_at_the_size_bound() {
    let mut target = model(7);
    let before = bits(&target);

    // 47 parameters allow 47 × 8 bytes plus 1 MiB (1,048,952 bytes); one more is read.
    let start = Instant::now();
    let err = weights::load_from(&mut target, std::io::repeat(0), "endless").unwrap_err();

    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(bits(&target), before);
    assert_eq!(
        err.to_string(),
        "endless: not a readable safetensors file: the file is at least 1048953 bytes, more \
         than the 1048952 bytes a weight file for a model of 47 parameters can need"
    );
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = Scratch::new("no-file");

    let err = load_fails(&dir.path("absent.safetensors"));

    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn failed_rename_leaves_the_target_and_no_temporary_file() {
    let dir = Scratch::new("rename-fails");
    // The target is a non-empty directory: the temporary file is written and synced, then
    // the rename over the directory fails.
    let target = dir.path("model.safetensors");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"old").unwrap();

    let err = weights::save(&model(1), &target).unwrap_err();

    assert!(
        matches!(&err, Error::Io { path, .. } if path == &target),
        "{err:?}"
    );
    assert_eq!(fs::read(target.join("keep")).unwrap(), b"old");
    assert_eq!(
        dir.listing(),
        ["model.safetensors"],
        "the temporary file was removed"
    );
}

#[test]
fn save_into_missing_folder_is_an_io_error() {
    let dir = Scratch::new("no-folder");

    let target = dir.path("absent/model.safetensors");
    let err = weights::save(&model(1), &target).unwrap_err();

    assert!(
        matches!(&err, Error::Io { path, .. } if path == &target),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot save: the folder {} does not exist",
            target.display(),
            dir.path("absent").display()
        )
    );
    assert!(dir.listing().is_empty());
}

#[test]
fn save_under_a_file_says_it_is_not_a_folder() {
    let dir = Scratch::new("file-as-folder");
    fs::write(dir.path("notes.txt"), b"text").unwrap();
    let target = dir.path("notes.txt/model.safetensors");

    let err = weights::save(&model(1), &target).unwrap_err();

    assert!(
        err.to_string().ends_with("notes.txt is not a folder"),
        "{err}"
    );
    assert!(!err.to_string().contains(".tmp"), "{err}");
}

#[test]
fn save_replaces_an_older_file() {
    let dir = Scratch::new("replace");
    let path = dir.path("model.safetensors");
    weights::save(&model(1), &path).unwrap();

    weights::save(&model(3), &path).unwrap();

    let mut loaded = model(9);
    weights::load(&mut loaded, &path).unwrap();
    assert_eq!(bits(&loaded), bits(&model(3)));
    assert_eq!(dir.listing(), ["model.safetensors"]);
}

#[test]
fn duplicate_layer_names_are_refused() {
    let dir = Scratch::new("duplicates");
    let path = dir.path("twins.safetensors");
    let mut twins = Twins::new(1);

    let save_err = weights::save(&twins, &path).unwrap_err();
    weights::save(&model(1), &path).unwrap();
    let load_err = weights::load(&mut twins, &path).unwrap_err();

    for err in [save_err, load_err] {
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        assert!(err.to_string().contains("`dense/kernel`"), "{err}");
    }
}
