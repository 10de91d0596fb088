//! The bf16 matrix product of a quantised layer on AVX-512-BF16: packing, the blocked
//! driver, the row conversion and the fused write-back (bias, activation).
//!
//! Shapes: a band of `m` rows of activations `x: [m, k]` rounded to bf16 per call, the
//! layer's bf16 weights `w: [n, k]`, f32 sums `acc[i, j] = Σ_k x[i, k] · w[j, k]`, then
//! `out = f(acc + b)`.
//!
//! `vdpbf16ps` multiplies pairs of bf16 and adds both products into an f32 lane, so k goes
//! in pairs:
//!
//! ```text
//! weights, packed once at load:  sliver s (columns s·16 ..), pair g: one 64-byte line
//!                                line[j·2 + t] = w[s·16 + j, 2g + t]
//! activations, per call:         row-major, lda = 2·pairs values a row (k padded with 0)
//! ```
//!
//! The micro-kernel is an 8 × 32 tile in 16 zmm accumulators, as the VNNI int8 one: per
//! pair, two weight lines and a broadcast of each row's pair. What one instruction computes,
//! per lane (Intel's definition, and what Zen 4 does, checked bit for bit): `acc += a₁·b₁`,
//! then `acc += a₀·b₀`, each product exact (8-bit mantissas) and each sum rounded to nearest
//! even; bf16 inputs and the accumulator are read with denormals as zero, and a denormal
//! result is flushed to zero. [`super::reference::bf16_linear`] does exactly that in plain
//! loops, and the sums run over k in one order whatever the tile or thread split, so the
//! kernel and the reference agree to the bit.

use super::int8::{MC, ROW_ALIGN};
use super::Bf16Linear;
use crate::activation::Activation;
use crate::matrix::MatRef;

/// Columns of one weight sliver.
pub(crate) const NR: usize = 16;

/// One packed weight line: 16 columns × 2 k values of bf16, 64-byte aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct Bf16Line(pub [u16; NR * 2]);

/// A layer's bf16 weights in the micro-kernel's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedBf16 {
    /// `slivers × pairs` lines, sliver-major.
    pub lines: Vec<Bf16Line>,
    /// `ceil(k / 2)`.
    pub pairs: usize,
    /// `ceil(n / 16)`.
    pub slivers: usize,
}

impl PackedBf16 {
    /// Packs `w: [n, k]` (bf16 bits).
    pub fn new(w: &[u16], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "weights are not n × k");
        let pairs = k.div_ceil(2);
        let slivers = n.div_ceil(NR);
        let mut lines = vec![Bf16Line([0; NR * 2]); slivers * pairs];
        for j in 0..n {
            let (s, jj) = (j / NR, j % NR);
            for (g, pair) in w[j * k..(j + 1) * k].chunks(2).enumerate() {
                lines[s * pairs + g].0[jj * 2..jj * 2 + pair.len()].copy_from_slice(pair);
            }
        }
        Self { lines, pairs, slivers }
    }
}

/// Values (u16) of one packed activation row for an input width of `k`.
pub(crate) fn row_len(k: usize) -> usize {
    k.div_ceil(2) * 2
}

/// Whether this CPU has the bf16 kernel (AVX-512 F and BF16), detected once.
pub(crate) fn available() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The kernel's name for reports.
pub(crate) const KERNEL_NAME: &str = "avx512 bf16 vdpbf16ps 8x32";

