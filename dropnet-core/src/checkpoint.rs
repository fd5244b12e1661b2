//! Checkpoints: everything training needs to go on where it stopped, in one safetensors
//! file.
//!
//! [`Model::save_checkpoint`](crate::Model::save_checkpoint) and the
//! [`ModelCheckpoint`](crate::callback::ModelCheckpoint) callback write a checkpoint;
//! [`Model::load_checkpoint`](crate::Model::load_checkpoint) reads one back and returns its
//! epoch, to be passed to [`Fit::initial_epoch`](crate::model::Fit::initial_epoch):
//!
//! ```text
//! model.compile(Adam::default(), SparseCategoricalCrossentropy);
//! let epoch = model.load_checkpoint("run.ckpt")?;
//! model.fit(&x, &y).epochs(8).initial_epoch(epoch).run()?;
//! ```
//!
//! With the same data, settings and callbacks, the resumed run continues bit for bit as an
//! uninterrupted run would have: same batches, same dropout masks, same updates, same
//! history. The state of the callbacks themselves (an early-stopping patience count, a
//! learning-rate schedule's cool-down) is not saved.
//!
//! # Format
//! A safetensors file (little-endian, JSON header) holding
//! - every trainable variable as an `F32` tensor named as in weight files (`dense/kernel`,
//!   see [`crate::weights`]), in Keras layouts;
//! - every per-variable state tensor of the optimiser as an `F32` tensor shaped like its
//!   variable, named `optimizer/<variable>/<state>` (`optimizer/dense/kernel/m`);
//! - in the header's metadata: `format` = [`FORMAT`], `format_version` = [`FORMAT_VERSION`],
//!   `model` (the model's name), `epoch` (the last epoch trained), `optimizer` (its Keras
//!   name), `optimizer.iterations`, `optimizer.learning_rate`, the shuffling stream as
//!   `rng.fit/shuffle` and every layer's training streams as `rng.<layer>/<purpose>`
//!   (`rng.dropout/dropout`), each written `<seed as 64 hex digits>:<stream>:<word
//!   position>` of its ChaCha8 generator, and `checksum`, the CRC-32 (hex) of every
//!   tensor's data in name order.
//!
//! # Safety of the file
//! Saving writes a temporary file beside the target, syncs it and renames it over the
//! target, as weight files are written: a crash or a full disk during a save leaves the
//! previous checkpoint whole. Loading checks everything before changing anything: the
//! length against the header (a truncated file is [`CheckpointProblem::Truncated`]), the
//! header itself ([`CheckpointProblem::CorruptHeader`]), the data against its checksum, the
//! optimiser, every tensor's name, dtype and shape, and every metadata entry. On any error
//! the model, its optimiser and its streams are left exactly as they were.
//!
//! A stochastic layer that does not report its streams through
//! [`Layer::training_streams`] (the LSTM's dropout, so far) is saved without them: the
//! resumed run then draws other masks for it, and saving logs a warning.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write as _};
use std::path::Path;

use ndarray::ArrayD;
use rand::SeedableRng;
use safetensors::tensor::Metadata;
use safetensors::SafeTensors;

use crate::error::{CheckpointProblem, Error, Result};
use crate::layer::Layer;
use crate::network::Network;
use crate::optim::{check_learning_rate, Optimizer};
use crate::rng::Rng;
use crate::runtime::Runtime;
use crate::weights::{
    check_no_extra, check_unique, decode_all, f32_bytes, read_bounded, serialize, tensor_name,
    write_atomically, Encoded,
};

/// The value of the `format` metadata entry of a checkpoint.
pub const FORMAT: &str = "dropnet-checkpoint";

/// The version of the checkpoint layout, stored as `format_version` metadata.
pub const FORMAT_VERSION: &str = "1";

/// The metadata key of the shuffling stream.
const SHUFFLE_KEY: &str = "rng.fit/shuffle";

