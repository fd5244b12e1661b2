//! Weight files in the safetensors format.
//!
//! A file holds one tensor per trainable variable, named `<layer name>/<variable name>`
//! (`conv2d/kernel`, `conv2d/bias`, `dense/kernel`, …), stored as little-endian `F32` in the
//! variable's Keras layout: a conv kernel is `[k_h, k_w, in_channels, filters]`, a dense
//! kernel `[in, out]`, a bias `[n]`. Weights trained in Keras can therefore be brought over
//! by writing the same names and shapes, with no transposition.
//!
//! The header's metadata records `format = "dropnet"`, the [`FORMAT_VERSION`] and the
//! model's name. [`load`] does not require them, so a file written by another tool loads
//! as long as its tensors match.
//!
//! [`save`] replaces the target atomically, and [`load`] changes no weight unless the whole
//! file fits the model. Files hold the trainable variables only, not optimiser state:
//! [`load`] leaves whatever the model's optimiser has accumulated as it was.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::layer::{Layer, Param};
use crate::network::Network;

/// The value of the `format` metadata entry.
pub const FORMAT: &str = "dropnet";

/// The version of the file layout [`save`] writes, stored as `format_version` metadata.
pub const FORMAT_VERSION: &str = "1";

/// Room allowed for the JSON header when bounding the size of a file to load.
const HEADER_ALLOWANCE: u64 = 1 << 20;

/// Bytes per model scalar allowed when bounding the size of a file to load: eight, so a
/// file storing the right tensors as `F64` is still read and reported as a dtype error.
const BYTES_PER_SCALAR_ALLOWED: u64 = 8;

/// Writes every trainable variable of `model` to `path` as a safetensors file.
///
/// The file is written under a temporary name in the same folder, flushed to disk, then
/// renamed over `path`. A crash or a full disk during the save therefore leaves any
/// previous file at `path` whole; the temporary file is removed on failure.
///
/// # Errors
/// [`Error::Io`] naming `path` if the file cannot be written or renamed (for instance when
/// `path` is a directory, or its folder does not exist, which the message says in words);
/// [`Error::InvalidConfig`] if two variables of the model share a tensor name.
pub fn save<N: Network + ?Sized>(model: &N, path: &Path) -> Result<()> {
    save_layers(N::NAME, &model.layers(), path)
}

/// [`save`] for the layers of the model called `model_name`.
pub(crate) fn save_layers(model_name: &str, layers: &[&dyn Layer], path: &Path) -> Result<()> {
    let mut names = HashSet::new();
    let mut tensors = Vec::new();
    for layer in layers {
        for param in layer.params() {
            let name = tensor_name(layer.name(), param.name);
            check_unique(&mut names, &name)?;
            tensors.push((name, param.value.shape().to_vec(), f32_bytes(&param.value)));
        }
    }

    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("model".to_string(), model_name.to_string()),
    ]);
    let bytes = serialize(path, &tensors, metadata)?;
    write_atomically(path, |file| file.write_all(&bytes))
}

/// A tensor ready to be written: its name, its shape and its values as little-endian
/// `F32` bytes.
pub(crate) type Encoded = (String, Vec<usize>, Vec<u8>);

/// The little-endian bytes of `value`'s elements in row-major order.
pub(crate) fn f32_bytes(value: &ArrayD<f32>) -> Vec<u8> {
    value.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A safetensors file of `F32` tensors `(name, shape, bytes)` with `metadata`, in memory;
/// errors name `path`, the file it is for.
pub(crate) fn serialize(
    path: &Path,
    tensors: &[Encoded],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let serialize_error = |reason: String| Error::io(path, io::Error::other(reason));
    let mut views = Vec::with_capacity(tensors.len());
    for (name, shape, bytes) in tensors {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes);
        views.push((
            name.as_str(),
            view.map_err(|e| serialize_error(e.to_string()))?,
        ));
    }
    safetensors::serialize(views, Some(metadata)).map_err(|e| serialize_error(e.to_string()))
}

