//! The two backward products of a convolution when its output gradient is mostly zeros.
//!
//! A convolution followed by max pooling receives a gradient in at most one position of
//! each pooling window: three quarters of it are zeros for 2×2 windows. A relu zeroes the
//! positions it clamped, and a dropout after the pooling those it dropped; on the seed CNN
//! about one value in eight is left. The kernel gradient `patchesᵀ · grad` and the patch
//! gradient `grad · kernelᵀ` then do most of their multiply-adds on zeros, and a dense
//! matrix product cannot skip them.
//!
//! Here both products run over the nonzero gradient values only, one weighted row added per
//! nonzero value, in chunks of [`CHUNK`] columns, so the work falls with the density. The
//! sums are plain multiply-then-add in a fixed order (positions ascending, or filters
//! ascending), whatever the instruction set, so results are the same bits on every
//! processor and thread count. They differ from the dense product's in the last bits only,
//! as any other order of the same sums would.

/// Columns summed at once: four AVX-512 or eight AVX2 registers.
const CHUNK: usize = 64;

/// The sparse products pay off when at most one gradient value in this many is nonzero.
/// They run at a third to a half of the dense product's speed per multiply-add, so at a
/// quarter of the work they already gain, and near a half they would lose.
const SPARSE_ONE_IN: usize = 4;

/// True when patches of `patch_len` values may take the sparse products at all.
///
/// Shorter patches than a [`CHUNK`] stay with the dense products: their rows fill a
/// fraction of a chunk's registers, and a first layer over 3×3 grey pixels (9 values)
/// measured twice as slow on the sparse path as on the dense one.
pub(super) fn applies(patch_len: usize) -> bool {
    patch_len >= CHUNK
}

/// The nonzero values of one block's gradient, `[rows, filters]`, listed row by row, and
/// the kernel gradient's running sums. Both are scratch kept from batch to batch, sized for
/// the most a sparse gradient of the block can hold, so later batches allocate nothing.
#[derive(Debug, Clone, Default)]
pub(super) struct Nonzeros {
    /// `(filter, value)` of each nonzero value, row after row, filters ascending.
    by_row: Vec<(usize, f32)>,
    /// Row `r`'s values are `by_row[row_starts[r]..row_starts[r + 1]]`.
    row_starts: Vec<usize>,
    /// The kernel gradient's running sums for one chunk of columns, `[filters, CHUNK]`.
    sums: Vec<f32>,
}

impl Nonzeros {
    /// Lists the nonzero values of `grad` (`[rows, filters]`, row-major) and returns true
    /// when at most one in [`SPARSE_ONE_IN`] is nonzero and [`applies`] to `patch_len`;
    /// otherwise lists nothing and returns false. NaN counts as nonzero, so it still
    /// propagates.
    #[inline(always)]
    pub(super) fn collect(&mut self, grad: &[f32], filters: usize, patch_len: usize) -> bool {
        self.row_starts.clear();
        if !applies(patch_len) {
            return false;
        }
        // Counted without branches on the values: which values are zero follows no pattern
        // a branch predictor could learn.
        let nonzero: usize = grad.iter().map(|&g| usize::from(g != 0.0)).sum();
        if nonzero * SPARSE_ONE_IN > grad.len() {
            return false;
        }
        let slots = grad.len() / SPARSE_ONE_IN + 1;
        if self.by_row.len() < slots {
            self.by_row.resize(slots, (0, 0.0));
        }
        self.row_starts.push(0);
        let mut next = 0;
        for row in grad.chunks_exact(filters) {
            // A bit per filter, 64 filters at a time, set by vector compares; then one
            // step per set bit, so the zeros cost nothing beyond the compares.
            for (group, values) in row.chunks(64).enumerate() {
                let mut bits = values
                    .iter()
                    .enumerate()
                    .fold(0_u64, |bits, (f, &g)| bits | (u64::from(g != 0.0) << f));
                while bits != 0 {
                    let f = bits.trailing_zeros() as usize;
                    self.by_row[next] = (group * 64 + f, values[f]);
                    next += 1;
                    bits &= bits - 1;
                }
            }
            self.row_starts.push(next);
        }
        true
    }

