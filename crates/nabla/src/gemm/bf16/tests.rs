use proptest::prelude::*;

use super::reference::round_bf16;
use super::*;
use crate::matrix::Matrix;
use crate::rng::Rng;

fn run(
    kernel: Bf16Kernel,
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

/// The fast kernels this CPU runs: every one the tests must check.
fn fast_kernels() -> Vec<Bf16Kernel> {
    Bf16Kernel::FAST.into_iter().filter(|k| k.supported()).collect()
}

/// `f32` sums over k terms of size ≤ 1: the error grows like k · ε(f32).
fn tolerance(k: usize, alpha: f32) -> f32 {
    1e-5 * (k as f32 + 1.0) * alpha.abs().max(1.0)
}

fn check(m: usize, n: usize, k: usize, ta: Transpose, tb: Transpose, alpha: f32, beta: f32, seed: u64) {
    let mut rng = Rng::new(seed);
    let a = stored(ta, m, k, &mut rng);
    let b = stored(tb, k, n, &mut rng);
    let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
    let want = run(Bf16Kernel::Reference, alpha, &a, ta, &b, tb, beta, &c0);
    let tol = tolerance(k, alpha);
    for kernel in fast_kernels() {
        let got = run(kernel, alpha, &a, ta, &b, tb, beta, &c0);
        let diff = want.max_abs_diff(&got).unwrap();
        assert!(
            diff <= tol,
            "{} m={m} n={n} k={k} {ta:?} {tb:?} alpha={alpha} beta={beta}: diff {diff} > {tol}",
            kernel.name()
        );
    }
}

const T: [Transpose; 2] = [Transpose::No, Transpose::Yes];

/// A CPU that reports a bf16 instruction set must have its kernel run: the test fails
/// rather than skips if, say, the OS refused the AMX tiles. Prints what it found (CI's kernel
/// report step runs every `kernel_report_…` test with `--nocapture`).
#[test]
#[allow(clippy::print_stderr)]
fn kernel_report_every_bf16_kernel_the_cpu_reports_runs() {
    // The kernel's view of the CPU (/proc/cpuinfo) must agree with CPUID's.
    #[cfg(target_os = "linux")]
    {
        let flags = crate::simd::cpu_flags();
        assert_eq!(flags.contains("amx_bf16") && flags.contains("amx_tile"), amx::cpu_has_amx_bf16(), "AMX-BF16");
    }
    eprintln!(
        "bf16 kernels tested: {:?} ({})",
        fast_kernels().iter().map(|k| k.name()).collect::<Vec<_>>(),
        capability()
    );
    let a = Matrix::from_rows(&[[1.0, 2.0]]);
    let mut c = Matrix::zeros(1, 1);
    if amx::cpu_has_amx_bf16() {
        assert!(amx::permission_granted(), "CPUID says AMX-BF16 but Linux refused the tile state");
        assert!(Bf16Kernel::Amx.supported(), "CPUID says AMX-BF16 but the AMX kernel cannot run");
        let ran = gemm(1.0, a.view(), Transpose::No, a.view(), Transpose::Yes, 0.0, c.view_mut()).unwrap();
        assert_eq!(ran, Bf16Kernel::Amx, "the AMX kernel did not run");
        assert_eq!(c.as_slice(), &[5.0]);
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512bf16") {
        assert!(Bf16Kernel::Avx512Bf16.supported(), "CPUID says AVX512-BF16 but its kernel cannot run");
    }
    match best_kernel() {
        Some(kernel) => {
            assert_eq!(gemm(1.0, a.view(), Transpose::No, a.view(), Transpose::Yes, 0.0, c.view_mut()), Ok(kernel))
        }
        None => {
            let err = gemm(1.0, a.view(), Transpose::No, a.view(), Transpose::Yes, 0.0, c.view_mut()).unwrap_err();
            assert!(err.to_string().contains("no bf16 matrix instructions"), "{err}");
        }
    }
}

#[test]
fn by_hand_2x2_with_transposes() {
    // Small integers are exact in bf16, and their sums in f32: every kernel gives these.
    let a = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
    let b = Matrix::from_rows(&[[5.0, 6.0], [7.0, 8.0]]);
    let zero = Matrix::zeros(2, 2);
    let ones = Matrix::from_rows(&[[1.0, 1.0], [1.0, 1.0]]);
    for kernel in [Bf16Kernel::Reference].into_iter().chain(fast_kernels()) {
        let r = |ta, tb, alpha, beta, c: &Matrix| run(kernel, alpha, &a, ta, &b, tb, beta, c).into_vec();
        assert_eq!(r(Transpose::No, Transpose::No, 1.0, 0.0, &zero), [19.0, 22.0, 43.0, 50.0], "{}", kernel.name());
        assert_eq!(r(Transpose::Yes, Transpose::No, 1.0, 0.0, &zero), [26.0, 30.0, 38.0, 44.0], "{}", kernel.name());
        assert_eq!(r(Transpose::No, Transpose::Yes, 1.0, 0.0, &zero), [17.0, 23.0, 39.0, 53.0], "{}", kernel.name());
        assert_eq!(r(Transpose::No, Transpose::No, 2.0, 1.0, &ones), [39.0, 45.0, 87.0, 101.0], "{}", kernel.name());
    }
}

/// The inputs are rounded to nearest with ties to even: 1 + 2⁻⁸ lies halfway between 1 and
/// 1 + 2⁻⁷ and goes to 1 (even); 1 + 3·2⁻⁸ halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶, to 1 + 2⁻⁶.
#[test]
fn inputs_round_to_nearest_even() {
    let (tie_down, tie_up) = (1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8));
    assert_eq!(round_bf16(tie_down), 1.0);
    assert_eq!(round_bf16(tie_up), 1.0 + 2f32.powi(-6));
    assert_eq!(round_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 1.0 + 2f32.powi(-7), "above the tie rounds up");
    let a = Matrix::from_rows(&[[tie_down, tie_up]]);
    let b = Matrix::from_rows(&[[1.0], [1.0]]);
    for kernel in [Bf16Kernel::Reference].into_iter().chain(fast_kernels()) {
        let c = run(kernel, 1.0, &a, Transpose::No, &b, Transpose::No, 0.0, &Matrix::zeros(1, 1));
        assert_eq!(c.as_slice(), &[2.0 + 2f32.powi(-6)], "{}", kernel.name());
    }
}

