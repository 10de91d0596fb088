//! The fast GEMM kernel: packed, cache-blocked and register-blocked, in the GotoBLAS / BLIS
//! layout, with an AVX2+FMA micro-kernel chosen at run time and a portable one beside it.
//!
//! Shapes: `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n`.
//!
//! The loops, outermost first (the names are BLIS's):
//!
//! ```text
//! jc: columns of C in blocks of NC        B block  [KC, NC]  lives in L3
//!   pc: the k dimension in blocks of KC   pack op(B)[pc.., jc..] into NR-column slivers
//!     ic: rows of C in blocks of MC       pack op(A)[ic.., pc..] into MR-row slivers (L2)
//!       jr: NR-column slivers of B        one B sliver [KC, NR] stays in L1
//!         ir: MR-row slivers of A         micro-kernel: C[MR, NR] += A sliver · B sliver
//! ```
//!
//! Packing copies each operand into the order the micro-kernel reads it (one contiguous
//! stream per sliver), reads the transposes in place while doing so, folds the row strides
//! away and pads the last sliver with zeros, so the micro-kernel never sees an edge. Partial
//! tiles of `C` are computed into a small temporary and only their valid part is written back.
//!
//! `beta` is applied by the micro-kernel when it first writes a tile (the first `pc` block);
//! later `pc` blocks accumulate. `beta = 0` stores without reading `C`, so NaN in `C` does not
//! leak. `alpha` scales the accumulated sums at write-back.
//!
//! When all of `m` fits one `ic` block (a layer's batch of 64–144 rows), each B sliver is used
//! by that one A block only: it is packed just before use into a buffer that stays in L1,
//! rather than the whole `[KC, NC]` block being written out and read back.
//!
//! This function is single-threaded; [`super::gemm`] splits `C` into bands for the threads
//! of [`crate::pool`] and calls it once per band.

use std::cell::RefCell;

use super::{scale_c, Transpose};
use crate::matrix::{MatMut, MatRef};
use pack::{pack_a, pack_b};
use select::{selected, KernelKind};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avx512_x32;
mod pack;
mod portable;
mod select;

/// Rows of `C` per micro-tile of the AVX2 and portable kernels. With [`NR`] = 16 the AVX2
/// kernel keeps the 6 × 16 tile in 12 of the 16 ymm registers, leaving two for the B row and
/// one for the broadcast A value.
pub const MR: usize = 6;
/// Columns of `C` per micro-tile of the AVX2, portable and 16 × 16 AVX-512 kernels: two 8-lane
/// AVX vectors, or one 16-lane AVX-512 vector.
pub const NR: usize = 16;
/// Rows of `C` per micro-tile of the 16 × 16 AVX-512 kernel: 16 zmm accumulators, enough
/// independent FMA chains to cover the latency of a core that starts one 512-bit FMA a cycle,
/// with the A values broadcast straight from memory into the FMAs.
pub const MR_AVX512: usize = 16;
/// Rows of `C` per micro-tile of the 12 × 32 AVX-512 kernel (see [`avx512_x32`]).
pub const MR_X32: usize = 12;
/// Columns of `C` per micro-tile of the 12 × 32 AVX-512 kernel: two 16-lane vectors.
pub const NR_X32: usize = 32;
/// Depth of a packed block, the same for every kernel, so that they all split the k sum at
/// the same places and give the same bits. A B sliver `[KC, NR]` is 16 KiB and an A sliver
/// `[KC, MR]` 6 KiB (16 KiB for the 16 × 16 tile), together inside a 32 KiB L1d; the
/// 12 × 32 tile's B sliver is 32 KiB, and its 12 KiB A sliver, inside Intel's 48 KiB.
pub const KC: usize = 256;
/// Rows of op(A) per packed block (a multiple of every tile's rows, 6, 12 and 16). The
/// block `[MC, KC]` is 144 KiB, a good part of a 512 KiB–1 MiB L2 but leaving room for the B
/// sliver and C tiles.
pub const MC: usize = 144;
/// Columns of op(B) per packed block (a multiple of every tile's columns). The block
/// `[KC, NC]` is 4 MiB, meant for the shared L3; only products wider than this split `n`.
pub const NC: usize = 4096;
/// The most values a micro-tile holds (the partial-tile temporary's size).
const TILE_MAX: usize = 512;
const _: () = assert!(MR_AVX512 * NR <= TILE_MAX && MR_X32 * NR_X32 <= TILE_MAX && MR * NR <= TILE_MAX);

