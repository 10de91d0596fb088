//! Mixed-precision training passes (`Workspace::set_precision(Bf16)`): the fast bf16 kernels
//! against the reference kernel (plain loops over bf16-rounded inputs, `f64` sums), the bf16
//! gradient against the `f32` one, and the same bits from the same inputs.

use super::*;
use crate::activation::Activation;
use crate::gemm::bf16::{self, Bf16Kernel};
use crate::gemm::{MatmulKernel, MatmulPrecision};
use crate::init::Init;
use crate::loss::{Loss, Targets};
use crate::matrix::Matrix;
use crate::regularizer::Regularizer;
use crate::rng::Rng;

/// A ReLU classifier with odd widths (none a multiple of the kernels' 32 × 32 blocks, one
/// wider than a block of k) and a batch of 45, its inputs and labels.
fn problem(seed: u64) -> (Mlp, Matrix, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let spec = MlpSpec::new(vec![70, 96, 37, 10], Activation::Relu, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::HeUniform, &mut rng);
    let x = Matrix::random_uniform(45, 70, 0.0, 1.0, &mut rng);
    let labels = (0..45).map(|_| rng.below(10) as u32).collect();
    (mlp, x, labels)
}

/// Loss and gradient of one step with the products on `kernel`.
fn step(mlp: &Mlp, x: &Matrix, labels: &[u32], kernel: MatmulKernel) -> (f64, Vec<f32>) {
    let mut ws = Workspace::new(mlp.spec(), x.rows());
    ws.set_kernel(kernel);
    let mut grads = vec![f32::NAN; mlp.num_params()];
    let loss = mlp
        .loss_and_gradient(
            x.view(),
            Targets::Classes(labels),
            Loss::SoftmaxCrossEntropy,
            Regularizer::NONE,
            &mut ws,
            &mut grads,
        )
        .unwrap();
    (loss, grads)
}

/// Per layer: the largest difference between two gradients over the largest entry of the
/// first (the layer's weights, then its biases).
fn worst_relative(mlp: &Mlp, want: &[f32], got: &[f32]) -> f32 {
    let mut worst = 0.0f32;
    for l in 0..mlp.layers().len() {
        let r = mlp.layer_range(l);
        let nw = mlp.layers()[l].outputs * mlp.layers()[l].inputs;
        for part in [r.start..r.start + nw, r.start + nw..r.end] {
            let scale = want[part.clone()].iter().fold(0.0f32, |m, g| m.max(g.abs())).max(1e-12);
            let diff = want[part.clone()].iter().zip(&got[part]).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            worst = worst.max(diff / scale);
        }
    }
    worst
}

/// The fast kernels this CPU runs.
fn fast_kernels() -> Vec<Bf16Kernel> {
    Bf16Kernel::FAST.into_iter().filter(|k| k.supported()).collect()
}

/// Each fast kernel's step against the reference kernel's. The two differ in how they sum
/// (`f32` in the kernel's order against `f64`), by about k · 2⁻²⁴ of a sum; where such a
/// difference moves a hidden value across a bf16 rounding boundary, the next layer's input
/// changes by one bf16 step (2⁻⁸ relative) in that one value. The bound, 1% of the layer's
/// largest gradient, allows a few such flips and nothing like a wrong product (a transposed
/// operand, a missed block or a lost row move gradients by their own size). Measured: at
/// most 3·10⁻⁴ over seeds 1–6 (AMX), most seeds below 10⁻⁷.
#[test]
fn fast_bf16_step_matches_the_reference_kernel() {
    for seed in [4, 11] {
        let (mlp, x, labels) = problem(seed);
        let (ref_loss, ref_grads) = step(&mlp, &x, &labels, MatmulKernel::Bf16(Bf16Kernel::Reference));
        assert!(ref_grads.iter().all(|g| g.is_finite()));
        for kernel in fast_kernels() {
            let (loss, grads) = step(&mlp, &x, &labels, MatmulKernel::Bf16(kernel));
            assert!((loss - ref_loss).abs() <= 1e-4 * ref_loss.abs(), "{}: loss {loss} vs {ref_loss}", kernel.name());
            let worst = worst_relative(&mlp, &ref_grads, &grads);
            assert!(worst <= 0.01, "{}: gradient off the reference by {worst} of its largest entry", kernel.name());
        }
    }
}

/// Per tensor (each layer's weights, then its biases): `‖want − got‖ / ‖want‖`.
fn worst_relative_norm(mlp: &Mlp, want: &[f32], got: &[f32]) -> f64 {
    let norm = |g: &mut dyn Iterator<Item = f64>| g.map(|v| v * v).sum::<f64>().sqrt();
    let mut worst = 0.0f64;
    for l in 0..mlp.layers().len() {
        let r = mlp.layer_range(l);
        let nw = mlp.layers()[l].outputs * mlp.layers()[l].inputs;
        for part in [r.start..r.start + nw, r.start + nw..r.end] {
            let (w, g) = (&want[part.clone()], &got[part]);
            let diff = norm(&mut w.iter().zip(g).map(|(&a, &b)| f64::from(a) - f64::from(b)));
            worst = worst.max(diff / norm(&mut w.iter().map(|&a| f64::from(a))).max(1e-30));
        }
    }
    worst
}

