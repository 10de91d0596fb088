//! The pre-packed layer against the reference GEMM plus bias and activation (every kernel
//! this CPU has, edge shapes), and against the blocked GEMM it must match bit for bit.

use proptest::prelude::*;

use super::*;
use crate::gemm::{self, reference};
use crate::matrix::Matrix;
use crate::rng::Rng;

/// `f(x · wᵀ + b)` by the reference loops (sums in f64).
fn want(x: &Matrix, w: &Matrix, b: &[f32], f: Activation) -> Matrix {
    let mut z = Matrix::zeros(x.rows(), w.rows());
    reference::gemm(1.0, x.view(), Transpose::No, w.view(), Transpose::Yes, 0.0, z.view_mut());
    let n = w.rows();
    let data: Vec<f32> = z.as_slice().iter().enumerate().map(|(i, &v)| f.apply(v + b[i % n])).collect();
    Matrix::from_vec(x.rows(), n, data).unwrap()
}

fn layer(rows: usize, n: usize, k: usize, seed: u64) -> (Matrix, Matrix, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let x = Matrix::random_uniform(rows, k, -1.0, 1.0, &mut rng);
    let w = Matrix::random_uniform(n, k, -1.0, 1.0, &mut rng);
    let b = Matrix::random_uniform(1, n, -1.0, 1.0, &mut rng).as_slice().to_vec();
    (x, w, b)
}

/// Every kernel this CPU runs (the one chosen, each SIMD one, the portable one) on one layer.
fn check(rows: usize, n: usize, k: usize, f: Activation, seed: u64) {
    let (x, w, b) = layer(rows, n, k, seed);
    let want = want(&x, &w, &b, f);
    let tol = 1e-5 * (k as f32 + 1.0);
    for kind in KernelKind::ALL.into_iter().filter(|kind| kind.supported()) {
        let packed = PackedWeights::for_kind(kind, w.view());
        assert_eq!((packed.inputs(), packed.outputs()), (k, n));
        let mut out = vec![f32::NAN; rows * n];
        dense_forward(x.view(), &packed, &b, f, &mut out);
        let got = Matrix::from_vec(rows, n, out).unwrap();
        let diff = want.max_abs_diff(&got).unwrap();
        assert!(diff <= tol, "{} rows={rows} n={n} k={k} {f:?}: diff {diff} > {tol}", kind.name());
    }
}

#[test]
fn edge_shapes_match_the_reference_on_every_kernel() {
    // Rows that are not a multiple of any tile (6, 12, 16), every width from 1 to 33 (the
    // skinny kernel's up to 12, one and two 32-wide slivers, partial slivers), odd depths
    // and depths that split into several k blocks (KC = 256).
    for (s, &rows) in [1, 5, 13, 17, 31].iter().enumerate() {
        for n in 1..=33 {
            check(rows, n, 7, Activation::Relu, (s * 100 + n) as u64);
        }
    }
    for &k in &[1, 3, 255, 257, 513, 784] {
        check(29, 21, k, Activation::Identity, k as u64);
        check(13, 10, k, Activation::Relu, k as u64 + 1);
    }
}

#[test]
fn every_activation_is_applied_after_the_bias() {
    for f in [
        Activation::Identity,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Elu { alpha: 1.0 },
    ] {
        check(25, 40, 19, f, 7);
        check(25, 9, 19, f, 8);
    }
}

#[test]
fn zero_depth_gives_the_activation_of_the_bias_and_empty_shapes_do_nothing() {
    let w = Matrix::zeros(3, 0);
    let packed = PackedWeights::new(w.view());
    let x = Matrix::zeros(2, 0);
    let mut out = vec![f32::NAN; 6];
    dense_forward(x.view(), &packed, &[1.0, -2.0, 0.5], Activation::Relu, &mut out);
    assert_eq!(out, [1.0, 0.0, 0.5, 1.0, 0.0, 0.5]);
    let mut none: Vec<f32> = Vec::new();
    dense_forward(Matrix::zeros(0, 0).view(), &packed, &[1.0, -2.0, 0.5], Activation::Relu, &mut none);
}

#[test]
#[should_panic(expected = "dense_forward")]
fn mismatched_shapes_panic_with_the_shapes() {
    let (x, w, b) = layer(4, 5, 6, 1);
    let packed = PackedWeights::new(w.view());
    let mut out = vec![0.0; 4 * 5];
    dense_forward(x.view(), &packed, &b[..4], Activation::Relu, &mut out);
}

/// The bits of the GEMM (blocked, or skinny for few columns) followed by
/// `forward_with_bias`, for the kernel the GEMM picks; for each SIMD kernel, the bits of that
/// kernel's blocked driver, or of its skinny kernel for few columns.
#[test]
fn bits_equal_the_gemm_then_bias_and_activation() {
    let cases = [
        (40, 800, 784, Activation::Relu),
        (37, 10, 800, Activation::Relu),
        (100, 33, 300, Activation::Tanh),
        (12, 64, 256, Activation::Sigmoid),
        (9, 10, 50, Activation::Tanh),
    ];
    for &(rows, n, k, f) in &cases {
        let (x, w, b) = layer(rows, n, k, (rows * n) as u64);
        let mut z = Matrix::zeros(rows, n);
        gemm::gemm(1.0, x.view(), Transpose::No, w.view(), Transpose::Yes, 0.0, z.view_mut()).unwrap();
        let mut a = vec![0.0; rows * n];
        f.forward_with_bias(&b, z.as_mut_slice(), &mut a);
        let mut out = vec![0.0; rows * n];
        dense_forward(x.view(), &PackedWeights::new(w.view()), &b, f, &mut out);
        assert_eq!(out, a, "{f:?} rows={rows} n={n} k={k}");
        let zeros = Matrix::zeros(rows, n);
        let each = if n <= SKINNY_N {
            super::super::skinny_each_kernel(1.0, x.view(), w.view(), 0.0, &zeros)
        } else {
            super::super::gemm_each_simd_kernel(1.0, x.view(), Transpose::No, w.view(), Transpose::Yes, 0.0, &zeros)
        };
        for (name, mut z) in each {
            let kind = KernelKind::SIMD.into_iter().find(|k| k.name() == name).unwrap();
            f.forward_with_bias(&b, z.as_mut_slice(), &mut a);
            dense_forward(x.view(), &PackedWeights::for_kind(kind, w.view()), &b, f, &mut out);
            assert_eq!(out, a, "{name} {f:?} rows={rows} n={n} k={k}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_shapes_match_the_reference(rows in 1usize..60, n in 1usize..70, k in 1usize..300, seed: u64) {
        check(rows, n, k, Activation::Relu, seed);
    }
}