/// The largest header length believed, as in the safetensors reader: a longer one is a
/// corrupt length, not a file cut short.
const MAX_HEADER_LEN: u64 = 100_000_000;

/// The prefix of the metadata keys of random streams.
const STREAM_PREFIX: &str = "rng.";

/// What a checkpoint is made from: a model's layers and training state.
pub(crate) struct Snapshot<'a> {
    /// The model's name.
    pub(crate) model: &'static str,
    /// The layers, in order.
    pub(crate) layers: Vec<&'a dyn Layer>,
    /// The compiled optimiser.
    pub(crate) optimizer: &'a dyn Optimizer,
    /// The shuffling stream.
    pub(crate) shuffle: &'a Rng,
    /// The last epoch trained.
    pub(crate) epoch: usize,
}

/// Writes `snapshot` to `path` as a checkpoint, atomically.
///
/// # Errors
/// [`Error::Io`] naming `path` when the file cannot be written or renamed (the previous
/// file at `path`, if any, is then left whole); [`Error::InvalidConfig`] when two
/// variables share a tensor name.
pub(crate) fn save(snapshot: &Snapshot<'_>, path: &Path) -> Result<()> {
    save_with(snapshot, path, |file, bytes| file.write_all(bytes))
}

/// [`save`], with the bytes put into the temporary file by `write` (tests make it fail
/// part-way).
fn save_with(
    snapshot: &Snapshot<'_>,
    path: &Path,
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<()> {
    let bytes = encode(snapshot, path)?;
    write_atomically(path, |file| write(file, &bytes))
}

/// The bytes of the checkpoint of `snapshot`; errors name `path`.
fn encode(snapshot: &Snapshot<'_>, path: &Path) -> Result<Vec<u8>> {
    let tensors = tensors(snapshot)?;
    let mut metadata = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("format_version".to_owned(), FORMAT_VERSION.to_owned()),
        ("model".to_owned(), snapshot.model.to_owned()),
        ("epoch".to_owned(), snapshot.epoch.to_string()),
        ("optimizer".to_owned(), snapshot.optimizer.name().to_owned()),
        (
            "optimizer.iterations".to_owned(),
            snapshot.optimizer.iterations().to_string(),
        ),
        (
            // Rust prints the shortest text that reads back as the same `f32`.
            "optimizer.learning_rate".to_owned(),
            snapshot.optimizer.learning_rate().to_string(),
        ),
        (SHUFFLE_KEY.to_owned(), encode_stream(snapshot.shuffle)),
    ]);
    for layer in &snapshot.layers {
        let streams = layer.training_streams();
        if streams.is_empty() && layer.is_stochastic() {
            log::warn!(
                "layer `{}` draws random numbers but does not report its streams; a run \
                 resumed from {} will draw other masks for it",
                layer.name(),
                path.display()
            );
        }
        for (purpose, stream) in streams {
            metadata.insert(stream_key(layer.name(), purpose), encode_stream(stream));
        }
    }
    let by_name: Vec<(&str, &[u8])> = tensors
        .iter()
        .map(|(name, _, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    metadata.insert("checksum".to_owned(), format!("{:08x}", checksum(by_name)));

    serialize(path, &tensors, metadata)
}

/// The `(name, shape, bytes)` of every variable and, after each, of its optimiser states.
fn tensors(snapshot: &Snapshot<'_>) -> Result<Vec<Encoded>> {
    let states = snapshot.optimizer.state_names();
    let mut names = HashSet::new();
    let mut tensors = Vec::new();
    let mut slot = 0;
    for layer in &snapshot.layers {
        for param in layer.params() {
            let name = tensor_name(layer.name(), param.name);
            let shape = param.value.shape().to_vec();
            check_unique(&mut names, &name)?;
            for &state in &states {
                let state_name = state_tensor_name(&name, state);
                check_unique(&mut names, &state_name)?;
                // A slot not updated yet starts from zeros, which is what is stored.
                let bytes = match snapshot.optimizer.state(state, slot) {
                    Some(value) if value.shape() == shape.as_slice() => f32_bytes(value),
                    _ => vec![0; 4 * param.len()],
                };
                tensors.push((state_name, shape.clone(), bytes));
            }
            tensors.push((name, shape, f32_bytes(&param.value)));
            slot += 1;
        }
    }
    Ok(tensors)
}

/// Reads the checkpoint at `path` into `model` and returns its epoch.
///
/// # Errors
/// See [`Model::load_checkpoint`](crate::Model::load_checkpoint).
pub(crate) fn load<N: Network + ?Sized>(model: &mut N, path: &Path) -> Result<usize> {
    let (mut layers, runtime) = model.parts_mut();
    load_layers(&mut layers, runtime, path)
}

/// [`load`] into the model made of `layers` and `runtime`; not generic, so that it is
/// compiled once rather than for every model.
fn load_layers(layers: &mut [&mut dyn Layer], runtime: &mut Runtime, path: &Path) -> Result<usize> {
    let Some(compiled) = runtime.compiled.as_mut() else {
        return Err(Error::NotCompiled {
            call: "load_checkpoint",
        });
    };
    let plan = plan(path, layers, &*compiled.optimizer)?;

    // Nothing below can fail: every value has been read and checked.
    let optimizer = &mut *compiled.optimizer;
    let states = optimizer.state_names();
    let mut values = plan.tensors.into_iter();
    let mut slot = 0;
    for layer in layers.iter_mut() {
        for param in layer.params_mut() {
            if let Some(value) = values.next() {
                param.value.assign(&value);
            }
            for &state in &states {
                if let Some(value) = values.next() {
                    optimizer.set_state(state, slot, value);
                }
            }
            slot += 1;
        }
    }
    optimizer.set_iterations(plan.iterations);
    optimizer.set_learning_rate(plan.learning_rate);

    let mut streams = plan.streams.into_iter();
    for layer in layers.iter_mut() {
        for (_, stream) in layer.training_streams_mut() {
            if let Some(saved) = streams.next() {
                *stream = saved;
            }
        }
    }
    runtime.restore(plan.shuffle, plan.epoch);
    Ok(plan.epoch)
}

/// Everything read from a checkpoint, checked against the model, in the order it is put
/// back.
struct Plan {
    /// Per variable, in model order: its value, then its optimiser states.
    tensors: Vec<ArrayD<f32>>,
    iterations: u64,
    learning_rate: f32,
    /// Every layer's training streams, in model order.
    streams: Vec<Rng>,
    shuffle: Rng,
    epoch: usize,
}

/// Reads and checks the checkpoint at `path` for a model of `layers` with `optimizer`,
/// changing nothing.
fn plan(path: &Path, layers: &[&mut dyn Layer], optimizer: &dyn Optimizer) -> Result<Plan> {
    let states = optimizer.state_names();
    let mut names = HashSet::new();
    let mut shapes: Vec<(String, Vec<usize>)> = Vec::new();
    for layer in layers {
        for param in layer.params() {
            // The weight before its states, so that another architecture is reported on
            // a weight.
            let name = tensor_name(layer.name(), param.name);
            check_unique(&mut names, &name)?;
            shapes.push((name.clone(), param.value.shape().to_vec()));
            for &state in &states {
                let state_name = state_tensor_name(&name, state);
                check_unique(&mut names, &state_name)?;
                shapes.push((state_name, param.value.shape().to_vec()));
            }
        }
    }

    let scalars: usize = shapes
        .iter()
        .map(|(_, shape)| shape.iter().product::<usize>())
        .sum();
    let bytes = read_bounded(path, scalars)?;
    let problem = |problem| Error::Checkpoint {
        path: path.into(),
        problem,
    };
    let metadata = check_structure(&bytes).map_err(problem)?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        problem(CheckpointProblem::CorruptHeader {
            reason: e.to_string(),
        })
    })?;
    let entries = Entries(&metadata);
    check_kind(&entries, &file, optimizer).map_err(problem)?;

    let shapes: Vec<(&str, &[usize])> = shapes
        .iter()
        .map(|(name, shape)| (name.as_str(), shape.as_slice()))
        .collect();
    let tensors = decode_all(path, &file, &shapes)?;
    check_no_extra(&file, &names)?;
    read_entries(&entries, layers, tensors).map_err(problem)
}

