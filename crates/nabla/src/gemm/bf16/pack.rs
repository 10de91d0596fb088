//! Rounding `op(A)` and `op(B)` to bf16 into the layouts both fast kernels read.
//!
//! `m` and `n` are padded to [`BLOCK`] (32), `k` to 32; the padding is zero. Both layouts are
//! made of 64-byte lines of 16 "pairs" (two bf16 of consecutive k in one 32-bit word):
//!
//! ```text
//! A: strip s (rows 16s ..), k block q (k 32q ..), row r:   line ((s·kbs + q)·16 + r)
//!    line[2t + u] = bf16(op(A)[16s + r, 32q + 2t + u])        (a 16 × 32 AMX tile per (s, q))
//! B: sliver s (columns 16s ..), pair g (k 2g ..):          line (s·pairs + g)
//!    line[2j + u] = bf16(op(B)[2g + u, 16s + j])              (16 lines per k block: a tile)
//! ```
//!
//! An A tile is `tileloadd`'s first operand of `tdpbf16ps` as stored; a B tile its second,
//! in the pairs ("VNNI") order; `vdpbf16ps` reads a B line as one zmm and broadcasts one
//! pair of an A line. Whichever way an operand is stored, the packing reads whole rows:
//! where the pairs run across the stored rows (`op(A) = Aᵀ`, `op(B) = B`) two rows are
//! interleaved into pairs; where they run along them, 32 values become 16 pairs; a 16 × 16
//! transpose of 32-bit pairs turns one into the other where the layout needs it.

use std::ops::Range;

use super::super::Transpose;
use super::BLOCK;
use crate::matrix::MatRef;

/// The padded sizes of a packed product.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    /// Rows of `C` padded to [`BLOCK`].
    pub m_pad: usize,
    /// Columns of `C` padded to [`BLOCK`].
    pub n_pad: usize,
    /// k blocks of 32 values (16 pairs).
    pub kbs: usize,
}

impl Geometry {
    /// Lines of one A strip (16 rows × the padded k) and of one B sliver (16 columns × the
    /// padded k): both `kbs` tiles of 16 lines.
    pub fn strip_lines(&self) -> usize {
        self.kbs * TILE
    }
}

/// Lines of a tile (16 × 32 bf16, 1 KiB).
pub(super) const TILE: usize = 16;

/// 64 bytes of packed bf16 (16 pairs), aligned to a cache line so that no load splits one.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line(pub [u16; 32]);

impl Line {
    /// All zero.
    pub const ZERO: Line = Line([0; 32]);
}

/// Whether this CPU has what the packing and the `vdpbf16ps` kernel need: AVX-512 F, BW and
/// BF16 (every CPU with AMX-BF16 so far has them too).
pub(super) fn available() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// The padded sizes of `C[m, n] = op(A)[m, k] · op(B)[k, n]`.
pub(super) fn geometry(m: usize, n: usize, k: usize) -> Geometry {
    Geometry { m_pad: m.div_ceil(BLOCK) * BLOCK, n_pad: n.div_ceil(BLOCK) * BLOCK, kbs: k.div_ceil(32) }
}

/// Packs `op(A)` into `pa` (resized as needed, never shrunk).
///
/// # Safety
/// The CPU has AVX-512 F, BW and BF16 ([`available`]).
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn pack_a(a: MatRef<'_>, ta: Transpose, g: &Geometry, pa: &mut Vec<Line>) {
    let len = g.m_pad / 16 * g.strip_lines();
    if pa.len() < len {
        pa.resize(len, Line::ZERO);
    }
    // SAFETY: the CPU has the features (this function's contract); the buffer holds the
    // geometry's strips.
    unsafe { x86::pack_a(a, ta, g, &mut pa[..len]) };
}