    /// The kernel gradient of the block, `share = patchesᵀ · grad`, from the values listed
    /// by [`Nonzeros::collect`].
    ///
    /// The columns of the patches go [`CHUNK`] at a time. For each chunk every patch row
    /// is read once and added, weighted, into the running sums of each filter it has a
    /// nonzero value for; the sums of a chunk (`filters × CHUNK` values) stay in the L1
    /// cache. Each sum still adds its terms row after row.
    ///
    /// # Shapes
    /// `patches`: `[rows, patch_len]`; `share`: `[patch_len, filters]`, fully
    /// overwritten; both row-major.
    #[inline(always)]
    pub(super) fn kernel_grad(
        &mut self,
        (patches, patch_len): (&[f32], usize),
        filters: usize,
        share: &mut [f32],
    ) {
        if self.sums.len() < filters * CHUNK {
            self.sums.resize(filters * CHUNK, 0.0);
        }
        for offset in (0..patch_len).step_by(CHUNK) {
            let width = CHUNK.min(patch_len - offset);
            let sums = &mut self.sums[..filters * CHUNK];
            sums.fill(0.0);
            for (row, bounds) in self.row_starts.windows(2).enumerate() {
                let entries = &self.by_row[bounds[0]..bounds[1]];
                if entries.is_empty() {
                    continue;
                }
                let values = &patches[row * patch_len + offset..][..width];
                for &(f, g) in entries {
                    add_weighted(&mut sums[f * CHUNK..][..width], g, values);
                }
            }
            for (f, sums) in sums.chunks_exact(CHUNK).enumerate() {
                for (j, &s) in sums[..width].iter().enumerate() {
                    share[(offset + j) * filters + f] = s;
                }
            }
        }
    }

    /// True when the last [`Nonzeros::collect`] listed a sparse gradient.
    #[cfg(test)]
    pub(super) fn listed(&self) -> bool {
        !self.row_starts.is_empty()
    }

    /// The patch gradients of the block, `out = grad · kernelᵀ`, from the values listed by
    /// [`Nonzeros::collect`]; `kernel_t` is the kernel transposed, one row per filter.
    ///
    /// # Shapes
    /// `kernel_t`: `[filters, patch_len]`; `out`: `[rows, patch_len]`, fully overwritten;
    /// both row-major.
    #[inline(always)]
    pub(super) fn patch_grad(&self, (kernel_t, patch_len): (&[f32], usize), out: &mut [f32]) {
        let rows = out.chunks_exact_mut(patch_len);
        for (bounds, out) in self.row_starts.windows(2).zip(rows) {
            let entries = &self.by_row[bounds[0]..bounds[1]];
            for (offset, out) in (0..patch_len).step_by(CHUNK).zip(out.chunks_mut(CHUNK)) {
                match <&mut [f32; CHUNK]>::try_from(&mut *out) {
                    Ok(out) => {
                        let mut sums = [0.0_f32; CHUNK];
                        add_weighted_rows(&mut sums, kernel_t, (patch_len, offset), entries);
                        *out = sums;
                    }
                    Err(_) => {
                        out.fill(0.0);
                        add_weighted_rows(out, kernel_t, (patch_len, offset), entries);
                    }
                }
            }
        }
    }
}

