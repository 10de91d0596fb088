//! The x86_64 AVX-512 VNNI int8 micro-kernel: an 8 × 32 tile of i32 sums in 16 zmm
//! registers.
//!
//! Each group of four k values: load two packed weight lines (two slivers of 16 columns ×
//! 4 i8, one zmm each), and for each of the 8 rows broadcast its four u8 activations to
//! every lane and `vpdpbusd` them with each weight vector: u8 × i8, the four products of a
//! lane summed into its i32 without saturation, 64 multiply-adds per instruction. Zen 4
//! issues one 512-bit `vpdpbusd` a cycle at a latency of about 4, so the 16 independent
//! accumulators keep it busy, and the 2 weight loads and 8 broadcasts per 16 `vpdpbusd`
//! leave the load ports room. A tile of one sliver (8 × 16) serves the last, odd sliver.
//!
//! The sums are the same exact integers as the other kernels' (the 7-bit activations are
//! kept so that every kernel gives the same bits).

use std::arch::x86_64::{
    __m128i, __m512, __m512i, __mmask16, _mm512_add_ps, _mm512_cvtepi32_epi8, _mm512_cvtepi32_ps, _mm512_cvttps_epi32,
    _mm512_dpbusd_epi32, _mm512_load_si512, _mm512_loadu_ps, _mm512_loadu_si512, _mm512_mask_cvtepi32_storeu_epi8,
    _mm512_maskz_loadu_ps, _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_mullo_epi32, _mm512_reduce_max_ps,
    _mm512_reduce_min_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps, _mm512_setzero_si512, _mm512_storeu_ps,
    _mm512_storeu_si512, _mm512_sub_epi32, _mm_storeu_si128,
};

use super::int8::{self, ActBuf, Columns, Epilogue, Micro, PackedWeights, RowScale, Tile, WeightLine, ACT_MAX, KU, NR};
use crate::matrix::MatRef;

/// An `MR × (NS · 16)` tile.
struct Vnni;

impl Micro for Vnni {
    const MR: usize = 8;
    const NS: usize = 2;

    #[inline(always)]
    unsafe fn sums(a: *const u8, lda: usize, b: *const WeightLine, groups: usize, ns: usize, tile: &mut Tile) {
        // SAFETY: forwarded contract (`ns` is 1 or 2).
        unsafe {
            if ns >= 2 {
                tile_sums::<{ Self::MR }, 2>(a, lda, b, groups, tile);
            } else {
                tile_sums::<{ Self::MR }, 1>(a, lda, b, groups, tile);
            }
        }
    }

    #[inline(always)]
    unsafe fn quantize_row(row: &[f32], dst: &mut [u8]) -> RowScale {
        // SAFETY: the CPU has AVX-512F/BW (the caller's contract).
        unsafe { quantize_row_avx512(row, dst) }
    }

    #[inline(always)]
    unsafe fn dequantise16(acc: &[i32; NR], row: RowScale, c: Columns<'_>, relu: bool, dst: &mut [f32; NR]) {
        // SAFETY: every load and store is of 16 elements of a 16-element array; the CPU has
        // AVX-512F (the caller's contract).
        unsafe {
            let mut exact = _mm512_loadu_si512(acc.as_ptr().cast());
            if row.zero != 0 {
                let zs = _mm512_mullo_epi32(_mm512_set1_epi32(row.zero), _mm512_loadu_si512(c.sums.as_ptr().cast()));
                exact = _mm512_sub_epi32(exact, zs);
            }
            // As `int8::dequantise`: t · s_j first, then a product and a sum (no FMA).
            let ts = _mm512_mul_ps(_mm512_set1_ps(row.scale), _mm512_loadu_ps(c.scale.as_ptr()));
            let mut v = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(exact), ts), _mm512_loadu_ps(c.bias.as_ptr()));
            if relu {
                // `vmaxps` returns its second operand when the first is NaN: 0, as `f32::max`.
                v = _mm512_max_ps(v, _mm512_setzero_ps());
            }
            _mm512_storeu_ps(dst.as_mut_ptr(), v);
        }
    }
}

