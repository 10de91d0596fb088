//! The x86_64 AVX-512 micro-kernel for cores with two full 512-bit FMA units (Intel): a
//! 12 × 32 tile of `C` in 24 zmm registers.
//!
//! Such a core starts two 512-bit FMAs and two loads a cycle. The 16 × 16 tile of
//! [`super::avx512`] feeds each FMA a value broadcast from memory, one load per FMA (17 loads
//! for 16 FMAs a step): enough on Zen 4, which runs a 512-bit FMA as two 256-bit halves, but
//! on Intel the load ports then share the cycle with the FMAs and the loop ran at 52–59 % of
//! peak. Here each step loads one packed B row of 32 values (two vectors) and broadcasts 12
//! A values, each used by two FMAs: 14 loads for 24 FMAs, so the FMA units, not the loads,
//! set the pace. 24 independent accumulators cover the FMA latency (4 cycles × 2 units needs
//! at least 8), and the two B vectors plus a broadcast fit the remaining 8 registers.
//!
//! Every element of `C` is one chain of fused multiply-adds over `p` in order, as in the
//! other SIMD kernels, so for the same blocking the bits are those of the 16 × 16 kernel.

use std::arch::x86_64::{
    __m512, __mmask16, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps, _mm_prefetch, _MM_HINT_T0,
};

use super::in_place::InPlaceTile;
use super::{MR_X32 as R, NR_X32 as N};

/// The [`super::MicroKernel`] for AVX-512F with 12 × 32 tiles; see its contract. Computes
/// only the first `rows` rows (rounded up to a multiple of 4), so that an edge tile of a
/// few rows does not cost a full one.
///
/// # Safety
/// As [`super::MicroKernel`]: `c` valid for `R` rows of `N` values `rs_c` apart, and the CPU
/// supports AVX-512F.
pub(super) unsafe fn kernel(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rs_c: usize,
    alpha: f32,
    beta: f32,
    rows: usize,
) {
    // SAFETY: forwarded contract; the caller has checked AVX-512F at run time. Each variant
    // touches at most R rows of `c`.
    unsafe {
        match rows {
            0..=4 => kernel_rows::<4>(kc, a, b, c, rs_c, alpha, beta),
            5..=8 => kernel_rows::<8>(kc, a, b, c, rs_c, alpha, beta),
            _ => kernel_rows::<R>(kc, a, b, c, rs_c, alpha, beta),
        }
    }
}

/// The kernel for the first `ROWS` (≤ [`R`]) rows of a tile whose A sliver is `R` wide.
#[target_feature(enable = "avx512f")]
unsafe fn kernel_rows<const ROWS: usize>(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rs_c: usize,
    alpha: f32,
    beta: f32,
) {
    assert!(ROWS <= R && a.len() >= kc * R && b.len() >= kc * N, "packed slivers shorter than kc");
    // SAFETY: the assert keeps every A read (`p * R + i`, i < ROWS ≤ R) and B read
    // (`p * N + 0..32`) for p < kc inside the slices; the C accesses are ROWS ≤ R rows of N
    // values `rs_c` apart, which the caller guarantees valid (and, for beta = 0, only
    // written); the target feature is enabled here and present on the CPU per the caller.
    unsafe {
        if beta != 0.0 {
            // The tile of C is read after the k loop: ask for it now (each row is two lines).
            for i in 0..ROWS {
                let row = c.add(i * rs_c).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(row);
                _mm_prefetch::<_MM_HINT_T0>(row.add(4 * N - 1));
            }
        }
        let mut acc: [[__m512; 2]; ROWS] = [[_mm512_setzero_ps(); 2]; ROWS];
        let mut ap = a.as_ptr();
        let mut bp = b.as_ptr();
        for _ in 0..kc {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for (i, row) in acc.iter_mut().enumerate() {
                // One broadcast load, used by two FMAs.
                let ai = _mm512_set1_ps(*ap.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
            }
            ap = ap.add(R);
            bp = bp.add(N);
        }

        let alpha = _mm512_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate() {
            for (h, sums) in row.iter().enumerate() {
                let ci = c.add(i * rs_c + 16 * h);
                let x = _mm512_mul_ps(alpha, *sums);
                if beta == 0.0 {
                    _mm512_storeu_ps(ci, x);
                } else if beta == 1.0 {
                    _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), x));
                } else {
                    _mm512_storeu_ps(ci, _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(ci), x));
                }
            }
        }
    }
}