/// Checks that the file is a checkpoint of this version, that its data matches its
/// checksum and that it holds the state of `optimizer`'s kind.
fn check_kind(
    entries: &Entries<'_>,
    file: &SafeTensors<'_>,
    optimizer: &dyn Optimizer,
) -> Result<(), CheckpointProblem> {
    let format = entries.0.get("format");
    if format.map(String::as_str) != Some(FORMAT) {
        return Err(CheckpointProblem::NotACheckpoint {
            format: format.cloned(),
        });
    }
    let version = entries.get("format_version")?;
    if version != FORMAT_VERSION {
        return Err(CheckpointProblem::Version {
            got: version.to_owned(),
            supported: FORMAT_VERSION,
        });
    }

    let expected = entries.parse("checksum", "8 hex digits", |text| {
        u32::from_str_radix(text, 16).ok()
    })?;
    let got = checksum(file.iter().map(|(name, view)| (name, view.data())));
    if got != expected {
        return Err(CheckpointProblem::Checksum { expected, got });
    }

    let name = entries.get("optimizer")?;
    if name != optimizer.name() {
        return Err(CheckpointProblem::Optimizer {
            expected: optimizer.name(),
            got: name.to_owned(),
        });
    }
    Ok(())
}

/// Reads the epoch, the optimiser's counters and every stream the model draws from; fails
/// on a stream the model does not have.
fn read_entries(
    entries: &Entries<'_>,
    layers: &[&mut dyn Layer],
    tensors: Vec<ArrayD<f32>>,
) -> Result<Plan, CheckpointProblem> {
    let epoch = entries.parse("epoch", "a whole number", |t| t.parse().ok())?;
    let iterations = entries.parse("optimizer.iterations", "a whole number", |t| t.parse().ok())?;
    let learning_rate = entries.parse("optimizer.learning_rate", "a positive number", |t| {
        t.parse().ok().filter(|&lr| check_learning_rate(lr).is_ok())
    })?;
    let shuffle = entries.stream(SHUFFLE_KEY)?;

    let mut keys: HashSet<String> = HashSet::from([SHUFFLE_KEY.to_owned()]);
    let mut streams = Vec::new();
    for layer in layers {
        for (purpose, _) in layer.training_streams() {
            let key = stream_key(layer.name(), purpose);
            if !entries.0.contains_key(&key) {
                let name = key.trim_start_matches(STREAM_PREFIX).to_owned();
                return Err(CheckpointProblem::MissingStream { name });
            }
            streams.push(entries.stream(&key)?);
            keys.insert(key);
        }
    }
    let mut extra: Vec<&String> = entries
        .0
        .keys()
        .filter(|key| key.starts_with(STREAM_PREFIX) && !keys.contains(*key))
        .collect();
    extra.sort_unstable();
    if let Some(key) = extra.first() {
        let name = key.trim_start_matches(STREAM_PREFIX).to_owned();
        return Err(CheckpointProblem::UnexpectedStream { name });
    }

    Ok(Plan {
        tensors,
        iterations,
        learning_rate,
        streams,
        shuffle,
        epoch,
    })
}

