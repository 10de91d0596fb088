//! The x86_64 AVX-512 micro-kernel: a 16 × 16 tile of `C` in 16 zmm registers.
//!
//! Each step `p` loads one packed B row (one 16-lane vector) and issues 16 fused
//! multiply-adds, one per row of the tile, each with its A value broadcast from memory.
//! Against the AVX2 kernel's 6 × 16 tile this does 256 multiply-adds per step instead of 96
//! for a fifth of the instructions per flop: on a core that splits a 512-bit FMA into two
//! 256-bit halves (Zen 4) the peak is the same, but the front end and the schedulers no
//! longer limit it (measured in L1: 113–116 GFLOP/s against 95–108 for the 6 × 16 AVX2 loop,
//! peak 114). 16 independent accumulators cover the FMA latency (4 cycles at one 512-bit FMA
//! a cycle needs at least 4).

use std::arch::x86_64::{
    __m512, __mmask16, _mm512_add_ps, _mm512_castpd_ps, _mm512_castps512_ps256, _mm512_castps_pd, _mm512_fmadd_ps,
    _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_shuffle_f32x4, _mm512_storeu_ps, _mm512_unpackhi_pd, _mm512_unpackhi_ps, _mm512_unpacklo_pd,
    _mm512_unpacklo_ps, _mm_prefetch, _MM_HINT_T0,
};

use super::{MR_AVX512 as R, NR};

/// The [`super::MicroKernel`] for AVX-512F with 16-row tiles; see its contract.
///
/// # Safety
/// As [`super::MicroKernel`]: `c` valid for `R` rows of `NR` values `rs_c` apart, and the CPU
/// supports AVX-512F.
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
    // SAFETY: forwarded contract; the caller has checked AVX-512F at run time.
    unsafe { kernel_avx512(kc, a, b, c, rs_c, alpha, beta) }
}

