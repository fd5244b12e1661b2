//! Bytes → the IDX readers (any rank, MNIST images, MNIST labels).
//!
//! The first byte picks how the rest reaches the readers: as a stream (so a fuzzed gzip
//! stream, CRC and all, is taken as it is), gzip-compressed here first (so the decoder sees
//! valid gzip around fuzzed IDX content instead of stopping at a checksum), or as a file (so
//! the length check against the file size runs).

#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use dropnet::core::data::idx::{self, IdxBytes};
use dropnet::core::Error;
use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process, rewritten for every input.
fn scratch_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("dropnet-fuzz-idx-{}", std::process::id()))
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder
        .write_all(bytes)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// What a successful read must satisfy: the values are exactly the header's product.
fn check_bytes(result: Result<IdxBytes, Error>) {
    if let Ok(idx) = result {
        let product = idx
            .dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d));
        assert_eq!(Some(idx.data.len()), product, "dims {:?}", idx.dims);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            check_bytes(idx::read_bytes_from(rest, "fuzz"));
            if let Ok(images) = idx::read_images_from(rest, "fuzz") {
                assert_eq!(images.matrix().len(), images.len() * 28 * 28);
            }
            let _ = idx::read_labels_from(rest, "fuzz");
        }
        1 => {
            let packed = gzip(rest);
            check_bytes(idx::read_bytes_from(packed.as_slice(), "fuzz"));
            let _ = idx::read_images_from(packed.as_slice(), "fuzz");
            let _ = idx::read_labels_from(packed.as_slice(), "fuzz");
        }
        _ => {
            let path = scratch_file();
            std::fs::write(path, rest).expect("the scratch file can be written");
            check_bytes(idx::read_bytes(path));
            let _ = idx::read_images(path);
            let _ = idx::read_labels(path);
        }
    }
});
