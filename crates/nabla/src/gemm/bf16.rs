//! Mixed-precision GEMM: `C = alpha · op(A) · op(B) + beta · C` with `A` and `B` rounded to
//! bfloat16 (to nearest, ties to even, as `torch.autocast` rounds) and the products summed
//! in `f32`. `C`, `alpha` and `beta` stay `f32`. Shape letters as in [`super`]: `op(A)` is
//! `m × k`, `op(B)` is `k × n`, `C` is `m × n`.
//!
//! Three kernels sit behind one entry point:
//!
//! - [`mod@reference`]: three loops over the bf16-rounded inputs, summed in `f64`: the truth.
//! - **AMX** (`amx.rs`): `tdpbf16ps` on tiles, a 2 × 2 block of 16 × 16 `f32` tiles of `C`
//!   per step (Intel Sapphire Rapids and later).
//! - **AVX512-BF16** (`dpbf16.rs`): `vdpbf16ps` on zmm registers, an 8 × 32 tile (Intel
//!   Cooper Lake and later, AMD Zen 4 and later).
//!
//! A CPU with neither gets no silent fallback: a bf16 product widened to `f32` would be
//! slower than the plain `f32` GEMM, so [`best_kernel`] says `None` and [`gemm`] returns an
//! error naming what is missing; a caller that wants bf16 training refuses there.
//!
//! Both fast kernels read the same packed operands (`pack.rs`): `op(A)` in 16 × 32 bf16
//! tiles, `op(B)` in 16-column slivers of bf16 pairs (the "VNNI" layout both instructions
//! take). The packing rounds with `vcvtne2ps2bf16`, which flushes `f32` denormals (below
//! 1.2e-38) to zero where the reference keeps them as bf16 denormals, and both instructions
//! read bf16 denormals as zero: the kernels and the reference differ only there, far below
//! the tests' tolerance.
//!
//! The kernels do not give the same bits: `tdpbf16ps` sums a tile step's products in an
//! order of its own, `vdpbf16ps` two products at a time. Each agrees with the reference to
//! `f32` accumulation error.
//!
//! Large products run on [`crate::pool::threads`] threads, `C` split into bands of whole
//! 32 × 32 blocks as the `f32` GEMM splits it (see [`super::gemm`]). Each element's sum runs
//! over k in the same order whichever band holds it, so a kernel gives the same bits at any
//! thread count. [`gemm_by_depth`] splits the depth instead, for the kernel that sums it in
//! blocks (AVX512-BF16), with the same bits.
//!
//! `NABLA_BF16_ISA` caps the choice of [`best_kernel`], as `NABLA_GEMM_ISA` caps the `f32`
//! kernel's: `amx`, `avx512-bf16`, or `none` (behave as a CPU with neither, to see and test
//! the refusal on a machine that has them).

mod amx;
mod dpbf16;
mod pack;
pub mod reference;
pub(crate) mod sink;

use std::cell::RefCell;
use std::sync::OnceLock;

use super::depth::DepthSplit;
use super::fast::RawC;
use super::Transpose;
use crate::error::{Error, Result};
use crate::matrix::{MatMut, MatRef};

/// Which bf16 kernel to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// Three loops, `f64` sums of the bf16-rounded inputs: slow and obviously right.
    Reference,
    /// AMX tiles (`tdpbf16ps`), `32 × 32` blocks of `C`.
    Amx,
    /// AVX512-BF16 (`vdpbf16ps`), `8 × 32` tiles of `C`.
    Avx512Bf16,
}

impl Bf16Kernel {
    /// The fast kernels, strongest first.
    pub const FAST: [Bf16Kernel; 2] = [Bf16Kernel::Amx, Bf16Kernel::Avx512Bf16];

    /// Whether this CPU (and, for AMX, the operating system) can run the kernel.
    pub fn supported(self) -> bool {
        match self {
            Bf16Kernel::Reference => true,
            Bf16Kernel::Amx => amx::available(),
            Bf16Kernel::Avx512Bf16 => pack::available(),
        }
    }

    /// The kernel's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Reference => "bf16 reference (f64 sums)",
            Bf16Kernel::Amx => "amx-bf16 tdpbf16ps 32x32",
            Bf16Kernel::Avx512Bf16 => "avx512-bf16 vdpbf16ps 8x32",
        }
    }
}

/// The fastest bf16 kernel this CPU has, or `None` if it has neither AMX-BF16 (with the
/// operating system's permission to use the tiles) nor AVX512-BF16.
pub fn best_kernel() -> Option<Bf16Kernel> {
    static CHOICE: OnceLock<Option<Bf16Kernel>> = OnceLock::new();
    *CHOICE.get_or_init(|| choose(forced().as_deref()))
}

