//! The portable micro-kernel: plain Rust over an `R × N` accumulator array, written so that
//! the compiler vectorises the inner `j` loop for whatever the baseline target offers.

/// The portable [`super::MicroKernel`] for `R × N` tiles; see its contract.
///
/// # Safety
/// As [`super::MicroKernel`]: `c` valid for `R` rows of `N` values `rs_c` apart, not
/// overlapping `a` or `b` (no instruction-set requirement).
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel<const R: usize, const N: usize>(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rs_c: usize,
    alpha: f32,
    beta: f32,
    _rows: usize,
) {
    let mut acc = [[0.0f32; N]; R];
    for (ap, bp) in a[..kc * R].chunks_exact(R).zip(b[..kc * N].chunks_exact(N)) {
        for i in 0..R {
            for j in 0..N {
                acc[i][j] += ap[i] * bp[j];
            }
        }
    }
    for (i, sums) in acc.iter().enumerate() {
        // SAFETY: row i of the tile is N values at `c + i * rs_c`, valid and unaliased per
        // the caller's contract; rows are rs_c ≥ N apart, so the row slices do not overlap.
        let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * rs_c), N) };
        for (c, &s) in row.iter_mut().zip(sums) {
            *c = if beta == 0.0 { alpha * s } else { beta * *c + alpha * s };
        }
    }
}