/// The tolerance is tight enough to catch a kernel that skipped the rounding: the exact
/// f32 product of the same inputs is far outside it.
#[test]
fn tolerance_sees_unrounded_inputs() {
    let (m, n, k) = (8, 8, 512);
    let mut rng = Rng::new(7);
    let a = Matrix::random_uniform(m, k, -1.0, 1.0, &mut rng);
    let b = Matrix::random_uniform(k, n, -1.0, 1.0, &mut rng);
    let zero = Matrix::zeros(m, n);
    let bf16 = run(Bf16Kernel::Reference, 1.0, &a, Transpose::No, &b, Transpose::No, 0.0, &zero);
    let mut f32_c = zero.clone();
    super::super::gemm_with(
        super::super::Kernel::Reference,
        1.0,
        a.view(),
        Transpose::No,
        b.view(),
        Transpose::No,
        0.0,
        f32_c.view_mut(),
    )
    .unwrap();
    let diff = bf16.max_abs_diff(&f32_c).unwrap();
    assert!(diff > 4.0 * tolerance(k, 1.0), "bf16 and f32 products differ by only {diff}");
}

#[test]
fn beta_zero_overwrites_nan_and_k_zero_scales() {
    let a = Matrix::from_rows(&[[1.0]]);
    let c0 = Matrix::from_rows(&[[f32::NAN]]);
    let empty_a = Matrix::zeros(2, 0);
    let empty_b = Matrix::zeros(0, 3);
    let c3 = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    for kernel in [Bf16Kernel::Reference].into_iter().chain(fast_kernels()) {
        let c = run(kernel, 2.0, &a, Transpose::No, &a, Transpose::No, 0.0, &c0);
        assert_eq!(c.as_slice(), &[2.0], "{}", kernel.name());
        let c = run(kernel, 1.0, &empty_a, Transpose::No, &empty_b, Transpose::No, 0.5, &c3);
        assert_eq!(c.as_slice(), &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0], "{}", kernel.name());
    }
}

