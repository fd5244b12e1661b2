//! Reader for the IDX format, in which the MNIST digits are published.
//!
//! An IDX file is a big-endian header followed by the values, row-major:
//!
//! | bytes | content |
//! | --- | --- |
//! | 4 | magic number: two zero bytes, the value type (`0x08` = unsigned byte), the rank |
//! | 4 × rank | each dimension as a `u32`, outermost first |
//! | product of the dimensions | the values |
//!
//! MNIST images have magic `0x00000803` and dimensions `[count, 28, 28]`; labels have
//! magic `0x00000801` and dimensions `[count]`. Only unsigned bytes are read, the only type
//! MNIST and its relatives use.
//!
//! Files may be gzip-compressed. Compression is recognised by the content (the gzip magic
//! bytes `1f 8b`), not by the file name, so a renamed file still loads.
//!
//! Every check runs before memory is allocated for the values: the magic number, the rank,
//! the dimensions and, for a raw file, its exact length against the header. A header that
//! claims billions of images therefore gives an error, not a giant allocation. The length
//! of compressed data is unknown until it has been decompressed, and so is the length of a
//! stream handed to the `*_from` functions, so those are read through a limit of the
//! announced length plus one byte: the buffer grows only as real data arrives, and the
//! exact length is checked at the end.
//!
//! Each reader comes in two forms: one taking a path ([`read_images`]) and one taking any
//! [`Read`] with a name for messages ([`read_images_from`]), for data already in memory or
//! arriving from elsewhere. Both decode the same way; the path form only adds the file's
//! length, so a raw file that is too short is refused before reading.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{Error, Result};
use crate::shape::{Image, Labels, Samples};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The IDX type byte for unsigned bytes.
const UNSIGNED_BYTE: u8 = 0x08;

/// Height and width of an MNIST image.
const SIDE: usize = 28;

/// The contents of an IDX file of unsigned bytes, whatever its rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxBytes {
    /// The dimensions, outermost first (`[count, rows, columns]` for MNIST images).
    pub dims: Vec<usize>,
    /// The values in row-major order; its length is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes of any rank, raw or gzip-compressed.
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened or read, [`Error::Idx`] if it is not an IDX
/// file of unsigned bytes or its length differs from what its header announces.
pub fn read_bytes(path: impl AsRef<Path>) -> Result<IdxBytes> {
    from_file(path.as_ref(), |path, source| {
        read_checked(path, source, Kind::Any, |_| Ok(()))
    })
}

/// Reads IDX data of unsigned bytes of any rank from `reader`, raw or gzip-compressed;
/// `name` stands for the file in error messages.
///
/// # Errors
/// As [`read_bytes`].
pub fn read_bytes_from(reader: impl Read, name: impl AsRef<Path>) -> Result<IdxBytes> {
    from_reader(reader, name.as_ref(), |path, source| {
        read_checked(path, source, Kind::Any, |_| Ok(()))
    })
}

/// Reads an MNIST image file (magic `0x00000803`, `count × 28 × 28` bytes), raw or
/// gzip-compressed, scaling each pixel byte to `byte / 255` so values lie in `[0, 1]`.
///
/// A file with a count of zero gives an empty set; whether an empty set is acceptable is
/// for the caller to decide.
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened or read; [`Error::Idx`] if the magic number is
/// not the one of an image file (for instance a label file), the images are not 28×28, or
/// the file is shorter or longer than its header announces.
pub fn read_images(path: impl AsRef<Path>) -> Result<Samples<Image<SIDE, SIDE, 1>>> {
    from_file(path.as_ref(), decode_images)
}

/// Reads MNIST images from `reader`, raw or gzip-compressed, as [`read_images`] reads a
/// file; `name` stands for the file in error messages.
///
/// # Errors
/// As [`read_images`].
pub fn read_images_from(
    reader: impl Read,
    name: impl AsRef<Path>,
) -> Result<Samples<Image<SIDE, SIDE, 1>>> {
    from_reader(reader, name.as_ref(), decode_images)
}

/// Reads an MNIST label file (magic `0x00000801`, one byte per label), raw or
/// gzip-compressed.
///
/// Label values are not range-checked here: a byte above 9 is returned as it is, and
/// training reports it against the model's number of classes
/// ([`Error::LabelOutOfRange`]).
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened or read; [`Error::Idx`] if the magic number is
/// not the one of a label file (for instance an image file), or the file is shorter or
/// longer than its header announces.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Labels> {
    from_file(path.as_ref(), decode_labels)
}

