//! The x86_64 AVX2+FMA micro-kernel: a 6 × 16 tile of `C` in 12 ymm registers.
//!
//! Each step `p` loads one packed B row (two 8-lane vectors), broadcasts the six packed A
//! values one at a time and issues 12 fused multiply-adds: 192 flops for two loads and six
//! broadcasts, enough to keep both FMA pipes busy from L1. Beside it: the same tile reading
//! `op(A)` in place for products with few rows ([`kernel_in_place`], driven by
//! `super::in_place`), and the 8 × 8 register transpose that packs a transposed operand
//! ([`interleave8`]).

use std::arch::x86_64::{
    __m256, __m256i, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskload_ps,
    _mm256_maskstore_ps, _mm256_mul_ps, _mm256_permute2f128_ps, _mm256_set1_ps, _mm256_setr_epi32, _mm256_setzero_ps,
    _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps, _mm_prefetch, _MM_HINT_T0,
};

use super::in_place::InPlaceTile;
use super::{MR, NR};

/// The [`super::MicroKernel`] for AVX2+FMA; see its contract.
///
/// # Safety
/// As [`super::MicroKernel`]: `c` valid for `MR` rows of `NR` values `rs_c` apart, and the
/// CPU supports AVX2 and FMA.
pub(super) unsafe fn kernel(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rs_c: usize,
    alpha: f32,
    beta: f32,
    _rows: usize,
) {
    // SAFETY: forwarded contract; the caller has checked AVX2 and FMA at run time.
    unsafe { kernel_avx2(kc, a, b, c, rs_c, alpha, beta) }
}

/// Steps ahead at which the kernel asks for the packed A and B values it will read (16 steps:
/// 1 KiB of B, 384 bytes of A). Every four steps it asks for two lines of B (of the four
/// those steps read; the adjacent-line prefetcher brings the others) and one of A. Unrolled
/// by four steps with these prefetches, and the C tile asked for before the k loop, the
/// kernel ran 1–4 % faster on Zen 3 (full GEMMs and W4, interleaved rounds, 2026-12-06); in
/// L1 alone both forms reach the FMA peak.
const PREFETCH_STEPS: usize = 16;

#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_avx2(kc: usize, a: &[f32], b: &[f32], c: *mut f32, rs_c: usize, alpha: f32, beta: f32) {
    assert!(a.len() >= kc * MR && b.len() >= kc * NR, "packed slivers shorter than kc");
    // SAFETY: the assert keeps every A read (`p * MR + i`, i < MR) and B read (`p * NR + 0..16`)
    // for p < kc inside the slices (prefetches may point past them: they are hints, computed
    // with wrapping arithmetic, and never fault); the C accesses are MR rows of NR values
    // `rs_c` apart, which the caller guarantees valid (and, for beta = 0, only written); the
    // target features are enabled on this function and present on the CPU per the caller.
    unsafe {
        if beta != 0.0 {
            // The tile of C is read after the k loop: ask for it now (a row's 64 bytes may
            // straddle two lines).
            for i in 0..MR {
                let row = c.add(i * rs_c).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(row);
                _mm_prefetch::<_MM_HINT_T0>(row.add(4 * NR - 1));
            }
        }
        let mut acc: [[__m256; 2]; MR] = [[_mm256_setzero_ps(); 2]; MR];
        let mut ap = a.as_ptr();
        let mut bp = b.as_ptr();
        // Step `o` after `ap`/`bp`: one B row, six broadcasts of A, twelve FMAs.
        macro_rules! step {
            ($o:expr) => {{
                let b0 = _mm256_loadu_ps(bp.add($o * NR));
                let b1 = _mm256_loadu_ps(bp.add($o * NR + 8));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm256_broadcast_ss(&*ap.add($o * MR + i));
                    row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
                }
            }};
        }
        for _ in 0..kc / 4 {
            let (b_ahead, a_ahead) = (bp.wrapping_add(PREFETCH_STEPS * NR), ap.wrapping_add(PREFETCH_STEPS * MR));
            _mm_prefetch::<_MM_HINT_T0>(b_ahead.cast());
            _mm_prefetch::<_MM_HINT_T0>(b_ahead.wrapping_add(2 * NR).cast());
            _mm_prefetch::<_MM_HINT_T0>(a_ahead.cast());
            step!(0);
            step!(1);
            step!(2);
            step!(3);
            ap = ap.add(4 * MR);
            bp = bp.add(4 * NR);
        }
        for _ in 0..kc % 4 {
            step!(0);
            ap = ap.add(MR);
            bp = bp.add(NR);
        }

        let alpha = _mm256_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate() {
            let c0 = c.add(i * rs_c);
            let c1 = c0.add(8);
            let (x0, x1) = (_mm256_mul_ps(alpha, row[0]), _mm256_mul_ps(alpha, row[1]));
            if beta == 0.0 {
                _mm256_storeu_ps(c0, x0);
                _mm256_storeu_ps(c1, x1);
            } else if beta == 1.0 {
                _mm256_storeu_ps(c0, _mm256_add_ps(_mm256_loadu_ps(c0), x0));
                _mm256_storeu_ps(c1, _mm256_add_ps(_mm256_loadu_ps(c1), x1));
            } else {
                let beta = _mm256_set1_ps(beta);
                _mm256_storeu_ps(c0, _mm256_fmadd_ps(beta, _mm256_loadu_ps(c0), x0));
                _mm256_storeu_ps(c1, _mm256_fmadd_ps(beta, _mm256_loadu_ps(c1), x1));
            }
        }
    }
}

