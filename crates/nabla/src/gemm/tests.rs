use proptest::prelude::*;

use super::*;
use crate::matrix::Matrix;
use crate::rng::Rng;

fn run(kernel: Kernel, alpha: f32, a: &Matrix, ta: Transpose, b: &Matrix, tb: Transpose, beta: f32, c0: &Matrix) -> Matrix {
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
}

const T: [Transpose; 2] = [Transpose::No, Transpose::Yes];

#[test]
fn by_hand_2x2_with_transposes() {
    let a = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
    let b = Matrix::from_rows(&[[5.0, 6.0], [7.0, 8.0]]);
    let zero = Matrix::zeros(2, 2);
    for kernel in [Kernel::Reference, Kernel::Fast] {
        assert_eq!(run(kernel, 1.0, &a, Transpose::No, &b, Transpose::No, 0.0, &zero).as_slice(), &[19.0, 22.0, 43.0, 50.0]);
        // Aᵀ·B = [[1,3],[2,4]]·B
        assert_eq!(run(kernel, 1.0, &a, Transpose::Yes, &b, Transpose::No, 0.0, &zero).as_slice(), &[26.0, 30.0, 38.0, 44.0]);
        // A·Bᵀ = A·[[5,7],[6,8]]
        assert_eq!(run(kernel, 1.0, &a, Transpose::No, &b, Transpose::Yes, 0.0, &zero).as_slice(), &[17.0, 23.0, 39.0, 53.0]);
        // 2·A·B + 1·C with C = ones
        let ones = Matrix::from_rows(&[[1.0, 1.0], [1.0, 1.0]]);
        assert_eq!(run(kernel, 2.0, &a, Transpose::No, &b, Transpose::No, 1.0, &ones).as_slice(), &[39.0, 45.0, 87.0, 101.0]);
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
