//! A dense layer's forward pass for inference, `out = f(x · Wᵀ + b)`, against weights packed
//! once ([`PackedWeights`]) instead of on every call, with the bias and the activation applied
//! to each tile of the output right after its last k block (while the tile is in L1), not in
//! a separate pass over the whole output.
//!
//! The arithmetic is the blocked driver's (`blocked.rs`): the same micro-kernel, the same
//! split of k into blocks (`balanced_block(k, KC)`), each element one chain of fused
//! multiply-adds per block added to the previous blocks' sum; then `+ b`, then `f`, as
//! [`crate::Activation::forward_with_bias`]. So a layer gives the bits of
//! [`crate::Mlp::forward`]'s GEMM + bias + activation for the same kernel. Layers with at most
//! `SKINNY_N` outputs (a classifier's ten) keep their weights unpacked and run the skinny
//! kernel (AVX-512 or AVX2), as the GEMM does for them.
//!
//! Single-threaded: callers split the rows (every row is computed the same way whichever
//! call has it, so the split changes no bit).

use std::cell::RefCell;

use super::blocked::{aligned, balanced_block};
use super::pack::{pack_a, pack_b};
use super::select::{selected, KernelKind};
use super::skinny::{self, has_skinny, SKINNY_N};
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512, avx512_x32};
use super::{portable, scaled_update, MicroKernel, RawC, Transpose, KC, MR, MR_AVX512, MR_X32, NR, NR_X32, TILE_MAX};
use crate::activation::Activation;
use crate::matrix::MatRef;

/// A layer's weight `W: [n, k]` (outputs × inputs) packed once as `op(B) = Wᵀ` for one
/// micro-kernel: for each k block in turn, the `ceil(n / N)` slivers `[kc, N]` of that block.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedWeights {
    kind: KernelKind,
    /// Inputs (the depth of the product).
    k: usize,
    /// Outputs (columns of `out`).
    n: usize,
    /// Depth of every k block but possibly the last.
    kc_max: usize,
    /// The packed slivers, or, for a skinny layer, `W` as stored (`[n, k]`).
    data: Vec<f32>,
    /// Whether the layer runs on the unpacked skinny kernel.
    skinny: bool,
}

impl PackedWeights {
    /// Packs `w: [n, k]` for the micro-kernel [`super::gemm`] uses on this CPU.
    pub fn new(w: MatRef<'_>) -> Self {
        Self::for_kind(selected(), w)
    }

    /// Packs `w` for `kind` (which must be supported by this CPU to run).
    fn for_kind(kind: KernelKind, w: MatRef<'_>) -> Self {
        let (n, k) = w.shape();
        let skinny = has_skinny(kind) && n <= SKINNY_N && n > 0;
        let kc_max = balanced_block(k.max(1), KC, 1);
        let data = if skinny {
            w.to_matrix().as_slice().to_vec()
        } else {
            let cols = kind.tile_cols();
            let slivers = n.div_ceil(cols);
            let mut data = vec![0.0; slivers * cols * k];
            let mut offset = 0;
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let block = &mut data[offset..offset + slivers * cols * kc];
                if cols == NR_X32 {
                    pack_b::<NR_X32>(w, Transpose::Yes, pc, kc, 0, n, block);
                } else {
                    pack_b::<NR>(w, Transpose::Yes, pc, kc, 0, n, block);
                }
                offset += slivers * cols * kc;
            }
            data
        };
        Self { kind, k, n, kc_max, data, skinny }
    }

    /// Inputs of the layer (`k`).
    pub fn inputs(&self) -> usize {
        self.k
    }

    /// Outputs of the layer (`n`).
    pub fn outputs(&self) -> usize {
        self.n
    }
}

/// `out = f(x · Wᵀ + bias)`: `x: [rows, k]`, `out: [rows, n]` (row-major, contiguous),
/// `bias: [n]`. Panics if the shapes differ.
pub fn dense_forward(x: MatRef<'_>, w: &PackedWeights, bias: &[f32], f: Activation, out: &mut [f32]) {
    let rows = x.rows();
    assert!(
        x.cols() == w.k && bias.len() == w.n && out.len() == rows * w.n,
        "dense_forward: x {}×{}, weights {}×{}, bias {}, out {}",
        rows,
        x.cols(),
        w.n,
        w.k,
        bias.len(),
        out.len()
    );
    if rows == 0 || w.n == 0 {
        return;
    }
    if w.k == 0 {
        for row in out.chunks_exact_mut(w.n) {
            row.fill(0.0);
            epilogue(f, bias, row);
        }
        return;
    }
    if w.skinny {
        let weights = MatRef::new(&w.data, w.n, w.k).expect("stored as [n, k]");
        let c = RawC { ptr: out.as_mut_ptr(), rows, cols: w.n, stride: w.n };
        // SAFETY: skinny layers exist only for a kind with a skinny kernel, which the caller's
        // CPU has (`for_kind`'s contract); `c` is `out`, borrowed mutably, `rows × n`.
        unsafe { skinny::rows_on(w.kind, 1.0, x, weights, 0.0, c, 0..rows) };
        crate::widest_simd!(tile_epilogue(f, bias, out, w.n));
        return;
    }
    // SAFETY: each kernel is paired with its tile; `w.kind` runs on this CPU (contract).
    unsafe {
        match w.kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512X32 => run::<MR_X32, NR_X32>(avx512_x32::kernel, x, w, bias, f, out),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => run::<MR_AVX512, NR>(avx512::kernel, x, w, bias, f, out),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2Fma => run::<MR, NR>(avx2::kernel, x, w, bias, f, out),
            #[cfg(not(target_arch = "x86_64"))]
            KernelKind::Avx512X32 | KernelKind::Avx512 | KernelKind::Avx2Fma => {
                unreachable!("AVX is only detected on x86_64")
            }
            KernelKind::Portable => run::<MR, NR>(portable::kernel::<MR, NR>, x, w, bias, f, out),
        }
    }
}