/// The 6 × 16 micro-kernel reading `op(A)` in place (see [`super::in_place`]): each step
/// broadcasts one value from each of the tile's rows and loads one row of B through masks,
/// so a tile at the right edge needs no temporary. The same chain of FMAs over `p` and the
/// same write-back as [`kernel`]: the same bits.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `t.a` must be valid for `t.rows` rows of `kc` values
/// `t.lda` apart, `t.b` for `kc` rows of `t.cols` values `t.ldb` apart, `t.c` for reads
/// and writes of `t.rows` rows of `t.cols` values `t.rs_c` apart, exclusively ours;
/// `1 ≤ t.rows ≤ MR`, `1 ≤ t.cols ≤ NR`.
pub(super) unsafe fn kernel_in_place(kc: usize, t: InPlaceTile, alpha: f32, beta: f32) {
    // SAFETY: forwarded contract.
    unsafe {
        if t.cols == NR {
            kernel_in_place_cols::<true>(kc, t, alpha, beta)
        } else {
            kernel_in_place_cols::<false>(kc, t, alpha, beta)
        }
    }
}

/// [`kernel_in_place`] for a tile of all [`NR`] columns (`FULL`, plain loads and stores) or
/// fewer (masked ones, which are slow on AMD cores).
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_in_place_cols<const FULL: bool>(kc: usize, t: InPlaceTile, alpha: f32, beta: f32) {
    assert!((1..=MR).contains(&t.rows) && (1..=NR).contains(&t.cols), "a tile inside 6 × 16");
    // Lane masks for the tile's columns: lane j of half h is on when 8h + j < cols.
    let lanes = |h: usize| -> __m256i {
        let on = |j: usize| if 8 * h + j < t.cols { -1 } else { 0 };
        _mm256_setr_epi32(on(0), on(1), on(2), on(3), on(4), on(5), on(6), on(7))
    };
    let (m0, m1) = (lanes(0), lanes(1));
    // Row i of the tile, clamped to the last row that exists.
    let row_offset: [usize; MR] = std::array::from_fn(|i| i.min(t.rows - 1) * t.lda);
    // SAFETY: the A reads are `t.a[row_offset[i] + p]`, p < kc, inside the tile's rows; the
    // B reads are masked to the `t.cols` columns of rows p < kc (masked-off lanes are not
    // accessed, so the pointer may run past B's end; it is only advanced with wrapping
    // arithmetic); C is read and written through the same masks, in rows < t.rows; the
    // target features are enabled here and present per the caller.
    unsafe {
        if beta != 0.0 {
            for i in 0..t.rows {
                let row = t.c.add(i * t.rs_c).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(row);
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(4 * t.cols - 1));
            }
        }
        let mut acc: [[__m256; 2]; MR] = [[_mm256_setzero_ps(); 2]; MR];
        let mut ap = t.a;
        let mut bp = t.b;
        for _ in 0..kc {
            let (b0, b1) = if FULL {
                (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.wrapping_add(8)))
            } else {
                (_mm256_maskload_ps(bp, m0), _mm256_maskload_ps(bp.wrapping_add(8), m1))
            };
            for (row, &offset) in acc.iter_mut().zip(&row_offset) {
                let ai = _mm256_broadcast_ss(&*ap.add(offset));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
            ap = ap.wrapping_add(1);
            bp = bp.wrapping_add(t.ldb);
        }

        let alpha = _mm256_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate().take(t.rows) {
            for (h, (sums, mask)) in row.iter().zip([m0, m1]).enumerate() {
                let ci = t.c.add(i * t.rs_c).wrapping_add(8 * h);
                let x = _mm256_mul_ps(alpha, *sums);
                if FULL {
                    if beta == 0.0 {
                        _mm256_storeu_ps(ci, x);
                    } else if beta == 1.0 {
                        _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), x));
                    } else {
                        _mm256_storeu_ps(ci, _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(ci), x));
                    }
                } else if beta == 0.0 {
                    _mm256_maskstore_ps(ci, mask, x);
                } else if beta == 1.0 {
                    _mm256_maskstore_ps(ci, mask, _mm256_add_ps(_mm256_maskload_ps(ci, mask), x));
                } else {
                    let old = _mm256_maskload_ps(ci, mask);
                    _mm256_maskstore_ps(ci, mask, _mm256_fmadd_ps(_mm256_set1_ps(beta), old, x));
                }
            }
        }
    }
}

