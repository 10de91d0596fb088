use proptest::prelude::*;

use super::*;
use crate::matrix::Matrix;
use crate::rng::Rng;

mod skinny;

fn run(
    kernel: Kernel,
    alpha: f32,
    a: &Matrix,
    ta: Transpose,
    b: &Matrix,
    tb: Transpose,
    beta: f32,
    c0: &Matrix,
) -> Matrix {
    let mut c = c0.clone();
    gemm_with(kernel, alpha, a.view(), ta, b.view(), tb, beta, c.view_mut()).unwrap();
    c
}

fn stored(t: Transpose, rows: usize, cols: usize, rng: &mut Rng) -> Matrix {
    let (r, c) = t.apply((rows, cols));
    Matrix::random_uniform(r, c, -1.0, 1.0, rng)
}

fn check(m: usize, n: usize, k: usize, ta: Transpose, tb: Transpose, alpha: f32, beta: f32, seed: u64) {
    let mut rng = Rng::new(seed);
    let a = stored(ta, m, k, &mut rng);
    let b = stored(tb, k, n, &mut rng);
    let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
    let want = run(Kernel::Reference, alpha, &a, ta, &b, tb, beta, &c0);
    let got = run(Kernel::Fast, alpha, &a, ta, &b, tb, beta, &c0);
    // f32 accumulation over k terms of size ≤ 1: error grows like k · ε.
    let tol = 1e-5 * (k as f32 + 1.0) * alpha.abs().max(1.0);
    let diff = want.max_abs_diff(&got).unwrap();
    assert!(diff <= tol, "m={m} n={n} k={k} {ta:?} {tb:?} alpha={alpha} beta={beta}: diff {diff} > {tol}");
    // Every SIMD kernel this CPU has, not only the one `gemm` picks.
    for (name, got) in fast::gemm_each_simd_kernel(alpha, a.view(), ta, b.view(), tb, beta, &c0) {
        let diff = want.max_abs_diff(&got).unwrap();
        assert!(diff <= tol, "{name} m={m} n={n} k={k} {ta:?} {tb:?} alpha={alpha} beta={beta}: diff {diff} > {tol}");
    }
}

const T: [Transpose; 2] = [Transpose::No, Transpose::Yes];

#[test]
fn by_hand_2x2_with_transposes() {
    let a = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
    let b = Matrix::from_rows(&[[5.0, 6.0], [7.0, 8.0]]);
    let zero = Matrix::zeros(2, 2);
    for kernel in [Kernel::Reference, Kernel::Fast] {
        assert_eq!(
            run(kernel, 1.0, &a, Transpose::No, &b, Transpose::No, 0.0, &zero).as_slice(),
            &[19.0, 22.0, 43.0, 50.0]
        );
        // Aᵀ·B = [[1,3],[2,4]]·B
        assert_eq!(
            run(kernel, 1.0, &a, Transpose::Yes, &b, Transpose::No, 0.0, &zero).as_slice(),
            &[26.0, 30.0, 38.0, 44.0]
        );
        // A·Bᵀ = A·[[5,7],[6,8]]
        assert_eq!(
            run(kernel, 1.0, &a, Transpose::No, &b, Transpose::Yes, 0.0, &zero).as_slice(),
            &[17.0, 23.0, 39.0, 53.0]
        );
        // 2·A·B + 1·C with C = ones
        let ones = Matrix::from_rows(&[[1.0, 1.0], [1.0, 1.0]]);
        assert_eq!(
            run(kernel, 2.0, &a, Transpose::No, &b, Transpose::No, 1.0, &ones).as_slice(),
            &[39.0, 45.0, 87.0, 101.0]
        );
    }
}

#[test]
fn beta_zero_overwrites_nan() {
    let a = Matrix::from_rows(&[[1.0]]);
    let c0 = Matrix::from_rows(&[[f32::NAN]]);
    for kernel in [Kernel::Reference, Kernel::Fast] {
        assert_eq!(run(kernel, 1.0, &a, Transpose::No, &a, Transpose::No, 0.0, &c0).as_slice(), &[1.0]);
    }
}

