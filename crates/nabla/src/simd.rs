//! Which vector instruction sets this CPU has, detected once and cached (the kernels that
//! choose at run time ask here), and [`widest_simd!`](crate::widest_simd), which runs an
//! element-wise loop compiled for the widest of them.

/// Calls an `#[inline(always)]` element-wise function compiled for the widest vector
/// instructions this CPU has: AVX-512F, else AVX2, else the baseline target (the library is
/// built for plain x86-64, whose SSE2 loops run a quarter or less of the lanes). Every lane
/// does the same IEEE operations in the same order (Rust never fuses a multiply and an add
/// on its own), so the bits do not depend on the choice.
#[macro_export]
#[doc(hidden)]
macro_rules! widest_simd {
    ($f:ident($($arg:expr),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            unsafe fn wide(f: impl FnOnce()) {
                f()
            }
            #[target_feature(enable = "avx2")]
            unsafe fn medium(f: impl FnOnce()) {
                f()
            }
            if $crate::simd::has_avx512f() {
                // SAFETY: AVX-512F was detected at run time.
                unsafe { wide(|| $f($($arg),*)) }
            } else if $crate::simd::has_avx2() {
                // SAFETY: AVX2 was detected at run time.
                unsafe { medium(|| $f($($arg),*)) }
            } else {
                $f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        $f($($arg),*)
    }};
}

/// Whether the CPU has AVX-512F.
pub fn has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512F: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512F.get_or_init(|| is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the CPU has AVX2.
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX2.get_or_init(|| is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The CPU's feature flags as the kernel lists them in `/proc/cpuinfo` (`avx512f`,
/// `avx512_vnni`, …): for the tests that check that every kernel the CPU can run was tested,
/// from a source independent of the run-time detection the kernels themselves use.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn cpu_flags() -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").expect("cannot read /proc/cpuinfo for the CPU's flags");
    let line = text.lines().find(|l| l.starts_with("flags")).expect("no flags line in /proc/cpuinfo");
    line.split_once(':').map_or("", |(_, f)| f).split_whitespace().map(String::from).collect()
}
