//! Seeded random streams, one per layer and purpose.
//!
//! Each generator is derived from the model seed and a stable label (the layer's Keras name
//! and what the stream is for) instead of being drawn in turn from one shared stream. Adding
//! or removing a layer without weights, such as a dropout, then leaves the initial weights
//! of every other layer unchanged, and shuffling never shifts a dropout mask.
//!
//! ChaCha8 is used because its output is specified and portable: the same seed gives the
//! same numbers on every platform and version of this crate.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator type used throughout the library.
pub type Rng = ChaCha8Rng;

/// The generator for `purpose` (e.g. `"init"`, `"dropout"`, `"shuffle"`) of the layer or
/// component called `name`, under the model seed `seed`.
pub fn stream(seed: u64, name: &str, purpose: &str) -> Rng {
    let mut key = splitmix64(seed);
    for part in [name.as_bytes(), b"/", purpose.as_bytes()] {
        key = fnv1a(key, part);
    }
    Rng::seed_from_u64(splitmix64(key))
}

/// FNV-1a over `bytes`, continuing from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The SplitMix64 finaliser, which spreads nearby seeds (0, 1, 2…) far apart.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn streams_differ_by_name_and_purpose_and_repeat_by_seed() {
        let a: u64 = stream(42, "dense", "init").random();
        let b: u64 = stream(42, "dense_1", "init").random();
        let c: u64 = stream(42, "dense", "dropout").random();
        let d: u64 = stream(42, "dense", "init").random();
        let e: u64 = stream(43, "dense", "init").random();

        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, e);
        assert_eq!(a, d);
    }
}
