//! The x86_64 AVX2 int8 micro-kernel: a 4 × 16 tile of i32 sums in 8 ymm registers (AVX2
//! has 16; the rest hold the weights and the broadcast activations).
//!
//! Each group of four k values: load the packed weight line (two vectors of 8 columns × 4
//! i8), and for each of the 4 rows broadcast its four u8 activations to every lane, then
//! `vpmaddubsw` (u8 × i8, adjacent pairs summed to i16: exact, as 2 · 127 · 127 < 2¹⁵),
//! `vpmaddwd` with ones (pairs of i16 summed to i32) and `vpaddd` into the accumulator:
//! 32 multiply-adds per three instructions. AVX-512 VNNI's `vpdpbusd` does the three in one
//! ([`super::vnni`]), and is chosen before this kernel where the CPU has it.

use std::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_load_si256, _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_set1_epi16,
    _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256,
};

use super::int8::{self, ActBuf, Epilogue, Micro, PackedWeights, Tile, WeightLine, KU, NR};
use crate::matrix::MatRef;

/// A 4 × 16 tile.
struct Avx2;

impl Micro for Avx2 {
    const MR: usize = 4;
    const NS: usize = 1;

    #[inline(always)]
    unsafe fn sums(a: *const u8, lda: usize, b: *const WeightLine, groups: usize, _ns: usize, tile: &mut Tile) {
        // SAFETY: every 4-byte activation read (`a + i·lda + g·KU`, i < MR, g < groups) lies
        // in row i's `groups · KU` bytes; each weight line is 64 bytes and 64-byte aligned,
        // so the two aligned 32-byte loads stay inside line g of the one sliver (ns = 1);
        // the stores write the first 16 i32 of rows 0..MR of `tile`; AVX2 is present (the
        // trait's contract), and this is only inlined into `layer`/`sums` below, which
        // enable it.
        unsafe {
            let ones = _mm256_set1_epi16(1);
            let mut acc: [[__m256i; 2]; Self::MR] = [[_mm256_setzero_si256(); 2]; Self::MR];
            let mut bp = b.cast::<__m256i>();
            for g in 0..groups {
                let b0 = _mm256_load_si256(bp);
                let b1 = _mm256_load_si256(bp.add(1));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm256_set1_epi32(a.add(i * lda + g * KU).cast::<i32>().read_unaligned());
                    row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(_mm256_maddubs_epi16(ai, b0), ones));
                    row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(_mm256_maddubs_epi16(ai, b1), ones));
                }
                bp = bp.add(2);
            }
            for (row, dst) in acc.iter().zip(tile.iter_mut()) {
                _mm256_storeu_si256(dst.as_mut_ptr().cast(), row[0]);
                _mm256_storeu_si256(dst.as_mut_ptr().add(NR / 2).cast(), row[1]);
            }
        }
    }
}

/// [`int8::LayerFn`] on AVX2.
///
/// # Safety
/// The CPU supports AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn layer(x: MatRef<'_>, a: ActBuf<'_>, w: &PackedWeights, e: &Epilogue<'_>, out: &mut [f32]) {
    // SAFETY: the CPU has the features (this function's contract), enabled here.
    unsafe { int8::layer::<Avx2>(x, a, w, e, out) };
}

#[cfg(test)]
/// [`int8::SumsFn`] on AVX2.
///
/// # Safety
/// The CPU supports AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sums(a: &[u8], lda: usize, m: usize, w: &PackedWeights, n: usize, out: &mut [i32]) {
    // SAFETY: as for `layer`.
    unsafe { int8::sums::<Avx2>(a, lda, m, w, n, out) };
}
