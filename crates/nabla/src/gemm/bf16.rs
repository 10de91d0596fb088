//! Mixed-precision GEMM: `C = alpha · op(A) · op(B) + beta · C` with `A` and `B` rounded to
//! bfloat16 (to nearest, ties to even, as `torch.autocast` rounds) and the products summed
//! in `f32`. `C`, `alpha` and `beta` stay `f32`. Shape letters as in [`super`]: `op(A)` is
//! `m × k`, `op(B)` is `k × n`, `C` is `m × n`.
//!
//! Three kernels sit behind one entry point:
//!
//! - [`reference`]: three loops over the bf16-rounded inputs, summed in `f64`: the truth.
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
//! `f32` accumulation error. Single-threaded for now.

mod amx;
mod dpbf16;
mod pack;
pub mod reference;

use std::cell::RefCell;

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
    Bf16Kernel::FAST.into_iter().find(|k| k.supported())
}

/// What the CPU reports about bf16 arithmetic, for an error message or a report: which
/// instruction sets it has and whether the OS granted the AMX tile state.
pub fn capability() -> String {
    format!(
        "amx-bf16 {} (cpuid {}, tile permission {}), avx512-bf16 {}",
        yes(amx::available()),
        yes(amx::cpu_has_amx_bf16()),
        yes(amx::permission_granted()),
        yes(pack::available())
    )
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
    let kernel = best_kernel().ok_or_else(|| Error::Invalid {
        name: "precision",
        value: "bf16".into(),
        reason: format!("this CPU has no bf16 matrix instructions ({})", capability()),
    })?;
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
    PACKED.with(|bufs| {
        let mut bufs = bufs.borrow_mut();
        let Packed { a: pa, b: pb, sums } = &mut *bufs;
        let geometry = pack::geometry(m, n, k);
        // SAFETY: `kernel.supported()` said the CPU has AVX-512 F, BW and BF16, which the
        // packing needs (both fast kernels require them).
        unsafe { pack::pack_a(a, ta, &geometry, pa) };
        let mut block = Block([[0.0; BLOCK]; BLOCK]);
        let mut write = |i0: usize, j0: usize, block: &Block| write_back(block, i0, j0, alpha, beta, &mut c);
        match kernel {
            // SAFETY: AMX is available (`supported`), and `pa` holds packed A.
            Bf16Kernel::Amx => unsafe { amx::gemm(&geometry, pa, b, tb, pb, sums, &mut write) },
            // SAFETY: AVX512-BF16 is available, and the buffers hold the packed operands.
            Bf16Kernel::Avx512Bf16 => unsafe {
                pack::pack_b(b, tb, &geometry, 0..geometry.n_pad / 16, pb);
                dpbf16::gemm(&geometry, pa, pb, &mut block, &mut write)
            },
            Bf16Kernel::Reference => unreachable!("handled above"),
        }
    });
    Ok(())
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
}

thread_local! {
    static PACKED: RefCell<Packed> = RefCell::new(Packed::default());
}

/// `C[i0 + r, j0 + s] = alpha · sum[r][s] + beta · C[…]` for the part of the block inside
/// `C` (`beta = 0` never reads `C`), with the roundings of [`super::fast::scaled_update`].
fn write_back(sums: &Block, i0: usize, j0: usize, alpha: f32, beta: f32, c: &mut MatMut<'_>) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only the fast kernels write back, and both run only where AVX-512 F (and so
    // FMA) was detected.
    unsafe {
        write_back_avx512(sums, i0, j0, alpha, beta, c)
    }
    #[cfg(not(target_arch = "x86_64"))]
    write_back_plain(sums, i0, j0, alpha, beta, c)
}

/// [`write_back`] compiled for AVX-512 (one branch on `beta` per block, not per element, so
/// that the loops vectorise).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn write_back_avx512(sums: &Block, i0: usize, j0: usize, alpha: f32, beta: f32, c: &mut MatMut<'_>) {
    write_back_plain(sums, i0, j0, alpha, beta, c);
}

#[inline(always)]
fn write_back_plain(sums: &Block, i0: usize, j0: usize, alpha: f32, beta: f32, c: &mut MatMut<'_>) {
    let rows = BLOCK.min(c.rows().saturating_sub(i0));
    let cols = BLOCK.min(c.cols().saturating_sub(j0));
    for (r, sum) in sums.0.iter().enumerate().take(rows) {
        let dst = &mut c.row_mut(i0 + r)[j0..j0 + cols];
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
