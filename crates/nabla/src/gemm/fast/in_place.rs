//! The driver for products with few rows (a layer's batch), on the 12 × 32 AVX-512 kernel or
//! the 6 × 16 AVX2 one: `op(A)` is read in place instead of packed, and, on the 12 × 32
//! kernel, an untransposed `B` with short rows too (BLIS calls such unpacked paths "sup", for
//! skinny and unpacked).
//!
//! For `X[64, 784] · W[784, 128]` the packed driver spent 11 % of its time packing A and 10 %
//! packing B, copies that a small `m` does not amortise. Here the loops are those of the
//! packed driver with the A sliver in L1 (`jc`, `pc`, then `ir` outside `jr`), the same `KC`
//! and `NC` blocks, and the kernel is an [`InPlaceKernel`]: each element of `C` is summed by the
//! same chain of FMAs over the same k blocks and written back by the same operations as in
//! the packed driver, so the bits do not change.
//!
//! Both AVX-512 kernels hand such products to this driver (every SIMD kernel gives the same
//! bits, `simd_kernels_give_the_same_bits`), the 16 × 16 one (Zen 4's default) only those
//! with an untransposed B: on Zen 4 `X[64, 784] · W[784, 128]` ran at 111 GFLOP/s here
//! against 104 packed (four interleaved rounds, 2026-12-06), while a transposed B (a layer's
//! forward) ran as fast or faster on the packed 16 × 16 tiles (`fast::takes_in_place`).
//! The AVX2 kernel takes them too, with the same limits.
//! On Zen 3, one thread, GFLOP/s in place against packed (medians of 21 interleaved rounds,
//! 2026-12-06): `X[64, 784] · W[128, 784]ᵀ` 84.3 / 77.8, W2's two-thread bands `dz[128, 800]
//! · W[800, 392]` 84.5 / 82.4 and `[64, 800] · [800, 392]` 81.4 / 79.1, `X[64, 784] ·
//! W[800, 784]ᵀ` and `X[128, 784] · W[400, 784]ᵀ` the same within 0.5 %.

use super::blocked::{balanced_block, with_b_buffer, B_BUFFER_MIN};
use super::pack::pack_b;
use super::{RawC, Transpose, KC, NC_X32};
use crate::matrix::MatRef;

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
/// An untransposed `B` whose rows are at most this many values apart is read in place by
/// the 12 × 32 kernel; with longer rows its sliver's rows fall into few L1 sets and past the
/// reach of the L1 prefetcher, and it is packed. The 6 × 16 kernel packs B always: its tiles
/// are half as tall, so each B sliver is read twice as often, and on Zen 3 reading it in
/// place (rows 512 bytes apart, eight L1 sets) was 0–11 % slower than packing it, faster
/// in no round (`X[64, 784] · W[784, 128]`, four runs of 21 interleaved rounds, 2026-12-06).
pub(super) const B_STRIDE_MAX_X32: usize = 512;

/// Whether `C[m, n] = op(A) · op(B)`, with `A`'s rows `lda` values apart, goes through
/// [`gemm_in_place`].
pub(super) fn suits(m: usize, n: usize, ta: Transpose, lda: usize) -> bool {
    ta == Transpose::No && m <= M_MAX && n <= N_MAX && !lda.is_multiple_of(A_STRIDE_ALIASES)
}

/// Where an in-place micro-kernel (`avx512_x32::kernel_in_place`, `avx2::kernel_in_place`)
/// reads a tile's operands: `op(A)` as stored (no packed sliver), `op(B)` as stored or packed.
#[derive(Clone, Copy)]
pub(super) struct InPlaceTile {
    /// `op(A)[i, p]` of the tile at `a[i * lda + p]` (`op(A) = A`, rows read in place).
    pub a: *const f32,
    pub lda: usize,
    /// Rows of the tile that exist (1 ..= the kernel's rows); rows past them are not read
    /// nor written.
    pub rows: usize,
    /// `op(B)[p, j]` of the tile at `b[p * ldb + j]`: a stored row-major B, or a packed
    /// sliver (`ldb` = the kernel's columns).
    pub b: *const f32,
    pub ldb: usize,
    /// Columns of the tile that exist (1 ..= the kernel's columns); columns past them are not
    /// read nor written.
    pub cols: usize,
    /// `C[i, j]` of the tile at `c[i * rs_c + j]`.
    pub c: *mut f32,
    pub rs_c: usize,
}

const _: () = assert!(N_MAX * KC <= B_BUFFER_MIN, "the B buffer holds any block packed here");

/// A micro-kernel reading `op(A)` in place, for `R × N` tiles (`avx512_x32::kernel_in_place`,
/// `avx2::kernel_in_place`): `C[tile] = beta · C + alpha · Σ_p` over `kc` steps.
///
/// # Safety
/// As the kernels': the CPU has the kernel's instruction set and the tile's operands are valid.
pub(super) type InPlaceKernel = unsafe fn(kc: usize, t: InPlaceTile, alpha: f32, beta: f32);

/// `C = alpha · A · op(B) + beta · C` with `A` read in place (see the module doc), on the
/// in-place micro-kernel `kernel` with `R × N` tiles; an untransposed `B` whose rows are at
/// most `b_stride_max` values apart is read in place too (0: never).
///
/// # Safety
/// As [`super::gemm_raw`] (`k ≥ 1`, `m, n ≥ 1`, shapes checked); the CPU must support
/// `kernel`'s instruction set.
pub(super) unsafe fn gemm_in_place<const R: usize, const N: usize>(
    kernel: InPlaceKernel,
    b_stride_max: usize,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: RawC,
) {
    let (m, k) = a.shape();
    let n = c.cols;
    let kc_max = balanced_block(k, KC, 1);
    let nc_max = balanced_block(n, NC_X32, N);
    let b_in_place = tb == Transpose::No && b.stride() <= b_stride_max;
    let (a_data, lda) = (a.as_slice(), a.stride());
    let b_data = b.as_slice();
    let body = |b_pack: &mut [f32]| {
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
                        unsafe { kernel(kc, tile, alpha, beta) };
                    }
                }
            }
        }
    };
    if b_in_place {
        body(&mut []);
    } else {
        // The blocked driver's buffer, at least `B_BUFFER_MIN` long: as large as any block
        // a product that `suits` packs here.
        with_b_buffer(nc_max.div_ceil(N) * N * kc_max, body);
    }
}