/// Reads the weights in `path` into `model`.
///
/// Everything is checked before any weight changes: that the file is a readable
/// safetensors file of a plausible size, that it has a tensor for every variable of the
/// model, each `F32` and of the variable's shape, and no other tensor. On any error the
/// model is left exactly as it was. Values are not checked for being finite.
///
/// A file larger than 1 MiB plus 8 bytes per model parameter is refused before it is read,
/// so a bogus file cannot cause a giant allocation.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::WeightFile`] if it is too large or
/// not valid safetensors; [`Error::MissingTensor`], [`Error::TensorDtype`],
/// [`Error::TensorShape`] or [`Error::UnexpectedTensor`] naming the first tensor that does
/// not fit (model order first, then extra tensors by name); [`Error::InvalidConfig`] if
/// two variables of the model share a tensor name.
pub fn load<N: Network + ?Sized>(model: &mut N, path: &Path) -> Result<()> {
    let (mut layers, _runtime) = model.parts_mut();
    load_with(&mut layers, path, Box::new(|bound| read_file(path, bound)))
}

/// Reads `path` whole, refusing a file larger than any weight file of `scalars` values.
pub(crate) fn read_bounded(path: &Path, scalars: usize) -> Result<Vec<u8>> {
    read_file(path, SizeBound::for_scalars(scalars))
}

/// Reads `path` whole, refusing a file larger than `bound`: by its length before anything
/// is read, and by what it holds while reading.
fn read_file(path: &Path, bound: SizeBound) -> Result<Vec<u8>> {
    let io_err = |e| Error::io(path, e);
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len > bound.bytes {
        return Err(bound.too_large(path, len, ""));
    }
    read_limited(file, path, bound, len)
}

/// Reads weights into `model` from `reader`, as [`load`] reads them from a file; `name`
/// stands for the file in error messages.
///
/// The same size bound applies: reading stops, with an error, one byte past it.
///
/// # Errors
/// As [`load`].
pub fn load_from<N: Network + ?Sized>(
    model: &mut N,
    reader: impl Read,
    name: impl AsRef<Path>,
) -> Result<()> {
    let path = name.as_ref();
    let (mut layers, _runtime) = model.parts_mut();
    let read = move |bound| read_limited(reader, path, bound, 0);
    load_with(&mut layers, path, Box::new(read))
}

/// Checks the bytes that `read` returns (given the size bound) against the
/// variables of `layers`, and assigns them only if all of them fit.
///
/// Not generic, so that it is compiled once rather than for every model.
fn load_with(
    layers: &mut [&mut dyn Layer],
    path: &Path,
    read: Box<dyn FnOnce(SizeBound) -> Result<Vec<u8>> + '_>,
) -> Result<()> {
    // One list of the model's variables serves both the checks and the assignment, so
    // both see the variables in the same order.
    let mut slots: Vec<(String, &mut Param)> = Vec::new();
    let mut names = HashSet::new();
    for layer in layers.iter_mut() {
        let layer_name = layer.name().to_owned();
        for param in layer.params_mut() {
            let name = tensor_name(&layer_name, param.name);
            check_unique(&mut names, &name)?;
            slots.push((name, param));
        }
    }

    let scalars: usize = slots.iter().map(|(_, param)| param.len()).sum();
    let bytes = read(SizeBound::for_scalars(scalars))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| Error::WeightFile {
        path: path.into(),
        reason: e.to_string(),
    })?;

    let shapes: Vec<(&str, &[usize])> = slots
        .iter()
        .map(|(name, param)| (name.as_str(), param.value.shape()))
        .collect();
    let values = decode_all(path, &file, &shapes)?;
    check_no_extra(&file, &names)?;

    for ((_, param), value) in slots.iter_mut().zip(values) {
        param.value.assign(&value);
    }
    Ok(())
}

/// The tensor name of variable `param` of layer `layer`.
pub(crate) fn tensor_name(layer: &str, param: &str) -> String {
    format!("{layer}/{param}")
}

/// Refuses a tensor name seen before: two tensors of one name cannot both be stored.
pub(crate) fn check_unique(names: &mut HashSet<String>, name: &str) -> Result<()> {
    if names.insert(name.to_owned()) {
        return Ok(());
    }
    let reason = format!("two variables are named `{name}`; layer names must be unique");
    Err(Error::config("layer names", reason))
}