/// `sums += Σ g · rows[r, offset..offset + sums.len()]` over `(r, g)` in `entries`, where
/// row `r` starts at `r · stride`; each sum adds its terms in the order of `entries`.
#[inline(always)]
fn add_weighted_rows(
    sums: &mut [f32],
    rows: &[f32],
    (stride, offset): (usize, usize),
    entries: &[(usize, f32)],
) {
    if let Ok(sums) = <&mut [f32; CHUNK]>::try_from(&mut *sums) {
        return add_weighted_fixed(sums, rows, (stride, offset), entries);
    }
    // The last, narrower chunk of a row (32 of the seed's 288 values): in pieces of one
    // AVX-512 register where it can, so those sums stay in registers too.
    for (start, part) in (offset..).step_by(LANES).zip(sums.chunks_mut(LANES)) {
        match <&mut [f32; LANES]>::try_from(&mut *part) {
            Ok(part) => add_weighted_fixed(part, rows, (stride, start), entries),
            Err(_) => {
                for &(row, g) in entries {
                    let values = &rows[row * stride + start..][..part.len()];
                    part.iter_mut().zip(values).for_each(|(s, &x)| *s += g * x);
                }
            }
        }
    }
}

/// `sums += g · values`, element by element.
#[inline(always)]
fn add_weighted(sums: &mut [f32], g: f32, values: &[f32]) {
    match (
        <&mut [f32; CHUNK]>::try_from(&mut *sums),
        <&[f32; CHUNK]>::try_from(values),
    ) {
        (Ok(sums), Ok(values)) => sums.iter_mut().zip(values).for_each(|(s, &x)| *s += g * x),
        _ => sums.iter_mut().zip(values).for_each(|(s, &x)| *s += g * x),
    }
}

/// Values of an AVX-512 register, the pieces of a chunk's narrower remainder.
const LANES: usize = 16;

