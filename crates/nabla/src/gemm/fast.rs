//! The fast GEMM kernel (placeholder: a straightforward i-p-j loop order; being replaced
//! by a packed, register-blocked SIMD kernel).

use super::{scale_c, Transpose};
use crate::matrix::{MatMut, MatRef};

/// `C = alpha · op(A) · op(B) + beta · C`. Shapes must already be checked.
pub fn gemm(alpha: f32, a: MatRef<'_>, ta: Transpose, b: MatRef<'_>, tb: Transpose, beta: f32, mut c: MatMut<'_>) {
    let (m, k) = ta.apply(a.shape());
    let n = c.cols();
    scale_c(beta, &mut c);
    for i in 0..m {
        for p in 0..k {
            let aip = alpha * if ta == Transpose::No { a.get(i, p) } else { a.get(p, i) };
            let row = c.row_mut(i);
            for j in 0..n {
                let bpj = if tb == Transpose::No { b.get(p, j) } else { b.get(j, p) };
                row[j] += aip * bpj;
            }
        }
    }
}