#[target_feature(enable = "avx512f")]
unsafe fn kernel_avx512(kc: usize, a: &[f32], b: &[f32], c: *mut f32, rs_c: usize, alpha: f32, beta: f32) {
    assert!(a.len() >= kc * R && b.len() >= kc * NR, "packed slivers shorter than kc");
    // SAFETY: the assert keeps every A read (`p * R + i`, i < R) and B read (`p * NR + 0..16`)
    // for p < kc inside the slices; the C accesses are R rows of NR values `rs_c` apart,
    // which the caller guarantees valid (and, for beta = 0, only written); the target
    // feature is enabled on this function and present on the CPU per the caller.
    unsafe {
        if beta != 0.0 {
            // The tile of C is read after the k loop: ask for it now, so that a C too big
            // for the caches (a later k block of a 1000 × 800 product) is not waited for.
            for i in 0..R {
                let row = c.add(i * rs_c).cast::<i8>();
                _mm_prefetch::<_MM_HINT_T0>(row);
                _mm_prefetch::<_MM_HINT_T0>(row.add(4 * NR - 1));
            }
        }
        let mut acc: [__m512; R] = [_mm512_setzero_ps(); R];
        let mut ap = a.as_ptr();
        let mut bp = b.as_ptr();
        for _ in 0..kc {
            let bv = _mm512_loadu_ps(bp);
            for (i, row) in acc.iter_mut().enumerate() {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(i)), bv, *row);
            }
            ap = ap.add(R);
            bp = bp.add(NR);
        }

        let alpha = _mm512_set1_ps(alpha);
        for (i, row) in acc.iter().enumerate() {
            let ci = c.add(i * rs_c);
            let x = _mm512_mul_ps(alpha, *row);
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

/// `out[p * width + offset + r] = rows[r][p]` for `p < kc` (the rows' common length) and
/// `r < lanes`: the first `lanes` of 16 stored rows become adjacent columns of a p-major
/// `[kc, width]` sliver, the transpose that packing a row-major operand into 12-, 16- or
/// 32-wide slivers needs, 16 steps at a time through a 16 × 16 transpose in registers (rows
/// past `lanes` are read but not stored: the caller may repeat one there).
///
/// Each row gives one 64-byte piece per block, used whole at once, so rows that share a few
/// L1 sets (a stride that is a multiple of 4 KiB) do not evict each other mid-block.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn interleave16(rows: [&[f32]; 16], out: &mut [f32], width: usize, offset: usize, lanes: usize) {
    let kc = rows[0].len();
    assert!(lanes <= 16 && offset + lanes <= width, "the columns inside the sliver's width");
    let keep: __mmask16 = if lanes == 16 { 0xFFFF } else { (1u16 << lanes) - 1 };
    assert!(rows.iter().all(|r| r.len() == kc) && out.len() >= kc * width, "rows and sliver disagree on kc");
    let blocks = kc / 16;
    for t in 0..blocks {
        // SAFETY: every row holds kc ≥ 16·(t + 1) values, so the 16 loads stay inside them.
        let r: [__m512; 16] = std::array::from_fn(|i| unsafe { _mm512_loadu_ps(rows[i].as_ptr().add(16 * t)) });
        // Pairs of rows interleaved by 32 bits, then by 64 bits: u[4g + s] holds, in each
        // 128-bit lane L, column 4L + s of rows 4g .. 4g + 4.
        let mut u = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            let lo01 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]);
            let hi01 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
            let lo23 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]);
            let hi23 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
            let (lo01, hi01, lo23, hi23) =
                (_mm512_castps_pd(lo01), _mm512_castps_pd(hi01), _mm512_castps_pd(lo23), _mm512_castps_pd(hi23));
            u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo01, lo23));
            u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo01, lo23));
            u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi01, hi23));
            u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi01, hi23));
        }
        // Gather lane L of the four groups: column 4L + s of all 16 rows, one output step.
        let base = &mut out[16 * width * t..16 * width * (t + 1)];
        for s in 0..4 {
            let even01 = _mm512_shuffle_f32x4::<0x88>(u[s], u[4 + s]);
            let odd01 = _mm512_shuffle_f32x4::<0xDD>(u[s], u[4 + s]);
            let even23 = _mm512_shuffle_f32x4::<0x88>(u[8 + s], u[12 + s]);
            let odd23 = _mm512_shuffle_f32x4::<0xDD>(u[8 + s], u[12 + s]);
            let steps = [
                (s, _mm512_shuffle_f32x4::<0x88>(even01, even23)),
                (8 + s, _mm512_shuffle_f32x4::<0xDD>(even01, even23)),
                (4 + s, _mm512_shuffle_f32x4::<0x88>(odd01, odd23)),
                (12 + s, _mm512_shuffle_f32x4::<0xDD>(odd01, odd23)),
            ];
            for (q, v) in steps {
                // SAFETY: `base` holds 16 steps of `width` values, offset + lanes ≤ width, and
                // the mask stores only `lanes` values; q < 16.
                unsafe { _mm512_mask_storeu_ps(base.as_mut_ptr().add(width * q + offset), keep, v) };
            }
        }
    }
    for p in blocks * 16..kc {
        for (r, row) in rows.iter().enumerate().take(lanes) {
            out[p * width + offset + r] = row[p];
        }
    }
}

/// Rows of `A` one block of [`skinny_bt`] runs against its columns.
const SKINNY_ROWS: usize = 4;
/// Columns of `C` (rows of `B`) one block of [`skinny_bt`] sums: 4 × 5 zmm accumulators,
/// four rows of A and one B value use 25 of the 32 registers.
const SKINNY_COLS: usize = 5;