#[test]
fn shapes_that_do_not_fit_are_errors() {
    let a = Matrix::zeros(2, 3);
    let mut c = Matrix::zeros(2, 2);
    let err =
        gemm_with(Bf16Kernel::Reference, 1.0, a.view(), Transpose::No, a.view(), Transpose::No, 0.0, c.view_mut())
            .unwrap_err();
    assert!(err.to_string().contains("gemm bf16"), "{err}");
}

#[test]
fn edges_of_every_block_and_tile() {
    // Around 16 (a tile), 32 (a block and a k block) and 8 (the vdpbf16ps tile's rows).
    for &(m, n, k) in &[(1, 1, 1), (15, 17, 31), (16, 16, 32), (17, 33, 33), (31, 32, 64), (33, 15, 65), (8, 48, 7)] {
        for ta in T {
            for tb in T {
                check(m, n, k, ta, tb, 1.0, 0.0, (m * 1000 + n * 10 + k) as u64);
            }
        }
    }
}

#[test]
fn mlp_like_shapes() {
    // The forward pass X·Wᵀ, and the backward dW = dZᵀ·X and dX = dZ·W of a 300-100 layer.
    check(64, 100, 300, Transpose::No, Transpose::Yes, 1.0, 0.0, 1);
    check(100, 300, 64, Transpose::Yes, Transpose::No, 1.0, 1.0, 2);
    check(64, 300, 100, Transpose::No, Transpose::No, 1.0, 0.0, 3);
    check(40, 50, 1000, Transpose::No, Transpose::Yes, -0.5, 0.5, 4);
}

#[test]
fn across_cache_blocks() {
    // More than one AMX cache block in every direction (128 rows, 256 columns, 256 of k),
    // with partial blocks at the ends.
    check(161, 290, 520, Transpose::No, Transpose::Yes, 1.0, 0.5, 5);
    check(130, 260, 270, Transpose::Yes, Transpose::No, 2.0, 0.0, 6);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn fast_kernels_match_the_reference(
        m in 1usize..70,
        n in 1usize..70,
        k in 1usize..100,
        ta in 0usize..2,
        tb in 0usize..2,
        alpha in prop::sample::select(vec![1.0f32, -1.5, 0.25]),
        beta in prop::sample::select(vec![0.0f32, 1.0, -0.5]),
        seed in 0u64..1000,
    ) {
        check(m, n, k, T[ta], T[tb], alpha, beta, seed);
    }
}

/// Every operand a view inside a larger buffer whose padding is NaN: a kernel that read or
/// wrote past a row's end (packing, write-back) would show it.
#[test]
fn strided_views() {
    const PAD: usize = 5;
    for &(m, n, k, ta, tb) in &[
        (37, 45, 70, Transpose::No, Transpose::Yes),
        (33, 17, 40, Transpose::Yes, Transpose::No),
        (20, 40, 33, Transpose::Yes, Transpose::Yes),
    ] {
        let mut rng = Rng::new(11);
        let a = stored(ta, m, k, &mut rng);
        let b = stored(tb, k, n, &mut rng);
        let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
        let padded = |x: &Matrix| {
            let stride = x.cols() + PAD;
            let mut buf = vec![f32::NAN; x.rows() * stride];
            for i in 0..x.rows() {
                buf[i * stride..i * stride + x.cols()].copy_from_slice(x.row(i));
            }
            (buf, stride)
        };
        let want = run(Bf16Kernel::Reference, 1.5, &a, ta, &b, tb, 0.5, &c0);
        for kernel in fast_kernels() {
            let ((ab, sa), (bb, sb), (mut cb, sc)) = (padded(&a), padded(&b), padded(&c0));
            let av = MatRef::with_stride(&ab, a.rows(), a.cols(), sa).unwrap();
            let bv = MatRef::with_stride(&bb, b.rows(), b.cols(), sb).unwrap();
            let cv = MatMut::with_stride(&mut cb, m, n, sc).unwrap();
            gemm_with(kernel, 1.5, av, ta, bv, tb, 0.5, cv).unwrap();
            for i in 0..m {
                for j in 0..n {
                    let (got, want) = (cb[i * sc + j], want.get(i, j));
                    assert!((got - want).abs() <= tolerance(k, 1.5), "{} ({i}, {j}): {got} vs {want}", kernel.name());
                }
                assert!(
                    cb[i * sc + n..(i + 1) * sc].iter().all(|x| x.is_nan()),
                    "{} wrote past row {i}",
                    kernel.name()
                );
            }
        }
    }
}