/// The bf16 gradient is the f32 one up to bf16's rounding of the products' inputs (8 bits
/// of mantissa, each input off by up to 2⁻⁹ relative) and what that does at ReLU's kink (a
/// unit whose sum is near 0 may switch on or off): per tensor, `‖g_bf16 − g_f32‖ / ‖g_f32‖`
/// ≤ 8% (measured up to 4.3% on these problems), and the cosine of the whole gradient with
/// the f32 one above 0.995. The reference kernel is used, so that this holds on every CPU; a
/// gradient of the wrong layer or sign is off by 100% or more.
#[test]
fn bf16_gradient_is_close_to_the_f32_gradient() {
    for seed in [1, 2, 3, 4, 5, 6] {
        let (mlp, x, labels) = problem(seed);
        let (f32_loss, f32_grads) = step(&mlp, &x, &labels, MatmulKernel::F32);
        let (loss, grads) = step(&mlp, &x, &labels, MatmulKernel::Bf16(Bf16Kernel::Reference));
        assert!((loss - f32_loss).abs() <= 0.01 * f32_loss, "seed {seed}: loss {loss} vs f32 {f32_loss}");
        let worst = worst_relative_norm(&mlp, &f32_grads, &grads);
        assert!(worst <= 0.08, "seed {seed}: a bf16 gradient tensor is off the f32 one by {worst} of its norm");
        let dot: f64 = f32_grads.iter().zip(&grads).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
        let norm = |g: &[f32]| g.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
        let cosine = dot / (norm(&f32_grads) * norm(&grads));
        assert!(cosine > 0.995, "seed {seed}: cosine {cosine}");
        // And bf16 really rounded: the gradient is not the f32 one.
        assert_ne!(grads, f32_grads, "seed {seed}: the bf16 step computed in f32");
    }
}

/// Same inputs and threads, same bits; and the thread count does not change them either (the
/// bands of C are whole blocks, each element sums over k in one order, and a `da` split along
/// its depth adds its blocks as one thread does). The problem is large enough (256- and
/// 600-wide layers on a batch of 128) that the products are split, the 600-wide layer's `da`
/// along its depth on the AVX512-BF16 kernel.
#[test]
fn bf16_step_gives_the_same_bits_every_time_and_at_any_thread_count() {
    let Some(kernel) = bf16::best_kernel() else {
        // No bf16 kernel: the refusal is what there is to test.
        let err = Workspace::default().set_precision(MatmulPrecision::Bf16).unwrap_err().to_string();
        assert!(err.contains("bf16") && err.contains("avx512-bf16 no"), "{err}");
        return;
    };
    let mut rng = Rng::new(5);
    let spec = MlpSpec::new(vec![300, 256, 600, 10], Activation::Relu, Activation::Identity).unwrap();
    if kernel == Bf16Kernel::Avx512Bf16 {
        assert!(bf16::depth_split(kernel, 2, 128, 256, 600).is_some(), "the 600-wide layer's da is not depth-split");
    }
    let mlp = Mlp::new(spec, Init::HeUniform, &mut rng);
    let x = Matrix::random_uniform(128, 300, 0.0, 1.0, &mut rng);
    let labels: Vec<u32> = (0..128).map(|_| rng.below(10) as u32).collect();
    let run = |threads| {
        let (out, parallel) = crate::pool::with_threads(threads, || {
            let mut ws = Workspace::new(mlp.spec(), 128);
            ws.set_precision(MatmulPrecision::Bf16).unwrap();
            assert_eq!(ws.kernel, MatmulKernel::Bf16(kernel));
            step(&mlp, &x, &labels, ws.kernel)
        });
        (out, parallel)
    };
    let ((loss1, g1), _) = run(1);
    let ((loss2, g2), parallel) = run(2);
    let ((loss3, g3), _) = run(2);
    let ((loss4, g4), _) = run(3);
    assert!(parallel > 0, "no product ran on two threads");
    let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!((loss2.to_bits(), bits(&g2)), (loss3.to_bits(), bits(&g3)), "two runs at 2 threads differ");
    assert_eq!((loss1.to_bits(), bits(&g1)), (loss2.to_bits(), bits(&g2)), "1 and 2 threads differ");
    assert_eq!((loss1.to_bits(), bits(&g1)), (loss4.to_bits(), bits(&g4)), "1 and 3 threads differ");
}

/// A CPU without bf16 kernels gets an error naming the instruction sets, not a slow
/// fallback; a CPU with one gets the strongest.
#[test]
fn set_precision_picks_the_best_kernel_or_refuses() {
    let mut ws = Workspace::default();
    assert_eq!(ws.precision(), MatmulPrecision::F32);
    match bf16::best_kernel() {
        Some(k) => {
            ws.set_precision(MatmulPrecision::Bf16).unwrap();
            assert_eq!((ws.kernel, ws.precision()), (MatmulKernel::Bf16(k), MatmulPrecision::Bf16));
        }
        None => {
            let err = ws.set_precision(MatmulPrecision::Bf16).unwrap_err().to_string();
            assert!(err.contains("AMX-BF16 or AVX512-BF16"), "{err}");
        }
    }
    ws.set_precision(MatmulPrecision::F32).unwrap();
    assert_eq!(ws.kernel, MatmulKernel::F32);
    assert_eq!("bf16".parse::<MatmulPrecision>().unwrap(), MatmulPrecision::Bf16);
    assert_eq!("F32".parse::<MatmulPrecision>().unwrap(), MatmulPrecision::F32);
    assert!("fp16".parse::<MatmulPrecision>().unwrap_err().to_string().contains("f32 or bf16"));
}