/// One bf16 layer on a band of rows: converts `x`'s rows to bf16 into `packed` (rows `lda`
/// values apart, holding `x.rows()` rounded up to [`ROW_ALIGN`] rows), then
/// `out = f(x · wᵀ + b)`, `out: [m, n]`.
///
/// # Safety
/// The CPU has AVX-512 F and BF16 ([`available`]).
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn layer(
    x: MatRef<'_>,
    packed: &mut [u16],
    lda: usize,
    layer: &Bf16Linear,
    activation: Activation,
    out: &mut [f32],
) {
    // SAFETY: forwarded contract.
    unsafe { avx512::layer(x, packed, lda, layer, activation, out) }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn layer(_: MatRef<'_>, _: &mut [u16], _: usize, _: &Bf16Linear, _: Activation, _: &mut [f32]) {
    unreachable!("AVX-512 BF16 is only detected on x86_64")
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m256bh, __m256i, __m512, __m512bh, __m512i, __mmask16, _mm256_mask_storeu_epi16, _mm512_add_ps,
        _mm512_cvtne2ps_pbh, _mm512_cvtneps_pbh, _mm512_dpbf16_ps, _mm512_load_si512, _mm512_loadu_ps,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_max_ps, _mm512_set1_epi32, _mm512_setzero_ps,
        _mm512_storeu_ps, _mm512_storeu_si512,
    };

    use super::{Bf16Line, MC, NR, ROW_ALIGN};
    use crate::activation::Activation;
    use crate::matrix::MatRef;
    use crate::quant::Bf16Linear;

    /// Tile rows.
    const MR: usize = 8;
    /// Weight slivers of a full tile.
    const NS: usize = 2;
    const _: () = assert!(ROW_ALIGN.is_multiple_of(MR));

    /// See [`super::layer`].
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BF16.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn layer(
        x: MatRef<'_>,
        packed: &mut [u16],
        lda: usize,
        layer: &Bf16Linear,
        activation: Activation,
        out: &mut [f32],
    ) {
        let (m, k, n) = (x.rows(), x.cols(), layer.outputs);
        let w = &layer.packed;
        assert!(
            k == layer.inputs && lda >= 2 * w.pairs && lda.is_multiple_of(2),
            "packed rows narrower than the layer"
        );
        assert!(packed.len() >= m.div_ceil(ROW_ALIGN) * ROW_ALIGN * lda, "packed activations too short");
        assert!(out.len() >= m * n && layer.bias.len() == n, "output band too short");
        for i in 0..m {
            // SAFETY: the CPU has the features (this function's contract), enabled here.
            unsafe { convert_row(x.row(i), &mut packed[i * lda..(i + 1) * lda]) };
        }
        let mut tile = [[0.0f32; NS * NR]; MR];
        for ic in (0..m).step_by(MC) {
            let ic_end = (ic + MC).min(m);
            for s0 in (0..w.slivers).step_by(NS) {
                let ns = NS.min(w.slivers - s0);
                let (j0, b) = (s0 * NR, w.lines[s0 * w.pairs..].as_ptr());
                let nc = (ns * NR).min(n - j0);
                for i0 in (ic..ic_end).step_by(MR) {
                    let a = packed[i0 * lda..].as_ptr();
                    // SAFETY: rows i0 .. i0 + MR lie in `packed` (the assert; i0 < m and MR
                    // divides ROW_ALIGN), each with `2 · pairs` readable values; slivers
                    // s0 .. s0 + ns lie in `w.lines`; the CPU has the features.
                    unsafe {
                        if ns == NS {
                            tile_sums::<NS>(a, lda, b, w.pairs, &mut tile);
                        } else {
                            tile_sums::<1>(a, lda, b, w.pairs, &mut tile);
                        }
                    }
                    for (i, acc) in tile.iter().enumerate().take(MR.min(m - i0)) {
                        let dst = &mut out[(i0 + i) * n + j0..(i0 + i) * n + j0 + nc];
                        // SAFETY: as above.
                        unsafe { write_back(&acc[..nc], &layer.bias[j0..j0 + nc], activation, dst) };
                    }
                }
            }
        }
    }

    /// `tile[i][s·16 + j] = Σ_g dpbf16(a[i·lda + 2g ..], b[s·pairs + g])` for `i < MR`,
    /// `s < NS`, in the order of k.
    ///
    /// # Safety
    /// `a` points to `MR` rows of `2 · pairs` readable values, `lda` apart; `b` to
    /// `NS · pairs` lines; the CPU has AVX-512 F and BF16.
    #[inline(always)]
    unsafe fn tile_sums<const S: usize>(
        a: *const u16,
        lda: usize,
        b: *const Bf16Line,
        pairs: usize,
        tile: &mut [[f32; NS * NR]; MR],
    ) {
        // SAFETY: every 4-byte read `a + i·lda + 2g` (i < MR, g < pairs) lies in row i;
        // line `s·pairs + g` (s < S) is one of the readable lines, 64 bytes and aligned, so
        // each aligned 64-byte load stays in it; the stores write 16 f32 at column s·16 of
        // rows i < MR of `tile`; the features are the caller's.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); S]; MR];
            for g in 0..pairs {
                let mut w: [__m512bh; S] = [std::mem::transmute::<__m512, __m512bh>(_mm512_setzero_ps()); S];
                for (s, w) in w.iter_mut().enumerate() {
                    *w = std::mem::transmute::<__m512i, __m512bh>(_mm512_load_si512(b.add(s * pairs + g).cast()));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let pair = a.add(i * lda + 2 * g).cast::<i32>().read_unaligned();
                    let ai = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
                    for (acc, &w) in row.iter_mut().zip(&w) {
                        *acc = _mm512_dpbf16_ps(*acc, ai, w);
                    }
                }
            }
            for (row, dst) in acc.iter().zip(tile.iter_mut()) {
                for (s, v) in row.iter().enumerate() {
                    _mm512_storeu_ps(dst.as_mut_ptr().add(s * NR), *v);
                }
            }
        }
    }

    /// `dst[j] = f(acc[j] + bias[j])`; identity and ReLU in vectors, other activations one
    /// value at a time.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; the three slices have one length.
    #[inline(always)]
    unsafe fn write_back(acc: &[f32], bias: &[f32], activation: Activation, dst: &mut [f32]) {
        let nc = dst.len();
        assert!(acc.len() == nc && bias.len() == nc, "write-back lengths");
        let relu = match activation {
            Activation::Identity => false,
            Activation::Relu => true,
            other => {
                for ((d, &a), &b) in dst.iter_mut().zip(acc).zip(bias) {
                    *d = other.apply(a + b);
                }
                return;
            }
        };
        // SAFETY: loads and stores touch `j .. j + 16` for j + 16 ≤ nc, or the last
        // `nc − j` elements under a mask; the CPU has AVX-512 F.
        unsafe {
            let mut j = 0;
            while j < nc {
                let mask: __mmask16 = if nc - j >= 16 { 0xFFFF } else { ((1u32 << (nc - j)) - 1) as u16 };
                let mut v = _mm512_add_ps(
                    _mm512_maskz_loadu_ps(mask, acc.as_ptr().add(j)),
                    _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(j)),
                );
                if relu {
                    // `vmaxps` returns its second operand for a NaN: 0, as `f32::max`.
                    v = _mm512_max_ps(v, _mm512_setzero_ps());
                }
                _mm512_mask_storeu_ps(dst.as_mut_ptr().add(j), mask, v);
                j += 16;
            }
        }
    }

    /// Rounds `row` to bf16 into `dst` (to nearest even, as `vcvtne2ps2bf16`: denormals to
    /// a signed zero), zero past the row's end.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW, VL and BF16; `dst.len() ≥ row.len()`.
    #[inline(always)]
    unsafe fn convert_row(row: &[f32], dst: &mut [u16]) {
        let k = row.len();
        assert!(dst.len() >= k, "packed row shorter than the row");
        let (p, d) = (row.as_ptr(), dst.as_mut_ptr());
        // SAFETY: full loads read row[i .. i + 32] with i + 32 ≤ k; the tail reads the last
        // values under masks; stores write dst[i ..] likewise (dst.len() ≥ k); the CPU has
        // the features.
        unsafe {
            let mut i = 0;
            while i + 32 <= k {
                let v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(p.add(i + 16)), _mm512_loadu_ps(p.add(i)));
                _mm512_storeu_si512(d.add(i).cast(), std::mem::transmute::<__m512bh, __m512i>(v));
                i += 32;
            }
            while i < k {
                let rest = (k - i).min(16);
                let mask: __mmask16 = ((1u32 << rest) - 1) as u16;
                let v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, p.add(i)));
                _mm256_mask_storeu_epi16(d.add(i).cast(), mask, std::mem::transmute::<__m256bh, __m256i>(v));
                i += rest;
            }
        }
        dst[k..].fill(0);
    }
}