/// The largest weight file a model can need: its scalars at 8 bytes each plus room for the
/// header.
#[derive(Debug, Clone, Copy)]
struct SizeBound {
    /// The model's number of scalars.
    scalars: usize,
    /// The largest file accepted, in bytes.
    bytes: u64,
}

impl SizeBound {
    fn for_scalars(scalars: usize) -> Self {
        let bytes = (scalars as u64)
            .saturating_mul(BYTES_PER_SCALAR_ALLOWED)
            .saturating_add(HEADER_ALLOWANCE);
        Self { scalars, bytes }
    }

    /// The error for a file of `len` bytes; `note` is `" at least"` when reading stopped
    /// at the bound.
    fn too_large(self, path: &Path, len: u64, note: &str) -> Error {
        Error::WeightFile {
            path: path.into(),
            reason: format!(
                "the file is{note} {len} bytes, more than the {} bytes a weight file for a model \
                 of {} parameters can need",
                self.bytes, self.scalars
            ),
        }
    }
}

/// Reads `reader` to its end, refusing more than `bound` bytes; `len` is the expected
/// length, reserved up front (it is at most the bound).
fn read_limited(reader: impl Read, path: &Path, bound: SizeBound, len: u64) -> Result<Vec<u8>> {
    // The limit also catches a file that grew after its length was read.
    let mut bytes = Vec::with_capacity(len.min(bound.bytes) as usize);
    reader
        .take(bound.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > bound.bytes {
        return Err(bound.too_large(path, bytes.len() as u64, " at least"));
    }
    Ok(bytes)
}

/// Checks the tensor of each `(name, shape)` (present, `F32`, that shape) and decodes it,
/// in order.
pub(crate) fn decode_all(
    path: &Path,
    file: &SafeTensors<'_>,
    shapes: &[(&str, &[usize])],
) -> Result<Vec<ArrayD<f32>>> {
    let mut values = Vec::with_capacity(shapes.len());
    for &(name, shape) in shapes {
        let expected = shape.to_vec();
        let Ok(view) = file.tensor(name) else {
            return Err(Error::MissingTensor {
                name: name.to_owned(),
                expected,
            });
        };
        if view.dtype() != Dtype::F32 {
            return Err(Error::TensorDtype {
                name: name.to_owned(),
                got: view.dtype().to_string(),
            });
        }
        if view.shape() != shape {
            let got = view.shape().to_vec();
            return Err(Error::TensorShape {
                name: name.to_owned(),
                expected,
                got,
            });
        }

        // safetensors has checked that the data holds exactly shape-product × 4 bytes.
        let floats: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let value =
            ArrayD::from_shape_vec(IxDyn(&expected), floats).map_err(|e| Error::WeightFile {
                path: path.into(),
                reason: format!("tensor `{name}`: {e}"),
            })?;
        values.push(value);
    }
    Ok(values)
}

/// Refuses tensors the model has no variable for, naming the first in sorted order.
pub(crate) fn check_no_extra(file: &SafeTensors<'_>, names: &HashSet<String>) -> Result<()> {
    let mut extra: Vec<&str> = file
        .names()
        .into_iter()
        .filter(|n| !names.contains(*n))
        .collect();
    extra.sort_unstable();
    match extra.first() {
        Some(name) => Err(Error::UnexpectedTensor {
            name: (*name).to_owned(),
        }),
        None => Ok(()),
    }
}

/// Writes a file through `write` under a temporary name beside `path`, syncs it, and
/// renames it over `path`; on failure the temporary file is removed and `path` untouched.
/// Every error names `path`, never the temporary file.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
    let temp = temp_path(path)?;
    // `create_new` never truncates another writer's file; only a file created here is
    // removed on failure.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| create_error(path, e))?;

    if let Err(err) = fill_and_rename(file, &temp, path, write) {
        let _ = fs::remove_file(&temp);
        return Err(err);
    }

    sync_parent(path);
    Ok(())
}

