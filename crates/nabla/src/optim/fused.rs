//! Adam's update fused into the product that sums a weight's gradient (bf16 training).
//!
//! A dense layer's weight gradient `dW = dzᵀ · a` is as large as the weight (1024 × 1024
//! `f32` for W3's middle layer). Written out by the GEMM and read back by
//! [`Optimizer::step`](super::Optimizer::step), it makes a round trip through memory for
//! each value: with the products on AMX, that round trip and Adam's pass over the four
//! arrays were half of a bf16 step. Here the bf16 GEMM hands each finished band of 256 rows
//! of `dW` to Adam while it is in L2 ([`crate::gemm::bf16::gemm_each_band`]), and Adam
//! updates those rows of the weight and its moments, one contiguous range: the same formula,
//! [`adam_range`], on the same sums, so the same bits as the product written out and then
//! [`Adam`]'s step. (Handing over 32 × 32 blocks instead, rows 4 KiB apart, made the update
//! a third slower than the separate pass: a page and a short read per row per array.)

use super::{adam_range, Adam, AdamStep};
use crate::error::{Error, Result};
use crate::gemm::bf16::{gemm_each_band, Bf16Kernel};
use crate::gemm::Transpose;
use crate::matrix::MatRef;
use crate::pool::SharedMut;
use crate::widest_simd;

