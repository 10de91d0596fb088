//! Which vector instruction sets this CPU has, detected once and cached (the kernels that
//! choose at run time ask here).

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