/// A micro-kernel with `R × N` tiles (fixed per kernel):
/// `C[R, N] = beta · C + alpha · Σ_p a[p] ⊗ b[p]` over `kc` steps,
///
/// `a: [kc, R]` (one packed A sliver, `a[p * R + i]`), `b: [kc, N]` (one packed B sliver,
/// `b[p * N + j]`), `c`: the tile's first element, rows `rs_c` apart. Only the first `rows`
/// (≤ `R`) rows are needed (an edge tile); a kernel may compute more of them.
///
/// # Safety
/// `c` must be valid for reads and writes of `R` rows of `N` values, `rs_c` apart, not
/// aliased by `a` or `b`; `beta = 0` must not read `c`. The CPU must support the kernel's
/// instruction set (guaranteed by [`selected`]).
type MicroKernel =
    unsafe fn(kc: usize, a: &[f32], b: &[f32], c: *mut f32, rs_c: usize, alpha: f32, beta: f32, rows: usize);

/// `C = alpha · op(A) · op(B) + beta · C` with the best micro-kernel this CPU supports.
///
/// `a: [m, k]` (or `[k, m]` with `ta = Yes`), `b: [k, n]` (or `[n, k]` with `tb = Yes`),
/// `c: [m, n]`. Shapes must already be checked (see [`super::gemm_with`]).
pub fn gemm(alpha: f32, a: MatRef<'_>, ta: Transpose, b: MatRef<'_>, tb: Transpose, beta: f32, c: MatMut<'_>) {
    let (m, k) = ta.apply(a.shape());
    if m * c.cols() * k <= SMALL {
        direct(alpha, a, ta, b, tb, beta, c);
    } else {
        let c = RawC::of(c);
        // SAFETY: `c` comes from a `MatMut` borrowed mutably for this call.
        unsafe { blocked_with(selected(), alpha, a, ta, b, tb, beta, c) };
    }
}

/// `C` as a raw pointer with its shape, for callers that split one `C` into bands written by
/// different threads (the column bands of one matrix interleave in memory, so they cannot be
/// separate `&mut` slices).
#[derive(Clone, Copy)]
pub(crate) struct RawC {
    /// The first element.
    pub ptr: *mut f32,
    pub rows: usize,
    pub cols: usize,
    /// Values between the starts of two rows.
    pub stride: usize,
}

// SAFETY: a `RawC` is only dereferenced under the contract of `gemm_raw`: whoever holds one
// owns the elements it covers exclusively for the call.
unsafe impl Send for RawC {}
// SAFETY: as for `Send`.
unsafe impl Sync for RawC {}

impl RawC {
    /// The whole of `c`.
    pub fn of(mut c: MatMut<'_>) -> Self {
        let (rows, cols, stride) = (c.rows(), c.cols(), c.stride());
        Self { ptr: c.as_mut_slice().as_mut_ptr(), rows, cols, stride }
    }

    /// Columns `j0 .. j0 + cols` of rows `i0 .. i0 + rows`.
    pub fn band(self, i0: usize, rows: usize, j0: usize, cols: usize) -> Self {
        assert!(i0 + rows <= self.rows && j0 + cols <= self.cols, "band outside C");
        // SAFETY: the assert keeps the offset inside the matrix `self` describes.
        let ptr = unsafe { self.ptr.add(i0 * self.stride + j0) };
        Self { ptr, rows, cols, stride: self.stride }
    }
}

/// Runs `C = alpha · A · Bᵀ + beta · C` on the unpacked AVX-512 kernel for products with at
/// most [`avx512::SKINNY_N`] columns (a layer's forward pass with ten outputs), splitting the
/// rows of `C` between up to `threads` threads; returns `false`, doing nothing, for any
/// other product or CPU. Every row is computed the same way whichever thread has it.
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
    #[cfg(target_arch = "x86_64")]
    {
        let (m, n) = c.shape();
        let k = a.cols();
        let fits = ta == Transpose::No && tb == Transpose::Yes && n <= avx512::SKINNY_N && m * n * k > SMALL;
        if !fits || !matches!(selected(), KernelKind::Avx512 | KernelKind::Avx512X32) {
            return false;
        }
        let c = RawC::of(c);
        let tasks = if m * n * k >= super::PARALLEL_MIN_WORK { threads.min(m / 32).max(1) } else { 1 };
        let band = m.div_ceil(tasks).div_ceil(2) * 2;
        crate::pool::run(m.div_ceil(band), &|t| {
            let rows = t * band..((t + 1) * band).min(m);
            // SAFETY: AVX-512F was selected at run time; the shapes were checked by
            // `gemm_with`; each task writes its own rows of C, borrowed mutably for the call.
            unsafe { avx512::skinny_bt(alpha, a, b, beta, c, rows) };
        });
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (threads, alpha, a, ta, b, tb, beta, c);
        false
    }
}

