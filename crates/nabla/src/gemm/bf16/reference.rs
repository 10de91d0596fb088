//! The reference bf16 GEMM: the inputs rounded to bf16, then three loops summing in `f64`.

use super::super::{scale_c, Transpose};
use crate::matrix::{MatMut, MatRef};
use crate::quant::{bf16_to_f32, f32_to_bf16};

/// `x` rounded to bf16 (to nearest, ties to even) and widened back, exactly.
pub fn round_bf16(x: f32) -> f32 {
    bf16_to_f32(f32_to_bf16(x))
}

/// `C = alpha · bf16(op(A)) · bf16(op(B)) + beta · C`, one `f64` dot product per element of
/// `C` (each product of two bf16 values is exact in `f64`, so only the sum rounds, once per
/// term at `f64` precision): the most accurate answer there is for the rounded inputs.
/// Shapes must already be checked (see [`super::gemm_with`]).
pub fn gemm(alpha: f32, a: MatRef<'_>, ta: Transpose, b: MatRef<'_>, tb: Transpose, beta: f32, mut c: MatMut<'_>) {
    let (m, k) = ta.apply(a.shape());
    let n = c.cols();
    let a_at = |i: usize, p: usize| round_bf16(if ta == Transpose::No { a.get(i, p) } else { a.get(p, i) });
    let b_at = |p: usize, j: usize| round_bf16(if tb == Transpose::No { b.get(p, j) } else { b.get(j, p) });
    scale_c(beta, &mut c);
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f64;
            for p in 0..k {
                sum += f64::from(a_at(i, p)) * f64::from(b_at(p, j));
            }
            let old = c.get(i, j);
            c.set(i, j, old + (f64::from(alpha) * sum) as f32);
        }
    }
}