/// `θ ← Adam(θ, op(A) · op(B))` for one weight matrix: `weight` is the `[m, n]` matrix
/// (row-major) at `start` of the parameter vector, its gradient `op(A) · op(B)` is summed
/// in bf16 on `kernel`, and step `c` (from [`Adam::next_step`]) updates it and its
/// moments band by band, on the threads that computed each band.
///
/// `a: [m, k]` (or `[k, m]` with `ta = Yes`), `b: [k, n]` (or `[n, k]` with `tb = Yes`).
/// Errors on shapes that do not fit, on a window past Adam's state, and on a kernel this
/// CPU cannot run.
#[allow(clippy::too_many_arguments)]
pub fn gemm_adam(
    adam: &mut Adam,
    c: AdamStep,
    kernel: Bf16Kernel,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    start: usize,
    weight: &mut [f32],
) -> Result<()> {
    let (m, n) = (ta.apply(a.shape()).0, tb.apply(b.shape()).1);
    if weight.len() != m * n {
        return Err(Error::Length { what: "adam: weight of the gradient's shape", expected: m * n, got: weight.len() });
    }
    let end = start + weight.len();
    if end > adam.m.len() {
        return Err(Error::Length { what: "adam: state covering the weight", expected: end, got: adam.m.len() });
    }
    let (w, mom1, mom2) =
        (SharedMut::new(weight), SharedMut::new(&mut adam.m[start..end]), SharedMut::new(&mut adam.v[start..end]));
    gemm_each_band(kernel, a, ta, b, tb, &|row0, band| {
        // Rows row0 .. of the gradient: one contiguous range of the weight.
        let range = row0 * n..(row0 + band.rows()) * n;
        // SAFETY: `gemm_each_band` hands each row of the product over exactly once, so no
        // other call (on any thread) holds these elements.
        let (w, m, v) = unsafe { (w.range(range.clone()), mom1.range(range.clone()), mom2.range(range)) };
        widest_simd!(adam_range(c, w, band.as_slice(), m, v));
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::bf16::gemm_with;
    use crate::matrix::Matrix;
    use crate::optim::{OptimizerConfig, OptimizerKind};
    use crate::rng::Rng;

    /// Every kernel this CPU runs, the reference included.
    fn kernels() -> Vec<Bf16Kernel> {
        let mut all = vec![Bf16Kernel::Reference];
        all.extend(Bf16Kernel::FAST.into_iter().filter(|k| k.supported()));
        all
    }

    /// The fused update gives the bits of the gradient written out by the same kernel and
    /// then Adam's whole-vector step, for Adam and AdamW, on shapes with partial blocks, a
    /// weight in the middle of the parameter vector, one and two threads.
    #[test]
    fn fused_update_matches_gradient_then_step() {
        let mut rng = Rng::new(5);
        for kernel in kernels() {
            for (m, n, k) in [(1, 1, 1), (33, 70, 5), (64, 96, 128), (300, 257, 40)] {
                for kind in [OptimizerKind::Adam, OptimizerKind::AdamW] {
                    for threads in [1, 2] {
                        let dz = Matrix::random_uniform(k, m, -1.0, 1.0, &mut rng);
                        let x = Matrix::random_uniform(k, n, -1.0, 1.0, &mut rng);
                        let (before, after) = (7, 3);
                        let total = before + m * n + after;
                        let params: Vec<f32> = (0..total).map(|_| rng.uniform_f32(-1.0, 1.0)).collect();
                        let config = OptimizerConfig { kind, weight_decay: 0.01, ..OptimizerConfig::default() };
                        let (mut opt, mut fused) = (config.build(total), config.build(total));
                        // A first step on some gradient, so that the moments are not zero.
                        let g0: Vec<f32> = (0..total).map(|_| rng.uniform_f32(-0.5, 0.5)).collect();
                        let (mut p1, mut p2) = (params.clone(), params);
                        opt.step(&mut p1, &g0, 0.01);
                        fused.step(&mut p2, &g0, 0.01);
                        crate::pool::with_threads(threads, || {
                            // Written out, then the step (the gradient of the rest is zero).
                            let mut grads = vec![0.0f32; total];
                            let dw = crate::matrix::MatMut::new(&mut grads[before..before + m * n], m, n).unwrap();
                            gemm_with(kernel, 1.0, dz.view(), Transpose::Yes, x.view(), Transpose::No, 0.0, dw)
                                .unwrap();
                            opt.step(&mut p1, &grads, 0.02);
                            // Fused: the weight's blocks, then the rest as a range.
                            let adam = fused.as_adam().unwrap();
                            let c = adam.next_step(0.02);
                            let weight = &mut p2[before..before + m * n];
                            gemm_adam(
                                adam,
                                c,
                                kernel,
                                dz.view(),
                                Transpose::Yes,
                                x.view(),
                                Transpose::No,
                                before,
                                weight,
                            )
                            .unwrap();
                            adam.update_range(c, 0..before, &mut p2[..before], &grads[..before]);
                            let rest = before + m * n..total;
                            adam.update_range(c, rest.clone(), &mut p2[rest.clone()], &grads[rest]);
                        });
                        let what = format!("{} {m}×{n}×{k} {kind} threads {threads}", kernel.name());
                        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                        assert!(same(&p1, &p2), "parameters differ: {what}");
                        for ((name, s1), (_, s2)) in opt.state().iter().zip(fused.state()) {
                            assert!(same(s1, s2), "{name} differs: {what}");
                        }
                        assert_eq!(opt.steps(), fused.steps());
                    }
                }
            }
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() {
        let mut adam = OptimizerConfig { kind: OptimizerKind::Adam, ..OptimizerConfig::default() }.build(10);
        let adam = adam.as_adam().unwrap();
        let c = adam.next_step(0.1);
        let (a, b) = (Matrix::zeros(2, 3), Matrix::zeros(2, 3));
        let mut w = vec![0.0; 9];
        let t = (Transpose::Yes, Transpose::No);
        // A 3 × 3 weight past the end of a 10-parameter state.
        assert!(gemm_adam(adam, c, Bf16Kernel::Reference, a.view(), t.0, b.view(), t.1, 2, &mut w).is_err());
        // A weight of the wrong size.
        assert!(gemm_adam(adam, c, Bf16Kernel::Reference, a.view(), t.0, b.view(), t.1, 0, &mut w[..8]).is_err());
        // op(A) and op(B) disagree on k.
        let b = Matrix::zeros(3, 3);
        assert!(gemm_adam(adam, c, Bf16Kernel::Reference, a.view(), t.0, b.view(), t.1, 0, &mut w).is_err());
        assert!(gemm_adam(adam, c, Bf16Kernel::Reference, a.view(), t.0, a.view(), t.1, 0, &mut w).is_ok());
    }
}
