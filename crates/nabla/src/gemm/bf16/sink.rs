//! The bf16 product handed to a [`RowSink`] a row panel at a time, as the `f32` driver hands
//! its own ([`crate::gemm::fast::sink`]): a layer's weight gradient goes to the optimiser's
//! step while its 32 rows are in cache, instead of out to memory (each block written into
//! a `dW` of MiBs, whose lines are fetched before they are written) and back for the step.
//!
//! Both fast kernels, for products of one block of the AVX512-BF16 kernel's depth (a layer's
//! `dW = dzᵀ · a`, whose depth is the batch, at most 512): every block of sums is then
//! finished when computed, and each element has the bits [`super::gemm_with`] would store
//! (`1 · sum`, with `beta = 0`). The AMX kernel sums all of `k` in one chain either way; the
//! limit keeps its whole packed B (at most 1 MiB at a layer's 1,024 inputs) in L2.

use super::pack;
use super::{amx, dpbf16, Bf16Kernel, Block, Packed, BLOCK, DEPTH_TILES, PACKED};
use crate::gemm::fast::sink::RowSink;
use crate::gemm::Transpose;
use crate::matrix::MatRef;

/// Whether [`to_sink`] takes the `m × n` product of depth `k` on `kernel`.
pub(crate) fn takes(kernel: Bf16Kernel, m: usize, n: usize, k: usize) -> bool {
    kernel != Bf16Kernel::Reference && kernel.supported() && m > 0 && n > 0 && (1..=DEPTH_TILES * 32).contains(&k)
}

/// Computes `op(A) · op(B)` (`m × n`, depth `k`, as [`takes`] wants them) on up to `threads`
/// threads, handing every element to `sink` once, a panel of 32 whole rows at a time. The
/// threads split the rows into bands of whole panels, as [`super::gemm_with`] splits a
/// product with at least as many rows as columns. Shapes must already be checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn to_sink(
    kernel: Bf16Kernel,
    threads: usize,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    n: usize,
    sink: &dyn RowSink,
) {
    let (m, k) = ta.apply(a.shape());
    assert!(takes(kernel, m, n, k), "bf16 to_sink: {} cannot take {m}×{k} · {k}×{n}", kernel.name());
    let threads = match super::Bands::of(threads, m, n, k) {
        Some(_) => threads.min(m.div_ceil(BLOCK)).max(1),
        None => 1,
    };
    let band = crate::gemm::band_len(m, threads, BLOCK);
    crate::pool::run(m.div_ceil(band), &|t| {
        let (start, end) = (t * band, ((t + 1) * band).min(m));
        let a = crate::gemm::row_band(a, ta, k, start, end);
        // SAFETY: the kernel is fast and supported (asserted by `takes`); the bands' rows are
        // disjoint, so are the parts they hand over.
        unsafe { band_to_sink(kernel, a, ta, b, tb, n, start, sink) };
    });
}

/// One thread's band of rows, starting at row `row0` of the product.
///
/// # Safety
/// `kernel` is a fast kernel this CPU supports; one block of depth; no other band overlaps
/// rows `row0 ..` of this one's.
#[allow(clippy::too_many_arguments)]
unsafe fn band_to_sink(
    kernel: Bf16Kernel,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    n: usize,
    row0: usize,
    sink: &dyn RowSink,
) {
    let (m, k) = ta.apply(a.shape());
    PACKED.with(|bufs| {
        let mut bufs = bufs.borrow_mut();
        let Packed { a: pa, b: pb, panel, .. } = &mut *bufs;
        let g = pack::geometry(m, n, k);
        // SAFETY: the CPU has AVX-512 F, BW and BF16 (both fast kernels need them).
        unsafe {
            pack::pack_a(a, ta, &g, pa);
            pack::pack_b(b, tb, &g, 0..g.n_pad / 16, pb);
        }
        if panel.len() < BLOCK * n {
            panel.resize(BLOCK * n, 0.0);
        }
        let mut write = |i0: usize, j0: usize, block: &Block| {
            let (rows, cols) = (BLOCK.min(m - i0), BLOCK.min(n - j0));
            for (r, sums) in block.0.iter().enumerate().take(rows) {
                let dst = &mut panel[r * n + j0..][..cols];
                // A whole row of the block as one array (two vector moves), not a call to
                // memmove: 2 % of W3-bf16 at one thread.
                match <&mut [f32; BLOCK]>::try_from(&mut *dst) {
                    Ok(whole) => *whole = *sums,
                    Err(_) => dst.copy_from_slice(&sums[..cols]),
                }
            }
            if j0 + BLOCK >= n {
                // SAFETY: the panel's rows are finished and handed over once; this band's
                // rows are its own (the contract).
                unsafe { sink.take_rows(row0 + i0, rows, 0, n, &panel[..rows * n], n) };
            }
        };
        let mut block = Block([[0.0; BLOCK]; BLOCK]);
        let (pa, pb) = (pa.as_slice(), pb.as_slice());
        match kernel {
            // SAFETY: AMX is available (the contract); `pa` and `pb` hold the packed operands
            // of `g`.
            Bf16Kernel::Amx => unsafe { amx::gemm_by_row_panels(&g, pa, pb, &mut block, &mut write) },
            // SAFETY: the CPU has the features; the packed operands of `g`, one block of depth
            // (the contract).
            Bf16Kernel::Avx512Bf16 => unsafe { dpbf16::gemm_by_row_panels(&g, pa, pb, &mut block, &mut write) },
            Bf16Kernel::Reference => unreachable!("only the fast kernels are packed"),
        }
    });
}
