//! Which micro-kernel [`super::gemm`] runs on this CPU: decided once, from the instruction
//! sets and the CPU's vendor, and cached.
//!
//! The two AVX-512 kernels suit different cores. Zen 4 runs a 512-bit FMA as two 256-bit
//! halves, one a cycle, and the 16 × 16 tile with its A values broadcast straight into the
//! FMAs is at its best there. Intel's AVX-512 cores start two full 512-bit FMAs and two
//! loads a cycle, and that tile's one load per FMA holds them to about half of peak: the
//! 12 × 32 tile, with 14 loads per 24 FMAs, is theirs. CPUID's vendor string tells the two
//! apart; every SIMD kernel gives the same bits, so the choice changes only the speed.

use std::sync::OnceLock;

/// The micro-kernels: an instruction set and a tile shape each.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum KernelKind {
    /// AVX-512F, `12 × 32` tiles: for cores with two full 512-bit FMA units (Intel).
    Avx512X32,
    /// AVX-512F, `16 × 16` tiles: for cores that split a 512-bit FMA in two (AMD Zen 4).
    Avx512,
    /// AVX2 and FMA, `6 × 16` tiles.
    Avx2Fma,
    /// Plain Rust that the compiler vectorises for the baseline target, `6 × 16` tiles.
    Portable,
}

impl KernelKind {
    /// Every kernel, strongest first (the order in which `NABLA_GEMM_ISA` caps the choice).
    pub const ALL: [KernelKind; 4] =
        [KernelKind::Avx512X32, KernelKind::Avx512, KernelKind::Avx2Fma, KernelKind::Portable];

    /// The SIMD kernels (the ones the tests run beside the portable one).
    #[cfg(test)]
    pub const SIMD: [KernelKind; 3] = [KernelKind::Avx512X32, KernelKind::Avx512, KernelKind::Avx2Fma];

    /// Whether this CPU can run the kernel (checked at run time).
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return match self {
            KernelKind::Avx512X32 | KernelKind::Avx512 => crate::simd::has_avx512f(),
            KernelKind::Avx2Fma => crate::simd::has_avx2() && is_x86_feature_detected!("fma"),
            KernelKind::Portable => true,
        };
        #[cfg(not(target_arch = "x86_64"))]
        return self == KernelKind::Portable;
    }

    /// The kernel's name in reports, e.g. `"avx512f 12x32"`.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Avx512X32 => "avx512f 12x32",
            KernelKind::Avx512 => "avx512f 16x16",
            KernelKind::Avx2Fma => "avx2+fma 6x16",
            KernelKind::Portable => "portable 6x16",
        }
    }

    /// The name `NABLA_GEMM_ISA` forces the kernel by.
    fn env_name(self) -> &'static str {
        match self {
            KernelKind::Avx512X32 => "avx512x32",
            KernelKind::Avx512 => "avx512",
            KernelKind::Avx2Fma => "avx2",
            KernelKind::Portable => "portable",
        }
    }

    /// Rows of `C` per micro-tile: the unit in which threads split the rows of `C`.
    pub fn tile_rows(self) -> usize {
        match self {
            KernelKind::Avx512X32 => super::MR_X32,
            KernelKind::Avx512 => super::MR_AVX512,
            KernelKind::Avx2Fma | KernelKind::Portable => super::MR,
        }
    }

    /// The unit in which threads split the rows of `C`: the fewest rows the kernel computes
    /// without waste. The 12 × 32 kernel runs an edge tile of 1–4 or 5–8 rows as a 4- or
    /// 8-row loop, so bands of 4 rows balance better than bands of whole tiles: W1's first
    /// layer (128 rows) splits 64 / 64 instead of 72 / 56.
    pub fn band_rows(self) -> usize {
        match self {
            KernelKind::Avx512X32 => 4,
            other => other.tile_rows(),
        }
    }

    /// Columns of `C` per micro-tile: the unit in which threads split the columns of `C`.
    pub fn tile_cols(self) -> usize {
        match self {
            KernelKind::Avx512X32 => super::NR_X32,
            KernelKind::Avx512 | KernelKind::Avx2Fma | KernelKind::Portable => super::NR,
        }
    }
}

/// The kernel for this CPU, decided once. `NABLA_GEMM_ISA` names a kernel to force, to
/// compare them on one machine (`avx512x32`, `avx512`, `avx2`, `portable`); one this CPU
/// lacks gives way to the strongest weaker one it has.
pub(super) fn selected() -> KernelKind {
    static CHOICE: OnceLock<KernelKind> = OnceLock::new();
    *CHOICE.get_or_init(|| choose(&std::env::var("NABLA_GEMM_ISA").unwrap_or_default(), cpu_vendor_is_intel()))
}

/// The rule of [`selected`]: the forced kernel `forced` (an `env_name`, or anything else for
/// none), else by vendor among the kernels this CPU supports.
fn choose(forced: &str, intel: bool) -> KernelKind {
    let supported = |k: &KernelKind| k.supported();
    if let Some(at) = KernelKind::ALL.iter().position(|k| k.env_name() == forced) {
        return KernelKind::ALL[at..].iter().copied().find(supported).unwrap_or(KernelKind::Portable);
    }
    let for_this_vendor = |k: &KernelKind| match k {
        KernelKind::Avx512X32 => intel,
        KernelKind::Avx512 => !intel,
        KernelKind::Avx2Fma | KernelKind::Portable => true,
    };
    KernelKind::ALL.into_iter().filter(for_this_vendor).find(supported).unwrap_or(KernelKind::Portable)
}

/// Whether CPUID's vendor string says `GenuineIntel`.
fn cpu_vendor_is_intel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: CPUID leaf 0 (the vendor string) exists on every x86_64 CPU. (Newer Rust
        // made `__cpuid` safe; the block keeps the crate building on its minimum version.)
        #[allow(unused_unsafe)]
        let id = unsafe { std::arch::x86_64::__cpuid(0) };
        let mut vendor = [0u8; 12];
        vendor[..4].copy_from_slice(&id.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&id.edx.to_le_bytes());
        vendor[8..].copy_from_slice(&id.ecx.to_le_bytes());
        &vendor == b"GenuineIntel"
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(test)]
mod tests {
    use super::{choose, KernelKind};

    /// The vendor picks between the AVX-512 kernels; a forced name wins, and one the CPU
    /// lacks gives way to the strongest weaker kernel it has.
    #[test]
    fn vendor_and_forced_names_choose_the_kernel() {
        let best =
            |intel| KernelKind::ALL.into_iter().find(|k| k.supported() && (intel || *k != KernelKind::Avx512X32));
        if KernelKind::Avx512.supported() {
            assert_eq!(choose("", true), KernelKind::Avx512X32);
            assert_eq!(choose("", false), KernelKind::Avx512);
            assert_eq!(choose("avx512x32", false), KernelKind::Avx512X32);
            assert_eq!(choose("avx512", true), KernelKind::Avx512);
        } else {
            assert_eq!(Some(choose("", true)), best(true));
            assert_eq!(choose("avx512x32", true), choose("", false), "falls to the best kernel below");
        }
        assert_eq!(choose("portable", true), KernelKind::Portable);
        assert_eq!(choose("no such kernel", false), best(false).unwrap());
        let avx2 = choose("avx2", true);
        assert!(avx2 == KernelKind::Avx2Fma || avx2 == KernelKind::Portable);
    }
}