/// The metadata entries of a checkpoint.
struct Entries<'a>(&'a HashMap<String, String>);

impl Entries<'_> {
    /// The entry `key`.
    fn get(&self, key: &str) -> Result<&str, CheckpointProblem> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| CheckpointProblem::MissingEntry {
                key: key.to_owned(),
            })
    }

    /// The entry `key` read by `read`, which gives `None` for text that is not
    /// `expected`.
    fn parse<T>(
        &self,
        key: &str,
        expected: &'static str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, CheckpointProblem> {
        let text = self.get(key)?;
        read(text).ok_or_else(|| CheckpointProblem::BadEntry {
            key: key.to_owned(),
            value: text.to_owned(),
            expected,
        })
    }

    /// The random stream stored under `key`.
    fn stream(&self, key: &str) -> Result<Rng, CheckpointProblem> {
        self.parse(
            key,
            "a stream written `<64 hex digits>:<stream>:<word>`",
            decode_stream,
        )
    }
}

/// Checks that `bytes` hold exactly what their safetensors header describes and returns
/// the header's metadata.
///
/// A file shorter than its header says is truncated; a header that cannot be parsed, or a
/// file longer than its header says, is corrupt.
fn check_structure(bytes: &[u8]) -> Result<HashMap<String, String>, CheckpointProblem> {
    let len = bytes.len() as u64;
    let truncated = |needed: u64| CheckpointProblem::Truncated { len, needed };
    let corrupt = |reason: String| CheckpointProblem::CorruptHeader { reason };
    let Some(prefix) = bytes.get(..8) else {
        return Err(truncated(8));
    };
    let mut length = [0; 8];
    length.copy_from_slice(prefix);
    let header_len = u64::from_le_bytes(length);
    if header_len > MAX_HEADER_LEN {
        return Err(corrupt(format!(
            "it claims {header_len} bytes, more than any checkpoint header needs"
        )));
    }
    let header_end = header_len + 8;
    if header_end > len {
        return Err(truncated(header_end));
    }

    // The header fits in the file, so its end is a valid index.
    let header = &bytes[8..header_end as usize];
    let described: Metadata = serde_json::from_slice(header)
        .map_err(|e| corrupt(format!("its JSON does not describe tensors: {e}")))?;
    let needed = header_end.saturating_add(described.data_len() as u64);
    if needed > len {
        return Err(truncated(needed));
    }
    if needed < len {
        let extra = len - needed;
        return Err(corrupt(format!(
            "the file has {extra} bytes after the last tensor it describes"
        )));
    }
    Ok(described.metadata().clone().unwrap_or_default())
}

