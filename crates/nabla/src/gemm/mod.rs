//! General matrix multiplication: `C = alpha · op(A) · op(B) + beta · C`.
//!
//! Shape letters used throughout: `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n`,
//! where `op(X)` is `X` or `Xᵀ` by the [`Transpose`] flag. The transposes are read in place
//! (no transposed copy is made), which is what the backward pass of a dense layer needs:
//! `dW = dZᵀ · X` and `dX = dZ · W`.
//!
//! Two kernels sit behind one entry point: [`reference`] (three plain loops, the obvious
//! truth) and [`fast`] (packed, cache-blocked, register-blocked and vectorised). A property
//! test runs both on random shapes and transposes and demands the same answer.
//!
//! As in BLAS, `beta = 0` means `C` is overwritten: whatever it held before (even NaN) is
//! not read.

pub mod fast;
pub mod reference;

use crate::error::{Error, Result};
use crate::matrix::{MatMut, MatRef};

/// Whether an operand is used as stored or transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transpose {
    /// Use the matrix as stored.
    No,
    /// Use its transpose.
    Yes,
}

impl Transpose {
    /// The shape of `op(X)` for a stored `X` of shape `(rows, cols)`.
    pub fn apply(self, (rows, cols): (usize, usize)) -> (usize, usize) {
        match self {
            Transpose::No => (rows, cols),
            Transpose::Yes => (cols, rows),
        }
    }
}

/// Which implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Three nested loops: slow and obviously right.
    Reference,
    /// The blocked, vectorised kernel.
    Fast,
}

/// `C = alpha · op(A) · op(B) + beta · C` with the fast kernel.
///
/// `a: [m, k]` (or `[k, m]` with `ta = Yes`), `b: [k, n]` (or `[n, k]` with `tb = Yes`),
/// `c: [m, n]`. Returns a shape error naming the operands if they do not fit.
pub fn gemm(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) -> Result<()> {
    gemm_with(Kernel::Fast, alpha, a, ta, b, tb, beta, c)
}

/// [`gemm`] with the kernel chosen by the caller (tests and benchmarks compare them).
pub fn gemm_with(
    kernel: Kernel,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) -> Result<()> {
    let (m, k) = ta.apply(a.shape());
    let (k2, n) = tb.apply(b.shape());
    if k != k2 || c.shape() != (m, n) {
        return Err(Error::Shape {
            op: "gemm",
            left: format!("op(A) {m}×{k} · op(B) {k2}×{n}"),
            right: format!("C {}×{}", c.rows(), c.cols()),
        });
    }
    match kernel {
        Kernel::Reference => reference::gemm(alpha, a, ta, b, tb, beta, c),
        Kernel::Fast => fast::gemm(alpha, a, ta, b, tb, beta, c),
    }
    Ok(())
}

/// Scales `C` by `beta` in place, with `beta = 0` clearing it (NaN included).
pub(crate) fn scale_c(beta: f32, c: &mut MatMut<'_>) {
    if beta == 1.0 {
        return;
    }
    for i in 0..c.rows() {
        let row = c.row_mut(i);
        if beta == 0.0 {
            row.fill(0.0);
        } else {
            row.iter_mut().for_each(|x| *x *= beta);
        }
    }
}

#[cfg(test)]
mod tests;
