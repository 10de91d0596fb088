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

use std::sync::atomic::{AtomicUsize, Ordering};

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
        Kernel::Fast => {
            let threads = threads().min(m.div_ceil(PARALLEL_MIN_ROWS)).max(1);
            if threads > 1 && m * n * k >= PARALLEL_MIN_WORK {
                fast_parallel(threads, alpha, a, ta, b, tb, beta, c);
            } else {
                fast::gemm(alpha, a, ta, b, tb, beta, c);
            }
        }
    }
    Ok(())
}

/// How many threads the fast kernel may use (1 unless [`set_threads`] says otherwise).
static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Below this many multiply-adds a product is not worth splitting across threads.
const PARALLEL_MIN_WORK: usize = 1 << 18;
/// Each thread gets at least this many rows of `C`.
const PARALLEL_MIN_ROWS: usize = 12;

/// Sets the number of threads [`gemm`] may use (at least 1). Results do not depend on it:
/// the rows of `C` are split between threads, and every element is computed by the same
/// sequence of operations whichever thread computes it.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads [`gemm`] may use.
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// Splits the rows of `C` (and the matching rows of `op(A)`) into `threads` bands and runs
/// the fast kernel on each band in its own scoped thread.
fn fast_parallel(
    threads: usize,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    mut c: MatMut<'_>,
) {
    let (m, n, stride) = (c.rows(), c.cols(), c.stride());
    let k = ta.apply(a.shape()).1;
    let band = m.div_ceil(threads);
    std::thread::scope(|scope| {
        let mut rest = c.as_mut_slice();
        let mut start = 0;
        while start < m {
            let end = (start + band).min(m);
            let rows = end - start;
            // Take whole rows of C for this band (the last band may end mid-stride).
            let take = if end == m { rest.len() } else { rows * stride };
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(take);
            rest = tail;
            let a_band = match ta {
                Transpose::No => a.rows_range(start, end),
                // A is stored [k, m]: the band is columns start..end.
                Transpose::Yes => MatRef::with_stride(&a.as_slice()[start..], k, rows, a.stride())
                    .expect("a column band of a valid view is valid"),
            };
            let c_band = MatMut::with_stride(mine, rows, n, stride).expect("a row band of a valid view is valid");
            scope.spawn(move || fast::gemm(alpha, a_band, ta, b, tb, beta, c_band));
            start = end;
        }
    });
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