/// `out[p * width + offset + r] = rows[r][p]`: 8 rows into adjacent columns of a p-major
/// sliver, through 8 × 8 register transposes (24 shuffles per 64 values; the compiler's
/// version of the plain loops made a `X[64, 784] · W[128, 784]ᵀ` product 10–15 % slower on
/// Zen 3).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn interleave8(rows: [&[f32]; 8], out: &mut [f32], width: usize, offset: usize) {
    let kc = rows[0].len();
    assert!(offset + 8 <= width, "eight columns inside the sliver row");
    assert!(rows.iter().all(|r| r.len() == kc) && out.len() >= kc * width, "rows and sliver disagree on kc");
    let blocks = kc / 8;
    for t in 0..blocks {
        // SAFETY: every row holds kc ≥ 8·(t + 1) values, so the loads stay inside them.
        let r: [__m256; 8] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(rows[i].as_ptr().add(8 * t)) });
        // Rows paired by 32 bits, then by 64: tt[4g + q] holds, of rows 4g .. 4g + 4,
        // column q in its low half and column q + 4 in its high half.
        let mut tt = [_mm256_setzero_ps(); 8];
        for g in 0..2 {
            let (a, b, c, d) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
            let (lo01, hi01) = (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
            let (lo23, hi23) = (_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
            tt[4 * g] = _mm256_shuffle_ps::<0x44>(lo01, lo23);
            tt[4 * g + 1] = _mm256_shuffle_ps::<0xEE>(lo01, lo23);
            tt[4 * g + 2] = _mm256_shuffle_ps::<0x44>(hi01, hi23);
            tt[4 * g + 3] = _mm256_shuffle_ps::<0xEE>(hi01, hi23);
        }
        let base = &mut out[8 * width * t..8 * width * (t + 1)];
        for q in 0..4 {
            let low = _mm256_permute2f128_ps::<0x20>(tt[q], tt[4 + q]);
            let high = _mm256_permute2f128_ps::<0x31>(tt[q], tt[4 + q]);
            // SAFETY: `base` holds 8 steps of `width` values and offset + 8 ≤ width.
            unsafe {
                _mm256_storeu_ps(base.as_mut_ptr().add(width * q + offset), low);
                _mm256_storeu_ps(base.as_mut_ptr().add(width * (q + 4) + offset), high);
            }
        }
    }
    for p in blocks * 8..kc {
        for (r, row) in rows.iter().enumerate() {
            out[p * width + offset + r] = row[p];
        }
    }
}

/// Columns of `C` one pass of [`skinny_bt`] sums at a time: 2 × 6 ymm accumulators, the row
/// of A in two and one B value fill 15 of the 16 registers.
const SKINNY_COLS: usize = 6;