thread_local! {
    /// The packed rows of `x`, kept per thread so that steady-state calls allocate nothing.
    static A_PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// [`dense_forward`] with the `R × N` micro-kernel `micro`. For each k block: pack the rows of
/// `x`, then each B sliver (in L1) against every A sliver of the block (from L2); after the
/// last block, the bias and the activation on each tile just written.
///
/// # Safety
/// `micro` must compute `R × N` tiles on an instruction set this CPU has, and `w` must be
/// packed `N` wide; shapes as checked by [`dense_forward`].
unsafe fn run<const R: usize, const N: usize>(
    micro: MicroKernel,
    x: MatRef<'_>,
    w: &PackedWeights,
    bias: &[f32],
    f: Activation,
    out: &mut [f32],
) {
    let (rows, k, n) = (x.rows(), w.k, w.n);
    let slivers = n.div_ceil(N);
    let c = out.as_mut_ptr();
    A_PACK.with(|buf| {
        let mut buf = buf.borrow_mut();
        let mut offset = 0;
        for pc in (0..k).step_by(w.kc_max) {
            let kc = w.kc_max.min(k - pc);
            let a_block = aligned(&mut buf, rows.div_ceil(R) * R * kc);
            pack_a::<R>(x, Transpose::No, 0, rows, pc, kc, a_block);
            let b_block = &w.data[offset..offset + slivers * N * kc];
            offset += slivers * N * kc;
            let beta = if pc == 0 { 0.0 } else { 1.0 };
            let last = pc + kc == k;
            // Each B sliver (kc × N, 25 KiB for W4's 196 × 32) stays in L1 while the block's
            // A slivers stream past it from L2: a step then reads R values from L2 instead of
            // N (the other order, A in L1 and B from L2, waited on B's loads: 84 % of W4's
            // time in the kernel at 163 GFLOP/s).
            for (jr, b_sliver) in b_block.chunks_exact(kc * N).enumerate() {
                let nr = N.min(n - jr * N);
                for (ir, a_sliver) in a_block.chunks_exact(kc * R).enumerate() {
                    let mr = R.min(rows - ir * R);
                    // SAFETY: the tile (rows ir·R.., columns jr·N..) lies inside `out`.
                    let tile = unsafe { c.add(ir * R * n + jr * N) };
                    if mr == R && nr == N {
                        // SAFETY: a full tile: R rows of N values, n apart, inside `out`,
                        // which the packing buffers do not overlap; the kernel runs here
                        // (contract).
                        unsafe { micro(kc, a_sliver, b_sliver, tile, n, 1.0, beta, R) };
                    } else {
                        let mut tmp = [0.0f32; TILE_MAX];
                        // SAFETY: `tmp` holds R rows of N values; beta = 0 only writes it.
                        unsafe { micro(kc, a_sliver, b_sliver, tmp.as_mut_ptr(), N, 1.0, 0.0, mr) };
                        for i in 0..mr {
                            // SAFETY: row i < mr, columns < nr of the tile are inside `out`.
                            let c_row = unsafe { std::slice::from_raw_parts_mut(tile.add(i * n), nr) };
                            for (c, &t) in c_row.iter_mut().zip(&tmp[i * N..i * N + nr]) {
                                *c = scaled_update(*c, t, beta);
                            }
                        }
                    }
                    if last {
                        let b = &bias[jr * N..jr * N + nr];
                        // SAFETY: the tile's rows, `n` apart, from its first value to the last
                        // of row mr − 1, lie inside `out`; no other reference to them is live.
                        let span = unsafe { std::slice::from_raw_parts_mut(tile, (mr - 1) * n + nr) };
                        crate::widest_simd!(tile_epilogue(f, b, span, n));
                    }
                }
            }
        }
    });
}

/// [`epilogue`] on each row of a tile: `span` holds its rows `stride` apart, the first
/// `bias.len()` values of each (one call per tile, so that under `widest_simd!` the rows'
/// loops run on the widest vectors: the baseline build's 4-lane loops over a 16-value row
/// took 1.9 % of W4).
#[inline(always)]
fn tile_epilogue(f: Activation, bias: &[f32], span: &mut [f32], stride: usize) {
    for row in span.chunks_mut(stride) {
        epilogue(f, bias, &mut row[..bias.len()]);
    }
}

/// `row = f(row + bias)`, element by element, with the roundings of
/// [`Activation::forward_with_bias`] (one loop per activation, so that each vectorises).
#[inline(always)]
fn epilogue(f: Activation, bias: &[f32], row: &mut [f32]) {
    #[inline(always)]
    fn each(bias: &[f32], row: &mut [f32], g: impl Fn(f32) -> f32) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v = g(*v + b);
        }
    }
    match f {
        Activation::Identity => each(bias, row, |v| v),
        Activation::Relu => each(bias, row, |v| v.max(0.0)),
        Activation::Sigmoid => each(bias, row, crate::math::sigmoid),
        Activation::Tanh => each(bias, row, crate::math::tanh),
        other => each(bias, row, |v| other.apply(v)),
    }
}

#[cfg(test)]
mod tests;
