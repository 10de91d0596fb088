//! The fast GEMM kernel: packed, cache-blocked and register-blocked, in the GotoBLAS / BLIS
//! layout, with a micro-kernel chosen at run time per CPU (AVX-512 12 × 32 on Intel, 16 × 16
//! on AMD, AVX2 6 × 16, see `fast/select.rs`) and a portable one beside it.
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
//! The 12 × 32 kernel swaps the two inner loops (its A sliver stays in L1 and the B block,
//! 1 MiB, in L2; see `Blocking` in `fast/blocked.rs`). The block sizes are per kernel; `KC` is shared.
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
//!
//! [`sink::to_sink`] runs the same kernels on a product of one block of depth without a `C`:
//! each finished row panel goes to a consumer while it is in cache (the optimiser's step
//! takes a layer's weight gradient that way).

use super::Transpose;
use crate::matrix::{MatMut, MatRef};
use blocked::{blocked, BLOCKING_16, BLOCKING_X32};
use select::{selected, KernelKind};
pub(crate) use skinny::{skinny, skinny_takes};
#[cfg(test)]
pub(crate) use skinny::{skinny_each_kernel, SKINNY_N};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avx512_x32;
mod blocked;
#[cfg(target_arch = "x86_64")]
mod in_place;
mod pack;
mod portable;
pub mod prepacked;
mod select;
pub mod sink;
mod skinny;

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
/// Rows of `C` per micro-tile of the 12 × 32 AVX-512 kernel (see `avx512_x32`).
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
/// Rows of op(A) per packed block for the 12 × 32 kernel, whose A slivers stay in L1 while
/// the B block streams from L2 (see `BLOCKING_X32`): the A block is read once per block of
/// B, so it may be large; 480 rows (480 KiB) packs it in few pieces.
pub const MC_X32: usize = 480;
/// Columns of op(B) per packed block for the 12 × 32 kernel: the block `[KC, NC_X32]` is
/// 1 MiB, half of an Intel core's 2 MiB L2, read from there by every A sliver.
pub const NC_X32: usize = 1024;

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

/// Whether [`gemm`] computes a product of `m × n × k` with the packed kernels (above the
/// plain loops' limit).
pub(crate) fn blocked_product(m: usize, n: usize, k: usize) -> bool {
    m * n * k > SMALL
}

/// The depth of the blocks every kernel splits a sum over `k` into (the last may be shorter).
pub(crate) fn depth_block(k: usize) -> usize {
    blocked::balanced_block(k.max(1), KC, 1)
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
            KernelKind::Avx512X32 | KernelKind::Avx512 | KernelKind::Avx2Fma if takes_in_place(kind, a, ta, tb, c) => {
                in_place_with(kind, alpha, a, b, tb, beta, c);
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512X32 => {
                blocked::<MR_X32, NR_X32>(avx512_x32::kernel, BLOCKING_X32, alpha, a, ta, b, tb, beta, c)
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => blocked::<MR_AVX512, NR>(avx512::kernel, BLOCKING_16, alpha, a, ta, b, tb, beta, c),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2Fma => blocked::<MR, NR>(avx2::kernel, BLOCKING_16, alpha, a, ta, b, tb, beta, c),
            #[cfg(not(target_arch = "x86_64"))]
            KernelKind::Avx512X32 | KernelKind::Avx512 | KernelKind::Avx2Fma => {
                unreachable!("AVX is only detected on x86_64")
            }
            KernelKind::Portable => {
                blocked::<MR, NR>(portable::kernel::<MR, NR>, BLOCKING_16, alpha, a, ta, b, tb, beta, c)
            }
        }
    }
}

/// `kind`'s in-place driver: the 12 × 32 kernel for both AVX-512 kinds (every SIMD kernel
/// gives the same bits), reading an untransposed B with short rows in place too; the 6 × 16
/// kernel for AVX2, B packed.
///
/// # Safety
/// As [`gemm_raw`], `kind` a SIMD kernel this CPU supports.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn in_place_with(kind: KernelKind, alpha: f32, a: MatRef<'_>, b: MatRef<'_>, tb: Transpose, beta: f32, c: RawC) {
    // SAFETY: forwarded contract; each in-place kernel is paired with its tile.
    unsafe {
        match kind {
            KernelKind::Avx512X32 | KernelKind::Avx512 => {
                let (kernel, b_stride_max) = (avx512_x32::kernel_in_place, in_place::B_STRIDE_MAX_X32);
                in_place::gemm_in_place::<MR_X32, NR_X32>(kernel, b_stride_max, alpha, a, b, tb, beta, c)
            }
            KernelKind::Avx2Fma => {
                in_place::gemm_in_place::<MR, NR>(avx2::kernel_in_place, 0, alpha, a, b, tb, beta, c)
            }
            KernelKind::Portable => unreachable!("the portable kernel has no in-place driver"),
        }
    }
}