/// Split between threads (bands of columns when `m < n`, of rows otherwise, each transpose),
/// each fast kernel still matches the reference, with the same bits as on one thread.
#[test]
fn threaded_bands_match_the_reference_and_one_thread() {
    for (m, n, k) in [(45, 300, 70), (300, 45, 70), (128, 1024, 96), (200, 200, 33)] {
        for ta in T {
            for tb in T {
                let mut rng = Rng::new((m * n + k) as u64);
                let a = stored(ta, m, k, &mut rng);
                let b = stored(tb, k, n, &mut rng);
                let c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
                let want = run(Bf16Kernel::Reference, 0.5, &a, ta, &b, tb, 1.0, &c0);
                for kernel in fast_kernels() {
                    let one = run(kernel, 0.5, &a, ta, &b, tb, 1.0, &c0);
                    let (two, parallel) = crate::pool::with_threads(2, || run(kernel, 0.5, &a, ta, &b, tb, 1.0, &c0));
                    assert!(parallel > 0, "{m}×{n}×{k} did not run on two threads");
                    let diff = want.max_abs_diff(&two).unwrap();
                    let what = format!("{} {m}×{n}×{k} {ta:?} {tb:?}", kernel.name());
                    assert!(diff <= tolerance(k, 0.5), "{what}: diff {diff}");
                    assert_eq!(one.as_slice(), two.as_slice(), "{what}: 1 and 2 threads differ");
                }
            }
        }
    }
}

/// `NABLA_BF16_ISA` caps the choice: `none` is a CPU with no bf16 kernel, `avx512-bf16`
/// passes over AMX, anything else leaves the strongest.
#[test]
fn a_forced_name_caps_the_kernel() {
    assert_eq!(choose(Some("none")), None);
    assert_eq!(choose(None), fast_kernels().first().copied());
    assert_eq!(choose(Some("amx")), fast_kernels().first().copied());
    let no_amx = Bf16Kernel::Avx512Bf16.supported().then_some(Bf16Kernel::Avx512Bf16);
    assert_eq!(choose(Some("avx512-bf16")), no_amx);
}