/// [`gemm`] into a raw `C` (large products only: `m·n·k` above the direct loops' limit).
///
/// # Safety
/// `c` must describe `rows × cols` valid `f32`s, rows `stride` apart, that nothing else reads
/// or writes during the call; shapes must already be checked.
pub(crate) unsafe fn gemm_raw(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: RawC,
) {
    // SAFETY: forwarded contract.
    unsafe { blocked_with(selected(), alpha, a, ta, b, tb, beta, c) }
}

/// The blocked driver with `kind`'s micro-kernel and tile.
///
/// # Safety
/// As [`gemm_raw`]; `kind` must be supported by this CPU (it comes from [`selected`], or is
/// portable).
#[allow(clippy::too_many_arguments)]
unsafe fn blocked_with(
    kind: KernelKind,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: RawC,
) {
    // SAFETY: forwarded contract; each kernel is paired with the tile rows it computes.
    unsafe {
        match kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512X32 => blocked::<MR_X32, NR_X32>(avx512_x32::kernel, alpha, a, ta, b, tb, beta, c),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => blocked::<MR_AVX512, NR>(avx512::kernel, alpha, a, ta, b, tb, beta, c),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2Fma => blocked::<MR, NR>(avx2::kernel, alpha, a, ta, b, tb, beta, c),
            #[cfg(not(target_arch = "x86_64"))]
            KernelKind::Avx512X32 | KernelKind::Avx512 | KernelKind::Avx2Fma => {
                unreachable!("AVX is only detected on x86_64")
            }
            KernelKind::Portable => blocked::<MR, NR>(portable::kernel::<MR, NR>, alpha, a, ta, b, tb, beta, c),
        }
    }
}

/// Below this many multiply-adds, packing costs more than it saves (a 2-2-1 XOR net does
/// 2 to 4 per product), so such products take the [`direct`] loops.
const SMALL: usize = 512;

/// Tiny products: one dot product per element of `C`, no packing, no allocation.
fn direct(alpha: f32, a: MatRef<'_>, ta: Transpose, b: MatRef<'_>, tb: Transpose, beta: f32, mut c: MatMut<'_>) {
    let (m, k) = ta.apply(a.shape());
    let n = c.cols();
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f32;
            for p in 0..k {
                let aip = if ta == Transpose::No { a.get(i, p) } else { a.get(p, i) };
                let bpj = if tb == Transpose::No { b.get(p, j) } else { b.get(j, p) };
                sum += aip * bpj;
            }
            // beta = 0 overwrites C without reading it (it may hold NaN).
            let old = if beta == 0.0 { 0.0 } else { beta * c.get(i, j) };
            c.set(i, j, old + alpha * sum);
        }
    }
}

/// [`gemm`] forced onto the portable micro-kernel with `R × N` tiles (the AVX2 tile's 6 × 16,
/// the AVX-512 tiles' 16 × 16 and 12 × 32), so that the tests cover it, and the drivers of
/// every tile shape, on machines where a SIMD one is chosen.
#[cfg(test)]
pub(crate) fn gemm_portable<const R: usize, const N: usize>(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) {
    // SAFETY: `c` comes from a `MatMut` borrowed mutably for this call.
    unsafe { blocked::<R, N>(portable::kernel::<R, N>, alpha, a, ta, b, tb, beta, RawC::of(c)) };
}

/// The micro-kernel [`gemm`] uses on this CPU (for benchmarks and reports), e.g. `"avx512f 12x32"`.
pub fn micro_kernel_name() -> &'static str {
    selected().name()
}

/// Rows of `C` per micro-tile of the kernel [`gemm`] uses on this CPU (6, 12 or 16): the
/// unit in which threads split the rows of `C` between them.
pub fn tile_rows() -> usize {
    selected().tile_rows()
}

/// Columns of `C` per micro-tile of the kernel [`gemm`] uses on this CPU (16 or 32): the
/// unit in which threads split the columns of `C` between them.
pub fn tile_cols() -> usize {
    selected().tile_cols()
}

