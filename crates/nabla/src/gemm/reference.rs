//! The reference GEMM: three loops that anyone can check by hand.

use super::{scale_c, Transpose};
use crate::matrix::{MatMut, MatRef};

/// `C = alpha · op(A) · op(B) + beta · C`, one dot product per element of `C`,
/// accumulated in `f64` so that it is the most accurate answer of the two kernels.
/// Shapes must already be checked (see [`super::gemm_with`]).
pub fn gemm(alpha: f32, a: MatRef<'_>, ta: Transpose, b: MatRef<'_>, tb: Transpose, beta: f32, mut c: MatMut<'_>) {
    let (m, k) = ta.apply(a.shape());
    let n = c.cols();
    let a_at = |i: usize, p: usize| if ta == Transpose::No { a.get(i, p) } else { a.get(p, i) };
    let b_at = |p: usize, j: usize| if tb == Transpose::No { b.get(p, j) } else { b.get(j, p) };
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