#[test]
fn shape_errors_name_the_operands() {
    let a = Matrix::zeros(2, 3);
    let b = Matrix::zeros(2, 3);
    let mut c = Matrix::zeros(2, 2);
    let err = gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut()).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch in gemm: op(A) 2×3 · op(B) 2×3 vs C 2×2");
    assert!(gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::Yes, 0.0, c.view_mut()).is_ok());
}

#[test]
fn edge_shapes_every_transpose() {
    let sizes = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 97, 129];
    let mut seed = 0;
    for &m in &[1, 5, 13, 17, 64, 67] {
        for &n in &sizes {
            for &k in &[1, 3, 16, 31, 257] {
                for ta in T {
                    for tb in T {
                        seed += 1;
                        check(m, n, k, ta, tb, 1.0, 0.0, seed);
                    }
                }
            }
        }
    }
}

#[test]
fn mlp_shapes() {
    check(64, 128, 784, Transpose::No, Transpose::Yes, 1.0, 0.0, 1); // forward: X·Wᵀ
    check(128, 784, 64, Transpose::Yes, Transpose::No, 1.0, 0.0, 2); // dW = dZᵀ·X
    check(64, 784, 128, Transpose::No, Transpose::No, 1.0, 0.0, 3); // dX = dZ·W
    check(300, 300, 300, Transpose::No, Transpose::No, 0.5, 1.0, 4);
}

