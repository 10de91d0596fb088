//! The portable int8 micro-kernel: the same packed layout and the same i32 sums as the x86
//! ones, in plain Rust (used where neither AVX2 nor AVX-512 VNNI is present; the tests
//! compare them all exactly).

use super::int8::{self, ActBuf, Epilogue, Micro, PackedWeights, Tile, WeightLine, KU, NR};
use crate::matrix::MatRef;

/// A 4 × 16 tile.
struct Portable;

impl Micro for Portable {
    const MR: usize = 4;
    const NS: usize = 1;

    unsafe fn sums(a: *const u8, lda: usize, b: *const WeightLine, groups: usize, ns: usize, tile: &mut Tile) {
        // SAFETY: `b` points to `ns · groups` lines (the trait's contract).
        let lines = unsafe { std::slice::from_raw_parts(b, ns * groups) };
        for (i, sums) in tile.iter_mut().enumerate().take(Self::MR) {
            // SAFETY: row `i < MR` holds `groups · KU` readable bytes at `a + i · lda`.
            let row = unsafe { std::slice::from_raw_parts(a.add(i * lda), groups * KU) };
            for (s, sliver) in lines.chunks_exact(groups.max(1)).enumerate().take(ns) {
                for (j, sum) in sums[s * NR..(s + 1) * NR].iter_mut().enumerate() {
                    *sum = 0;
                    for (u, line) in row.chunks_exact(KU).zip(sliver) {
                        let q = &line.0[j * KU..(j + 1) * KU];
                        *sum += u.iter().zip(q).map(|(&u, &q)| i32::from(u) * i32::from(q)).sum::<i32>();
                    }
                }
            }
        }
    }
}

/// [`int8::LayerFn`] in plain Rust (safe: it needs no CPU feature).
pub(super) fn layer(x: MatRef<'_>, a: ActBuf<'_>, w: &PackedWeights, e: &Epilogue<'_>, out: &mut [f32]) {
    // SAFETY: the portable kernel needs no CPU feature.
    unsafe { int8::layer::<Portable>(x, a, w, e, out) };
}

#[cfg(test)]
/// [`int8::SumsFn`] in plain Rust.
pub(super) fn sums(a: &[u8], lda: usize, m: usize, w: &PackedWeights, n: usize, out: &mut [i32]) {
    // SAFETY: the portable kernel needs no CPU feature.
    unsafe { int8::sums::<Portable>(a, lda, m, w, n, out) };
}