/// The AVX2 form of `avx512::skinny_bt`, with its bits (`super::skinny`): `C = alpha · A ·
/// Bᵀ + beta · C` for rows `rows` of `C`, `a: [m, k]` and `b: [n, k]` read along their stored
/// rows 16 values of k at a time, each element summed in 16 lanes (two ymm halves) and reduced
/// by [`super::skinny::sum16`]. One row of A at a time against up to [`SKINNY_COLS`] rows of
/// B (14 loads per 12 fused multiply-adds), the row read again for each further group of
/// columns (from L1).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `c` must describe `m × n` valid values that nothing else
/// touches in rows `rows` during the call, with `n ≤ SKINNY_N`, `a` and `b` of the shapes
/// above.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn skinny_bt(
    alpha: f32,
    a: crate::matrix::MatRef<'_>,
    b: crate::matrix::MatRef<'_>,
    beta: f32,
    c: super::RawC,
    rows: std::ops::Range<usize>,
) {
    let (k, n) = (a.cols(), c.cols);
    assert!(n <= super::skinny::SKINNY_N && b.shape() == (n, k) && rows.end <= c.rows, "skinny_bt: shapes");
    for i in rows {
        // SAFETY: row i < rows.end ≤ c.rows and its n columns lie inside C, ours (contract).
        let c_row = unsafe { std::slice::from_raw_parts_mut(c.ptr.add(i * c.stride), n) };
        let a_row = a.row(i);
        let mut j0 = 0;
        while j0 < n {
            let cols = (n - j0).min(SKINNY_COLS);
            let c_part = &mut c_row[j0..j0 + cols];
            match cols {
                1 => row_against::<1>(a_row, b, j0, c_part, alpha, beta),
                2 => row_against::<2>(a_row, b, j0, c_part, alpha, beta),
                3 => row_against::<3>(a_row, b, j0, c_part, alpha, beta),
                4 => row_against::<4>(a_row, b, j0, c_part, alpha, beta),
                5 => row_against::<5>(a_row, b, j0, c_part, alpha, beta),
                _ => row_against::<SKINNY_COLS>(a_row, b, j0, c_part, alpha, beta),
            }
            j0 += cols;
        }
    }
}

/// `c[j] = beta · c[j] + alpha · a_row · b[j0 + j]` for `j < W` (one copy per column count, so
/// that the accumulators are named registers).
#[target_feature(enable = "avx2,fma")]
fn row_against<const W: usize>(
    a_row: &[f32],
    b: crate::matrix::MatRef<'_>,
    j0: usize,
    c: &mut [f32],
    alpha: f32,
    beta: f32,
) {
    let k = a_row.len();
    let b_rows: [&[f32]; W] = std::array::from_fn(|j| b.row(j0 + j));
    let mut acc = [[_mm256_setzero_ps(); 2]; W];
    let full = k / 16 * 16;
    for p in (0..full).step_by(16) {
        // SAFETY: p + 16 ≤ k, and every row of A and B holds k values.
        unsafe {
            let (a0, a1) = (_mm256_loadu_ps(a_row.as_ptr().add(p)), _mm256_loadu_ps(a_row.as_ptr().add(p + 8)));
            for (sums, row) in acc.iter_mut().zip(&b_rows) {
                sums[0] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(row.as_ptr().add(p)), sums[0]);
                sums[1] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(row.as_ptr().add(p + 8)), sums[1]);
            }
        }
    }
    if full < k {
        // The last, shorter step, zeros after its values: the AVX-512 kernel's masked loads.
        let tail = k - full;
        let mut a_pad = [0f32; 16];
        a_pad[..tail].copy_from_slice(&a_row[full..]);
        // SAFETY: the padded copies hold 16 values each.
        unsafe {
            let (a0, a1) = (_mm256_loadu_ps(a_pad.as_ptr()), _mm256_loadu_ps(a_pad.as_ptr().add(8)));
            for (sums, row) in acc.iter_mut().zip(&b_rows) {
                let mut b_pad = [0f32; 16];
                b_pad[..tail].copy_from_slice(&row[full..]);
                sums[0] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b_pad.as_ptr()), sums[0]);
                sums[1] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b_pad.as_ptr().add(8)), sums[1]);
            }
        }
    }
    for (c, sums) in c.iter_mut().zip(&acc) {
        *c = super::scaled_update(*c, alpha * super::skinny::sum16(sums[0], sums[1]), beta);
    }
}
