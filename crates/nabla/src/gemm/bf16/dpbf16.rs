//! The AVX512-BF16 kernel: `vdpbf16ps` on zmm registers, for CPUs without AMX (AMD Zen 4
//! and later, Intel Cooper Lake).
//!
//! `vdpbf16ps acc, a, b` multiplies 16 pairs of bf16 and adds both products of each pair
//! into one `f32` lane. The micro-kernel is an 8 × 32 tile of C in 16 zmm accumulators, as
//! in the quantised bf16 layer (`quant/bf16.rs`): per pair of k, two B lines (one 64-byte
//! load each, 16 columns × one pair) and, per row, the row's pair broadcast from its A tile
//! line: 10 loads per 16 instructions. It reads the same packed operands as the AMX kernel
//! and fills the same 32 × 32 blocks, four tiles of 8 rows each.
//!
//! Each block's sums run over `k` in blocks of [`super::depth_block`] values, each block's
//! chain of `vdpbf16ps` starting from zero and then added to `C` (as the `f32` kernels sum),
//! so that a product split between threads along its depth gives the same bits
//! ([`super::gemm_by_depth`]).

use super::pack::{Geometry, Line, TILE};
use super::{Block, BLOCK};

/// Rows of a micro-tile.
const MR: usize = 8;

/// The whole product, block by block as the AMX kernel (see [`super::amx::gemm`]), each
/// block of C once per block of depth: `write(i0, j0, block, first)`, `first` for the
/// depth's first block (the one that applies `beta`).
///
/// # Safety
/// The CPU has AVX-512 F, BW and BF16; `pa` and `pb` hold the packed operands of `g`.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn gemm(
    g: &Geometry,
    pa: &[Line],
    pb: &[Line],
    block: &mut Block,
    write: &mut impl FnMut(usize, usize, &Block, bool),
) {
    let strip = g.strip_lines();
    assert!(pa.len() >= g.m_pad / 16 * strip && pb.len() >= g.n_pad / 16 * strip, "packed operands too short");
    let depth = super::depth_block(g.kbs * 32) / 32;
    for j0 in (0..g.n_pad).step_by(BLOCK) {
        for i0 in (0..g.m_pad).step_by(BLOCK) {
            for q0 in (0..g.kbs).step_by(depth) {
                // SAFETY: forwarded contract; the block and the depth lie in the operands.
                unsafe { sums(g, pa, pb, i0, j0, q0..g.kbs.min(q0 + depth), block) };
                write(i0, j0, block, q0 == 0);
            }
        }
    }
}

/// [`gemm`] for a product of one block of depth, a row panel at a time: every block of the
/// panel of rows `i0 .. i0 + 32`, left to right, before the next panel, so that a panel's
/// rows are finished together (`write(i0, j0, block)`; see `super::sink`).
///
/// # Safety
/// As [`gemm`].
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn gemm_by_row_panels(
    g: &Geometry,
    pa: &[Line],
    pb: &[Line],
    block: &mut Block,
    write: &mut impl FnMut(usize, usize, &Block),
) {
    let strip = g.strip_lines();
    assert!(pa.len() >= g.m_pad / 16 * strip && pb.len() >= g.n_pad / 16 * strip, "packed operands too short");
    assert!(super::depth_block(g.kbs * 32) >= g.kbs * 32, "a product of more than one block of depth");
    for i0 in (0..g.m_pad).step_by(BLOCK) {
        for j0 in (0..g.n_pad).step_by(BLOCK) {
            // SAFETY: forwarded contract; the block lies in the operands.
            unsafe { sums(g, pa, pb, i0, j0, 0..g.kbs, block) };
            write(i0, j0, block);
        }
    }
}

/// The block of C at `(i0, j0)` summed over the depth tiles `tiles` into `block`, four
/// micro-tiles of 8 rows.
///
/// # Safety
/// The CPU has AVX-512 F and BF16; `pa` and `pb` hold the packed operands of `g`, which has
/// the block (`i0 < m_pad`, `j0 < n_pad`, multiples of 32) and the tiles (`end ≤ kbs`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sums(
    g: &Geometry,
    pa: &[Line],
    pb: &[Line],
    i0: usize,
    j0: usize,
    tiles: std::ops::Range<usize>,
    block: &mut Block,
) {
    let strip = g.strip_lines();
    let b = pb[j0 / 16 * strip + tiles.start * TILE..].as_ptr();
    for r0 in (0..BLOCK).step_by(MR) {
        // Rows i0 + r0 .. of C: lines r0 % 16 .. of tiles q0 .. of strip (i0 + r0) / 16.
        let a = pa[(i0 + r0) / 16 * strip + tiles.start * TILE + r0 % 16..].as_ptr();
        // SAFETY: MR lines of the tiles of that strip, and the same tiles of both slivers at
        // j0, lie in the buffers (m_pad and n_pad are multiples of 32; MR divides 16); rows
        // r0 .. r0 + MR of the block are written; the CPU has the features (the contract).
        unsafe { tile_8x32(a, b, b.add(strip), tiles.len(), block, r0) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn gemm(
    _: &Geometry,
    _: &[Line],
    _: &[Line],
    _: &mut Block,
    _: &mut impl FnMut(usize, usize, &Block, bool),
) {
    unreachable!("AVX-512 BF16 is only detected on x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn gemm_by_row_panels(
    _: &Geometry,
    _: &[Line],
    _: &[Line],
    _: &mut Block,
    _: &mut impl FnMut(usize, usize, &Block),
) {
    unreachable!("AVX-512 BF16 is only detected on x86_64")
}

/// `block[r0 + i][16s + j] = Σ_k A[i, k] · B_s[k, j]` for `i < 8`, `s < 2`, `j < 16`, with
/// the pairs of k in order: `a` points at the micro-tile's first line in the strip's first
/// A tile, `b0`, `b1` at two slivers' first lines.
///
/// # Safety
/// `a` starts `MR` lines inside the first tile of a strip of `kbs` tiles, `b0` and `b1`
/// slivers of `kbs` tiles; `r0 + MR ≤ 32`; the CPU has AVX-512 F and BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_8x32(a: *const Line, b0: *const Line, b1: *const Line, kbs: usize, block: &mut Block, r0: usize) {
    use std::arch::x86_64::{
        __m512bh, __m512i, _mm512_dpbf16_ps, _mm512_load_si512, _mm512_set1_epi32, _mm512_setzero_ps, _mm512_store_ps,
    };
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for q in 0..kbs {
        for t in 0..16 {
            // SAFETY: line 16q + t of each sliver, and pair t of lines 0 .. MR of A tile q,
            // are inside the buffers (the contract); lines are 64 bytes, aligned to 64.
            unsafe {
                let line = TILE * q + t;
                let w0 = std::mem::transmute::<__m512i, __m512bh>(_mm512_load_si512(b0.add(line).cast()));
                let w1 = std::mem::transmute::<__m512i, __m512bh>(_mm512_load_si512(b1.add(line).cast()));
                for (i, row) in acc.iter_mut().enumerate() {
                    let pair = a.add(TILE * q + i).cast::<i32>().add(t).read();
                    let ai = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
                    row[0] = _mm512_dpbf16_ps(row[0], ai, w0);
                    row[1] = _mm512_dpbf16_ps(row[1], ai, w1);
                }
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (s, v) in row.iter().enumerate() {
            // SAFETY: row r0 + i < 32 of the 64-byte aligned block, columns 16s .. 16s + 16:
            // one aligned 64-byte store.
            unsafe { _mm512_store_ps(block.0[r0 + i].as_mut_ptr().add(16 * s), *v) };
        }
    }
}