/// `C = alpha · A · Bᵀ + beta · C` for rows `rows` of `C`, when `C` has at most
/// `SKINNY_N` columns (a layer with ten outputs): `a: [m, k]` and `b: [n, k]` are both
/// read along their stored rows, 16 values of k at a time, each element summed in 16 lanes
/// and reduced at the end by [`super::skinny::sum16`] (the bits of `avx2::skinny_bt`; see
/// `super::skinny`). Blocks of four rows of A against five rows of B: 9 loads per 20 fused
/// multiply-adds, and the five B rows (16 KiB at W4's k = 800) stay in L1 beside the four A
/// rows, where two rows against all ten B rows (32 KiB, all of L1) streamed B from L2 for
/// every pair of rows.
///
/// # Safety
/// The CPU must support AVX-512F; `c` must describe `m × n` valid values that nothing else
/// touches in rows `rows` during the call, with `n ≤ SKINNY_N`, `a` and `b` of the shapes
/// above.
pub(crate) unsafe fn skinny_bt(
    alpha: f32,
    a: crate::matrix::MatRef<'_>,
    b: crate::matrix::MatRef<'_>,
    beta: f32,
    c: super::RawC,
    rows: std::ops::Range<usize>,
) {
    let (k, n) = (a.cols(), c.cols);
    assert!(n <= super::skinny::SKINNY_N && b.shape() == (n, k) && rows.end <= c.rows, "skinny_bt: shapes");
    // One copy per block shape, so that the accumulators are named registers (with run-time
    // counts they lived on the stack, stored back on every step).
    macro_rules! by_shape {
        ($rw:expr, $cw:expr, $i:expr, $j:expr; $($r:literal $c:literal)*) => {
            match ($rw, $cw) {
                // SAFETY: forwarded contract; the block's rows and columns lie inside C.
                $(($r, $c) => unsafe { skinny_block::<$r, $c>(alpha, a, b, beta, c, $i, $j) },)*
                (r, c) => unreachable!("a skinny block of {r} × {c}"),
            }
        };
    }
    let mut i = rows.start;
    while i < rows.end {
        let rw = (rows.end - i).min(SKINNY_ROWS);
        let mut j = 0;
        while j < n {
            let cw = (n - j).min(SKINNY_COLS);
            by_shape!(rw, cw, i, j; 1 1 1 2 1 3 1 4 1 5 2 1 2 2 2 3 2 4 2 5 3 1 3 2 3 3 3 4 3 5 4 1 4 2 4 3 4 4 4 5);
            j += cw;
        }
        i += rw;
    }
}

/// [`skinny_bt`] for rows `i0 .. i0 + RW` of `C` and its columns `j0 .. j0 + CW`.
///
/// # Safety
/// As [`skinny_bt`], with those rows and columns inside `C`.
#[target_feature(enable = "avx512f")]
unsafe fn skinny_block<const RW: usize, const CW: usize>(
    alpha: f32,
    a: crate::matrix::MatRef<'_>,
    b: crate::matrix::MatRef<'_>,
    beta: f32,
    c: super::RawC,
    i0: usize,
    j0: usize,
) {
    let k = a.cols();
    assert!(i0 + RW <= c.rows && j0 + CW <= c.cols && b.cols() == k, "skinny_block: shapes");
    let a_rows: [&[f32]; RW] = std::array::from_fn(|r| a.row(i0 + r));
    let b_rows: [&[f32]; CW] = std::array::from_fn(|j| b.row(j0 + j));
    let mut acc = [[_mm512_setzero_ps(); CW]; RW];
    let mut p = 0;
    while p < k {
        let mask: __mmask16 = if k - p >= 16 { 0xFFFF } else { (1u16 << (k - p)) - 1 };
        let mut av = [_mm512_setzero_ps(); RW];
        for (v, row) in av.iter_mut().zip(&a_rows) {
            // SAFETY: the mask keeps the load inside the row (lanes p .. min(p + 16, k)).
            *v = unsafe { _mm512_maskz_loadu_ps(mask, row.as_ptr().add(p)) };
        }
        for (j, row) in b_rows.iter().enumerate() {
            // SAFETY: as above, for a row of B (it has k values).
            let bj = unsafe { _mm512_maskz_loadu_ps(mask, row.as_ptr().add(p)) };
            for (sums, &v) in acc.iter_mut().zip(&av) {
                sums[j] = _mm512_fmadd_ps(v, bj, sums[j]);
            }
        }
        p += 16;
    }
    for (r, sums) in acc.iter().enumerate() {
        // SAFETY: row i0 + r and columns j0 .. j0 + CW lie inside C, ours (contract).
        let c_row = unsafe { std::slice::from_raw_parts_mut(c.ptr.add((i0 + r) * c.stride + j0), CW) };
        for (c, &v) in c_row.iter_mut().zip(sums) {
            let (lo, hi) =
                (_mm512_castps512_ps256(v), _mm512_castps512_ps256(_mm512_shuffle_f32x4::<0b11_10_11_10>(v, v)));
            *c = super::scaled_update(*c, alpha * super::skinny::sum16(lo, hi), beta);
        }
    }
}