/// `NABLA_BF16_ISA`, if set.
fn forced() -> Option<String> {
    std::env::var("NABLA_BF16_ISA").ok().filter(|v| !v.is_empty())
}

/// The rule of [`best_kernel`]: the strongest supported fast kernel at or below the one
/// `forced` names (`amx`, `avx512-bf16`; `none` for no kernel; anything else is no cap).
fn choose(forced: Option<&str>) -> Option<Bf16Kernel> {
    let from = match forced {
        Some("none") => return None,
        Some("avx512-bf16") => 1,
        _ => 0,
    };
    Bf16Kernel::FAST[from..].iter().copied().find(|k| k.supported())
}

/// What the CPU reports about bf16 arithmetic, for an error message or a report: which
/// instruction sets it has and whether the OS granted the AMX tile state.
pub fn capability() -> String {
    let cap = forced().map_or(String::new(), |v| format!("; capped by NABLA_BF16_ISA={v}"));
    format!(
        "amx-bf16 {} (cpuid {}, tile permission {}), avx512-bf16 {}{cap}",
        yes(amx::available()),
        yes(amx::cpu_has_amx_bf16()),
        yes(amx::permission_granted()),
        yes(pack::available())
    )
}

/// The error of a bf16 product asked of a CPU with no bf16 kernel, naming what it lacks.
pub fn unsupported() -> Error {
    Error::Invalid {
        name: "precision",
        value: "bf16".into(),
        reason: format!(
            "this CPU has no bf16 matrix instructions: it needs AMX-BF16 or AVX512-BF16 ({})",
            capability()
        ),
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `C = alpha · op(A) · op(B) + beta · C` with bf16 inputs and `f32` sums, on the fastest
/// kernel this CPU has; returns the kernel that ran.
///
/// `a: [m, k]` (or `[k, m]` with `ta = Yes`), `b: [k, n]` (or `[n, k]` with `tb = Yes`),
/// `c: [m, n]`. Errors on shapes that do not fit, and on a CPU with no bf16 kernel.
pub fn gemm(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) -> Result<Bf16Kernel> {
    let kernel = best_kernel().ok_or_else(unsupported)?;
    gemm_with(kernel, alpha, a, ta, b, tb, beta, c)?;
    Ok(kernel)
}

/// [`gemm`] with the kernel chosen by the caller (tests and benchmarks compare them). Errors
/// if this CPU cannot run it.
pub fn gemm_with(
    kernel: Bf16Kernel,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    mut c: MatMut<'_>,
) -> Result<()> {
    let (m, n, k) = super::product_shape("gemm bf16", a, ta, b, tb, &c)?;
    if !kernel.supported() {
        return Err(Error::Invalid {
            name: "bf16 kernel",
            value: kernel.name().into(),
            reason: format!("this CPU cannot run it ({})", capability()),
        });
    }
    if kernel == Bf16Kernel::Reference {
        reference::gemm(alpha, a, ta, b, tb, beta, c);
        return Ok(());
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        super::scale_c(beta, &mut c);
        return Ok(());
    }
    let c = RawC::of(c);
    if let Some(bands) = Bands::of(crate::pool::threads(), m, n, k) {
        parallel(kernel, bands, alpha, a, ta, b, tb, beta, c);
    } else {
        // SAFETY: `c` comes from a `MatMut` borrowed mutably for this call; the kernel is
        // supported (checked above) and fast; the shapes were checked.
        unsafe { gemm_raw(kernel, alpha, a, ta, b, tb, beta, c) };
    }
    Ok(())
}

/// [`gemm_with`] with the threads splitting the depth `k` instead of `C` (as
/// [`super::gemm_by_depth`] splits the `f32` product, for a layer's `da = dz · W`), where the
/// kernel sums its depth in blocks of up to 512 values: the AVX512-BF16 kernel. The AMX
/// kernel sums all of `k` in one chain per element, so its products, and products too small
/// or with fewer blocks than threads, are split along `C` by [`gemm_with`]. The bits of
/// [`gemm_with`] at any thread count.
#[allow(clippy::too_many_arguments)]
pub fn gemm_by_depth(
    kernel: Bf16Kernel,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) -> Result<()> {
    let (m, n, k) = super::product_shape("gemm bf16", a, ta, b, tb, &c)?;
    let Some(split) = depth_split(kernel, crate::pool::threads(), m, n, k) else {
        return gemm_with(kernel, alpha, a, ta, b, tb, beta, c);
    };
    // SAFETY: `run` hands each call an output that call alone touches during the run; the
    // kernel is supported and fast; the shapes were checked and every band is non-empty.
    super::depth::run(split, a, ta, b, tb, beta, c, &|a, b, beta, out| unsafe {
        gemm_raw(kernel, alpha, a, ta, b, tb, beta, out)
    });
    Ok(())
}

/// How [`gemm_by_depth`] splits an `m × n × k` product on `threads` threads: `None` (split
/// along `C`) unless the kernel sums in blocks, the product is large enough for threads at
/// all, and its depth has a block for every thread (fewer would leave threads idle that the
/// split along `C` keeps busy).
pub(crate) fn depth_split(kernel: Bf16Kernel, threads: usize, m: usize, n: usize, k: usize) -> Option<DepthSplit> {
    if kernel != Bf16Kernel::Avx512Bf16 || !kernel.supported() {
        return None;
    }
    Bands::of(threads, m, n, k)?;
    let threads = threads.min(m.max(n).div_ceil(BLOCK));
    DepthSplit::by_blocks(threads, k, depth_block).filter(|split| split.tasks() == threads)
}

/// Values of `k` in one block of the AVX512-BF16 kernel's sums (the last may be shorter):
/// `k` in near-equal blocks of whole 32-value tiles, at most [`DEPTH_TILES`] tiles each.
pub(super) fn depth_block(k: usize) -> usize {
    let tiles = k.div_ceil(32).max(1);
    tiles.div_ceil(tiles.div_ceil(DEPTH_TILES)) * 32
}

/// Tiles of 32 values of `k` in a block of the AVX512-BF16 kernel's sums: 512 values. Each
/// block's sums are added to `C` (a 32 × 32 block read and written again): at 256 values
/// W3-bf16 trained 3 % slower on one thread than with all of `k` in one chain, at 512 within
/// the noise.
const DEPTH_TILES: usize = 16;

/// How [`gemm_with`] splits `C` between threads: bands of `band` whole blocks along the
/// columns when `m < n` (each band packs all of `op(A)`, as a layer's forward pass
/// `[B, in]·Wᵀ` wants), else along the rows (each packs all of `op(B)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bands {
    /// Columns (else rows) of `C` in a band.
    pub by_columns: bool,
    /// Rows or columns of `C` in every band but the last.
    pub band: usize,
}

impl Bands {
    /// The split of an `m × n × k` product on up to `threads` threads, `None` for a product
    /// that runs on one.
    pub(crate) fn of(threads: usize, m: usize, n: usize, k: usize) -> Option<Bands> {
        let threads = threads.min(m.max(n).div_ceil(BLOCK)).max(1);
        if threads < 2 || m * n * k < super::PARALLEL_MIN_WORK {
            return None;
        }
        let by_columns = m < n;
        let len = if by_columns { n } else { m };
        Some(Bands { by_columns, band: super::band_len(len, threads, BLOCK) })
    }
}

/// Runs [`gemm_raw`] on each of `bands` at once on the [`crate::pool`]. Each thread packs
/// into its own buffers.
#[allow(clippy::too_many_arguments)]
fn parallel(
    kernel: Bf16Kernel,
    Bands { by_columns, band }: Bands,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: RawC,
) {
    let (m, n) = (c.rows, c.cols);
    let k = ta.apply(a.shape()).1;
    let len = if by_columns { n } else { m };
    crate::pool::run(len.div_ceil(band), &|t| {
        let start = t * band;
        let end = (start + band).min(len);
        let width = end - start;
        if by_columns {
            let b_band = match tb {
                // op(B) = B [k, n]: columns start..end.
                Transpose::No => MatRef::with_stride(&b.as_slice()[start..], k, width, b.stride()),
                // B is stored [n, k]: rows start..end.
                Transpose::Yes => Ok(b.rows_range(start, end)),
            }
            .expect("a column band of a valid view is valid");
            // SAFETY: the bands of C are disjoint (columns start..end of every row), and `c`
            // is borrowed mutably for the whole call; the kernel is supported and fast.
            unsafe { gemm_raw(kernel, alpha, a, ta, b_band, tb, beta, c.band(0, m, start, width)) };
        } else {
            let a_band = match ta {
                Transpose::No => a.rows_range(start, end),
                // A is stored [k, m]: the band is columns start..end.
                Transpose::Yes => MatRef::with_stride(&a.as_slice()[start..], k, width, a.stride())
                    .expect("a column band of a valid view is valid"),
            };
            // SAFETY: as above, for rows start..end.
            unsafe { gemm_raw(kernel, alpha, a_band, ta, b, tb, beta, c.band(start, width, 0, n)) };
        }
    });
}

/// One thread's product on a fast kernel: packs `op(A)` (and `op(B)`, per slab or whole)
/// into this thread's buffers and writes each finished block of sums into `c`.
///
/// # Safety
/// `kernel` is a fast kernel this CPU supports; the shapes are checked and none is zero;
/// `c` describes `m × n` valid `f32`s that nothing else reads or writes during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    kernel: Bf16Kernel,
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
    PACKED.with(|bufs| {
        let mut bufs = bufs.borrow_mut();
        let Packed { a: pa, b: pb, sums, .. } = &mut *bufs;
        let geometry = pack::geometry(m, n, k);
        // SAFETY: the kernel is supported (the contract): the CPU has AVX-512 F, BW and
        // BF16, which the packing needs (both fast kernels require them).
        unsafe { pack::pack_a(a, ta, &geometry, pa) };
        let mut block = Block([[0.0; BLOCK]; BLOCK]);
        // SAFETY: `c` is this call's alone (the contract).
        let mut write = |i0: usize, j0: usize, block: &Block, first: bool| unsafe {
            write_back(block, i0, j0, alpha, if first { beta } else { 1.0 }, c)
        };
        match kernel {
            // SAFETY: AMX is available (the contract), and `pa` holds packed A.
            Bf16Kernel::Amx => unsafe { amx::gemm(&geometry, pa, b, tb, pb, sums, &mut write) },
            // SAFETY: AVX512-BF16 is available, and the buffers hold the packed operands.
            Bf16Kernel::Avx512Bf16 => unsafe {
                pack::pack_b(b, tb, &geometry, 0..geometry.n_pad / 16, pb);
                dpbf16::gemm(&geometry, pa, pb, &mut block, &mut write)
            },
            Bf16Kernel::Reference => unreachable!("only the fast kernels are packed"),
        }
    });
}