/// [`int8::quantize_row`] in AVX-512: the same range (min and max are exact in any order,
/// `vminps`/`vmaxps` skip a NaN as the compare-and-select there does) and the same
/// per-value formula, so the same bytes.
///
/// # Safety
/// The CPU has AVX-512F and BW.
#[inline(always)]
unsafe fn quantize_row_avx512(row: &[f32], dst: &mut [u8]) -> RowScale {
    assert!(dst.len() >= row.len(), "packed row shorter than the row");
    let k = row.len();
    let (full, rest) = (k / 16 * 16, k % 16);
    let tail: __mmask16 = (1u32 << rest).wrapping_sub(1) as u16;
    // SAFETY: loads read `row[p .. p + 16]` for p + 16 ≤ k, or its last `rest` values under
    // the mask `tail`; stores write `dst[p .. p + 16]` the same way (dst.len() ≥ k); the CPU
    // has AVX-512F/BW (the caller's contract).
    unsafe {
        let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let p = row.as_ptr();
        for i in (0..full).step_by(16) {
            let v = _mm512_loadu_ps(p.add(i));
            lo = _mm512_min_ps(v, lo);
            hi = _mm512_max_ps(v, hi);
        }
        if rest > 0 {
            // Masked-off lanes read as 0, which is in every row's range already.
            let v = _mm512_maskz_loadu_ps(tail, p.add(full));
            lo = _mm512_min_ps(v, lo);
            hi = _mm512_max_ps(v, hi);
        }
        let rs = int8::range_scale(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
        let (inv, zero) = (_mm512_set1_ps(1.0 / rs.scale), _mm512_set1_ps(rs.zero as f32));
        let (half, top, nil) = (_mm512_set1_ps(0.5), _mm512_set1_ps(ACT_MAX as f32), _mm512_setzero_ps());
        // As `int8::quantize_value`: ((v · inv + zero) + 0.5), NaN to 0 at the max, clamped,
        // truncated.
        let quantize = |v: __m512| {
            let q = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(v, inv), zero), half);
            _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(q, nil), top))
        };
        let d = dst.as_mut_ptr();
        for i in (0..full).step_by(16) {
            _mm_storeu_si128(d.add(i).cast::<__m128i>(), _mm512_cvtepi32_epi8(quantize(_mm512_loadu_ps(p.add(i)))));
        }
        if rest > 0 {
            _mm512_mask_cvtepi32_storeu_epi8(
                d.add(full).cast(),
                tail,
                quantize(_mm512_maskz_loadu_ps(tail, p.add(full))),
            );
        }
        dst[k..].fill(0);
        rs
    }
}

/// `MR` rows × `NS` slivers; see [`Micro::sums`].
///
/// # Safety
/// As [`Micro::sums`] with `ns = NS`; only inlined into the `#[target_feature]` functions
/// below.
#[inline(always)]
unsafe fn tile_sums<const MR: usize, const NS: usize>(
    a: *const u8,
    lda: usize,
    b: *const WeightLine,
    groups: usize,
    tile: &mut Tile,
) {
    // SAFETY: every 4-byte activation read (`a + i·lda + g·KU`, i < MR, g < groups) lies in
    // row i's `groups · KU` bytes; line `s·groups + g` (s < NS) is one of the `NS · groups`
    // readable lines, 64 bytes and 64-byte aligned, so each aligned 64-byte load stays in
    // it; the stores write 16 i32 at column s·16 < TILE_COLS of rows i < MR ≤ TILE_ROWS;
    // AVX-512F/VNNI are present (the caller's contract) and enabled where this is inlined.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); NS]; MR];
        for g in 0..groups {
            let mut w = [_mm512_setzero_si512(); NS];
            for (s, w) in w.iter_mut().enumerate() {
                *w = _mm512_load_si512(b.add(s * groups + g).cast::<__m512i>());
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_epi32(a.add(i * lda + g * KU).cast::<i32>().read_unaligned());
                for (acc, &w) in row.iter_mut().zip(&w) {
                    *acc = _mm512_dpbusd_epi32(*acc, ai, w);
                }
            }
        }
        for (row, dst) in acc.iter().zip(tile.iter_mut()) {
            for (s, v) in row.iter().enumerate() {
                _mm512_storeu_si512(dst.as_mut_ptr().add(s * NR).cast(), *v);
            }
        }
    }
}

/// [`int8::LayerFn`] on AVX-512 VNNI.
///
/// # Safety
/// The CPU supports AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn layer(x: MatRef<'_>, a: ActBuf<'_>, w: &PackedWeights, e: &Epilogue<'_>, out: &mut [f32]) {
    // SAFETY: the CPU has the features (this function's contract), enabled here.
    unsafe { int8::layer::<Vnni>(x, a, w, e, out) };
}

#[cfg(test)]
/// [`int8::SumsFn`] on AVX-512 VNNI.
///
/// # Safety
/// The CPU supports AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn sums(a: &[u8], lda: usize, m: usize, w: &PackedWeights, n: usize, out: &mut [i32]) {
    // SAFETY: as for `layer`.
    unsafe { int8::sums::<Vnni>(a, lda, m, w, n, out) };
}
