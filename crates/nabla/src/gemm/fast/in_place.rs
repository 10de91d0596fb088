//! The 12 × 32 kernel's driver for products with few rows (a layer's batch): `op(A)` is read
//! in place instead of packed, and an untransposed `B` with short rows too (BLIS calls such
//! unpacked paths "sup", for skinny and unpacked).
//!
//! For `X[64, 784] · W[784, 128]` the packed driver spent 11 % of its time packing A and 10 %
//! packing B, copies that a small `m` does not amortise. Here the loops are those of the
//! packed driver with the A sliver in L1 (`jc`, `pc`, then `ir` outside `jr`), the same `KC`
//! and `NC` blocks, and the kernel is [`kernel_in_place`]: each element of `C` is summed by the
//! same chain of FMAs over the same k blocks and written back by the same operations as in
//! the packed driver, so the bits do not change.
//!
//! Both AVX-512 kernels hand such products to this driver: every SIMD kernel gives the same
//! bits (`simd_kernels_give_the_same_bits`), and on Zen 4, whose default is the 16 × 16
//! kernel, `X[64, 784] · W[784, 128]` ran at 111 GFLOP/s here against 104 packed (four
//! interleaved rounds, 2026-12-06).

use super::avx512_x32::{kernel_in_place, InPlaceTile};
use super::blocked::{aligned, balanced_block};
use super::pack::pack_b;
use super::{RawC, Transpose, KC, MR_X32 as R, NC_X32, NR_X32 as N};
use crate::matrix::MatRef;
use std::cell::RefCell;

/// Products with at most this many rows read `op(A)` in place.
pub(super) const M_MAX: usize = 128;
/// ... and at most this many columns. Wider products amortise the packing of A over more
/// columns. For `X[64, 784] · W[784, 128]` this driver ran at 107 GFLOP/s against 97 packed
/// (Zen 4, the 12 × 32 kernel forced, `NABLA_GEMM_ISA=avx512x32`).
pub(super) const N_MAX: usize = 512;
/// `A`'s rows must not be a multiple of this many values (2 KiB) apart: then the twelve rows
/// of a tile fall into at most two sets of the L1 (4 KiB a way), six or twelve lines against
/// its eight ways, and evict one another. On Zen 4, one thread, `X[128, k] · W[512, k]ᵀ` (a
/// band of a two-thread W3 product): rows 1024 apart 85–93 GFLOP/s in place against 98–101
/// packed, 2048 apart 90 against 96, 512 and 1536 apart 2–6 % slower; 784 and 1280 apart
/// the same as packed (two interleaved rounds each, 2026-12-06).
pub(super) const A_STRIDE_ALIASES: usize = 512;
/// An untransposed `B` whose rows are at most this many values apart is read in place; with
/// longer rows its sliver's rows fall into few L1 sets and past the reach of the L1
/// prefetcher, and it is packed.
pub(super) const B_STRIDE_MAX: usize = 512;

/// Whether `C[m, n] = op(A) · op(B)`, with `A`'s rows `lda` values apart, goes through
/// [`gemm_in_place`] on the 12 × 32 kernel.
pub(super) fn suits(m: usize, n: usize, ta: Transpose, lda: usize) -> bool {
    ta == Transpose::No && m <= M_MAX && n <= N_MAX && !lda.is_multiple_of(A_STRIDE_ALIASES)
}

thread_local! {
    /// The packed B block when B is not read in place.
    static B_BUFFER: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `C = alpha · A · op(B) + beta · C` with `A` read in place (see the module doc).
///
/// # Safety
/// As [`super::gemm_raw`] (`k ≥ 1`, `m, n ≥ 1`, shapes checked); the CPU must support
/// AVX-512F.
pub(super) unsafe fn gemm_in_place(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, tb: Transpose, beta: f32, c: RawC) {
    let (m, k) = a.shape();
    let n = c.cols;
    let kc_max = balanced_block(k, KC, 1);
    let nc_max = balanced_block(n, NC_X32, N);
    let b_in_place = tb == Transpose::No && b.stride() <= B_STRIDE_MAX;
    let (a_data, lda) = (a.as_slice(), a.stride());
    let b_data = b.as_slice();
    B_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        // Sized at once for the largest block a product that `suits` can need, so that a
        // thread whose later products are wider or deeper does not grow it mid-training.
        let b_len = (nc_max * kc_max).max(N_MAX * KC);
        let b_pack = if b_in_place { &mut [][..] } else { aligned(&mut buffer, b_len) };
        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let beta = if pc == 0 { beta } else { 1.0 };
                // Sliver s of the block: its first value and its rows' distance.
                let (b0, sliver_step, ldb) = if b_in_place {
                    (b_data[pc * b.stride() + jc..].as_ptr(), N, b.stride())
                } else {
                    let block = &mut b_pack[..nc.div_ceil(N) * N * kc];
                    pack_b::<N>(b, tb, pc, kc, jc, nc, block);
                    (block.as_ptr(), N * kc, N)
                };
                for ir in (0..m).step_by(R) {
                    let rows = R.min(m - ir);
                    let a0 = a_data[ir * lda + pc..].as_ptr();
                    for (s, jr) in (0..nc).step_by(N).enumerate() {
                        let tile = InPlaceTile {
                            a: a0,
                            lda,
                            rows,
                            // Inside B (in place: row pc, column jc + jr; packed: sliver s).
                            b: b0.wrapping_add(s * sliver_step),
                            ldb,
                            cols: N.min(nc - jr),
                            // SAFETY: row ir, column jc + jr is inside C (contract).
                            c: unsafe { c.ptr.add(ir * c.stride + jc + jr) },
                            rs_c: c.stride,
                        };
                        // SAFETY: the tile's rows of A (ir .. ir + rows, columns pc .. pc + kc),
                        // rows of B (pc .. pc + kc, columns jc + jr .. + cols, or the packed
                        // sliver) and block of C lie inside the operands; C is ours (contract).
                        unsafe { kernel_in_place(kc, tile, alpha, beta) };
                    }
                }
            }
        }
    });
}