/// [`gemm`] on each SIMD micro-kernel this CPU supports, with its name, so that the tests
/// cover every one (not only the one [`gemm`] picks).
#[cfg(test)]
pub(crate) fn gemm_each_simd_kernel(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: &crate::matrix::Matrix,
) -> Vec<(&'static str, crate::matrix::Matrix)> {
    KernelKind::SIMD
        .into_iter()
        .filter(|kind| kind.supported())
        .map(|kind| {
            let mut out = c.clone();
            // SAFETY: `out` is borrowed mutably for the call; `kind` was detected just above.
            unsafe { blocked_with(kind, alpha, a, ta, b, tb, beta, RawC::of(out.view_mut())) };
            (kind.name(), out)
        })
        .collect()
}

/// The packing buffers, kept per thread so that steady-state calls allocate nothing.
#[derive(Default)]
struct PackBuffers {
    a: Vec<f32>,
    b: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<PackBuffers> = RefCell::new(PackBuffers::default());
}

/// A 64-byte aligned slice of `len` values inside `buf`, growing it when needed.
fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
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
fn balanced_block(len: usize, max: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(max);
    len.div_ceil(blocks).div_ceil(unit) * unit
}

/// The blocked driver: the five loops of the module doc around `micro`, whose tiles are
/// `R × N`.
///
/// # Safety
/// As [`gemm_raw`], and `micro` must compute `R`-row tiles on an instruction set this CPU has.
unsafe fn blocked<const R: usize, const N: usize>(
    micro: MicroKernel,
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
    let mc_max = balanced_block(m, MC, R);
    let nc_max = balanced_block(n, NC, N);
    let rs_c = c.stride;

    BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let PackBuffers { a: a_buf, b: b_buf } = &mut *buffers;
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
            let sliver = aligned(b_buf, N * kc_max);
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
                    unsafe { macro_kernel::<R, N>(micro, tile, a_block, b_sliver, c.ptr, rs_c, alpha, beta) };
                }
            }
            return;
        }
        let b_pack = aligned(b_buf, nc_max * kc_max);
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
                    unsafe { macro_kernel::<R, N>(micro, tile, a_block, b_block, c.ptr, rs_c, alpha, beta) };
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

/// `C[block] = beta · C[block] + alpha · A_block · B_block`, one micro-tile at a time.
///
/// `a_block: [ceil(mc/R), kc, R]`, `b_block: [ceil(nc/N), kc, N]`, `c_data`: the first
/// element of C, rows `rs_c` apart; `micro` computes `R × N` tiles.
///
/// # Safety
/// The block's rows and columns of `C` must be valid and exclusively ours.
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel<const R: usize, const N: usize>(
    micro: MicroKernel,
    tile: Block,
    a_block: &[f32],
    b_block: &[f32],
    c_data: *mut f32,
    rs_c: usize,
    alpha: f32,
    beta: f32,
) {
    let kc = tile.depth;
    for (jr, b_sliver) in b_block.chunks_exact(kc * N).enumerate() {
        let col = tile.col + jr * N;
        let nr = N.min(tile.cols - jr * N);
        for (ir, a_sliver) in a_block.chunks_exact(kc * R).enumerate() {
            let row = tile.row + ir * R;
            let mr = R.min(tile.rows - ir * R);
            // SAFETY: (row, col) is inside the block, hence inside C (caller's contract).
            let c_tile = unsafe { c_data.add(row * rs_c + col) };
            if mr == R && nr == N {
                // SAFETY: the full tile's R rows of N values (rs_c apart) are inside the
                // block, valid and exclusively ours, and do not overlap the pack buffers;
                // `micro` came from `selected` (or is portable), so the CPU supports it.
                unsafe { micro(kc, a_sliver, b_sliver, c_tile, rs_c, alpha, beta, R) };
            } else {
                let mut tmp = [0.0f32; TILE_MAX];
                // SAFETY: `tmp` holds at least R rows of N values with row stride N;
                // beta = 0 means it is only written.
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
    }
}

/// `beta · c + x` with the roundings of the SIMD kernels' full-tile write-back (`beta = 0`
/// ignores `c`, `beta = 1` adds, else one fused multiply-add), so that where a tile boundary
/// falls (it moves with the thread split) or which path computed an element changes no bit.
#[inline]
pub(crate) fn scaled_update(c: f32, x: f32, beta: f32) -> f32 {
    if beta == 0.0 {
        x
    } else if beta == 1.0 {
        c + x
    } else {
        beta.mul_add(c, x)
    }
}
