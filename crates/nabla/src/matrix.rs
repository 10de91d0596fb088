//! Row-major `f32` matrices and the borrowed views that the kernels take.
//!
//! `Matrix` owns its numbers; `MatRef` and `MatMut` borrow a rectangle of some buffer
//! (`rows × cols`, consecutive rows `stride` values apart), so that kernels can work on
//! parts of one big parameter vector or workspace without copying or allocating.

use std::fmt;

use crate::error::{shape_error, Error, Result};
use crate::rng::Rng;

/// An owned, row-major `rows × cols` matrix of `f32`.
///
/// Element `(i, j)` lives at `data[i * cols + j]`.
#[derive(Clone, PartialEq)]
pub struct Matrix {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Matrix {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { data: vec![0.0; rows * cols], rows, cols }
    }

    /// A `rows × cols` matrix holding `data` row by row; the length must be `rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::Length { what: "Matrix::from_vec", expected: rows * cols, got: data.len() });
        }
        Ok(Self { data, rows, cols })
    }

    /// A matrix from nested rows, e.g. `Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]])`.
    pub fn from_rows<const C: usize>(rows: &[[f32; C]]) -> Self {
        let data = rows.iter().flatten().copied().collect();
        Self { data, rows: rows.len(), cols: C }
    }

    /// A matrix with every element drawn uniformly from `[low, high)` with `rng`.
    pub fn random_uniform(rows: usize, cols: usize, low: f32, high: f32, rng: &mut Rng) -> Self {
        let data = (0..rows * cols).map(|_| rng.uniform(f64::from(low), f64::from(high)) as f32).collect();
        Self { data, rows, cols }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// All elements, row by row.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// All elements, row by row, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Gives the buffer back.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Row `i` as a slice. Panics if `i >= rows` (an indexing bug, not user input).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i` as a mutable slice.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Element `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.cols + j]
    }

    /// Sets element `(i, j)`.
    pub fn set(&mut self, i: usize, j: usize, value: f32) {
        self.data[i * self.cols + j] = value;
    }

    /// A borrowed view of the whole matrix.
    pub fn view(&self) -> MatRef<'_> {
        MatRef { data: &self.data, rows: self.rows, cols: self.cols, stride: self.cols }
    }

    /// A mutable borrowed view of the whole matrix.
    pub fn view_mut(&mut self) -> MatMut<'_> {
        MatMut { rows: self.rows, cols: self.cols, stride: self.cols, data: &mut self.data }
    }

    /// A view of rows `start..end`.
    pub fn rows_view(&self, start: usize, end: usize) -> MatRef<'_> {
        self.view().rows_range(start, end)
    }

    /// The transpose, as a new matrix.
    pub fn transpose(&self) -> Matrix {
        let mut t = Matrix::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                t.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        t
    }

    /// `self · other`, checked: the inner dimensions must agree.
    pub fn matmul(&self, other: &Matrix) -> Result<Matrix> {
        if self.cols != other.rows {
            return Err(shape_error("matmul", self.shape(), other.shape()));
        }
        let mut c = Matrix::zeros(self.rows, other.cols);
        crate::gemm::gemm(
            1.0,
            self.view(),
            crate::gemm::Transpose::No,
            other.view(),
            crate::gemm::Transpose::No,
            0.0,
            c.view_mut(),
        )?;
        Ok(c)
    }

    /// Element-wise `self + other`, checked.
    pub fn add(&self, other: &Matrix) -> Result<Matrix> {
        self.zip_with(other, "add", |a, b| a + b)
    }

    /// Element-wise `self − other`, checked.
    pub fn sub(&self, other: &Matrix) -> Result<Matrix> {
        self.zip_with(other, "sub", |a, b| a - b)
    }

    /// Element-wise (Hadamard) product, checked.
    pub fn hadamard(&self, other: &Matrix) -> Result<Matrix> {
        self.zip_with(other, "hadamard", |a, b| a * b)
    }

    /// Every element multiplied by `s`.
    pub fn scale(&self, s: f32) -> Matrix {
        self.map(|x| x * s)
    }

    /// A new matrix with `f` applied to every element.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Matrix {
        Matrix { data: self.data.iter().map(|&x| f(x)).collect(), rows: self.rows, cols: self.cols }
    }

    fn zip_with(&self, other: &Matrix, op: &'static str, f: impl Fn(f32, f32) -> f32) -> Result<Matrix> {
        if self.shape() != other.shape() {
            return Err(shape_error(op, self.shape(), other.shape()));
        }
        let data = self.data.iter().zip(&other.data).map(|(&a, &b)| f(a, b)).collect();
        Ok(Matrix { data, rows: self.rows, cols: self.cols })
    }

    /// The largest absolute element-wise difference to `other` (shapes must agree).
    pub fn max_abs_diff(&self, other: &Matrix) -> Result<f32> {
        if self.shape() != other.shape() {
            return Err(shape_error("max_abs_diff", self.shape(), other.shape()));
        }
        Ok(self.data.iter().zip(&other.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max))
    }
}

