//! The MNIST handwritten digits, from the four files in which they are published.
//!
//! [`load`] reads a directory holding the standard file names, each raw or
//! gzip-compressed, so the official 60,000/10,000 files load unchanged, as does any subset
//! written in the same layout.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::data::idx;
use crate::error::{Error, Result};
use crate::shape::{Image, Labels, Samples};

/// The per-sample shape of an MNIST digit: 28×28 pixels, one grey channel.
pub type MnistImage = Image<28, 28, 1>;

/// Training images, as the file is named in the official distribution.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The MNIST training and test sets.
///
/// Pixels are scaled to `[0, 1]`; labels are the digits 0–9 as read from the files (their
/// range is checked when training starts, not here).
#[derive(Debug, Clone)]
pub struct Mnist {
    /// Training images, `[n, 28, 28, 1]`.
    pub train_images: Samples<MnistImage>,
    /// One label per training image.
    pub train_labels: Labels,
    /// Test images, `[n, 28, 28, 1]`.
    pub test_images: Samples<MnistImage>,
    /// One label per test image.
    pub test_labels: Labels,
}

/// Loads the four MNIST files from `dir`.
///
/// Each file is looked up under its standard name ([`TRAIN_IMAGES`], [`TRAIN_LABELS`],
/// [`TEST_IMAGES`], [`TEST_LABELS`]), first as it is and then with `.gz` appended;
/// compression is recognised by content either way.
///
/// # Errors
/// [`Error::Io`] naming `dir` when it does not exist (kind `NotFound`) or is not a folder
/// (kind `NotADirectory`); naming the file when it is missing (kind `NotFound`, with both
/// names tried) or when a folder stands where the file should be (kind `IsADirectory`);
/// any error of [`idx::read_images`] and [`idx::read_labels`];
/// [`Error::LengthMismatch`] naming the `training` or `test` set when it has more images
/// than labels or the other way round.
pub fn load(dir: impl AsRef<Path>) -> Result<Mnist> {
    let dir = dir.as_ref();
    check_folder(dir)?;

    let train_images = idx::read_images(find(dir, TRAIN_IMAGES)?)?;
    let train_labels = idx::read_labels(find(dir, TRAIN_LABELS)?)?;
    check_counts("training", &train_images, &train_labels)?;

    let test_images = idx::read_images(find(dir, TEST_IMAGES)?)?;
    let test_labels = idx::read_labels(find(dir, TEST_LABELS)?)?;
    check_counts("test", &test_images, &test_labels)?;

    Ok(Mnist {
        train_images,
        train_labels,
        test_images,
        test_labels,
    })
}

/// Fails unless `dir` is a folder, saying whether it is missing or something else.
fn check_folder(dir: &Path) -> Result<()> {
    let error = match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => io::Error::new(
            io::ErrorKind::NotADirectory,
            "this is a file, but the MNIST data folder is expected here",
        ),
        Err(err) if err.kind() == io::ErrorKind::NotFound => io::Error::new(
            io::ErrorKind::NotFound,
            "the MNIST data folder does not exist",
        ),
        Err(err) => err,
    };
    Err(Error::io(dir, error))
}

/// The path of `name` in `dir`, raw or with `.gz`, whichever is a file (raw first).
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz_name = format!("{name}.gz");
    let mut folder = None;
    for path in [dir.join(name), dir.join(&gz_name)] {
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                folder.get_or_insert(path);
            }
            Ok(_) => return Ok(path),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(Error::io(path, err)),
        }
    }

    // Some unpackers turn `name.gz` into a folder `name` holding the file.
    if let Some(path) = folder {
        let message = "this is a folder, but the IDX file itself (raw or gzip-compressed) is \
                       expected here; if it is inside, move it out under this name";
        return Err(Error::io(
            path,
            io::Error::new(io::ErrorKind::IsADirectory, message),
        ));
    }
    let message = format!("no such file in the folder (tried `{name}` and `{gz_name}`)");
    Err(Error::io(
        dir.join(name),
        io::Error::new(io::ErrorKind::NotFound, message),
    ))
}

