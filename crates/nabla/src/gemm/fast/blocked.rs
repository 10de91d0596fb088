//! The blocked driver of [`super::gemm`]: the five loops of the parent module's doc around
//! a micro-kernel, the packing buffers, and each kernel's block sizes.

use std::cell::RefCell;

use super::pack::{pack_a, pack_b};
use super::sink::RowSink;
use super::{scaled_update, MicroKernel, RawC, Transpose, KC, MC, MC_X32, NC, NC_X32, TILE_MAX};
use crate::gemm::scale_c;
use crate::matrix::{MatMut, MatRef};

/// How a kernel's driver blocks a product (`KC` is shared by all, for the same bits).
#[derive(Clone, Copy)]
pub(super) struct Blocking {
    /// Rows of op(A) per packed block.
    mc: usize,
    /// Columns of op(B) per packed block.
    nc: usize,
    /// The inner loops' order: `false` keeps one B sliver in L1 while the A slivers of the
    /// block stream past it (jr outer, ir inner, as BLIS); `true` keeps one A sliver in L1
    /// while the B slivers stream from L2 (ir outer).
    a_sliver_in_l1: bool,
}

/// The 16-column kernels' blocking, sized for 32 KiB L1d and 512 KiB–1 MiB L2 (Zen).
pub(super) const BLOCKING_16: Blocking = Blocking { mc: MC, nc: NC, a_sliver_in_l1: false };
/// The 12 × 32 kernel's blocking, for Intel's 48 KiB L1d and 2 MiB L2. Its B sliver is
/// 32 KiB: kept in L1 beside a streaming A sliver it filled two thirds of L1, and the B block
/// (up to 4 MiB) was re-read from L3 for every block of A rows: sq2048 ran at 124 GFLOP/s.
/// Keeping the 12 KiB A sliver in L1 and a 1 MiB B block in L2 instead: 143 (sq1024 146 →
/// 154; the smaller shapes unchanged).
pub(super) const BLOCKING_X32: Blocking = Blocking { mc: MC_X32, nc: NC_X32, a_sliver_in_l1: true };
/// The packing buffers, kept per thread so that steady-state calls allocate nothing.
#[derive(Default)]
struct PackBuffers {
    a: Vec<f32>,
    b: Vec<f32>,
    /// A row panel of a product handed to a sink ([`blocked_to_sink`]).
    panel: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<PackBuffers> = RefCell::new(PackBuffers::default());
}

/// The least length of the B buffer (values): the largest block the in-place driver packs
/// (`in_place::N_MAX` columns of `KC`), so that whichever driver runs first on a thread sizes
/// the buffer for both, and a later product that takes the other driver (a short last batch)
/// does not grow it mid-training.
pub(super) const B_BUFFER_MIN: usize = 512 * KC;

/// `len` values of the B buffer, 64-byte aligned, grown to at least [`B_BUFFER_MIN`].
fn b_buffer(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    &mut aligned(buf, len.max(B_BUFFER_MIN))[..len]
}

/// Runs `f` on `len` values of this thread's B packing buffer (the one the blocked driver
/// packs into; the in-place driver's calls do not overlap it).
pub(super) fn with_b_buffer<T>(len: usize, f: impl FnOnce(&mut [f32]) -> T) -> T {
    BUFFERS.with(|buffers| f(b_buffer(&mut buffers.borrow_mut().b, len)))
}

/// A 64-byte aligned slice of `len` values inside `buf`, growing it when needed.
pub(super) fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const PAD: usize = 64 / std::mem::size_of::<f32>();
    if buf.len() < len + PAD {
        buf.resize(len + PAD, 0.0);
    }
    // Alignment only helps speed; an offset the allocator cannot give falls back to 0.
    let offset = buf.as_ptr().align_offset(64);
    let offset = if offset < PAD { offset } else { 0 };
    &mut buf[offset..offset + len]
}

/// Splits `len` into `ceil(len / max)` nearly equal blocks, each a multiple of `unit`
/// (except possibly the last), and returns the block size. Equal blocks avoid a thin
/// last block (e.g. k = 784 gives 4 × 196 instead of 3 × 256 + 16).
pub(super) fn balanced_block(len: usize, max: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(max);
    len.div_ceil(blocks).div_ceil(unit) * unit
}

