//! The AMX kernel: `tdpbf16ps` on tiles, written with `asm!` (Rust's AMX intrinsics are
//! unstable).
//!
//! An AMX core has eight tile registers of up to 16 rows × 64 bytes. `tdpbf16ps C, A, B`
//! takes a 16 × 32 bf16 tile of A, a 16 × 16 tile of bf16 pairs of B (pair g of column j at
//! row g, bytes 4j ..) and adds `A · B` into a 16 × 16 `f32` tile: 16 × 16 × 32 multiply-adds
//! in one instruction. The micro-kernel keeps a 2 × 2 block of C tiles (32 × 32) in
//! tmm0–tmm3 and, per 32-deep k block, loads two A tiles (tmm4, tmm5) and two B tiles
//! (tmm6, tmm7): four loads for four products, each tile loaded once and used twice.
//!
//! Linux hands out the 8 KiB of tile state only on request: the first use asks with
//! `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, once per process; without the
//! grant, the first tile instruction would kill the process with SIGILL.

use super::pack::{Geometry, Line, TILE};
use super::{Block, BLOCK};
use crate::gemm::Transpose;
use crate::matrix::MatRef;

/// Whether CPUID says AMX-TILE and AMX-BF16 (leaf 7, EDX bits 24 and 22).
pub(super) fn cpu_has_amx_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        // SAFETY: CPUID leaf 0 exists on every x86_64 CPU, and leaf 7 is read only when
        // leaf 0 says it exists. (Newer Rust made `__cpuid` safe; the block keeps the crate
        // building on its minimum version.)
        #[allow(unused_unsafe)]
        let edx = unsafe {
            if __cpuid(0).eax < 7 {
                return false;
            }
            __cpuid_count(7, 0).edx
        };
        edx & (1 << 22) != 0 && edx & (1 << 24) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the operating system let this process use the tile registers, asked once.
