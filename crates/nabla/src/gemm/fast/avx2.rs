//! The x86_64 AVX2+FMA micro-kernel: a 6 × 16 tile of `C` in 12 ymm registers.
//!
//! Each step `p` loads one packed B row (two 8-lane vectors), broadcasts the six packed A
//! values one at a time and issues 12 fused multiply-adds: 192 flops for two loads and six
//! broadcasts, enough to keep both FMA pipes busy from L1.

use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

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

#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_avx2(kc: usize, a: &[f32], b: &[f32], c: *mut f32, rs_c: usize, alpha: f32, beta: f32) {
    assert!(a.len() >= kc * MR && b.len() >= kc * NR, "packed slivers shorter than kc");
    // SAFETY: the assert keeps every A read (`p * MR + i`, i < MR) and B read (`p * NR + 0..16`)
    // for p < kc inside the slices; the C accesses are MR rows of NR values `rs_c` apart,
    // which the caller guarantees valid (and, for beta = 0, only written); the target
    // features are enabled on this function and present on the CPU per the caller.
    unsafe {
        let mut acc: [[__m256; 2]; MR] = [[_mm256_setzero_ps(); 2]; MR];
        let mut ap = a.as_ptr();
        let mut bp = b.as_ptr();
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*ap.add(i));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
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