/// Packs slivers `slivers` of `op(B)` (columns `16·start ..`) into `pb` from its start
/// (resized as needed, never shrunk).
///
/// # Safety
/// The CPU has AVX-512 F, BW and BF16 ([`available`]).
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn pack_b(b: MatRef<'_>, tb: Transpose, g: &Geometry, slivers: Range<usize>, pb: &mut Vec<Line>) {
    assert!(slivers.end <= g.n_pad / 16, "slivers past the padded columns");
    let len = slivers.len() * g.strip_lines();
    if pb.len() < len {
        pb.resize(len, Line::ZERO);
    }
    // SAFETY: the CPU has the features (this function's contract); the buffer holds the
    // slivers.
    unsafe { x86::pack_b(b, tb, g, slivers, &mut pb[..len]) };
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn pack_a(_: MatRef<'_>, _: Transpose, _: &Geometry, _: &mut Vec<Line>) {
    unreachable!("AVX-512 BF16 is only detected on x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn pack_b(_: MatRef<'_>, _: Transpose, _: &Geometry, _: Range<usize>, _: &mut Vec<Line>) {
    unreachable!("AVX-512 BF16 is only detected on x86_64")
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use std::arch::x86_64::{
        __m512, __m512bh, __m512i, __mmask16, _mm512_cvtne2ps_pbh, _mm512_loadu_si512, _mm512_maskz_loadu_ps,
        _mm512_permutexvar_epi16, _mm512_setzero_ps, _mm512_setzero_si512, _mm512_shuffle_i32x4, _mm512_store_si512,
        _mm512_unpackhi_epi32, _mm512_unpackhi_epi64, _mm512_unpacklo_epi32, _mm512_unpacklo_epi64,
    };

    use std::ops::Range;

    use super::{Geometry, Line, TILE};
    use crate::gemm::Transpose;
    use crate::matrix::MatRef;

    /// `op(A)` into 16 × 32 tiles (see the module's comment).
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and BF16; `out` holds `m_pad / 16` strips.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(in super::super) unsafe fn pack_a(a: MatRef<'_>, ta: Transpose, g: &Geometry, out: &mut [Line]) {
        let (m, k) = ta.apply(a.shape());
        assert!(out.len() >= g.m_pad / 16 * g.strip_lines(), "packed A too short");
        for s in 0..g.m_pad / 16 {
            for q in 0..g.kbs {
                let tile = &mut out[(s * g.kbs + q) * TILE..][..TILE];
                let mut lines = [_mm512_setzero_si512(); 16];
                match ta {
                    // Row 16s + r of A: its 32 values of block q are the line's 16 pairs.
                    Transpose::No => {
                        for (r, line) in lines.iter_mut().enumerate() {
                            if 16 * s + r < m {
                                *line = pairs_along(a.row(16 * s + r), 32 * q);
                            }
                        }
                    }
                    // A is stored [k, m]: stored rows p, p + 1 interleaved give pair p / 2
                    // of 16 rows of op(A); the transpose makes them rows.
                    Transpose::Yes => {
                        for (t, line) in lines.iter_mut().enumerate() {
                            let p = 32 * q + 2 * t;
                            *line = pairs_across(row_or_empty(a, p, k), row_or_empty(a, p + 1, k), 16 * s);
                        }
                        lines = transpose16(lines);
                    }
                }
                store_lines(&lines, tile);
            }
        }
    }

    /// Slivers `slivers` of `op(B)`, 16 columns of pairs each (see the module's comment),
    /// sliver `s` at `s − slivers.start` in `out`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and BF16.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(in super::super) unsafe fn pack_b(
        b: MatRef<'_>,
        tb: Transpose,
        g: &Geometry,
        slivers: Range<usize>,
        out: &mut [Line],
    ) {
        let (k, n) = tb.apply(b.shape());
        let s0 = slivers.start;
        assert!(out.len() >= slivers.len() * g.strip_lines(), "packed B too short");
        match tb {
            // B is stored [k, n]: rows p, p + 1 interleaved are pair p / 2 of a sliver's 16
            // columns, a line as it is. Both rows are read whole (contiguous reads, lines
            // written a sliver apart): walking down a sliver's columns instead reads 64 bytes
            // a row, rows kilobytes apart, and was 5× slower.
            Transpose::No => {
                for pair in 0..g.kbs * 16 {
                    let p = 2 * pair;
                    let (first, second) = (row_or_empty(b, p, k), row_or_empty(b, p + 1, k));
                    for s in slivers.clone() {
                        let line = _mm512_setzero_si512();
                        let line = if 16 * s < n { pairs_across(first, second, 16 * s) } else { line };
                        // SAFETY: a `Line` is 64 bytes, aligned to 64; the index is inside
                        // `out` (the assert).
                        unsafe {
                            _mm512_store_si512(out[(s - s0) * g.strip_lines() + pair].0.as_mut_ptr().cast(), line)
                        };
                    }
                }
            }
            // B is stored [n, k]: row j holds column j of op(B), 16 pairs of block q; the
            // transpose puts each pair's 16 columns in one line.
            Transpose::Yes => {
                for s in slivers {
                    for q in 0..g.kbs {
                        let mut lines = [_mm512_setzero_si512(); 16];
                        for (j, line) in lines.iter_mut().enumerate() {
                            if 16 * s + j < n {
                                *line = pairs_along(b.row(16 * s + j), 32 * q);
                            }
                        }
                        store_lines(&transpose16(lines), &mut out[((s - s0) * g.kbs + q) * TILE..][..TILE]);
                    }
                }
            }
        }
    }

    /// Stored row `p` of `x`, or no values past the `k` rows.
    fn row_or_empty<'a>(x: MatRef<'a>, p: usize, k: usize) -> &'a [f32] {
        if p < k {
            x.row(p)
        } else {
            &[]
        }
    }

    /// `row[start .. start + 16]` with zeros past the row's end.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load16(row: &[f32], start: usize) -> __m512 {
        if start >= row.len() {
            return _mm512_setzero_ps();
        }
        let count = (row.len() - start).min(16);
        let mask: __mmask16 = ((1u32 << count) - 1) as u16;
        // SAFETY: the mask covers `count` values from `start`, all inside `row`.
        unsafe { _mm512_maskz_loadu_ps(mask, row.as_ptr().add(start)) }
    }

    /// The 32 values `row[start ..]` rounded to bf16: 16 pairs, pair t = values 2t, 2t + 1.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    fn pairs_along(row: &[f32], start: usize) -> __m512i {
        let (lo, hi) = (load16(row, start), load16(row, start + 16));
        // SAFETY: a transmute between two 512-bit vector types.
        unsafe { std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo)) }
    }

    /// Values `start .. start + 16` of two rows rounded to bf16 and interleaved: pair j is
    /// `(first[start + j], second[start + j])`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    #[inline]
    fn pairs_across(first: &[f32], second: &[f32], start: usize) -> __m512i {
        // Lane 2j takes bf16 j of `first` (lanes 0..16), lane 2j + 1 bf16 j of `second`.
        const INTERLEAVE: [u16; 32] = {
            let mut idx = [0u16; 32];
            let mut j = 0;
            while j < 16 {
                idx[2 * j] = j as u16;
                idx[2 * j + 1] = 16 + j as u16;
                j += 1;
            }
            idx
        };
        // SAFETY: the index is 64 bytes, read unaligned; a transmute between two 512-bit
        // vector types.
        unsafe {
            let both = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(
                load16(second, start),
                load16(first, start),
            ));
            _mm512_permutexvar_epi16(_mm512_loadu_si512(INTERLEAVE.as_ptr().cast()), both)
        }
    }

    /// The transpose of a 16 × 16 matrix of 32-bit words, one row a register: four rounds
    /// of unpacks (words, then pairs of words) and lane shuffles.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(in super::super) fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
        let mut t = [_mm512_setzero_si512(); 16];
        let mut u = [_mm512_setzero_si512(); 16];
        let mut out = [_mm512_setzero_si512(); 16];
        // After the unpacks, each 128-bit lane L of u[4q + x] holds column 4L + x of rows
        // 4q .. 4q + 4; the shuffles gather lane L of u[x], u[4 + x], u[8 + x], u[12 + x].
        for q in 0..4 {
            let (a, b, c, d) = (r[4 * q], r[4 * q + 1], r[4 * q + 2], r[4 * q + 3]);
            t[4 * q] = _mm512_unpacklo_epi32(a, b);
            t[4 * q + 1] = _mm512_unpackhi_epi32(a, b);
            t[4 * q + 2] = _mm512_unpacklo_epi32(c, d);
            t[4 * q + 3] = _mm512_unpackhi_epi32(c, d);
            u[4 * q] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
            u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
            u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
            u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
        }
        for x in 0..4 {
            let v0 = _mm512_shuffle_i32x4::<0x88>(u[x], u[4 + x]);
            let v1 = _mm512_shuffle_i32x4::<0xDD>(u[x], u[4 + x]);
            let v2 = _mm512_shuffle_i32x4::<0x88>(u[8 + x], u[12 + x]);
            let v3 = _mm512_shuffle_i32x4::<0xDD>(u[8 + x], u[12 + x]);
            out[x] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            out[4 + x] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            out[8 + x] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            out[12 + x] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        out
    }

    /// Stores 16 registers into a tile's lines.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn store_lines(lines: &[__m512i; 16], tile: &mut [Line]) {
        for (dst, line) in tile.iter_mut().zip(lines) {
            // SAFETY: a `Line` is 64 bytes, aligned to 64.
            unsafe { _mm512_store_si512(dst.0.as_mut_ptr().cast(), *line) };
        }
    }
}
