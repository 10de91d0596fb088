//! General matrix multiplication: `C = alpha · op(A) · op(B) + beta · C`.
//!
//! Shape letters used throughout: `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n`,
//! where `op(X)` is `X` or `Xᵀ` by the [`Transpose`] flag. The transposes are read in place
//! (no transposed copy is made), which is what the backward pass of a dense layer needs:
//! `dW = dZᵀ · X` and `dX = dZ · W`.
//!
//! Two kernels sit behind one entry point: [`mod@reference`] (three plain loops, the obvious
//! truth) and [`fast`] (packed, cache-blocked, register-blocked and vectorised). A property
//! test runs both on random shapes and transposes and demands the same answer.
//!
//! As in BLAS, `beta = 0` means `C` is overwritten: whatever it held before (even NaN) is
//! not read.

pub mod bf16;
mod depth;
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

/// The arithmetic of a network's matrix products in training: `f32` throughout, or bf16
/// inputs with `f32` sums ([`bf16::gemm`]). Everything else (biases, activations, losses,
/// the weights and the optimiser) stays `f32` either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulPrecision {
    /// `f32` inputs and sums ([`gemm()`]).
    #[default]
    F32,
    /// Inputs rounded to bf16 (to nearest, ties to even), `f32` sums: mixed precision.
    Bf16,
}

impl std::fmt::Display for MatmulPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MatmulPrecision::F32 => "f32",
            MatmulPrecision::Bf16 => "bf16",
        })
    }
}

impl std::str::FromStr for MatmulPrecision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(MatmulPrecision::F32),
            "bf16" | "bfloat16" => Ok(MatmulPrecision::Bf16),
            _ => Err(Error::Invalid { name: "precision", value: s.into(), reason: "expected f32 or bf16".into() }),
        }
    }
}

/// The GEMM a network's products run on: the `f32` kernel, or a bf16 kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulKernel {
    /// [`gemm()`].
    #[default]
    F32,
    /// [`bf16::gemm_with`] on this kernel ([`bf16::Bf16Kernel::Reference`] in tests).
    Bf16(bf16::Bf16Kernel),
}

impl MatmulKernel {
    /// The kernel for `precision` on this CPU; for bf16, an error naming what the CPU lacks
    /// if it has no bf16 kernel (there is no slow fallback).
    pub fn for_precision(precision: MatmulPrecision) -> Result<Self> {
        match precision {
            MatmulPrecision::F32 => Ok(MatmulKernel::F32),
            MatmulPrecision::Bf16 => bf16::best_kernel().map(MatmulKernel::Bf16).ok_or_else(bf16::unsupported),
        }
    }

    /// The precision this kernel computes in.
    pub fn precision(self) -> MatmulPrecision {
        match self {
            MatmulKernel::F32 => MatmulPrecision::F32,
            MatmulKernel::Bf16(_) => MatmulPrecision::Bf16,
        }
    }