pub(super) fn permission_granted() -> bool {
    static GRANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *GRANTED.get_or_init(|| cpu_has_amx_bf16() && request_tile_permission())
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0`, as a raw system call (the
/// engine depends on no libc crate).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_permission() -> bool {
    const SYS_ARCH_PRCTL: usize = 158;
    const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
    const XFEATURE_XTILEDATA: usize = 18;
    let ret: isize;
    // SAFETY: arch_prctl with these arguments only changes the process's permitted XSAVE
    // features (or fails); `syscall` clobbers rcx and r11, declared here, and no memory.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL as isize => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, nomem),
        );
    }
    ret == 0
}

/// Other systems: not attempted (each has its own way to enable the tile state).
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn request_tile_permission() -> bool {
    false
}

/// Whether the AMX kernel can run: the instructions, the OS's grant, and AVX-512 BF16 for
/// the packing.
pub(super) fn available() -> bool {
    permission_granted() && super::pack::available()
}

/// The `ldtilecfg` operand: palette 1, then per tile register its bytes per row and rows.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// Every tile used here is 16 rows × 64 bytes: C (16 `f32`), A (32 bf16), B (16 pairs).
const CONFIG: TileConfig = {
    let mut c = TileConfig { palette: 1, start_row: 0, reserved: [0; 14], colsb: [0; 16], rows: [0; 16] };
    let mut t = 0;
    while t < 8 {
        c.colsb[t] = 64;
        c.rows[t] = 16;
        t += 1;
    }
    c
};

/// Bytes between two rows of every tile in memory: packed tiles are 64-byte lines, the
/// C block 32 `f32`.
const LINE: usize = 64;
const C_ROW: usize = BLOCK * 4;

/// Rows of `C` (of `op(A)`) in one cache block: its A block is `MC × 256` bf16, 64 KiB.
const MC: usize = 128;
/// Columns of `C` in one cache block: its sums are `MC × NC` f32, 128 KiB.
const NC: usize = 256;
/// k blocks of 32 in one cache block: a B panel of 32 columns is `256 × 32` bf16, 16 KiB.
const KB: usize = 8;

/// The whole product, blocked for the caches as GotoBLAS blocks the f32 GEMM: for each
/// `MC × NC` block of C, for each 256-deep slice of k, for each 32 columns (a B panel that
/// stays in L1), for each 32 rows (from an A block that stays in L2), the 2 × 2 tile block
/// adds into `sums`; then `write(i0, j0, block, true)` for each 32 × 32 block of the
/// finished C block (all of k in one chain per element, so every block applies `beta`;
/// the AMX products are not split along their depth, see [`super::gemm_by_depth`]). Without the blocking (the whole of k at once, every A row streaming past every B
/// panel) a 1024² product ran at a third of the kernel's in-cache speed.
///
/// # Safety
/// AMX is available ([`available`]); `pa` holds the packed A of `g`, and `op(B)` is `b`
/// read through `tb`.
pub(super) unsafe fn gemm(
    g: &Geometry,
    pa: &[Line],
    b: MatRef<'_>,
    tb: Transpose,
    pb: &mut Vec<Line>,
    sums: &mut Vec<Block>,
    write: &mut impl FnMut(usize, usize, &Block, bool),
) {
    let strip = g.strip_lines();
    assert!(pa.len() >= g.m_pad / 16 * strip, "packed A too short");
    assert!(g.kbs > 0, "empty k");
    let per_row = NC / BLOCK;
    if sums.len() < MC / BLOCK * per_row {
        sums.resize(MC / BLOCK * per_row, Block([[0.0; BLOCK]; BLOCK]));
    }
    // SAFETY: the tile state is granted (the contract); CONFIG is 64 bytes and aligned.
    unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
    for jc in (0..g.n_pad).step_by(NC) {
        let nc = NC.min(g.n_pad - jc);
        // B is packed a slab of NC columns at a time, just before its use: the packed slab
        // (NC × k bf16) stays in L2 instead of a whole packed B going out to memory.
        // SAFETY: the CPU has AVX-512 F, BW and BF16 (AMX's `available` includes them).
        unsafe { super::pack::pack_b(b, tb, g, jc / 16..(jc + nc) / 16, pb) };
        for ic in (0..g.m_pad).step_by(MC) {
            let mc = MC.min(g.m_pad - ic);
            for q0 in (0..g.kbs).step_by(KB) {
                let kb = KB.min(g.kbs - q0);
                for jb in (0..nc).step_by(BLOCK) {
                    let b = pb[jb / 16 * strip + q0 * TILE..].as_ptr();
                    for ib in (0..mc).step_by(BLOCK) {
                        let a = pa[(ic + ib) / 16 * strip + q0 * TILE..].as_ptr();
                        let block = &mut sums[ib / BLOCK * per_row + jb / BLOCK];
                        // SAFETY: strips (ic + ib)/16 and the next of A lie in `pa` (m_pad
                        // is a multiple of 32), slivers jb/16 and the next of the slab in
                        // `pb`; tiles q0 .. q0 + kb ≤ kbs of each; the block is 32 × 32 f32;
                        // the tiles are configured.
                        unsafe { block_2x2(a, a.add(strip), b, b.add(strip), kb, q0 > 0, block) };
                        // A finished block is written at once, so that its stores to C
                        // (cache misses: C is written nowhere else) overlap the next
                        // block's tile products; written after the whole C block, they
                        // took a fifth of a 2048² product's time.
                        if q0 + kb == g.kbs {
                            write(ic + ib, jc + jb, block, true);
                        }
                    }
                }
            }
        }
    }
    // SAFETY: releases the tile state this thread configured above.
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
}

/// The product a row panel at a time, for a sink (`super::sink`): for each 32 rows, every
/// 32 × 32 block across the columns is summed over all of k at once and handed over with
/// `write(i0, j0, block)`, left to right, so that the caller holds a panel of 32 finished
/// rows when the last block of a row arrives. The A strips (32 rows × k) stay in L1 while
/// the packed B, all of it at once (at most 1 MiB for the depths a sink takes), streams
/// from L2.
///
/// The bits of [`gemm`]: it sums each element in chunks of [`KB`] tiles, storing the f32
/// sums between chunks and loading them back, which changes no bit; here one chain runs
/// over every tile.
///
/// # Safety
/// AMX is available ([`available`]); `pa` and `pb` hold the packed operands of `g` (all of
/// B's slivers).
pub(super) unsafe fn gemm_by_row_panels(
    g: &Geometry,
    pa: &[Line],
    pb: &[Line],
    block: &mut Block,
    write: &mut impl FnMut(usize, usize, &Block),
) {
    let strip = g.strip_lines();
    assert!(pa.len() >= g.m_pad / 16 * strip && pb.len() >= g.n_pad / 16 * strip, "packed operands too short");
    assert!(g.kbs > 0, "empty k");
    // SAFETY: the tile state is granted (the contract); CONFIG is 64 bytes and aligned.
    unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
    for i0 in (0..g.m_pad).step_by(BLOCK) {
        let a = pa[i0 / 16 * strip..].as_ptr();
        for j0 in (0..g.n_pad).step_by(BLOCK) {
            let b = pb[j0 / 16 * strip..].as_ptr();
            // SAFETY: strips i0/16 and the next of A lie in `pa`, slivers j0/16 and the next
            // in `pb` (m_pad and n_pad are multiples of 32), `kbs` tiles each; the block is
            // 32 × 32 f32; the tiles are configured.
            unsafe { block_2x2(a, a.add(strip), b, b.add(strip), g.kbs, false, block) };
            write(i0, j0, block);
        }
    }
    // SAFETY: releases the tile state this thread configured above.
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
}

/// `block = [A0; A1] · [B0, B1]` (plus `block` if `accumulate`) over `kbs` k blocks: A0, A1
/// two strips of 16 rows, B0, B1 two slivers of 16 columns, each `kbs` consecutive 1 KiB
/// tiles.
///
/// # Safety
/// The tiles are configured as [`CONFIG`]; each pointer starts `kbs` tiles; `kbs ≥ 1`.
#[inline(always)]
unsafe fn block_2x2(
    a0: *const Line,
    a1: *const Line,
    b0: *const Line,
    b1: *const Line,
    kbs: usize,
    accumulate: bool,
    block: &mut Block,
) {
    let out = block.0.as_mut_ptr().cast::<f32>();
    if accumulate {
        // SAFETY: reads the four 16 × 16 f32 tiles of the 32 × 32 block (see below).
        unsafe {
            std::arch::asm!(
                "tileloadd tmm0, [{out} + {crow}*1]",
                "tileloadd tmm1, [{out} + {crow}*1 + 64]",
                "tileloadd tmm2, [{out} + {crow}*1 + {lower}]",
                "tileloadd tmm3, [{out} + {crow}*1 + {lower} + 64]",
                out = in(reg) out,
                crow = in(reg) C_ROW,
                lower = const 16 * C_ROW,
                options(nostack, readonly),
            );
        }
    } else {
        // SAFETY: only tile registers change.
        unsafe {
            std::arch::asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem))
        };
    }
    // SAFETY: the loads read `kbs` tiles of 1 KiB from each pointer (the contract); the
    // stores write four 16 × 16 f32 tiles at rows 0/16 and columns 0/16 of the 32 × 32
    // block, 128 bytes a row; only tile registers, the pointers and `kbs` are changed.
    unsafe {
        std::arch::asm!(
            "2:",
            "tileloadd tmm4, [{a0} + {line}*1]",
            "tileloadd tmm6, [{b0} + {line}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b1} + {line}*1]",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a1} + {line}*1]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "add {a0}, {tile}",
            "add {a1}, {tile}",
            "add {b0}, {tile}",
            "add {b1}, {tile}",
            "dec {kbs}",
            "jnz 2b",
            "tilestored [{out} + {crow}*1], tmm0",
            "tilestored [{out} + {crow}*1 + 64], tmm1",
            "tilestored [{out} + {crow}*1 + {lower}], tmm2",
            "tilestored [{out} + {crow}*1 + {lower} + 64], tmm3",
            a0 = inout(reg) a0 => _,
            a1 = inout(reg) a1 => _,
            b0 = inout(reg) b0 => _,
            b1 = inout(reg) b1 => _,
            kbs = inout(reg) kbs => _,
            out = in(reg) out,
            line = in(reg) LINE,
            crow = in(reg) C_ROW,
            tile = const TILE * 64,
            lower = const 16 * C_ROW,
            options(nostack),
        );
    }
}
