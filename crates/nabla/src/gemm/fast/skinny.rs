//! Products into few columns with a transposed B, `C = alpha · A · Bᵀ + beta · C` with
//! `C: [m, n ≤ SKINNY_N]` (a classifier's output layer, ten columns): nothing is packed, rows
//! of A and of B are read as stored. For so few columns packing A (once per product) cost as
//! much as the arithmetic, and a 16-wide tile would spend six of its lanes on nothing.
//!
//! Each element of `C` is summed over k in 16 lanes: lane `l` is one chain of fused
//! multiply-adds over the steps `p ≡ l (mod 16)` in order, the last step's lanes past k adding
//! `0 · 0`; the 16 lanes are added in one fixed tree ([`sum16`]), and the sum is scaled as
//! every kernel's write-back does ([`super::scaled_update`]). The AVX-512 kernel
//! (`avx512::skinny_bt`) holds the 16 lanes in one zmm register and runs blocks of four rows
//! of A against five columns; the AVX2 kernel (`avx2::skinny_bt`) holds them in two ymm
//! halves and runs one row against up to six columns at a time. Same lanes, same chains, same
//! tree: the same bits, so a network's output layer computes the same on AVX2 and AVX-512
//! CPUs (tested in `gemm::tests`; the blocked kernels already agree with each other).

use std::ops::Range;

use super::select::{selected, KernelKind};
use super::{RawC, Transpose};
use crate::matrix::{MatMut, MatRef};

/// The most columns of `C` a skinny kernel takes (a classifier's outputs; from 16 columns on
/// the packed kernels' 16-wide tiles lose nothing).
pub(crate) const SKINNY_N: usize = 12;

/// Whether `kind` has a skinny kernel (the portable kernel has none).
pub(crate) fn has_skinny(kind: KernelKind) -> bool {
    cfg!(target_arch = "x86_64") && matches!(kind, KernelKind::Avx512X32 | KernelKind::Avx512 | KernelKind::Avx2Fma)
}

/// Whether [`skinny`] takes a product (on this CPU).
pub(crate) fn skinny_takes(ta: Transpose, tb: Transpose, m: usize, n: usize, k: usize) -> bool {
    ta == Transpose::No
        && tb == Transpose::Yes
        && n <= SKINNY_N
        && super::blocked_product(m, n, k)
        && has_skinny(selected())
}

/// Runs `C = alpha · A · Bᵀ + beta · C` on this CPU's skinny kernel for products with at most
/// [`SKINNY_N`] columns, splitting the rows of `C` between up to `threads` threads; returns
/// `false`, doing nothing, for any other product or CPU. Every row is computed the same way
/// whichever thread has it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn skinny(
    threads: usize,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) -> bool {
    let (m, n) = c.shape();
    let k = a.cols();
    if !skinny_takes(ta, tb, m, n, k) {
        return false;
    }
    let kind = selected();
    let c = RawC::of(c);
    let tasks = if m * n * k >= crate::gemm::PARALLEL_MIN_WORK { threads.min(m / 32).max(1) } else { 1 };
    let band = m.div_ceil(tasks).div_ceil(2) * 2;
    crate::pool::run(m.div_ceil(band), &|t| {
        let rows = t * band..((t + 1) * band).min(m);
        // SAFETY: `kind` was selected for this CPU and has a skinny kernel (`skinny_takes`);
        // the shapes were checked by `gemm_with`; each task writes its own rows of C, which is
        // borrowed mutably for the call.
        unsafe { rows_on(kind, alpha, a, b, beta, c, rows) };
    });
    true
}

/// `kind`'s skinny kernel on rows `rows` of `C`: `a: [m, k]`, `b: [n, k]`, `c: [m, n]`.
///
/// # Safety
/// `kind` must have a skinny kernel ([`has_skinny`]) that this CPU supports; `c` must describe
/// `m × n` valid values, `n ≤ SKINNY_N`, that nothing else touches in rows `rows` during the
/// call.
pub(crate) unsafe fn rows_on(
    kind: KernelKind,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: RawC,
    rows: Range<usize>,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded contract; each arm's instruction set is `kind`'s.
    unsafe {
        match kind {
            KernelKind::Avx512X32 | KernelKind::Avx512 => super::avx512::skinny_bt(alpha, a, b, beta, c, rows),
            KernelKind::Avx2Fma => super::avx2::skinny_bt(alpha, a, b, beta, c, rows),
            KernelKind::Portable => unreachable!("the portable kernel has no skinny form"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kind, alpha, a, b, beta, c, rows);
        unreachable!("skinny kernels exist only on x86_64");
    }
}

/// The sum of 16 lanes held as two halves (lanes 0–7 in `lo`, 8–15 in `hi`), in the one order
/// both skinny kernels use: lane `i` plus lane `i + 8`, then the two 128-bit halves of that,
/// then lanes 0 + 2 and 1 + 3, then those two.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub(super) fn sum16(lo: std::arch::x86_64::__m256, hi: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32,
        _mm_movehl_ps, _mm_shuffle_ps,
    };
    let eight = _mm256_add_ps(lo, hi);
    let four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps::<1>(eight));
    let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    _mm_cvtss_f32(_mm_add_ss(two, _mm_shuffle_ps::<0b01>(two, two)))
}

/// [`rows_on`] over every row on each skinny kernel this CPU supports, with the kernel's name,
/// so that the tests compare them (not only the one [`skinny`] picks).
#[cfg(test)]
pub(crate) fn skinny_each_kernel(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: &crate::matrix::Matrix,
) -> Vec<(&'static str, crate::matrix::Matrix)> {
    KernelKind::SIMD
        .into_iter()
        .filter(|&kind| has_skinny(kind) && kind.supported())
        .map(|kind| {
            let mut out = c.clone();
            let rows = out.rows();
            // SAFETY: `kind` has a skinny kernel this CPU supports (filtered just above);
            // `out` is borrowed mutably for the call.
            unsafe { rows_on(kind, alpha, a, b, beta, RawC::of(out.view_mut()), 0..rows) };
            (kind.name(), out)
        })
        .collect()
}