    /// `C = alpha · op(A) · op(B) + beta · C` on this kernel (see [`gemm()`]).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        self,
        alpha: f32,
        a: MatRef<'_>,
        ta: Transpose,
        b: MatRef<'_>,
        tb: Transpose,
        beta: f32,
        c: MatMut<'_>,
    ) -> Result<()> {
        match self {
            MatmulKernel::F32 => gemm(alpha, a, ta, b, tb, beta, c),
            MatmulKernel::Bf16(kernel) => bf16::gemm_with(kernel, alpha, a, ta, b, tb, beta, c),
        }
    }

    /// Whether [`MatmulKernel::to_sink`] takes an `m × n` product of depth `k` on this
    /// kernel ([`fast::sink::takes`], [`bf16::sink::takes`]).
    pub(crate) fn sink_takes(self, m: usize, n: usize, k: usize) -> bool {
        match self {
            MatmulKernel::F32 => fast::sink::takes(m, n, k),
            MatmulKernel::Bf16(kernel) => bf16::sink::takes(kernel, m, n, k),
        }
    }

    /// `op(A) · op(B)` (`n` columns) handed to `sink` as its rows are finished, on up to
    /// `threads` threads: the product [`MatmulKernel::gemm`] would store, as
    /// [`MatmulKernel::sink_takes`] allows.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn to_sink(
        self,
        threads: usize,
        a: MatRef<'_>,
        ta: Transpose,
        b: MatRef<'_>,
        tb: Transpose,
        n: usize,
        sink: &dyn fast::sink::RowSink,
    ) {
        match self {
            MatmulKernel::F32 => fast::sink::to_sink(threads, a, ta, b, tb, n, sink),
            MatmulKernel::Bf16(kernel) => bf16::sink::to_sink(kernel, threads, a, ta, b, tb, n, sink),
        }
    }

    /// The rows of `C` in each thread's band when [`MatmulKernel::gemm`] splits an
    /// `m × n × k` product along its rows on `threads` threads (a bf16 kernel's bands of
    /// whole blocks), `None` when the split is otherwise or the `f32` kernel's: the rows each
    /// thread wrote, for a pass that should read them on the same thread.
    pub fn row_bands(self, threads: usize, m: usize, n: usize, k: usize) -> Option<usize> {
        match self {
            MatmulKernel::Bf16(kernel) if kernel != bf16::Bf16Kernel::Reference => {
                bf16::Bands::of(threads, m, n, k).filter(|b| !b.by_columns).map(|b| b.band)
            }
            _ => None,
        }
    }

    /// [`MatmulKernel::gemm`] split between threads along its depth ([`gemm_by_depth`],
    /// [`bf16::gemm_by_depth`]).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_by_depth(
        self,
        alpha: f32,
        a: MatRef<'_>,
        ta: Transpose,
        b: MatRef<'_>,
        tb: Transpose,
        beta: f32,
        c: MatMut<'_>,
    ) -> Result<()> {
        match self {
            MatmulKernel::F32 => gemm_by_depth(alpha, a, ta, b, tb, beta, c),
            MatmulKernel::Bf16(kernel) => bf16::gemm_by_depth(kernel, alpha, a, ta, b, tb, beta, c),
        }
    }
}

/// [`gemm`] with the threads splitting the depth `k` (in whole blocks of the kernels' split of
/// it) instead of `C`, for a product whose `op(B)` rows are owned by threads elsewhere: a
/// layer's `da = dz · W`, where each thread then reads only the rows of `W` it reads in the
/// forward pass and updates in the optimiser's step (see `gemm/depth.rs`). The same bits as
/// [`gemm`] for any thread count; products it cannot split so (one thread, too small, a
/// single block of depth) are split along `C` as by [`gemm`].
pub fn gemm_by_depth(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) -> Result<()> {
    product_shape("gemm", a, ta, b, tb, &c)?;
    depth::gemm_by_depth(alpha, a, ta, b, tb, beta, c)
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
///
/// Large products run on [`crate::pool::threads`] threads. Results do not depend on it: `C`
/// is split into bands between threads, and every element is computed by the same sequence
/// of operations whichever thread and band computes it.
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

/// `(m, n, k)` of `C = op(A)·op(B)`, checked: op(A)'s columns must be op(B)'s rows and C must
/// be `m × n`; the error names `op` (every GEMM, f32 or bf16, checks its operands here).
pub(crate) fn product_shape(
    op: &'static str,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    c: &MatMut<'_>,
) -> Result<(usize, usize, usize)> {
    let (m, k) = ta.apply(a.shape());
    let (k2, n) = tb.apply(b.shape());
    if k != k2 || c.shape() != (m, n) {
        return Err(Error::Shape {
            op,
            left: format!("op(A) {m}×{k} · op(B) {k2}×{n}"),
            right: format!("C {}×{}", c.rows(), c.cols()),
        });
    }
    Ok((m, n, k))
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
    mut c: MatMut<'_>,
) -> Result<()> {
    let (m, n, k) = product_shape("gemm", a, ta, b, tb, &c)?;
    match kernel {
        Kernel::Reference => reference::gemm(alpha, a, ta, b, tb, beta, c),
        Kernel::Fast => {
            if fast::skinny(crate::pool::threads(), alpha, a, ta, b, tb, beta, c.reborrow()) {
                return Ok(());
            }
            let threads = band_threads(crate::pool::threads(), m, n, k);
            if threads > 1 {
                fast_parallel(threads, alpha, a, ta, b, tb, beta, c);
            } else {
                fast::gemm(alpha, a, ta, b, tb, beta, c);
            }
        }
    }
    Ok(())
}

/// Below this many multiply-adds a product is not worth splitting across threads.
const PARALLEL_MIN_WORK: usize = 1 << 18;
/// Each thread gets at least this many rows (or columns) of `C`.
const PARALLEL_MIN_ROWS: usize = 12;

/// How many of `threads` threads a product of `m × n × k` is split between: one below
/// [`PARALLEL_MIN_WORK`], else at most one per [`PARALLEL_MIN_ROWS`] rows (or columns).
pub(crate) fn band_threads(threads: usize, m: usize, n: usize, k: usize) -> usize {
    if m * n * k < PARALLEL_MIN_WORK {
        return 1;
    }
    threads.min(m.max(n).div_ceil(PARALLEL_MIN_ROWS)).max(1)
}

/// The length of each of `parts` bands that share `len` rows or columns, in whole `unit`s
/// (a micro-tile's rows or columns, a bf16 block): `len / parts` rounded up to a multiple
/// of `unit`, at least one unit. The last band may be shorter, and fewer than `parts` bands
/// may be needed (`len.div_ceil(band)`).
pub(crate) fn band_len(len: usize, parts: usize, unit: usize) -> usize {
    len.div_ceil(parts.max(1)).div_ceil(unit).max(1) * unit
}

/// Columns `start .. end` of `op(B)` (`k × n`), a thread's band.
pub(crate) fn column_band<'a>(b: MatRef<'a>, tb: Transpose, k: usize, start: usize, end: usize) -> MatRef<'a> {
    match tb {
        // op(B) = B [k, n]: columns start..end.
        Transpose::No => MatRef::with_stride(&b.as_slice()[start..], k, end - start, b.stride())
            .expect("a column band of a valid view is valid"),
        // B is stored [n, k]: rows start..end.
        Transpose::Yes => b.rows_range(start, end),
    }
}