/// The 12 × 32 micro-kernel reading `op(A)` in place (BLIS's "sup" idea): for a product with
/// few rows, packing A costs as much as a tenth of the time and buys nothing, since each A
/// sliver is read from L1 either way. Each step broadcasts one value from each of the tile's
/// rows (12 streams, each read left to right) and loads one row of B through masks, so a
/// tile at the right edge needs no temporary. The same chain of FMAs over `p` and the same
/// write-back as [`kernel`]: the same bits.
///
/// # Safety
/// The CPU must support AVX-512F; `t.a` must be valid for `t.rows` rows of `kc` values
/// `t.lda` apart, `t.b` for `kc` rows of `t.cols` values `t.ldb` apart, `t.c` for reads
/// and writes of `t.rows` rows of `t.cols` values `t.rs_c` apart, exclusively ours;
/// `1 ≤ t.rows ≤ R`, `1 ≤ t.cols ≤ N`.
pub(super) unsafe fn kernel_in_place(kc: usize, t: InPlaceTile, alpha: f32, beta: f32) {
    // SAFETY: forwarded contract; each variant reads and writes only the tile's rows.
    unsafe {
        match t.rows {
            0..=4 => kernel_in_place_rows::<4>(kc, t, alpha, beta),
            5..=8 => kernel_in_place_rows::<8>(kc, t, alpha, beta),
            _ => kernel_in_place_rows::<R>(kc, t, alpha, beta),
        }
    }
}

/// [`kernel_in_place`] for tiles of at most `ROWS` rows (rows past `t.rows` repeat the last
/// one, computed and not stored).
#[target_feature(enable = "avx512f")]
unsafe fn kernel_in_place_rows<const ROWS: usize>(kc: usize, t: InPlaceTile, alpha: f32, beta: f32) {
    assert!((1..=ROWS).contains(&t.rows) && (1..=N).contains(&t.cols), "a tile inside 12 × 32");
    let lanes = |n: usize| -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            (1u16 << n) - 1
        }
    };
    let (m0, m1) = (lanes(t.cols), lanes(t.cols.saturating_sub(16)));
    // Row i of the tile, clamped to the last row that exists.
    let row_offset: [usize; ROWS] = std::array::from_fn(|i| i.min(t.rows - 1) * t.lda);
    // SAFETY: the A reads are `t.a[row_offset[i] + p]`, p < kc, inside the tile's rows; the
    // B reads are masked to the `t.cols` columns of rows p < kc (masked-off lanes are not
    // accessed, so the pointer may run past B's end; it is only advanced with wrapping
    // arithmetic); C is read and written through the same masks, in rows < t.rows; the
    // target feature is enabled here and present per the caller.
    unsafe {
        if beta != 0.0 {
            for i in 0..t.rows {
                let row = t.c.add(i * t.rs_c).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(row);
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(4 * t.cols - 1));
            }
        }
        let mut acc: [[__m512; 2]; ROWS] = [[_mm512_setzero_ps(); 2]; ROWS];
        let mut ap = t.a;
        let mut bp = t.b;
        for _ in 0..kc {
            let b0 = _mm512_maskz_loadu_ps(m0, bp);
            let b1 = _mm512_maskz_loadu_ps(m1, bp.wrapping_add(16));
            for (row, &offset) in acc.iter_mut().zip(&row_offset) {
                let ai = _mm512_set1_ps(*ap.add(offset));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
            }
            ap = ap.wrapping_add(1);
            bp = bp.wrapping_add(t.ldb);
        }

        let alpha = _mm512_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate().take(t.rows) {
            for (h, (sums, mask)) in row.iter().zip([m0, m1]).enumerate() {
                let ci = t.c.add(i * t.rs_c).wrapping_add(16 * h);
                let x = _mm512_mul_ps(alpha, *sums);
                if beta == 0.0 {
                    _mm512_mask_storeu_ps(ci, mask, x);
                } else if beta == 1.0 {
                    _mm512_mask_storeu_ps(ci, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, ci), x));
                } else {
                    let old = _mm512_maskz_loadu_ps(mask, ci);
                    _mm512_mask_storeu_ps(ci, mask, _mm512_fmadd_ps(_mm512_set1_ps(beta), old, x));
                }
            }
        }
    }
}