#[test]
fn strided_views() {
    // Operate on the inner 5×6 block of a 9×11 buffer; the rest must stay untouched.
    let mut rng = Rng::new(5);
    let a = Matrix::random_uniform(5, 4, -1.0, 1.0, &mut rng);
    let b = Matrix::random_uniform(4, 6, -1.0, 1.0, &mut rng);
    for kernel in [Kernel::Reference, Kernel::Fast] {
        let mut buf = vec![7.0f32; 9 * 11];
        let view = MatMut::with_stride(&mut buf[2 * 11 + 3..], 5, 6, 11).unwrap();
        gemm_with(kernel, 1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, view).unwrap();
        let want = a.matmul(&b).unwrap();
        for i in 0..9 {
            for j in 0..11 {
                let v = buf[i * 11 + j];
                if (2..7).contains(&i) && (3..9).contains(&j) {
                    assert!((v - want.get(i - 2, j - 3)).abs() < 1e-5);
                } else {
                    assert_eq!(v, 7.0, "({i},{j}) touched by {kernel:?}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn fast_matches_reference(
        m in 1usize..80, n in 1usize..80, k in 1usize..300,
        ta in prop::bool::ANY, tb in prop::bool::ANY,
        alpha in prop::sample::select(vec![1.0f32, -0.5, 2.0]),
        beta in prop::sample::select(vec![0.0f32, 1.0, 0.25]),
        seed in 0u64..1000,
    ) {
        let t = |b: bool| if b { Transpose::Yes } else { Transpose::No };
        check(m, n, k, t(ta), t(tb), alpha, beta, seed);
    }
}

/// Runs fast vs reference with every operand a strided view inside a larger buffer filled
/// with a sentinel, and checks that nothing outside C's rectangle is touched.
fn check_strided(m: usize, n: usize, k: usize, ta: Transpose, tb: Transpose, alpha: f32, beta: f32, seed: u64) {
    const PAD: usize = 3;
    const SENTINEL: f32 = 12345.0;
    let mut rng = Rng::new(seed);
    let a = stored(ta, m, k, &mut rng);
    let b = stored(tb, k, n, &mut rng);
    let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
    // Embed a matrix at row 1, column 2 of a buffer PAD columns wider than it.
    let embed = |x: &Matrix| -> (Vec<f32>, usize) {
        let stride = x.cols() + PAD;
        let mut buf = vec![SENTINEL; (x.rows() + 2) * stride];
        for i in 0..x.rows() {
            buf[(i + 1) * stride + 2..(i + 1) * stride + 2 + x.cols()].copy_from_slice(x.row(i));
        }
        (buf, stride)
    };
    let (a_buf, a_stride) = embed(&a);
    let (b_buf, b_stride) = embed(&b);
    let a_view = MatRef::with_stride(&a_buf[a_stride + 2..], a.rows(), a.cols(), a_stride).unwrap();
    let b_view = MatRef::with_stride(&b_buf[b_stride + 2..], b.rows(), b.cols(), b_stride).unwrap();
    let want = run(Kernel::Reference, alpha, &a, ta, &b, tb, beta, &c0);
    let (mut c_buf, c_stride) = embed(&c0);
    let c_view = MatMut::with_stride(&mut c_buf[c_stride + 2..], m, n, c_stride).unwrap();
    gemm_with(Kernel::Fast, alpha, a_view, ta, b_view, tb, beta, c_view).unwrap();
    let tol = 1e-5 * (k as f32 + 1.0) * alpha.abs().max(1.0);
    for r in 0..m + 2 {
        for col in 0..c_stride {
            let v = c_buf[r * c_stride + col];
            if (1..=m).contains(&r) && (2..2 + n).contains(&col) {
                let diff = (v - want.get(r - 1, col - 2)).abs();
                assert!(diff <= tol, "m={m} n={n} k={k} {ta:?} {tb:?}: ({r},{col}) diff {diff} > {tol}");
            } else {
                assert_eq!(v, SENTINEL, "m={m} n={n} k={k} {ta:?} {tb:?}: ({r},{col}) outside C touched");
            }
        }
    }
}

type PortableGemm = fn(f32, MatRef<'_>, Transpose, MatRef<'_>, Transpose, f32, MatMut<'_>);

/// The portable micro-kernel on each kernel's tile shape, named.
const PORTABLE_TILES: [(&str, PortableGemm); 3] = [
    ("6x16", fast::gemm_portable::<{ fast::MR }, { fast::NR }>),
    ("16x16", fast::gemm_portable::<{ fast::MR_AVX512 }, { fast::NR }>),
    ("12x32", fast::gemm_portable::<{ fast::MR_X32 }, { fast::NR_X32 }>),
];

/// The portable micro-kernel against the reference (the SIMD one is chosen on most CPUs,
/// so it needs its own test).
fn check_portable(m: usize, n: usize, k: usize, ta: Transpose, tb: Transpose, alpha: f32, beta: f32, seed: u64) {
    let mut rng = Rng::new(seed);
    let a = stored(ta, m, k, &mut rng);
    let b = stored(tb, k, n, &mut rng);
    let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
    let want = run(Kernel::Reference, alpha, &a, ta, &b, tb, beta, &c0);
    let tol = 1e-5 * (k as f32 + 1.0) * alpha.abs().max(1.0);
    // Every tile shape's driver (the AVX2 kernel's 6 × 16, the AVX-512 kernels' 16 × 16
    // and 12 × 32).
    for (tile, gemm) in PORTABLE_TILES {
        let mut got = c0.clone();
        gemm(alpha, a.view(), ta, b.view(), tb, beta, got.view_mut());
        let diff = want.max_abs_diff(&got).unwrap();
        assert!(
            diff <= tol,
            "portable {tile} m={m} n={n} k={k} {ta:?} {tb:?} alpha={alpha} beta={beta}: diff {diff} > {tol}"
        );
    }
}

#[test]
fn portable_micro_kernel_every_transpose() {
    let mut seed = 10_000;
    for &(m, n, k) in &[
        (1, 1, 1),
        (5, 15, 3),
        (6, 16, 7),
        (7, 17, 31),
        (13, 33, 257),
        (16, 16, 9),
        (17, 31, 40),
        (64, 128, 100),
        (150, 40, 20),
    ] {
        for ta in T {
            for tb in T {
                for &(alpha, beta) in &[(1.0, 0.0), (-0.5, 1.0), (2.0, 0.25)] {
                    seed += 1;
                    check_portable(m, n, k, ta, tb, alpha, beta, seed);
                }
            }
        }
    }
}

#[test]
fn strided_views_every_transpose_and_tile_edge() {
    let mut seed = 20_000;
    for &(m, n, k) in &[(1, 1, 1), (6, 16, 5), (7, 17, 9), (12, 32, 3), (20, 50, 40), (49, 35, 300)] {
        for ta in T {
            for tb in T {
                for &(alpha, beta) in &[(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                    seed += 1;
                    check_strided(m, n, k, ta, tb, alpha, beta, seed);
                }
            }
        }
    }
}

#[test]
fn beta_zero_overwrites_nan_in_full_and_edge_tiles() {
    // 13×35 has full 6×16 tiles and partial ones in both directions.
    let mut rng = Rng::new(9);
    let a = Matrix::random_uniform(13, 20, -1.0, 1.0, &mut rng);
    let b = Matrix::random_uniform(20, 35, -1.0, 1.0, &mut rng);
    let nan = Matrix::from_vec(13, 35, vec![f32::NAN; 13 * 35]).unwrap();
    let want = run(Kernel::Reference, 1.0, &a, Transpose::No, &b, Transpose::No, 0.0, &nan);
    let got = run(Kernel::Fast, 1.0, &a, Transpose::No, &b, Transpose::No, 0.0, &nan);
    assert!(got.as_slice().iter().all(|x| x.is_finite()));
    assert!(want.max_abs_diff(&got).unwrap() < 1e-4);
    for (_, gemm) in PORTABLE_TILES {
        let mut portable = nan.clone();
        gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, portable.view_mut());
        assert!(want.max_abs_diff(&portable).unwrap() < 1e-4);
    }
}

#[test]
fn empty_inner_dimension_scales_c() {
    // k = 0: op(A)·op(B) is all zeros, so C = beta · C (and beta = 0 clears NaN).
    let a = Matrix::zeros(3, 0);
    let b = Matrix::zeros(0, 4);
    let c0 = Matrix::from_vec(3, 4, (0..12).map(|x| x as f32).collect()).unwrap();
    for kernel in [Kernel::Reference, Kernel::Fast] {
        let half = run(kernel, 1.0, &a, Transpose::No, &b, Transpose::No, 0.5, &c0);
        assert_eq!(half, c0.scale(0.5));
        let nan = Matrix::from_vec(3, 4, vec![f32::NAN; 12]).unwrap();
        assert_eq!(run(kernel, 1.0, &a, Transpose::No, &b, Transpose::No, 0.0, &nan), Matrix::zeros(3, 4));
    }
}

#[test]
fn several_cache_blocks_in_every_dimension() {
    // k > KC (several pc blocks accumulate onto beta·C), m > MC and n > NC.
    check(fast::MC + 7, 19, fast::KC * 2 + 5, Transpose::No, Transpose::No, 1.0, 0.5, 30_001);
    check(fast::MC * 2 + 1, 37, 3 * fast::KC + 1, Transpose::Yes, Transpose::Yes, -1.0, 1.0, 30_002);
    check(7, fast::NC + 21, 3, Transpose::No, Transpose::Yes, 1.0, 0.0, 30_003);
    check(13, fast::NC + 40, 2 * fast::KC + 3, Transpose::Yes, Transpose::No, 2.0, 0.25, 30_004);
    // The 12 × 32 kernel's blocks (larger MC, smaller NC), in every dimension at once.
    check(fast::MC_X32 + 13, fast::NC_X32 + 45, fast::KC + 3, Transpose::No, Transpose::No, 1.0, 0.5, 30_005);
    check(fast::MC_X32 + 1, fast::NC_X32 + 31, fast::KC + 1, Transpose::Yes, Transpose::Yes, 1.0, 0.0, 30_006);
}

#[test]
fn repeated_calls_with_shrinking_and_growing_shapes_reuse_buffers() {
    // The pack buffers are kept between calls; stale values must never leak into a result.
    for (i, &(m, n, k)) in [(100, 100, 300), (3, 5, 2), (67, 129, 257), (1, 1, 1), (64, 128, 784)].iter().enumerate() {
        check(m, n, k, Transpose::No, Transpose::Yes, 1.0, 0.0, 40_000 + i as u64);
    }
}

/// Threads split C into row bands (m ≥ n) or column bands (m < n) on the pool; every element
/// is computed the same way, so the result is bit-identical for every thread count, and
/// matches the reference. Every transpose, both split directions, band edges that are not
/// tile edges, and the betas the kernels treat apart.
#[test]
fn threads_give_identical_results() {
    let mut rng = Rng::new(77);
    let mut cases = vec![
        (128, 800, 784, Transpose::No, Transpose::Yes, 1.0, 1.0),
        (800, 784, 128, Transpose::Yes, Transpose::No, 1.0, 0.0),
    ];
    for ta in T {
        for tb in T {
            cases.push((70, 301, 260, ta, tb, 0.75, 0.5));
            cases.push((301, 70, 260, ta, tb, -1.25, 1.0));
            cases.push((97, 333, 129, ta, tb, 1.0, 0.0));
        }
    }
    let mut parallel_jobs = 0;
    for (m, n, k, ta, tb, alpha, beta) in cases {
        let a = stored(ta, m, k, &mut rng);
        let b = stored(tb, k, n, &mut rng);
        let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
        let mut results = Vec::new();
        for t in [1, 2, 3, 7] {
            let (r, parallel) = crate::pool::with_threads(t, || run(Kernel::Fast, alpha, &a, ta, &b, tb, beta, &c0));
            parallel_jobs += parallel;
            results.push(r);
        }
        for r in &results[1..] {
            assert_eq!(r, &results[0], "{m}x{n}x{k} {ta:?} {tb:?} alpha {alpha} beta {beta}");
        }
        let want = run(Kernel::Reference, alpha, &a, ta, &b, tb, beta, &c0);
        assert!(want.max_abs_diff(&results[0]).unwrap() < 2e-5 * k as f32);
    }
    // The comparison compared threaded runs, not serial ones (issue 21).
    assert!(parallel_jobs > 0, "no product ran on more than one thread");
}

/// Every SIMD kernel sums each element of `C` as one chain of fused multiply-adds over `k` in
/// order, split at the same `KC` blocks, so they give the same bits: which kernel a CPU picks
/// changes the speed of training, not its results. Edge tiles in both directions, several k
/// blocks, every transpose and the betas the write-back treats apart.
#[test]
fn simd_kernels_give_the_same_bits() {
    let mut rng = Rng::new(555);
    for &(m, n, k) in &[(13, 35, 20), (64, 128, 784), (37, 800, 300), (150, 49, 530)] {
        for ta in T {
            for tb in T {
                for &(alpha, beta) in &[(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                    let a = stored(ta, m, k, &mut rng);
                    let b = stored(tb, k, n, &mut rng);
                    let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
                    let results = fast::gemm_each_simd_kernel(alpha, a.view(), ta, b.view(), tb, beta, &c0);
                    for (name, got) in &results[1..] {
                        assert_eq!(got, &results[0].1, "{name} vs {}: {m}x{n}x{k} {ta:?} {tb:?}", results[0].0);
                    }
                }
            }
        }
    }
}

/// Which GEMM kernels ran, said and checked: every SIMD kernel the CPU's flags (read from
/// `/proc/cpuinfo`, not from the detection the kernels use) say it can run must be among
/// those the tests run, and the ones it lacks are printed as untested. CI runs this with
/// `--nocapture` so that its log says which kernels a run tested (issue 21).
#[cfg(target_os = "linux")]
#[test]
#[allow(clippy::print_stdout)] // the report is the point: CI shows it with --nocapture
fn kernel_report_every_gemm_kernel_the_cpu_can_run_is_tested() {
    let flags = crate::simd::cpu_flags();
    let has = |f: &str| flags.contains(f);
    let expected = [
        ("avx512f 12x32", has("avx512f")),
        ("avx512f 16x16", has("avx512f")),
        ("avx2+fma 6x16", has("avx2") && has("fma")),
    ];
    let mut rng = Rng::new(9);
    let (a, b) = (stored(Transpose::No, 37, 50, &mut rng), stored(Transpose::Yes, 50, 45, &mut rng));
    let c0 = Matrix::random_uniform(37, 45, -1.0, 1.0, &mut rng);
    let want = run(Kernel::Reference, 1.0, &a, Transpose::No, &b, Transpose::Yes, 0.5, &c0);
    let ran = fast::gemm_each_simd_kernel(1.0, a.view(), Transpose::No, b.view(), Transpose::Yes, 0.5, &c0);
    for (name, got) in &ran {
        assert!(want.max_abs_diff(got).unwrap() < 1e-3, "{name} disagrees with the reference");
    }
    let names: Vec<&str> = ran.iter().map(|(n, _)| *n).collect();
    let untested: Vec<&str> = expected.iter().filter(|(_, can)| !can).map(|(n, _)| *n).collect();
    println!(
        "gemm kernels tested on this CPU: {names:?} and portable 6x16; untested (the CPU lacks them): {untested:?}"
    );
    for (name, can) in expected {
        assert_eq!(names.contains(&name), can, "{name}: the CPU can run it: {can}; tested: {}", names.contains(&name));
    }
}

/// The 12 × 32 and 6 × 16 kernels reading `op(A)` in place (products with few rows) against
/// their packed drivers, bit for bit, and against the reference: B read in place (by the
/// 12 × 32 kernel: untransposed, short rows) and packed (transposed, or rows too far apart); tiles of 1–12
/// rows (each row-count variant of the 12 × 32 kernel) and 1–32 columns (the masks, and the
/// 6 × 16 kernel's full and partial tiles), several k blocks and, past
/// `NC_X32` columns, several column blocks; A and B stored densely and as views with rows
/// further apart than their length; every beta the write-back treats apart.
#[test]
fn in_place_a_matches_the_packed_driver_bit_for_bit() {
    let mut rng = Rng::new(2026);
    let mut compared = 0;
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (4, 32, 16),
        (5, 17, 300),
        (8, 31, 33),
        (12, 32, 256),
        (13, 33, 257),
        (29, 100, 520),
        (64, 128, 784),
        (67, 600, 90),
        (128, fast::NC_X32 + 45, fast::KC + 3),
    ];
    // A copy of `x` whose rows are `pad` values further apart than its length.
    let padded = |x: &Matrix, pad: usize| -> (Vec<f32>, usize) {
        let stride = x.cols() + pad;
        let mut buf = vec![f32::NAN; x.rows() * stride];
        for i in 0..x.rows() {
            buf[i * stride..i * stride + x.cols()].copy_from_slice(x.row(i));
        }
        (buf, stride)
    };
    const PADS: [usize; 2] = [0, 5];
    for &(m, n, k) in &shapes {
        for tb in T {
            for pad in PADS {
                for &(alpha, beta) in &[(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                    let a = stored(Transpose::No, m, k, &mut rng);
                    let b = stored(tb, k, n, &mut rng);
                    let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
                    let (a_buf, a_stride) = padded(&a, pad);
                    let (b_buf, b_stride) = padded(&b, pad);
                    let a_view = MatRef::with_stride(&a_buf, a.rows(), a.cols(), a_stride).unwrap();
                    let b_view = MatRef::with_stride(&b_buf, b.rows(), b.cols(), b_stride).unwrap();
                    let want = run(Kernel::Reference, alpha, &a, Transpose::No, &b, tb, beta, &c0);
                    let runs = fast::gemm_packed_and_in_place(alpha, a_view, Transpose::No, b_view, tb, beta, &c0);
                    for (name, packed, in_place) in runs {
                        let case = format!("{name} {m}x{n}x{k} {tb:?} pad {pad} alpha {alpha} beta {beta}");
                        assert_eq!(in_place, packed, "{case}");
                        let tol = 1e-5 * (k as f32 + 1.0) * 2.0;
                        let diff = want.max_abs_diff(&in_place).unwrap();
                        assert!(diff <= tol, "{case}: diff {diff} > {tol}");
                        compared += 1;
                    }
                }
            }
        }
    }
    // Each in-place driver the CPU can run must have run on every product, not been skipped.
    #[cfg(target_arch = "x86_64")]
    let fma = is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let fma = false;
    let kernels = usize::from(crate::simd::has_avx512f()) + usize::from(crate::simd::has_avx2() && fma);
    assert_eq!(compared, kernels * shapes.len() * 2 * PADS.len() * 3, "every product should take the in-place drivers");
}

/// The product split along its depth ([`gemm_by_depth`], a layer's `da = dz · W`) gives the
/// bits of the product split along `C`, at every thread count: depths of two to five blocks,
/// a last block shorter than the others, every transpose, the betas the write-back treats
/// apart, a `C` full of NaN under `beta = 0`, and products it leaves to [`gemm`].
#[test]
fn depth_split_gives_the_bits_of_the_split_along_c() {
    let mut rng = Rng::new(404);
    let mut cases = vec![
        (128, 1024, 1024, Transpose::No, Transpose::No, 1.0, 0.0),
        (64, 784, 600, Transpose::No, Transpose::No, 1.0, 0.0),
        (8, 8, 8, Transpose::No, Transpose::No, 1.0, 0.0),
        (300, 5, 2000, Transpose::No, Transpose::Yes, 1.0, 0.0),
    ];
    for ta in T {
        for tb in T {
            cases.push((70, 301, 700, ta, tb, 0.75, 0.5));
            cases.push((97, 130, 513, ta, tb, 1.0, 1.0));
            cases.push((33, 200, 1100, ta, tb, -1.25, 0.0));
        }
    }
    let (mut parallel_jobs, mut split) = (0, 0);
    for (m, n, k, ta, tb, alpha, beta) in cases {
        let a = stored(ta, m, k, &mut rng);
        let b = stored(tb, k, n, &mut rng);
        let mut c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
        if beta == 0.0 {
            c0.as_mut_slice().fill(f32::NAN);
        }
        let (want, _) = crate::pool::with_threads(1, || run(Kernel::Fast, alpha, &a, ta, &b, tb, beta, &c0));
        for t in [1, 2, 3, 4] {
            split += usize::from(depth::DepthSplit::of(t, (ta, tb), m, n, k).is_some());
            let (got, parallel) = crate::pool::with_threads(t, || {
                let mut c = c0.clone();
                gemm_by_depth(alpha, a.view(), ta, b.view(), tb, beta, c.view_mut()).unwrap();
                c
            });
            parallel_jobs += parallel;
            assert_eq!(got, want, "{m}x{n}x{k} {ta:?} {tb:?} alpha {alpha} beta {beta}, {t} threads");
        }
        let reference = run(Kernel::Reference, alpha, &a, ta, &b, tb, beta, &c0);
        assert!(reference.max_abs_diff(&want).unwrap() < 2e-5 * k as f32);
    }
    assert!(split >= 30 && parallel_jobs > 0, "the depth split ran {split} times, {parallel_jobs} parallel jobs");
    // A shape error names the operands, as gemm's does.
    let (a, b) = (Matrix::zeros(4, 5), Matrix::zeros(6, 7));
    let mut c = Matrix::zeros(4, 7);
    let err = gemm_by_depth(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut()).unwrap_err();
    assert!(err.to_string().contains("4×5") && err.to_string().contains("6×7"), "{err}");
}