/// Prints like the lecture's `__repr__`: the shape, then the rows as nested lists
/// with four decimals; large matrices show their first and last three rows and columns.
impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

impl fmt::Debug for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A borrowed, read-only `rows × cols` view; row `i` starts at `data[i * stride]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> MatRef<'a> {
    /// A view of `data` as a dense `rows × cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        Self::with_stride(data, rows, cols, cols)
    }

    /// A view whose rows are `stride` values apart (`stride ≥ cols`).
    pub fn with_stride(data: &'a [f32], rows: usize, cols: usize, stride: usize) -> Result<Self> {
        check_view(data.len(), rows, cols, stride)?;
        Ok(Self { data, rows, cols, stride })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between the starts of consecutive rows.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The underlying buffer, from the first element on.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.stride..i * self.stride + self.cols]
    }

    /// Element `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.stride + j]
    }

    /// Rows `start..end` of this view.
    pub fn rows_range(&self, start: usize, end: usize) -> MatRef<'a> {
        assert!(start <= end && end <= self.rows, "rows {start}..{end} of a {}-row view", self.rows);
        let data = if start == end { &self.data[..0] } else { &self.data[start * self.stride..] };
        MatRef { data, rows: end - start, cols: self.cols, stride: self.stride }
    }

    /// A copy of this view as an owned matrix.
    pub fn to_matrix(&self) -> Matrix {
        let mut data = Vec::with_capacity(self.rows * self.cols);
        for i in 0..self.rows {
            data.extend_from_slice(self.row(i));
        }
        Matrix { data, rows: self.rows, cols: self.cols }
    }

    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const EDGE: usize = 3;
        let show = |n: usize| -> Vec<Option<usize>> {
            if n <= 2 * EDGE + 1 {
                (0..n).map(Some).collect()
            } else {
                (0..EDGE).map(Some).chain(std::iter::once(None)).chain((n - EDGE..n).map(Some)).collect()
            }
        };
        writeln!(f, "Matrix({}×{})", self.rows, self.cols)?;
        write!(f, "[")?;
        let rows = show(self.rows);
        for (k, i) in rows.iter().enumerate() {
            if k > 0 {
                write!(f, ",\n ")?;
            }
            let Some(i) = *i else {
                write!(f, "...")?;
                continue;
            };
            write!(f, "[")?;
            for (l, j) in show(self.cols).iter().enumerate() {
                if l > 0 {
                    write!(f, ", ")?;
                }
                match j {
                    Some(j) => write!(f, "{:.4}", self.get(i, *j))?,
                    None => write!(f, "...")?,
                }
            }
            write!(f, "]")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for MatRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        MatRef::fmt(self, f)
    }
}

impl fmt::Display for MatRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        MatRef::fmt(self, f)
    }
}

