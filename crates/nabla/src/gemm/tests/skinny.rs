//! The skinny kernels (products into at most 12 columns with a transposed B, a classifier's
//! output layer): against the reference at every thread count, each kernel against the
//! others, and the bits recorded on AVX-512.

use super::{run, stored};
use crate::gemm::{fast, Kernel, Transpose};
use crate::matrix::Matrix;
use crate::rng::Rng;

/// Products with at most 12 columns and a transposed B (a forward pass into ten outputs) take
/// the unpacked AVX-512 kernel where the CPU has it: against the reference, with k below,
/// at and past multiples of 16, odd row counts, every beta the write-back treats apart, and
/// the same bits at every thread count.
#[test]
fn skinny_products_match_the_reference_at_every_thread_count() {
    let mut rng = Rng::new(123);
    let mut parallel_jobs = 0;
    for &(m, n, k) in
        &[(1, 5, 700), (3, 1, 200), (37, 10, 100), (64, 12, 784), (129, 10, 1024), (1000, 10, 800), (7, 11, 17)]
    {
        for &(alpha, beta) in &[(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
            let a = stored(Transpose::No, m, k, &mut rng);
            let b = stored(Transpose::Yes, k, n, &mut rng);
            let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
            let want = run(Kernel::Reference, alpha, &a, Transpose::No, &b, Transpose::Yes, beta, &c0);
            let mut results = Vec::new();
            for t in [1, 2, 3] {
                let (r, parallel) = crate::pool::with_threads(t, || {
                    run(Kernel::Fast, alpha, &a, Transpose::No, &b, Transpose::Yes, beta, &c0)
                });
                parallel_jobs += parallel;
                results.push(r);
            }
            let tol = 1e-5 * (k as f32 + 1.0) * 2.0;
            let diff = want.max_abs_diff(&results[0]).unwrap();
            assert!(diff <= tol, "{m}x{n}x{k} alpha {alpha} beta {beta}: diff {diff} > {tol}");
            assert!(results.iter().all(|r| r == &results[0]), "{m}x{n}x{k}: thread counts differ");
        }
    }
    assert!(parallel_jobs > 0, "no product ran on more than one thread");
}

/// The skinny kernels (AVX-512: four rows of A, 16 lanes in one zmm; AVX2: one row, 16 lanes
/// in two ymm halves) run the same 16 chains of fused multiply-adds and add the lanes in the
/// same tree, so they give the same bits: a classifier's output layer computes the same on an
/// AVX2 CPU as on an AVX-512 one. Every skinny kernel this CPU has, against each other and
/// the reference; every column count up to 12, k short of, at and past multiples of 8 and 16,
/// an odd row count, the betas the write-back treats apart, NaN in C under beta 0.
#[cfg(target_arch = "x86_64")]
#[test]
fn every_skinny_kernel_gives_the_same_bits() {
    let mut rng = Rng::new(77);
    for n in 1..=fast::SKINNY_N {
        for &k in &[1, 7, 8, 15, 16, 17, 40, 100, 784] {
            for &(alpha, beta) in &[(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                let m = 5;
                let a = stored(Transpose::No, m, k, &mut rng);
                let b = stored(Transpose::Yes, k, n, &mut rng);
                let mut c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
                if beta == 0.0 {
                    c0.set(m - 1, n - 1, f32::NAN);
                }
                let want = run(Kernel::Reference, alpha, &a, Transpose::No, &b, Transpose::Yes, beta, &c0);
                let each = fast::skinny_each_kernel(alpha, a.view(), b.view(), beta, &c0);
                assert!(!each.is_empty(), "x86_64 CPUs this project runs on have AVX2 at least");
                for (name, got) in &each {
                    let diff = want.max_abs_diff(got).unwrap();
                    assert!(diff <= 2e-5 * (k as f32 + 1.0), "{name} {m}x{n}x{k} beta {beta}: diff {diff}");
                    assert_eq!(got, &each[0].1, "{name} vs {}: {m}x{n}x{k} beta {beta}", each[0].0);
                }
            }
        }
    }
}

/// The skinny kernels' bits on a fixed product, recorded on Zen 4's AVX-512 kernel: an AVX2
/// CPU's kernel must give them too (the test above compares the kernels of one CPU; this one
/// compares CPUs). The product: 7 rows of k = 803 (50 steps of 16 and 3 more) into 10 columns.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_skinny_bits_are_the_ones_recorded_on_avx512() {
    let mut rng = Rng::new(2026);
    let (m, n, k) = (7, 10, 803);
    let a = stored(Transpose::No, m, k, &mut rng);
    let b = stored(Transpose::Yes, k, n, &mut rng);
    let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
    let each = fast::skinny_each_kernel(0.75, a.view(), b.view(), 0.5, &c0);
    assert!(!each.is_empty(), "x86_64 CPUs this project runs on have AVX2 at least");
    for (name, got) in each {
        let print: u64 = got
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 1).wrapping_mul(u64::from(v.to_bits())))
            .fold(0, u64::wrapping_add);
        assert_eq!(print, RECORDED_SKINNY_BITS, "{name}: {print:#x}");
    }
}

/// What `the_skinny_bits_are_the_ones_recorded_on_avx512` computes on AVX-512.
#[cfg(target_arch = "x86_64")]
const RECORDED_SKINNY_BITS: u64 = 0x456_8193_63c2;