/// Whether `kind` hands `C = op(A) · op(B)` to [`in_place`] (non-empty, and small enough by
/// [`in_place::suits`]). The 16 × 16 kernel (Zen 4's) keeps a transposed B, a layer's
/// forward `x · Wᵀ`, in its packed driver: that B is packed either way, and with the weights
/// coming from memory, as in training, the packed 16 × 16 tiles were as fast or faster on
/// every shape (Zen 4, medians of 21 interleaved rounds, GFLOP/s packed against in place,
/// 2026-12-06: `X[128, 784] · W[400, 784]ᵀ` 98.3 / 89.7 on one thread; W2's
/// `X[128, 784] · W[800, 784]ᵀ` 192.4 / 176.4 and W3's `X[128, 784] · W[1024, 784]ᵀ`
/// 184.5 / 179.7 on two; `X[64, 784] · W[128, 784]ᵀ` the same). An untransposed B with short
/// rows, read in place, still goes there (`X[64, 784] · W[784, 128]` 107.7 / 99.9 with W in
/// cache).
#[cfg(target_arch = "x86_64")]
fn takes_in_place(kind: KernelKind, a: MatRef<'_>, ta: Transpose, tb: Transpose, c: RawC) -> bool {
    let (m, k) = ta.apply(a.shape());
    let forward_on_16x16 = kind == KernelKind::Avx512 && tb == Transpose::Yes;
    !forward_on_16x16 && m > 0 && k > 0 && c.cols > 0 && in_place::suits(m, c.cols, ta, a.stride())
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
    // The 32-wide tile with its kernel's blocking, so that its loop order is tested too.
    let blocking = if N == NR_X32 { BLOCKING_X32 } else { BLOCKING_16 };
    unsafe { blocked::<R, N>(portable::kernel::<R, N>, blocking, alpha, a, ta, b, tb, beta, RawC::of(c)) };
}

/// Each in-place micro-kernel's two drivers on one product, for the kernels this CPU has
/// (the 12 × 32 one where it has AVX-512F, the 6 × 16 one where it has AVX2 and FMA): the
/// packed driver and the one reading `op(A)` in place, with the kernel's name (empty when
/// that driver cannot take the product, `op(A) = Aᵀ` or an empty one), so that the tests can
/// demand the same bits of both. Products past the in-place driver's size limits are taken
/// too: it is correct for any size, and they reach its several column blocks.
#[cfg(test)]
pub(crate) fn gemm_packed_and_in_place(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: &crate::matrix::Matrix,
) -> Vec<(&'static str, crate::matrix::Matrix, crate::matrix::Matrix)> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let (m, k) = ta.apply(a.shape());
        if m == 0 || k == 0 || c.cols() == 0 || ta != Transpose::No {
            return out;
        }
        for kind in [KernelKind::Avx512X32, KernelKind::Avx2Fma].into_iter().filter(|k| k.supported()) {
            let (mut packed, mut unpacked) = (c.clone(), c.clone());
            let (pc, uc) = (RawC::of(packed.view_mut()), RawC::of(unpacked.view_mut()));
            // SAFETY: each output is borrowed mutably for its call; the kernel's instruction
            // set was detected just above; the callers' shapes are checked by `product_shape`
            // in the tests.
            unsafe {
                if kind == KernelKind::Avx512X32 {
                    blocked::<MR_X32, NR_X32>(avx512_x32::kernel, BLOCKING_X32, alpha, a, ta, b, tb, beta, pc);
                } else {
                    blocked::<MR, NR>(avx2::kernel, BLOCKING_16, alpha, a, ta, b, tb, beta, pc);
                }
                in_place_with(kind, alpha, a, b, tb, beta, uc);
            }
            out.push((kind.name(), packed, unpacked));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (alpha, a, ta, b, tb, beta, c);
    out
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

/// The unit in which threads split the rows of `C` for the kernel [`gemm`] uses on this CPU:
/// its tile's rows, or 4 on the 12 × 32 kernel (see `KernelKind::band_rows`).
pub fn band_rows() -> usize {
    selected().band_rows()
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