/// A borrowed, mutable `rows × cols` view; row `i` starts at `data[i * stride]`.
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> MatMut<'a> {
    /// A mutable view of `data` as a dense `rows × cols` matrix.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self> {
        Self::with_stride(data, rows, cols, cols)
    }

    /// A mutable view whose rows are `stride` values apart (`stride ≥ cols`).
    pub fn with_stride(data: &'a mut [f32], rows: usize, cols: usize, stride: usize) -> Result<Self> {
        check_view(data.len(), rows, cols, stride)?;
        Ok(Self { data, rows, cols, stride })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between the starts of consecutive rows.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// A read-only view of the same rectangle.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef { data: self.data, rows: self.rows, cols: self.cols, stride: self.stride }
    }

    /// A shorter-lived mutable view of the same rectangle.
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut { data: self.data, rows: self.rows, cols: self.cols, stride: self.stride }
    }

    /// The underlying buffer, from the first element on.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        self.data
    }

    /// Row `i`, mutable.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.stride..i * self.stride + self.cols]
    }

    /// Element `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.stride + j]
    }

    /// Sets element `(i, j)`.
    pub fn set(&mut self, i: usize, j: usize, value: f32) {
        self.data[i * self.stride + j] = value;
    }
}

fn check_view(len: usize, rows: usize, cols: usize, stride: usize) -> Result<()> {
    if stride < cols {
        return Err(Error::Invalid {
            name: "stride",
            value: stride.to_string(),
            reason: format!("must be at least the column count {cols}"),
        });
    }
    let needed = if rows == 0 || cols == 0 { 0 } else { (rows - 1) * stride + cols };
    if len < needed {
        return Err(Error::Length { what: "matrix view", expected: needed, got: len });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_length() {
        let err = Matrix::from_vec(2, 3, vec![0.0; 5]).unwrap_err();
        assert_eq!(err.to_string(), "Matrix::from_vec: expected 6 values, got 5");
    }

    #[test]
    fn matmul_shape_mismatch_names_both_shapes() {
        let a = Matrix::zeros(2, 3);
        let b = Matrix::zeros(4, 5);
        assert_eq!(a.matmul(&b).unwrap_err().to_string(), "shape mismatch in matmul: 2×3 vs 4×5");
        assert_eq!(a.add(&b).unwrap_err().to_string(), "shape mismatch in add: 2×3 vs 4×5");
    }

    #[test]
    fn matmul_small_by_hand() {
        let a = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
        let b = Matrix::from_rows(&[[5.0, 6.0], [7.0, 8.0]]);
        assert_eq!(a.matmul(&b).unwrap(), Matrix::from_rows(&[[19.0, 22.0], [43.0, 50.0]]));
    }

    #[test]
    fn display_like_the_lecture() {
        let a = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]);
        assert_eq!(a.to_string(), "Matrix(2×3)\n[[1.0000, 2.0000, 3.0000],\n [4.0000, 5.0000, 6.5000]]");
        let big = Matrix::zeros(10, 10).to_string();
        assert!(big.contains("..."), "{big}");
        assert_eq!(big.lines().count(), 8, "{big}");
    }

    #[test]
    fn views_and_rows() {
        let m = Matrix::from_vec(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(m.row(1), &[3.0, 4.0]);
        let v = m.rows_view(1, 3);
        assert_eq!(v.shape(), (2, 2));
        assert_eq!(v.get(1, 0), 5.0);
        assert_eq!(v.to_matrix().as_slice(), &[3.0, 4.0, 5.0, 6.0]);
        assert_eq!(m.transpose().row(0), &[1.0, 3.0, 5.0]);
        assert!(MatRef::with_stride(&[0.0; 5], 2, 3, 3).is_err());
        assert!(MatRef::with_stride(&[0.0; 5], 2, 2, 3).is_ok());
    }

    #[test]
    fn seeded_random_is_reproducible() {
        let a = Matrix::random_uniform(3, 4, -1.0, 1.0, &mut Rng::new(7));
        let b = Matrix::random_uniform(3, 4, -1.0, 1.0, &mut Rng::new(7));
        let c = Matrix::random_uniform(3, 4, -1.0, 1.0, &mut Rng::new(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.as_slice().iter().all(|x| (-1.0..1.0).contains(x)));
    }
}