/// Refuses a set whose images and labels differ in number.
fn check_counts(set: &'static str, images: &Samples<MnistImage>, labels: &Labels) -> Result<()> {
    if images.len() == labels.len() {
        return Ok(());
    }
    Err(Error::LengthMismatch {
        set,
        inputs: images.len(),
        targets: labels.len(),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// A folder of its own for one test, removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("dropnet-mnist-{}-{test}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes `count` blank images and `labels` under the standard names, raw.
    fn write_set(dir: &Path, images: &str, count: u32, labels_name: &str, labels: &[u8]) {
        let mut image_bytes = vec![0, 0, 8, 3];
        for d in [count, 28, 28] {
            image_bytes.extend_from_slice(&d.to_be_bytes());
        }
        image_bytes.resize(16 + count as usize * 784, 0);
        fs::write(dir.join(images), image_bytes).unwrap();

        let mut label_bytes = vec![0, 0, 8, 1];
        label_bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        label_bytes.extend_from_slice(labels);
        fs::write(dir.join(labels_name), label_bytes).unwrap();
    }

    #[test]
    fn loads_raw_files_under_standard_names() {
        let dir = Scratch::new("raw");
        write_set(&dir.0, TRAIN_IMAGES, 3, TRAIN_LABELS, &[4, 0, 9]);
        write_set(&dir.0, TEST_IMAGES, 1, TEST_LABELS, &[2]);

        let mnist = load(&dir.0).unwrap();

        assert_eq!(mnist.train_images.len(), 3);
        assert_eq!(mnist.train_labels.as_slice(), &[4, 0, 9]);
        assert_eq!(mnist.test_images.len(), 1);
        assert_eq!(mnist.test_labels.as_slice(), &[2]);
    }

    #[test]
    fn count_mismatch_is_refused() {
        let dir = Scratch::new("mismatch");
        write_set(&dir.0, TRAIN_IMAGES, 3, TRAIN_LABELS, &[4, 0]);
        write_set(&dir.0, TEST_IMAGES, 1, TEST_LABELS, &[2]);

        let err = load(&dir.0).unwrap_err();

        assert!(
            matches!(
                err,
                Error::LengthMismatch {
                    set: "training",
                    inputs: 3,
                    targets: 2
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn missing_file_names_path_and_both_names_tried() {
        let dir = Scratch::new("missing");
        write_set(&dir.0, TRAIN_IMAGES, 1, TRAIN_LABELS, &[4]);

        let err = load(&dir.0).unwrap_err();

        let Error::Io { path, error } = &err else {
            panic!("expected Io, got {err:?}")
        };
        assert_eq!(path, &dir.0.join(TEST_IMAGES));
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let message = err.to_string();
        assert!(
            message.ends_with(
                "t10k-images-idx3-ubyte: no such file in the folder (tried \
                 `t10k-images-idx3-ubyte` and `t10k-images-idx3-ubyte.gz`)"
            ),
            "{message}"
        );
    }

    #[test]
    fn missing_folder_is_named_as_such() {
        let dir = Scratch::new("no-folder");
        let absent = dir.0.join("absent");

        let err = load(&absent).unwrap_err();

        let Error::Io { path, error } = &err else {
            panic!("expected Io, got {err:?}")
        };
        assert_eq!(path, &absent);
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!("{}: the MNIST data folder does not exist", absent.display())
        );
        assert!(std::error::Error::source(&err).is_none(), "shown once");
    }

    #[test]
    fn a_file_instead_of_the_folder_is_named_as_such() {
        let dir = Scratch::new("file-not-folder");
        let file = dir.0.join("mnist.zip");
        fs::write(&file, b"PK").unwrap();

        let err = load(&file).unwrap_err();

        assert!(
            matches!(&err, Error::Io { path, error }
                if path == &file && error.kind() == io::ErrorKind::NotADirectory),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .contains("is a file, but the MNIST data folder"));
    }

    #[test]
    fn a_folder_where_a_file_should_be_is_named_as_such() {
        let dir = Scratch::new("folder-not-file");
        write_set(&dir.0, TEST_IMAGES, 1, TEST_LABELS, &[2]);
        let unpacked = dir.0.join(TRAIN_IMAGES);
        fs::create_dir(&unpacked).unwrap();
        fs::write(unpacked.join("train-images.idx3-ubyte"), b"").unwrap();

        let err = load(&dir.0).unwrap_err();

        assert!(
            matches!(&err, Error::Io { path, error }
                if path == &unpacked && error.kind() == io::ErrorKind::IsADirectory),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("this is a folder, but the IDX file itself"),
            "{err}"
        );
    }

    #[test]
    fn a_gzip_file_beside_a_folder_of_the_raw_name_is_used() {
        let dir = Scratch::new("folder-and-gz");
        write_set(&dir.0, TRAIN_IMAGES, 2, TRAIN_LABELS, &[1, 2]);
        write_set(&dir.0, TEST_IMAGES, 1, TEST_LABELS, &[2]);
        fs::rename(
            dir.0.join(TEST_LABELS),
            dir.0.join(format!("{TEST_LABELS}.gz")),
        )
        .unwrap();
        fs::create_dir(dir.0.join(TEST_LABELS)).unwrap();

        let mnist = load(&dir.0).unwrap();

        assert_eq!(mnist.test_labels.as_slice(), &[2]);
    }
}
