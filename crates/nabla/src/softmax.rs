//! Softmax and log-softmax, numerically stable.
//!
//! `softmax(x)_i = e^(x_i) / Σ_j e^(x_j)`. Computed literally, `e^1000` overflows to
//! infinity and the result is `inf / inf = NaN`. Since softmax does not change when the same
//! constant is subtracted from every input, we subtract the row maximum first: the largest
//! exponent is then `e^0 = 1`, nothing overflows, and the sum is at least 1.

use crate::error::{shape_error, Result};
use crate::matrix::{MatMut, MatRef};

/// Softmax of one vector, in place.
pub fn softmax_in_place(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax of one vector, as a new vector.
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let mut out = x.to_vec();
    softmax_in_place(&mut out);
    out
}

/// Log-softmax of one vector, in place: `x_i − max − ln Σ_j e^(x_j − max)`.
/// Computing it this way (not as `ln(softmax)`) keeps tiny probabilities finite.
pub fn log_softmax_in_place(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = x.iter().map(|&v| (v - max).exp()).sum();
    let log_sum = max + sum.ln();
    x.iter_mut().for_each(|v| *v -= log_sum);
}

/// Log-softmax of one vector, as a new vector.
pub fn log_softmax(x: &[f32]) -> Vec<f32> {
    let mut out = x.to_vec();
    log_softmax_in_place(&mut out);
    out
}

/// Row-wise softmax: `out[i, :] = softmax(x[i, :])`. `x` and `out` are `[batch, classes]`.
pub fn softmax_rows(x: MatRef<'_>, mut out: MatMut<'_>) -> Result<()> {
    if x.shape() != out.shape() {
        return Err(shape_error("softmax_rows", x.shape(), out.shape()));
    }
    for i in 0..x.rows() {
        let row = out.row_mut(i);
        row.copy_from_slice(x.row(i));
        softmax_in_place(row);
    }
    Ok(())
}

/// Row-wise log-softmax, like [`softmax_rows`].
pub fn log_softmax_rows(x: MatRef<'_>, mut out: MatMut<'_>) -> Result<()> {
    if x.shape() != out.shape() {
        return Err(shape_error("log_softmax_rows", x.shape(), out.shape()));
    }
    for i in 0..x.rows() {
        let row = out.row_mut(i);
        row.copy_from_slice(x.row(i));
        log_softmax_in_place(row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    /// The lecture's table: these nine scores give these percentages, to one decimal.
    #[test]
    fn lecture_table() {
        let x = [1.0, 0.1, 3.0, 0.1, 0.4, 2.0, 1.0, 0.05, 0.0];
        let want = [7.0, 2.9, 51.9, 2.9, 3.9, 19.1, 7.0, 2.7, 2.6];
        let p = softmax(&x);
        for (i, (&p, &w)) in p.iter().zip(&want).enumerate() {
            let percent = (f64::from(p) * 1000.0).round() / 10.0;
            assert_eq!(percent, w, "entry {i}: {p}");
        }
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn huge_inputs_stay_finite() {
        for x in [[1e4f32, -1e4, 0.0], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4], [3e38, 0.0, -3e38]] {
            let p = softmax(&x);
            assert!(p.iter().all(|v| v.is_finite()), "{x:?} -> {p:?}");
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{x:?} -> {p:?}");
        }
        for x in [[1e4f32, -1e4, 0.0], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]] {
            let lp = log_softmax(&x);
            assert!(lp.iter().all(|v| v.is_finite()), "{x:?} -> {lp:?}");
        }
        assert_eq!(softmax(&[1e4, -1e4]), vec![1.0, 0.0]);
        // ln p of the losing class is −2e4, not −inf.
        assert_eq!(log_softmax(&[1e4, -1e4])[1], -2e4);
    }

    #[test]
    fn log_softmax_is_log_of_softmax() {
        let x = [0.3, -1.2, 2.5, 0.0];
        let p = softmax(&x);
        let lp = log_softmax(&x);
        for (p, lp) in p.iter().zip(&lp) {
            assert!((p.ln() - lp).abs() < 1e-6);
        }
    }

    #[test]
    fn rows_are_independent_and_shapes_checked() {
        let x = Matrix::from_rows(&[[0.0, 0.0], [0.0, 1e4]]);
        let mut out = Matrix::zeros(2, 2);
        softmax_rows(x.view(), out.view_mut()).unwrap();
        assert_eq!(out.as_slice(), &[0.5, 0.5, 0.0, 1.0]);
        let mut wrong = Matrix::zeros(2, 3);
        assert!(softmax_rows(x.view(), wrong.view_mut()).is_err());
        log_softmax_rows(x.view(), out.view_mut()).unwrap();
        assert!((out.get(0, 0) - 0.5f32.ln()).abs() < 1e-7);
    }
}