/// The blocked driver: the five loops of the module doc around `micro`, whose tiles are
/// `R × N`.
///
/// # Safety
/// As [`super::gemm_raw`], and `micro` must compute `R`-row tiles on an instruction set this CPU has.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn blocked<const R: usize, const N: usize>(
    micro: MicroKernel,
    blocking: Blocking,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: RawC,
) {
    let (m, k) = ta.apply(a.shape());
    let n = c.cols;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // Nothing to add: C = beta · C.
        // SAFETY: `c` covers `(rows − 1)·stride + cols` values, exclusively ours (contract).
        let data = unsafe { std::slice::from_raw_parts_mut(c.ptr, (m - 1) * c.stride + n) };
        let mut view = MatMut::with_stride(data, m, n, c.stride).expect("a valid raw C");
        scale_c(beta, &mut view);
        return;
    }
    let kc_max = balanced_block(k, KC, 1);
    let mc_max = balanced_block(m, blocking.mc, R);
    let nc_max = balanced_block(n, blocking.nc, N);
    let rs_c = c.stride;

    BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let PackBuffers { a: a_buf, b: b_buf, .. } = &mut *buffers;
        let a_pack = aligned(a_buf, mc_max * kc_max);
        if m <= mc_max && tb == Transpose::Yes {
            // One block of rows (a layer's batch): each packed B sliver is used by this one
            // A block only, so pack it just before use, into a buffer that stays in L1,
            // instead of writing the whole packed B block out to L3 and reading it back.
            // The micro-kernel does the same arithmetic either way (the same bits).
            // Only for a transposed B (a layer's forward, x·Wᵀ): a sliver is then N stored
            // rows read along; an untransposed B's sliver is a 64-byte piece of each of kc
            // rows, one page apart at a layer's widths, and packing it alone was slower
            // (W3's dx = dz·W, 1024 wide) than packing the block row by row.
            let sliver = b_buffer(b_buf, N * kc_max);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let a_block = &mut a_pack[..m.div_ceil(R) * R * kc];
                pack_a::<R>(a, ta, 0, m, pc, kc, a_block);
                let beta = if pc == 0 { beta } else { 1.0 };
                for jr in (0..n).step_by(N) {
                    let nr = N.min(n - jr);
                    let b_sliver = &mut sliver[..N * kc];
                    pack_b::<N>(b, tb, pc, kc, jr, nr, b_sliver);
                    let tile = Block { row: 0, col: jr, rows: m, cols: nr, depth: kc };
                    // SAFETY: the tile lies inside `c` (its rows and columns are inside m × n).
                    unsafe { macro_kernel::<R, N>(micro, false, tile, a_block, b_sliver, c.ptr, rs_c, alpha, beta) };
                }
            }
            return;
        }
        let b_pack = b_buffer(b_buf, nc_max * kc_max);
        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let b_block = &mut b_pack[..nc.div_ceil(N) * N * kc];
                pack_b::<N>(b, tb, pc, kc, jc, nc, b_block);
                let beta = if pc == 0 { beta } else { 1.0 };
                for ic in (0..m).step_by(mc_max) {
                    let mc = mc_max.min(m - ic);
                    let a_block = &mut a_pack[..mc.div_ceil(R) * R * kc];
                    pack_a::<R>(a, ta, ic, mc, pc, kc, a_block);
                    let tile = Block { row: ic, col: jc, rows: mc, cols: nc, depth: kc };
                    // SAFETY: the tile lies inside `c` (its rows and columns are inside m × n).
                    unsafe {
                        macro_kernel::<R, N>(
                            micro,
                            blocking.a_sliver_in_l1,
                            tile,
                            a_block,
                            b_block,
                            c.ptr,
                            rs_c,
                            alpha,
                            beta,
                        );
                    }
                }
            }
        }
    });
}

/// `op(A) · op(B)` (`m × n`, depth `k` ≤ [`KC`]) handed to `sink` one finished row panel at a
/// time, never stored in a `C`: the tiles of `R` rows across a block of columns are computed
/// into a small buffer (the A sliver stays in L1 while the B block's slivers pass, the order
/// of [`Blocking::a_sliver_in_l1`]), then given to the sink while they are still in cache.
/// Each element is computed as [`blocked`] computes it with `alpha = 1`, `beta = 0`: the same
/// bits.
///
/// # Safety
/// As [`blocked`] without `C`: `micro` must compute `R`-row tiles on an instruction set this
/// CPU has; `1 ≤ k ≤ KC`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn blocked_to_sink<const R: usize, const N: usize>(
    micro: MicroKernel,
    blocking: Blocking,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    n: usize,
    sink: &dyn RowSink,
) {
    let (m, k) = ta.apply(a.shape());
    assert!((1..=KC).contains(&k), "a sink takes products of one block of depth, not {k}");
    if m == 0 || n == 0 {
        return;
    }
    let mc_max = balanced_block(m, blocking.mc, R);
    let nc_max = balanced_block(n, blocking.nc, N);
    BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let PackBuffers { a: a_buf, b: b_buf, panel } = &mut *buffers;
        let a_pack = aligned(a_buf, mc_max * k);
        let b_pack = b_buffer(b_buf, nc_max * k);
        // One row panel of the widest column block, its width padded to whole tiles (the
        // kernel writes all N columns of an edge tile).
        let stride = nc_max.div_ceil(N) * N;
        let panel = aligned(panel, R * stride);
        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            let b_block = &mut b_pack[..nc.div_ceil(N) * N * k];
            pack_b::<N>(b, tb, 0, k, jc, nc, b_block);
            for ic in (0..m).step_by(mc_max) {
                let mc = mc_max.min(m - ic);
                let a_block = &mut a_pack[..mc.div_ceil(R) * R * k];
                pack_a::<R>(a, ta, ic, mc, 0, k, a_block);
                for (ir, a_sliver) in a_block.chunks_exact(k * R).enumerate() {
                    let rows = R.min(mc - ir * R);
                    for (jr, b_sliver) in b_block.chunks_exact(k * N).enumerate() {
                        // SAFETY: the panel holds R rows of `stride` ≥ (jr + 1)·N values; beta = 0
                        // means it is only written; the CPU supports `micro` (contract).
                        unsafe { micro(k, a_sliver, b_sliver, panel[jr * N..].as_mut_ptr(), stride, 1.0, 0.0, rows) };
                    }
                    // SAFETY: these rows and columns are finished and handed over once (the
                    // loops visit each once; other threads have other bands).
                    unsafe { sink.take_rows(ic + ir * R, rows, jc, nc, panel, stride) };
                }
            }
        }
    });
}

