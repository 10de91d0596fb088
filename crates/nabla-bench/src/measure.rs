//! What every measurement needs besides a clock: the process's peak resident memory (read
//! from `/proc`) and its reset between workloads, which first hands the heap's free pages
//! back (`malloc_trim`); one warm-up then timed passes; the median of the times.

/// The process's peak resident set size in MiB since the last [`reset_peak_rss`] (`VmHWM` of
/// `/proc/self/status`); `None` where that file does not exist.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// Starts a new peak-RSS measurement: Linux resets the process's high-water mark (`VmHWM`)
/// to the current RSS when `5` is written to `/proc/self/clear_refs`, so that each workload's
/// `peak_rss_mb` is its own peak (with the data it needs resident), not the largest of every
/// workload run before it in this process. Elsewhere, or if the write fails, the peak stays
/// the process's.
pub fn reset_peak_rss() {
    release_free_heap();
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Hands the heap's free pages back to the system (glibc keeps what loading the data freed,
/// e.g. the decompressed files, and the reset would count it as the workload's).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only returns free memory to the system; it takes no
    // pointers and is safe to call at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

/// One warm-up pass, then `repeats` (at least one) timed passes; their times in seconds.
pub(crate) fn timed_passes<E>(repeats: usize, mut pass: impl FnMut() -> Result<f64, E>) -> Result<Vec<f64>, E> {
    pass()?;
    (0..repeats.max(1)).map(|_| pass()).collect()
}

/// The median of `values` (the mean of the middle two for an even count; NaN for none).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_rss_restarts_after_a_reset() {
        // 256 MiB, touched (so resident), then returned to the system (a large allocation
        // is its own mapping): the peak keeps it until the reset, not after.
        let big = vec![1u8; 256 << 20];
        assert_eq!(big.iter().step_by(4096).map(|&b| usize::from(b)).sum::<usize>(), (256 << 20) / 4096);
        drop(big);
        let before = peak_rss_mb().expect("VmHWM on Linux");
        reset_peak_rss();
        let after = peak_rss_mb().expect("VmHWM on Linux");
        assert!(before >= 256.0 && after < before - 128.0, "peak {before} MiB before the reset, {after} after");
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