/// Writes the temporary file, flushes it to disk, closes it and renames it to `path`.
fn fill_and_rename(
    mut file: File,
    temp: &Path,
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
    // Errors name the target: the temporary file is an implementation detail, and it is
    // removed anyway.
    write(&mut file).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    drop(file);
    fs::rename(temp, path).map_err(|e| Error::io(path, e))
}

/// Fails, as a save to `path` would, when the folder of `path` is missing or is not a
/// folder: callbacks check their paths before training, rather than after the first epoch.
pub(crate) fn check_folder(path: &Path) -> Result<()> {
    match folder_problem(path) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The error of creating the temporary file beside `path`, reported against `path`, and
/// in words when its folder is missing or is not a folder (the usual causes).
fn create_error(path: &Path, error: io::Error) -> Error {
    folder_problem(path).unwrap_or_else(|| Error::io(path, error))
}

/// An [`Error::Io`] naming `path` when the folder it would be written in does not exist or
/// is not a folder, `None` otherwise (including when the folder cannot be inspected).
///
/// Shared by every writer of files (weights, checkpoints, plots), so a bad output path is
/// reported in the same words wherever it is given, instead of as a bare OS error.
pub(crate) fn folder_problem(path: &Path) -> Option<Error> {
    let folder = folder_of(path);
    let (kind, what) = match fs::metadata(folder) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            (io::ErrorKind::NotFound, "does not exist")
        }
        Ok(meta) if !meta.is_dir() => (io::ErrorKind::NotADirectory, "is not a folder"),
        _ => return None,
    };
    let message = format!("cannot save: the folder {} {what}", folder.display());
    Some(Error::io(path, io::Error::new(kind, message)))
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A temporary name in the same folder as `path`, unique within this process.
fn temp_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let Some(file_name) = path.file_name() else {
        let source = io::Error::new(io::ErrorKind::InvalidInput, "not a file name");
        return Err(Error::io(path, source));
    };
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!(
        ".{}.{}-{unique}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    );
    Ok(path.with_file_name(name))
}

/// Flushes the rename to disk where the platform allows it.
///
/// Best effort: a failure here cannot corrupt anything, since either the old or the new
/// file is complete at `path`, so it is ignored.
fn sync_parent(path: &Path) {
    if let Ok(dir) = File::open(folder_of(path)) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A folder of its own for one test, removed when the test ends.
    pub(crate) struct Scratch(pub(crate) PathBuf);

    impl Scratch {
        pub(crate) fn new(test: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("dropnet-atomic-{}-{test}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        pub(crate) fn listing(&self) -> Vec<String> {
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

    #[test]
    fn write_failing_half_way_leaves_the_old_file_whole() {
        let dir = Scratch::new("half-way");
        let path = dir.0.join("model.safetensors");
        fs::write(&path, b"old weights").unwrap();

        // Half the new content reaches the disk, then the device reports it is full.
        let err = write_atomically(&path, |file| {
            file.write_all(b"new wei")?;
            file.sync_all()?;
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        })
        .unwrap_err();

        assert!(
            matches!(&err, Error::Io { path: p, error }
                if p == &path && error.kind() == io::ErrorKind::StorageFull),
            "the error names the target, not the temporary file: {err:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"old weights");
        assert_eq!(
            dir.listing(),
            ["model.safetensors"],
            "the temporary file was removed"
        );
    }

    #[test]
    fn successful_write_replaces_the_file() {
        let dir = Scratch::new("replaces");
        let path = dir.0.join("model.safetensors");
        fs::write(&path, b"old weights").unwrap();

        write_atomically(&path, |file| file.write_all(b"new weights")).unwrap();

        assert_eq!(fs::read(&path).unwrap(), b"new weights");
        assert_eq!(dir.listing(), ["model.safetensors"]);
    }

    #[test]
    fn temporary_name_sits_beside_the_target_and_is_hidden() {
        let first = temp_path(Path::new("out/model.safetensors")).unwrap();
        let second = temp_path(Path::new("out/model.safetensors")).unwrap();

        assert_eq!(first.parent(), Some(Path::new("out")));
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".model.safetensors.") && name.ends_with(".tmp"),
            "{name}"
        );
        assert_ne!(
            first, second,
            "two saves in one process use different names"
        );
        assert!(temp_path(Path::new("/")).is_err());
    }
}