/// Rows and columns of `C` that one step of either kernel computes (a 2 × 2 block of AMX
/// tiles); `m` and `n` are padded to it.
const BLOCK: usize = 32;

/// One `BLOCK × BLOCK` block of `f32` sums, as the kernels store it (64-byte rows).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([[f32; BLOCK]; BLOCK]);

/// The packed operands, reused across calls so that steady-state calls allocate nothing.
#[derive(Default)]
struct Packed {
    a: Vec<pack::Line>,
    b: Vec<pack::Line>,
    /// The AMX kernel's sums of one cache block of C.
    sums: Vec<Block>,
    /// A panel of 32 finished rows for a sink (`sink.rs`).
    panel: Vec<f32>,
}

thread_local! {
    static PACKED: RefCell<Packed> = RefCell::new(Packed::default());
}

/// `C[i0 + r, j0 + s] = alpha · sum[r][s] + beta · C[…]` for the part of the block inside
/// `C` (`beta = 0` never reads `C`), with the roundings of [`super::fast::scaled_update`].
///
/// # Safety
/// `c` describes valid `f32`s that only this call reads or writes; a fast kernel is
/// supported (so AVX-512 F and FMA are).
unsafe fn write_back(sums: &Block, i0: usize, j0: usize, alpha: f32, beta: f32, c: RawC) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded contract (AVX-512 F and FMA, and `c`).
    unsafe {
        write_back_avx512(sums, i0, j0, alpha, beta, c)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: forwarded contract.
    unsafe {
        write_back_plain(sums, i0, j0, alpha, beta, c)
    }
}