/// The product split along its depth ([`gemm_by_depth`], a layer's `da = dz · W`) gives each
/// kernel's bits on one thread at every thread count, and agrees with the reference: depths
/// of two to five blocks, a last block shorter than the others, every transpose, the betas
/// the write-back treats apart, a `C` full of NaN under `beta = 0`. The AVX512-BF16 kernel
/// must take the depth split on two threads wherever it has a block for each.
#[test]
fn depth_split_gives_the_bits_of_one_thread() {
    let mut rng = Rng::new(505);
    let mut cases = vec![
        (128, 1024, 1024, Transpose::No, Transpose::No, 1.0, 0.0),
        (64, 784, 1600, Transpose::No, Transpose::No, 1.0, 0.0),
        (40, 96, 2500, Transpose::No, Transpose::No, 1.0, 0.0),
    ];
    for ta in T {
        for tb in T {
            cases.push((70, 301, 700, ta, tb, 0.75, 0.5));
            cases.push((97, 130, 1030, ta, tb, 1.0, 1.0));
            cases.push((33, 200, 1100, ta, tb, -1.25, 0.0));
        }
    }
    let mut split = 0;
    for (m, n, k, ta, tb, alpha, beta) in cases {
        let a = stored(ta, m, k, &mut rng);
        let b = stored(tb, k, n, &mut rng);
        let mut c0 = Matrix::random_uniform(m, n, -1.0, 1.0, &mut rng);
        if beta == 0.0 {
            c0.as_mut_slice().fill(f32::NAN);
        }
        let reference = run(Bf16Kernel::Reference, alpha, &a, ta, &b, tb, beta, &c0);
        for kernel in fast_kernels() {
            let (want, _) = crate::pool::with_threads(1, || run(kernel, alpha, &a, ta, &b, tb, beta, &c0));
            let what = format!("{} {m}×{n}×{k} {ta:?} {tb:?} alpha {alpha} beta {beta}", kernel.name());
            assert!(reference.max_abs_diff(&want).unwrap() <= tolerance(k, alpha), "{what}");
            for t in [1, 2, 3, 4] {
                split += usize::from(depth_split(kernel, t, m, n, k).is_some());
                let (got, _) = crate::pool::with_threads(t, || {
                    let mut c = c0.clone();
                    gemm_by_depth(kernel, alpha, a.view(), ta, b.view(), tb, beta, c.view_mut()).unwrap();
                    c
                });
                assert_eq!(got.as_slice(), want.as_slice(), "{what}, {t} threads");
            }
        }
    }
    if Bf16Kernel::Avx512Bf16.supported() {
        assert!(split >= 15, "the depth split ran {split} times");
        assert!(depth_split(Bf16Kernel::Avx512Bf16, 2, 128, 1024, 1024).is_some(), "W3's da is depth-split");
    }
    assert!(depth_split(Bf16Kernel::Amx, 2, 128, 1024, 1024).is_none(), "AMX sums all of k in one chain");
    // The blocks: whole tiles of 32, at most 512 values, near-equal.
    assert_eq!(
        [depth_block(1), depth_block(512), depth_block(513), depth_block(1024), depth_block(784)],
        [32, 512, 288, 512, 416]
    );
}

/// A fast kernel's product handed to a sink (`sink.rs`): every element once, with the bits
/// `gemm_with` stores (`alpha = 1`, `beta = 0`), on one to three threads: edge panels both
/// ways, fewer rows than columns, the deepest product it takes (512), layers' gradients;
/// on AVX512-BF16 and on AMX, whichever this CPU has. The reference is refused, as is a
/// product deeper than one block.
#[test]
fn the_sink_gets_every_element_once_with_the_bits_gemm_stores() {
    use std::sync::atomic::Ordering;

    use crate::gemm::fast::sink::tests::Collect;
    assert!(!sink::takes(Bf16Kernel::Reference, 64, 64, 64), "the reference has no sink");
    for kernel in Bf16Kernel::FAST {
        let name = kernel.name();
        assert!(
            !sink::takes(kernel, 64, 64, 513) && !sink::takes(kernel, 0, 64, 64) && !sink::takes(kernel, 64, 64, 0),
            "{name}"
        );
        if !kernel.supported() {
            assert!(!sink::takes(kernel, 64, 64, 64), "{name}: a sink without the kernel");
            continue;
        }
        let mut rng = Rng::new(17);
        for &(m, n, k) in &[(13, 35, 20), (70, 33, 512), (9, 300, 7), (300, 49, 128), (1024, 784, 128), (10, 1024, 128)]
        {
            assert!(sink::takes(kernel, m, n, k));
            for ta in T {
                for tb in T {
                    let (a, b) = (stored(ta, m, k, &mut rng), stored(tb, k, n, &mut rng));
                    let want = run(kernel, 1.0, &a, ta, &b, tb, 0.0, &Matrix::zeros(m, n));
                    for threads in [1, 2, 3] {
                        let collect = Collect::new(m, n);
                        crate::pool::with_threads(threads, || {
                            sink::to_sink(kernel, threads, a.view(), ta, b.view(), tb, n, &collect)
                        });
                        let shape = format!("{name} {m}x{n}x{k} {ta:?} {tb:?}, {threads} thread(s)");
                        assert!(collect.seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "{shape}: not each once");
                        let got: Vec<u32> = collect.bits.iter().map(|b| b.load(Ordering::Relaxed)).collect();
                        let want: Vec<u32> = want.as_slice().iter().map(|x| x.to_bits()).collect();
                        assert!(got == want, "{shape}: other bits than gemm_with's");
                    }
                }
            }
        }
    }
}