/// The name of the state `state` of the optimiser for the variable `variable`.
pub(crate) fn state_tensor_name(variable: &str, state: &str) -> String {
    format!("optimizer/{variable}/{state}")
}

/// The metadata key of the stream `purpose` of the layer `layer`.
fn stream_key(layer: &str, purpose: &str) -> String {
    format!("{STREAM_PREFIX}{layer}/{purpose}")
}

/// The CRC-32 of the data of `tensors`, taken in the order of their names.
fn checksum<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> u32 {
    let mut sorted: Vec<(&str, &[u8])> = tensors.into_iter().collect();
    sorted.sort_unstable_by_key(|(name, _)| *name);
    let mut hasher = crc32fast::Hasher::new();
    for (_, data) in sorted {
        hasher.update(data);
    }
    hasher.finalize()
}

/// A generator written as `<seed as 64 hex digits>:<stream>:<word position>`.
fn encode_stream(rng: &Rng) -> String {
    let seed: String = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
    format!("{seed}:{}:{}", rng.get_stream(), rng.get_word_pos())
}

/// The generator [`encode_stream`] wrote as `text`, at the same position.
fn decode_stream(text: &str) -> Option<Rng> {
    let mut parts = text.split(':');
    let (seed, stream, word) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || seed.len() != 64 || !seed.is_ascii() {
        return None;
    }
    let mut bytes = [0_u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).ok()?;
    }
    let mut rng = Rng::from_seed(bytes);
    rng.set_stream(stream.parse().ok()?);
    rng.set_word_pos(word.parse().ok()?);
    Some(rng)
}

#[cfg(test)]
mod tests;