/// [`write_back`] compiled for AVX-512 (one branch on `beta` per block, not per element, so
/// that the loops vectorise).
///
/// # Safety
/// As [`write_back`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn write_back_avx512(sums: &Block, i0: usize, j0: usize, alpha: f32, beta: f32, c: RawC) {
    // SAFETY: forwarded contract.
    unsafe { write_back_plain(sums, i0, j0, alpha, beta, c) };
}

/// # Safety
/// As [`write_back`] (without the CPU features).
#[inline(always)]
unsafe fn write_back_plain(sums: &Block, i0: usize, j0: usize, alpha: f32, beta: f32, c: RawC) {
    let rows = BLOCK.min(c.rows.saturating_sub(i0));
    let cols = BLOCK.min(c.cols.saturating_sub(j0));
    for (r, sum) in sums.0.iter().enumerate().take(rows) {
        // SAFETY: row i0 + r < c.rows, columns j0 .. j0 + cols ≤ c.cols of `c`, which this
        // call alone may touch (the contract).
        let dst = unsafe { std::slice::from_raw_parts_mut(c.ptr.add((i0 + r) * c.stride + j0), cols) };
        let pairs = dst.iter_mut().zip(&sum[..cols]);
        if beta == 0.0 {
            pairs.for_each(|(d, &s)| *d = alpha * s);
        } else if beta == 1.0 {
            pairs.for_each(|(d, &s)| *d += alpha * s);
        } else {
            pairs.for_each(|(d, &s)| *d = beta.mul_add(*d, alpha * s));
        }
    }
}

#[cfg(test)]
mod tests;
