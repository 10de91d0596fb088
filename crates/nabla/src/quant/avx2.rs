//! The x86_64 AVX2 int8 micro-kernel: a 4 × 16 tile of i32 sums in 8 ymm registers.
//!
//! Each group of four k values: load the packed weight line (two vectors of 8 columns × 4
//! i8), and for each of the 4 rows broadcast its four u8 activations to every lane, then
//! `vpmaddubsw` (u8 × i8, adjacent pairs summed to i16: exact, as 2 · 127 · 127 < 2¹⁵),
//! `vpmaddwd` with ones (pairs of i16 summed to i32) and `vpaddd` into the accumulator:
//! 32 multiply-adds per three instructions. AVX-512 VNNI's `vpdpbusd` does the three in one;
//! it is not written here (no CPU to test it on).

use std::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_load_si256, _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_set1_epi16,
    _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256,
};

use super::int8::{WeightLine, KU, MR, NR};

/// The [`super::int8::MicroKernel`] for AVX2; see its contract.
///
/// # Safety
/// As [`super::int8::MicroKernel`]: the CPU supports AVX2.
pub(super) unsafe fn kernel(a: &[u8], b: &[WeightLine], acc: &mut [[i32; NR]; MR]) {
    // SAFETY: forwarded contract; the caller has checked AVX2 at run time.
    unsafe { kernel_avx2(a, b, acc) }
}

#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(a: &[u8], b: &[WeightLine], out: &mut [[i32; NR]; MR]) {
    let groups = b.len();
    assert!(a.len() >= groups * MR * KU, "packed activations shorter than the weights' groups");
    // SAFETY: the assert keeps every 4-byte activation read (`(g·MR + i)·KU`, i < MR) inside
    // `a`; each weight line is 64 bytes and 64-byte aligned, so the two aligned 32-byte
    // loads stay inside `b[g]`; the stores write the 16 i32 of each row of `out`; AVX2 is
    // enabled on this function and present on the CPU per the caller.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut acc: [[__m256i; 2]; MR] = [[_mm256_setzero_si256(); 2]; MR];
        let mut ap = a.as_ptr();
        let mut bp = b.as_ptr().cast::<__m256i>();
        for _ in 0..groups {
            let b0 = _mm256_load_si256(bp);
            let b1 = _mm256_load_si256(bp.add(1));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_set1_epi32(ap.add(i * KU).cast::<i32>().read_unaligned());
                row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(_mm256_maddubs_epi16(ai, b0), ones));
                row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(_mm256_maddubs_epi16(ai, b1), ones));
            }
            ap = ap.add(MR * KU);
            bp = bp.add(2);
        }
        for (row, dst) in acc.iter().zip(out.iter_mut()) {
            _mm256_storeu_si256(dst.as_mut_ptr().cast(), row[0]);
            _mm256_storeu_si256(dst.as_mut_ptr().add(8).cast(), row[1]);
        }
    }
}