/// Reads MNIST labels from `reader`, raw or gzip-compressed, as [`read_labels`] reads a
/// file; `name` stands for the file in error messages.
///
/// # Errors
/// As [`read_labels`].
pub fn read_labels_from(reader: impl Read, name: impl AsRef<Path>) -> Result<Labels> {
    from_reader(reader, name.as_ref(), decode_labels)
}

/// Images: rank 3, 28×28, each byte scaled to `[0, 1]`.
fn decode_images(path: &Path, source: Source<'_>) -> Result<Samples<Image<SIDE, SIDE, 1>>> {
    let idx = read_checked(path, source, Kind::Images, |dims| {
        check_image_dims(path, dims)
    })?;

    let count = idx.dims[0];
    let pixels = idx
        .data
        .iter()
        .map(|&byte| f32::from(byte) / 255.0)
        .collect();
    Samples::from_vec(count, pixels)
}

/// Labels: rank 1, one byte each.
fn decode_labels(path: &Path, source: Source<'_>) -> Result<Labels> {
    let idx = read_checked(path, source, Kind::Labels, |_| Ok(()))?;
    Ok(Labels::new(idx.data.into_iter().map(u32::from).collect()))
}

/// Opens `path` and decodes it with `decode`, telling the source the file's length.
fn from_file<T>(path: &Path, decode: impl FnOnce(&Path, Source<'_>) -> Result<T>) -> Result<T> {
    let io_err = |e| Error::io(path, e);
    let file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();

    let mut buffered = BufReader::new(file);
    let source = Source::new(path, &mut buffered, Some(file_len))?;
    decode(path, source)
}

/// Decodes `reader` with `decode`; its length is unknown until it ends.
fn from_reader<T>(
    mut reader: impl Read,
    path: &Path,
    decode: impl FnOnce(&Path, Source<'_>) -> Result<T>,
) -> Result<T> {
    let source = Source::new(path, &mut reader, None)?;
    decode(path, source)
}

/// The kind of IDX file a caller expects, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// MNIST images: rank 3.
    Images,
    /// MNIST labels: rank 1.
    Labels,
    /// Unsigned bytes of any rank.
    Any,
}

impl Kind {
    /// The rank this kind requires, if any.
    fn rank(self) -> Option<u8> {
        match self {
            Kind::Images => Some(3),
            Kind::Labels => Some(1),
            Kind::Any => None,
        }
    }

    /// What a file of this kind is, in words.
    fn describe(self) -> &'static str {
        match self {
            Kind::Images => "an image file (magic 0x00000803)",
            Kind::Labels => "a label file (magic 0x00000801)",
            Kind::Any => "an IDX file of unsigned bytes (magic 0x000008nn)",
        }
    }
}

/// Reads the header, lets `check_dims` refuse the dimensions, then reads the values.
fn read_checked(
    path: &Path,
    mut source: Source<'_>,
    kind: Kind,
    check_dims: impl FnOnce(&[usize]) -> Result<()>,
) -> Result<IdxBytes> {
    let dims = source.read_header(kind)?;
    check_dims(&dims)?;

    let len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            idx_error(
                path,
                format!("dimensions {dims:?} hold more bytes than memory can address"),
            )
        })?;
    let data = source.read_values(len)?;
    Ok(IdxBytes { dims, data })
}

/// Refuses image dimensions other than `[count, 28, 28]`.
fn check_image_dims(path: &Path, dims: &[usize]) -> Result<()> {
    if dims[1..] == [SIDE, SIDE] {
        return Ok(());
    }
    let reason = format!(
        "images are {}×{} pixels, expected {SIDE}×{SIDE} (MNIST)",
        dims[1], dims[2]
    );
    Err(idx_error(path, reason))
}

/// An open IDX file: the byte stream after decompression, and what is known of its length.
struct Source<'a> {
    /// The file, for messages.
    path: &'a Path,
    /// The decompressed bytes, positioned after what has been read so far.
    reader: Box<dyn Read + 'a>,
    /// True when the bytes are gzip-compressed.
    gzip: bool,
    /// The stored length, when it is known and the bytes are stored raw.
    raw_len: Option<u64>,
    /// Bytes read so far (the header).
    consumed: u64,
}