/// Where a packed A block times a packed B block lands in `C`.
#[derive(Clone, Copy)]
struct Block {
    /// First row of `C`.
    row: usize,
    /// First column of `C`.
    col: usize,
    /// Rows of `C` covered (`mc`).
    rows: usize,
    /// Columns of `C` covered (`nc`).
    cols: usize,
    /// The shared depth (`kc`).
    depth: usize,
}

/// `C[block] = beta · C[block] + alpha · A_block · B_block`, one micro-tile at a time, the
/// A slivers inside the loop over B slivers, or outside it with `a_sliver_in_l1` (see
/// [`Blocking`]; the order changes no bit: each tile is computed the same way).
///
/// `a_block: [ceil(mc/R), kc, R]`, `b_block: [ceil(nc/N), kc, N]`, `c_data`: the first
/// element of C, rows `rs_c` apart; `micro` computes `R × N` tiles.
///
/// # Safety
/// The block's rows and columns of `C` must be valid and exclusively ours.
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel<const R: usize, const N: usize>(
    micro: MicroKernel,
    a_sliver_in_l1: bool,
    tile: Block,
    a_block: &[f32],
    b_block: &[f32],
    c_data: *mut f32,
    rs_c: usize,
    alpha: f32,
    beta: f32,
) {
    let kc = tile.depth;
    let a_slivers = a_block.chunks_exact(kc * R).enumerate();
    let b_slivers = b_block.chunks_exact(kc * N).enumerate();
    // SAFETY (both orders): the tiles (ir, jr) cover the block; the caller's contract.
    if a_sliver_in_l1 {
        for (ir, a_sliver) in a_slivers {
            for (jr, b_sliver) in b_slivers.clone() {
                unsafe { micro_tile::<R, N>(micro, tile, ir, a_sliver, jr, b_sliver, c_data, rs_c, alpha, beta) };
            }
        }
    } else {
        for (jr, b_sliver) in b_slivers {
            for (ir, a_sliver) in a_slivers.clone() {
                unsafe { micro_tile::<R, N>(micro, tile, ir, a_sliver, jr, b_sliver, c_data, rs_c, alpha, beta) };
            }
        }
    }
}

/// Tile (`ir`, `jr`) of the block: A sliver `ir` times B sliver `jr`, written into `C`, an
/// edge tile through a temporary.
///
/// # Safety
/// As [`macro_kernel`]; `ir` and `jr` index slivers of that block.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn micro_tile<const R: usize, const N: usize>(
    micro: MicroKernel,
    tile: Block,
    ir: usize,
    a_sliver: &[f32],
    jr: usize,
    b_sliver: &[f32],
    c_data: *mut f32,
    rs_c: usize,
    alpha: f32,
    beta: f32,
) {
    let kc = tile.depth;
    let (row, col) = (tile.row + ir * R, tile.col + jr * N);
    let (mr, nr) = (R.min(tile.rows - ir * R), N.min(tile.cols - jr * N));
    // SAFETY: (row, col) is inside the block, hence inside C (caller's contract).
    let c_tile = unsafe { c_data.add(row * rs_c + col) };
    if mr == R && nr == N {
        // SAFETY: the full tile's R rows of N values (rs_c apart) are inside the block, valid
        // and exclusively ours, and do not overlap the pack buffers; `micro` came from
        // `selected` (or is portable), so the CPU supports it.
        unsafe { micro(kc, a_sliver, b_sliver, c_tile, rs_c, alpha, beta, R) };
    } else {
        let mut tmp = [0.0f32; TILE_MAX];
        // SAFETY: `tmp` holds at least R rows of N values with row stride N; beta = 0 means
        // it is only written.
        unsafe { micro(kc, a_sliver, b_sliver, tmp.as_mut_ptr(), N, 1.0, 0.0, mr) };
        for i in 0..mr {
            // SAFETY: row i < mr and columns < nr of this tile are inside the block.
            let c_row = unsafe { std::slice::from_raw_parts_mut(c_tile.add(i * rs_c), nr) };
            let t_row = &tmp[i * N..i * N + nr];
            for (c, &t) in c_row.iter_mut().zip(t_row) {
                *c = scaled_update(*c, alpha * t, beta);
            }
        }
    }
}