/// Rows `start .. end` of `op(A)` (`m × k`), a thread's band.
pub(crate) fn row_band<'a>(a: MatRef<'a>, ta: Transpose, k: usize, start: usize, end: usize) -> MatRef<'a> {
    match ta {
        Transpose::No => a.rows_range(start, end),
        // A is stored [k, m]: the band is columns start..end.
        Transpose::Yes => MatRef::with_stride(&a.as_slice()[start..], k, end - start, a.stride())
            .expect("a column band of a valid view is valid"),
    }
}

/// Splits `C` into `threads` bands and runs the fast kernel on each band at once, on the
/// persistent [`crate::pool`] (no thread is spawned and nothing allocated per call).
///
/// Each thread packs its own copy of the operand that every band needs, so the split goes
/// along the dimension that makes that copy the smaller one: columns of `C` (each band packs
/// all of `op(A)`, `m × k`) when `m < n`, as in a layer's forward pass `[B, in]·Wᵀ` with a
/// batch narrower than the layer, else rows (each band packs all of `op(B)`, `k × n`).
/// Column bands are whole multiples of the micro-tile's width, row bands of
/// [`fast::band_rows`].
fn fast_parallel(
    threads: usize,
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) {
    let (m, n) = c.shape();
    let k = ta.apply(a.shape()).1;
    let by_columns = m < n;
    let (len, unit) = if by_columns { (n, fast::tile_cols()) } else { (m, fast::band_rows()) };
    let band = band_len(len, threads, unit);
    let bands = len.div_ceil(band);
    let c = fast::RawC::of(c);
    crate::pool::run(bands, &|t| {
        let start = t * band;
        let end = (start + band).min(len);
        let rows = end - start;
        if by_columns {
            let b_band = column_band(b, tb, k, start, end);
            // SAFETY: the bands of C are disjoint (columns start..end of every row), and `c`
            // is borrowed mutably for the whole of this call.
            unsafe { fast::gemm_raw(alpha, a, ta, b_band, tb, beta, c.band(0, m, start, rows)) };
        } else {
            let a_band = row_band(a, ta, k, start, end);
            // SAFETY: as above, for rows start..end.
            unsafe { fast::gemm_raw(alpha, a_band, ta, b, tb, beta, c.band(start, rows, 0, n)) };
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