impl<'a> Source<'a> {
    /// Starts reading `reader`, recognising gzip by its first two bytes; `len` is the
    /// stored length when known (a file's).
    fn new(path: &'a Path, reader: &'a mut dyn Read, len: Option<u64>) -> Result<Self> {
        let mut start = [0u8; 2];
        let got = read_full(&mut &mut *reader, &mut start).map_err(|e| Error::io(path, e))?;

        // The two bytes read to recognise gzip go back in front of the rest.
        let whole = io::Cursor::new(start).take(got as u64).chain(reader);
        let gzip = got == 2 && start == GZIP_MAGIC;
        let (reader, raw_len): (Box<dyn Read + 'a>, _) = if gzip {
            (Box::new(MultiGzDecoder::new(whole)), None)
        } else {
            (Box::new(whole), len)
        };
        Ok(Self {
            path,
            reader,
            gzip,
            raw_len,
            consumed: 0,
        })
    }

    /// Reads the magic number and the dimensions, checking them against `kind`.
    fn read_header(&mut self, kind: Kind) -> Result<Vec<usize>> {
        let mut magic = [0u8; 4];
        self.read_header_part(&mut magic, kind)?;
        let rank = check_magic(self.path, magic, kind)?;

        let mut dims = Vec::with_capacity(usize::from(rank));
        for _ in 0..rank {
            let mut dim = [0u8; 4];
            self.read_header_part(&mut dim, kind)?;
            // A u32 always fits in usize on the 32- and 64-bit targets this crate builds for.
            dims.push(u32::from_be_bytes(dim) as usize);
        }
        Ok(dims)
    }

    /// Fills `buf` from the header, or explains where the file ended.
    fn read_header_part(&mut self, buf: &mut [u8], kind: Kind) -> Result<()> {
        let read = read_full(&mut self.reader, buf);
        let got = read.map_err(|e| self.read_error(e))?;
        let total = self.consumed + got as u64;
        self.consumed = total;
        if got == buf.len() {
            return Ok(());
        }

        let reason = if total == 0 {
            format!("the file is empty, expected {}", kind.describe())
        } else {
            format!("truncated: the file ends after {total} bytes, inside the IDX header")
        };
        Err(idx_error(self.path, reason))
    }

    /// Reads exactly the `len` value bytes the header announced, and nothing after them.
    fn read_values(&mut self, len: usize) -> Result<Vec<u8>> {
        let expected = self.consumed.saturating_add(len as u64);
        match self.raw_len {
            Some(file_len) => self.read_raw_values(len, expected, file_len),
            None => self.read_streamed_values(len, expected),
        }
    }

    /// Raw files: the length is known, so compare before allocating anything.
    fn read_raw_values(&mut self, len: usize, expected: u64, file_len: u64) -> Result<Vec<u8>> {
        if file_len != expected {
            return Err(self.length_error(expected, file_len, ""));
        }

        let mut data = vec![0u8; len];
        let read = read_full(&mut self.reader, &mut data);
        let got = read.map_err(|e| self.read_error(e))?;
        if got != len {
            // The file shrank between the length check and the read.
            return Err(self.length_error(expected, self.consumed + got as u64, ""));
        }
        Ok(data)
    }

    /// Gzip data and streams of unknown length: read through a limit of one byte more than
    /// announced, so the buffer grows only with data that really arrives and trailing data
    /// is noticed.
    fn read_streamed_values(&mut self, len: usize, expected: u64) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        let limit = (len as u64).saturating_add(1);
        let read = (&mut self.reader).take(limit).read_to_end(&mut data);
        read.map_err(|e| self.read_error(e))?;

        if data.len() != len {
            let found = self.consumed + data.len() as u64;
            let note = if data.len() > len { " at least" } else { "" };
            return Err(self.length_error(expected, found, note));
        }
        Ok(data)
    }

    /// A truncation or trailing-data error, with the expected and found byte counts.
    fn length_error(&self, expected: u64, found: u64, found_note: &str) -> Error {
        let what = if self.gzip {
            "after gzip decompression the file has"
        } else {
            "the file has"
        };
        let problem = if found < expected {
            "truncated"
        } else {
            "trailing bytes"
        };
        let reason =
            format!("{problem}: the header announces {expected} bytes, {what}{found_note} {found}");
        idx_error(self.path, reason)
    }

    /// Maps a read failure: corrupt compressed data is a file problem, the rest is I/O.
    fn read_error(&self, e: io::Error) -> Error {
        let corrupt = self.gzip
            && matches!(
                e.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
            );
        if corrupt {
            idx_error(self.path, format!("corrupt or truncated gzip data: {e}"))
        } else {
            Error::io(self.path, e)
        }
    }
}