/// [`add_weighted_rows`] for `N` sums, a constant, held in registers throughout.
#[inline(always)]
fn add_weighted_fixed<const N: usize>(
    sums: &mut [f32; N],
    rows: &[f32],
    (stride, offset): (usize, usize),
    entries: &[(usize, f32)],
) {
    let mut local = *sums;
    for &(row, g) in entries {
        let values: &[f32; N] = rows[row * stride + offset..][..N]
            .try_into()
            .expect("N values of a row");
        local.iter_mut().zip(values).for_each(|(s, &x)| *s += g * x);
    }
    *sums = local;
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use rand::Rng as _;

    use super::*;
    use crate::layers::vector::on_every_level;
    use crate::rng;

    /// A `[rows, cols]` matrix of values in `[-1, 1)` of which about `density` are nonzero.
    fn sparse_matrix(rows: usize, cols: usize, density: f64, seed: u64) -> Array2<f32> {
        let mut rng = rng::stream(seed, "sparse", "test");
        Array2::from_shape_simple_fn((rows, cols), || {
            if rng.random_bool(density) {
                rng.random_range(-1.0..1.0)
            } else {
                0.0
            }
        })
    }

    fn assert_close(what: &str, a: &Array2<f32>, b: &Array2<f32>) {
        assert_eq!(a.dim(), b.dim(), "{what}");
        for ((i, &x), &y) in a.indexed_iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "{what} at {i:?}: {x} vs {y}"
            );
        }
    }

    /// Both products against ndarray's dense ones, for patch rows shorter than a chunk,
    /// a whole number of chunks, and chunks with a remainder (the seed's 288 = 4·64 + 32).
    #[test]
    fn products_match_the_dense_ones() {
        let shapes = [(50, 9, 32), (40, 128, 7), (121, 288, 64), (30, 96, 70)];
        for (rows, patch_len, filters) in shapes {
            let patches = sparse_matrix(rows, patch_len, 1.0, 1);
            let kernel = sparse_matrix(patch_len, filters, 1.0, 2);
            for density in [0.0, 0.1, 0.2, 1.0] {
                let grad = sparse_matrix(rows, filters, density, 3);
                let what = format!("{rows}x{patch_len}x{filters} at density {density}");

                let mut nonzeros = Nonzeros::default();
                if !nonzeros.collect(grad.as_slice().unwrap(), filters, CHUNK) {
                    assert_eq!(density, 1.0, "{what}: a sparse gradient was taken as dense");
                    continue;
                }
                let mut share = Array2::from_elem((patch_len, filters), f32::NAN);
                let patches_in = (patches.as_slice().unwrap(), patch_len);
                nonzeros.kernel_grad(patches_in, filters, share.as_slice_mut().unwrap());
                assert_close(&what, &share, &patches.t().dot(&grad));

                let kernel_t = kernel.t().as_standard_layout().into_owned();
                let mut out = Array2::from_elem((rows, patch_len), f32::NAN);
                let kernel_in = (kernel_t.as_slice().unwrap(), patch_len);
                nonzeros.patch_grad(kernel_in, out.as_slice_mut().unwrap());
                assert_close(&what, &out, &grad.dot(&kernel.t()));
            }
        }
    }

    impl Nonzeros {
        /// [`Nonzeros::collect`] whatever the patch length.
        fn collect_any(&mut self, grad: &[f32], filters: usize) -> bool {
            self.collect(grad, filters, CHUNK)
        }
    }

    /// Rows of more than 64 filters are listed 64 filters at a time; the list still goes
    /// filter by filter, and keeps a NaN.
    #[test]
    fn wide_rows_are_listed_in_filter_order() {
        let filters = 130;
        let mut grad = vec![0.0; 8 * filters];
        for (at, value) in [
            (0, 1.0),
            (63, 2.0),
            (64, 3.0),
            (129, f32::NAN),
            (130 + 65, 4.0),
        ] {
            grad[at] = value;
        }
        let mut nonzeros = Nonzeros::default();
        assert!(nonzeros.collect_any(&grad, filters));
        let listed = &nonzeros.by_row[..5];
        let filters_listed: Vec<usize> = listed.iter().map(|&(f, _)| f).collect();
        assert_eq!(filters_listed, [0, 63, 64, 129, 65]);
        assert_eq!(listed[2].1, 3.0);
        assert!(listed[3].1.is_nan());
        assert_eq!(nonzeros.row_starts[..3], [0, 4, 5]);
    }

    #[test]
    fn thin_patches_stay_dense() {
        let mut nonzeros = Nonzeros::default();
        assert!(!nonzeros.collect(&[0.0; 8], 4, 9));
        assert!(nonzeros.collect(&[0.0; 8], 4, 64));
    }

    #[test]
    fn density_threshold_is_one_in_four() {
        let mut nonzeros = Nonzeros::default();
        assert!(nonzeros.collect_any(&[0.0; 8], 4));
        assert!(nonzeros.collect_any(&[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0], 4));
        assert_eq!(nonzeros.by_row[..2], [(0, 1.0), (0, 2.0)]);
        assert_eq!(nonzeros.row_starts, [0, 1, 2]);
        assert!(!nonzeros.collect_any(&[1.0, 0.0, 3.0, 0.0, 2.0, 0.0, 0.0, 0.0], 4));
        // A NaN is a value to pass on, not a zero to skip.
        assert!(!nonzeros.collect_any(&[f32::NAN; 4], 2));
        assert!(nonzeros.collect_any(&[f32::NAN, 0.0, 0.0, 0.0], 2));
        assert!(nonzeros.by_row[0].1.is_nan());
        assert_eq!(nonzeros.row_starts, [0, 1, 1]);
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let (rows, patch_len, filters) = (121, 288, 64);
        let patches = sparse_matrix(rows, patch_len, 1.0, 4);
        let kernel_t = sparse_matrix(filters, patch_len, 1.0, 5);
        let grad = sparse_matrix(rows, filters, 0.15, 6);
        let results = on_every_level(|| {
            let mut share = vec![0.0; patch_len * filters];
            let mut out = vec![0.0; rows * patch_len];
            let mut nonzeros = Nonzeros::default();
            assert!(nonzeros.collect(grad.as_slice().unwrap(), filters, CHUNK));
            nonzeros.kernel_grad(
                (patches.as_slice().unwrap(), patch_len),
                filters,
                &mut share,
            );
            nonzeros.patch_grad((kernel_t.as_slice().unwrap(), patch_len), &mut out);
            (share, out)
        });
        for other in &results[1..] {
            assert!(other == &results[0], "an instruction set gave other bits");
        }
    }
}
