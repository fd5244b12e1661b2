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

/// Fills `words` with the next `words.len()` 32-bit draws of `rng` and moves `rng` past
/// them, exactly as one sequential `rng.fill(words)` would, with parts of the slice filled
/// on rayon's threads.
///
/// ChaCha is a counter-mode stream: each task starts a copy of the generator at its own
/// word position, so the numbers, and where the stream ends, depend neither on the number
/// of threads nor on how the work was split.
pub(crate) fn fill_parallel(rng: &mut Rng, words: &mut [u32]) {
    use rand::Rng as _;
    use rayon::prelude::*;

    /// Words per task: large enough that a task costs more than handing it to a thread.
    const CHUNK: usize = 1 << 14;
    let start = rng.get_word_pos();
    let shared = &*rng;
    words
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| {
            let mut part = shared.clone();
            part.set_word_pos(start + (i * CHUNK) as u128);
            part.fill(chunk);
        });
    rng.set_word_pos(start + words.len() as u128);
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
    fn parallel_fills_draw_what_one_sequential_fill_draws() {
        // Lengths below, at and across the task size, and a fill after a partial word use.
        for len in [0, 5, 1 << 14, 3 * (1 << 14) + 7] {
            let (mut sequential, mut parallel) = (stream(3, "d", "x"), stream(3, "d", "x"));
            let _: u32 = sequential.random();
            let _: u32 = parallel.random();
            let mut expected = vec![0_u32; len];
            sequential.fill(&mut expected[..]);
            let mut got = vec![0_u32; len];
            fill_parallel(&mut parallel, &mut got);

            assert_eq!(got, expected, "{len}");
            assert_eq!(
                parallel.random::<u64>(),
                sequential.random::<u64>(),
                "{len}"
            );
        }
    }

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