/// Checks the magic number against `kind` and returns the rank it announces.
fn check_magic(path: &Path, magic: [u8; 4], kind: Kind) -> Result<u8> {
    let [zero_a, zero_b, value_type, rank] = magic;
    let found = describe_magic(magic);
    let expected = kind.describe();

    let problem = if zero_a != 0 || zero_b != 0 {
        Some(format!(
            "not an IDX file: expected {expected}, found {found}"
        ))
    } else if value_type != UNSIGNED_BYTE {
        Some(format!(
            "expected {expected}, found {found}; only unsigned bytes (0x08) are read"
        ))
    } else if kind.rank().is_some_and(|r| r != rank) || rank == 0 {
        Some(format!(
            "wrong kind of IDX file: expected {expected}, found {found}"
        ))
    } else {
        None
    };
    match problem {
        Some(reason) => Err(idx_error(path, reason)),
        None => Ok(rank),
    }
}

/// Names the file kind a magic number stands for.
fn describe_magic(magic: [u8; 4]) -> String {
    let number = u32::from_be_bytes(magic);
    match magic {
        [0, 0, UNSIGNED_BYTE, 3] => format!("an image file (magic 0x{number:08x})"),
        [0, 0, UNSIGNED_BYTE, 1] => format!("a label file (magic 0x{number:08x})"),
        [0, 0, value_type, rank] => format!(
            "an IDX file of type 0x{value_type:02x} with {rank} dimensions (magic 0x{number:08x})"
        ),
        _ => format!("magic number 0x{number:08x}"),
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Builds an [`Error::Idx`].
fn idx_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Idx {
        path: PathBuf::from(path),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;
    use std::time::{Duration, Instant};

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    /// A folder of its own for one test, removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("dropnet-idx-{}-{test}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, bytes).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// An IDX header: magic `00 00 08 rank`, then each dimension big-endian.
    fn header(dims: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0, 0, UNSIGNED_BYTE, dims.len() as u8];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes
    }

    /// Two 28×28 images: the first all 255 but for pixel (0, 1) = 51, the second 0 but for
    /// its last pixel = 128.
    fn two_images() -> Vec<u8> {
        let mut bytes = header(&[2, 28, 28]);
        let mut first = vec![255u8; 784];
        first[1] = 51;
        let mut second = vec![0u8; 784];
        second[783] = 128;
        bytes.extend(first);
        bytes.extend(second);
        bytes
    }

    fn labels(values: &[u8]) -> Vec<u8> {
        let mut bytes = header(&[values.len() as u32]);
        bytes.extend_from_slice(values);
        bytes
    }

    fn idx_reason(err: Error) -> String {
        match err {
            Error::Idx { reason, .. } => reason,
            other => panic!("expected an IDX error, got {other:?}"),
        }
    }

    fn assert_two_images(images: &Samples<Image<28, 28, 1>>) {
        assert_eq!(images.len(), 2);
        let first = images.sample(0).unwrap();
        let second = images.sample(1).unwrap();

        // 255 / 255 is exactly 1, and 51 / 255 rounds to the f32 nearest 0.2.
        assert_eq!(first[0], 1.0);
        assert_eq!(first[1], 0.2f32);
        assert!(first[2..].iter().all(|&p| p == 1.0));
        assert!(second[..783].iter().all(|&p| p == 0.0));
        assert_eq!(second[783], 128.0 / 255.0);
    }

    #[test]
    fn two_raw_images_decode_to_exact_pixels() {
        let dir = Scratch::new("raw-images");
        let path = dir.write("images", &two_images());

        assert_two_images(&read_images(path).unwrap());
    }

    #[test]
    fn gzip_is_recognised_by_content_not_name() {
        let dir = Scratch::new("gzip-images");
        let gz = dir.write("images.raw", &gzip(&two_images()));
        let raw = dir.write("images.gz", &two_images());

        assert_two_images(&read_images(gz).unwrap());
        assert_two_images(&read_images(raw).unwrap());
    }

    #[test]
    fn a_reader_decodes_as_the_file_does() {
        let dir = Scratch::new("reader");
        let path = dir.write("images", &two_images());

        let from_file = read_images(&path).unwrap();
        let raw = read_images_from(two_images().as_slice(), "mem").unwrap();
        let gz = read_images_from(gzip(&two_images()).as_slice(), "mem").unwrap();

        assert_two_images(&raw);
        assert_eq!(raw.matrix(), from_file.matrix());
        assert_eq!(gz.matrix(), from_file.matrix());
        let decoded = read_labels_from(labels(&[3, 1]).as_slice(), "mem").unwrap();
        assert_eq!(decoded.as_slice(), &[3, 1]);
        let any = read_bytes_from(gzip(&labels(&[5])).as_slice(), "mem").unwrap();
        assert_eq!((any.dims, any.data), (vec![1], vec![5]));
    }

    #[test]
    fn a_short_stream_names_the_expected_and_found_lengths() {
        let mut bytes = two_images();
        bytes.truncate(bytes.len() - 10);

        let raw = idx_reason(read_images_from(bytes.as_slice(), "mem").unwrap_err());
        let gz = idx_reason(read_images_from(gzip(&bytes).as_slice(), "mem").unwrap_err());

        assert_eq!(
            raw,
            "truncated: the header announces 1584 bytes, the file has 1574"
        );
        assert_eq!(
            gz,
            "truncated: the header announces 1584 bytes, after gzip decompression the file \
             has 1574"
        );
        let one_byte = idx_reason(read_labels_from(&[0u8][..], "mem").unwrap_err());
        assert!(one_byte.contains("after 1 bytes"), "{one_byte}");
    }

    #[test]
    fn labels_decode_raw_and_gzip() {
        let dir = Scratch::new("labels");
        let raw = dir.write("raw", &labels(&[7, 0, 9, 12]));
        let gz = dir.write("gz", &gzip(&labels(&[7, 0, 9, 12])));

        // 12 is not a digit, but range checks belong to training, not to the loader.
        assert_eq!(read_labels(raw).unwrap().as_slice(), &[7, 0, 9, 12]);
        assert_eq!(read_labels(gz).unwrap().as_slice(), &[7, 0, 9, 12]);
    }

    #[test]
    fn any_rank_reads_as_bytes() {
        let dir = Scratch::new("any-rank");
        let mut bytes = header(&[2, 3]);
        bytes.extend([1, 2, 3, 4, 5, 6]);
        let path = dir.write("matrix", &bytes);

        let idx = read_bytes(path).unwrap();
        assert_eq!(
            idx,
            IdxBytes {
                dims: vec![2, 3],
                data: vec![1, 2, 3, 4, 5, 6]
            }
        );
    }

    #[test]
    fn truncated_file_reports_expected_and_found_lengths() {
        let dir = Scratch::new("truncated");
        let mut bytes = two_images();
        bytes.truncate(bytes.len() - 10);
        let raw = dir.write("raw", &bytes);
        let gz = dir.write("gz", &gzip(&bytes));

        // 16 header bytes + 2 × 784 pixels = 1584, of which 10 are missing.
        let raw_reason = idx_reason(read_images(raw).unwrap_err());
        let gz_reason = idx_reason(read_images(gz).unwrap_err());
        for reason in [raw_reason, gz_reason] {
            assert!(reason.starts_with("truncated"), "{reason}");
            assert!(
                reason.contains("1584") && reason.contains("1574"),
                "{reason}"
            );
        }
    }

    #[test]
    fn truncated_header_is_reported() {
        let dir = Scratch::new("short-header");
        let path = dir.write("images", &header(&[2, 28, 28])[..9]);

        let reason = idx_reason(read_images(path).unwrap_err());
        assert!(
            reason.contains("after 9 bytes, inside the IDX header"),
            "{reason}"
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let dir = Scratch::new("trailing");
        let mut bytes = labels(&[1, 2, 3]);
        bytes.extend_from_slice(b"junk");
        let raw = dir.write("raw", &bytes);
        let gz = dir.write("gz", &gzip(&bytes));

        let raw_reason = idx_reason(read_labels(raw).unwrap_err());
        assert!(raw_reason.contains("trailing bytes"), "{raw_reason}");
        assert!(
            raw_reason.contains("11 bytes") && raw_reason.contains("15"),
            "{raw_reason}"
        );
        let gz_reason = idx_reason(read_labels(gz).unwrap_err());
        assert!(gz_reason.contains("trailing bytes"), "{gz_reason}");
    }

    #[test]
    fn empty_file_says_what_was_expected() {
        let dir = Scratch::new("empty");
        let path = dir.write("labels", &[]);

        let reason = idx_reason(read_labels(path).unwrap_err());
        assert_eq!(
            reason,
            "the file is empty, expected a label file (magic 0x00000801)"
        );
    }

    #[test]
    fn wrong_magic_is_refused() {
        let dir = Scratch::new("wrong-magic");
        let mut bytes = two_images();
        bytes[..4].copy_from_slice(b"PK\x03\x04");
        let path = dir.write("images", &bytes);

        let reason = idx_reason(read_images(path).unwrap_err());
        assert!(reason.starts_with("not an IDX file"), "{reason}");
        assert!(
            reason.contains("0x504b0304") && reason.contains("0x00000803"),
            "{reason}"
        );
    }

    #[test]
    fn non_byte_value_type_is_refused() {
        let dir = Scratch::new("float-type");
        let mut bytes = labels(&[1, 2, 3, 4]);
        bytes[2] = 0x0d;
        let path = dir.write("labels", &bytes);

        let reason = idx_reason(read_labels(path).unwrap_err());
        assert!(
            reason.contains("type 0x0d") && reason.contains("unsigned bytes"),
            "{reason}"
        );
    }

    #[test]
    fn images_passed_as_labels_name_both_kinds() {
        let dir = Scratch::new("images-as-labels");
        let path = dir.write("images", &two_images());

        let reason = idx_reason(read_labels(path).unwrap_err());
        assert_eq!(
            reason,
            "wrong kind of IDX file: expected a label file (magic 0x00000801), \
             found an image file (magic 0x00000803)"
        );
    }

    #[test]
    fn labels_passed_as_images_name_both_kinds() {
        let dir = Scratch::new("labels-as-images");
        let path = dir.write("labels", &gzip(&labels(&[3, 1])));

        let reason = idx_reason(read_images(path).unwrap_err());
        assert_eq!(
            reason,
            "wrong kind of IDX file: expected an image file (magic 0x00000803), \
             found a label file (magic 0x00000801)"
        );
    }

    #[test]
    fn wrong_image_size_names_both_sizes() {
        let dir = Scratch::new("wrong-dims");
        let mut bytes = header(&[1, 32, 32]);
        bytes.extend(vec![0u8; 32 * 32]);
        let path = dir.write("images", &bytes);

        let reason = idx_reason(read_images(path).unwrap_err());
        assert_eq!(reason, "images are 32×32 pixels, expected 28×28 (MNIST)");
    }

    #[test]
    fn huge_count_fails_fast_without_allocating() {
        let dir = Scratch::new("huge-count");
        // 4,294,967,295 images of 784 bytes would be 3.4 TB; the file holds one image.
        let mut bytes = header(&[u32::MAX, 28, 28]);
        bytes.extend(vec![7u8; 784]);
        let raw = dir.write("raw", &bytes);
        let gz = dir.write("gz", &gzip(&bytes));

        let start = Instant::now();
        let raw_reason = idx_reason(read_images(raw).unwrap_err());
        let gz_reason = idx_reason(read_images(gz).unwrap_err());
        // A stream's length is unknown, so this one is refused only at its end.
        let stream_reason = idx_reason(read_images_from(bytes.as_slice(), "mem").unwrap_err());

        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
        let expected = (16 + u64::from(u32::MAX) * 784).to_string();
        for reason in [raw_reason, gz_reason, stream_reason] {
            assert!(reason.starts_with("truncated"), "{reason}");
            assert!(
                reason.contains(&expected) && reason.contains(" 800"),
                "{reason}"
            );
        }
    }

    #[test]
    fn corrupt_gzip_is_a_file_error() {
        let dir = Scratch::new("corrupt-gzip");
        let mut bytes = gzip(&two_images());
        let middle = bytes.len() / 2;
        bytes.truncate(middle);
        let path = dir.write("images", &bytes);

        let reason = idx_reason(read_images(path).unwrap_err());
        assert!(
            reason.starts_with("corrupt or truncated gzip data"),
            "{reason}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = read_images("no/such/images").unwrap_err();

        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().starts_with("no/such/images: "), "{err}");
    }
}
