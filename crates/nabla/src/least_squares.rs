//! Linear least squares in closed form: the lecture's recap of linear and polynomial
//! regression, solved exactly instead of by gradient descent.
//!
//! [`lstsq`] minimises `‖A·w − b‖²` by Householder QR (`A = Q·R`, then `R·w = Qᵀ·b`), which
//! works on `A` itself: the normal equations `AᵀA·w = Aᵀb` would square its condition number,
//! and the columns of a polynomial design (`x, x², …, x¹⁰`) are already nearly parallel.
//!
//! [`LinearFit`] is what a regression uses: it standardises each feature column (mean 0,
//! standard deviation 1) for conditioning, fits an intercept that is never penalised, and
//! takes an optional ridge `λ` with the same meaning as an MLP's L2 penalty:
//!
//! ```text
//! minimise  ½·mean_i (y_i − ŷ_i)²  +  ½·λ·‖w‖²        (w: the weights of the scaled features)
//! ```
//!
//! whose minimiser solves `(ZᵀZ + nλI)·w = Zᵀ(y − ȳ)`, found here as the least-squares
//! solution of the stacked system `[Z; √(nλ)·I]·w = [y − ȳ; 0]`.
//!
//! Everything is `f64`: a closed-form fit is a reference, and cheap.

use crate::error::{Error, Result};

/// The `w` that minimises `‖A·w − b‖²`, by Householder QR.
///
/// `a: [rows, cols]` row-major, `b: [rows]` -> `w: [cols]`. Needs `rows ≥ cols` and columns
/// that are linearly independent (a diagonal entry of `R` below `1e-10` of the largest column
/// norm is taken as dependence).
pub fn lstsq(a: &[f64], rows: usize, cols: usize, b: &[f64]) -> Result<Vec<f64>> {
    if a.len() != rows * cols {
        return Err(Error::Length { what: "least-squares matrix", expected: rows * cols, got: a.len() });
    }
    if b.len() != rows {
        return Err(Error::Length { what: "least-squares right-hand side", expected: rows, got: b.len() });
    }
    if cols == 0 {
        return Ok(Vec::new());
    }
    if rows < cols {
        return Err(Error::Invalid {
            name: "least-squares rows",
            value: rows.to_string(),
            reason: format!("{cols} unknowns need at least {cols} equations (points)"),
        });
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(Error::Invalid {
            name: "least-squares input",
            value: "NaN or infinity".into(),
            reason: "every value must be finite".into(),
        });
    }
    let mut r = a.to_vec();
    let mut qtb = b.to_vec();
    let largest = (0..cols).map(|j| (0..rows).map(|i| r[i * cols + j].powi(2)).sum::<f64>().sqrt()).fold(0.0, f64::max);
    let mut v = vec![0.0; rows];
    for k in 0..cols {
        let norm = (k..rows).map(|i| r[i * cols + k].powi(2)).sum::<f64>().sqrt();
        if norm <= 1e-10 * largest || norm == 0.0 {
            return Err(dependent(k));
        }
        // The reflection sends column k below the diagonal to `alpha·e_k`; the sign of alpha
        // opposite to the diagonal entry keeps `v` from cancelling to nothing.
        let diag = r[k * cols + k];
        let alpha = if diag > 0.0 { -norm } else { norm };
        for i in k..rows {
            v[i] = r[i * cols + k];
        }
        v[k] -= alpha;
        let vv: f64 = (k..rows).map(|i| v[i] * v[i]).sum();
        // H = I − 2·v·vᵀ / (vᵀv), applied to the remaining columns and to b.
        for j in k..cols {
            let dot: f64 = (k..rows).map(|i| v[i] * r[i * cols + j]).sum();
            let f = 2.0 * dot / vv;
            for i in k..rows {
                r[i * cols + j] -= f * v[i];
            }
        }
        let dot: f64 = (k..rows).map(|i| v[i] * qtb[i]).sum();
        let f = 2.0 * dot / vv;
        for i in k..rows {
            qtb[i] -= f * v[i];
        }
    }
    // Back substitution on the upper triangle: R·w = (Qᵀb)[..cols].
    let mut w = vec![0.0; cols];
    for k in (0..cols).rev() {
        let rest: f64 = (k + 1..cols).map(|j| r[k * cols + j] * w[j]).sum();
        let diag = r[k * cols + k];
        if diag.abs() <= 1e-10 * largest {
            return Err(dependent(k));
        }
        w[k] = (qtb[k] - rest) / diag;
    }
    Ok(w)
}

fn dependent(column: usize) -> Error {
    Error::Invalid {
        name: "least-squares features",
        value: format!("column {column}"),
        reason: "the feature columns are linearly dependent (too few distinct points for this many features?)".into(),
    }
}

/// A linear model `ŷ = intercept + Σ_j w_j·(x_j − mean_j)/scale_j`, fitted in closed form.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    /// Each feature's mean over the training rows.
    pub mean: Vec<f64>,
    /// Each feature's standard deviation over the training rows (1 for a constant column).
    pub scale: Vec<f64>,
    /// The weights of the standardised features.
    pub weights: Vec<f64>,
    /// The prediction at the features' means (the mean target).
    pub intercept: f64,
}

impl LinearFit {
    /// Fits `features: [rows, cols]` (row-major) to `targets: [rows]` with ridge `λ ≥ 0`
    /// (see the module docs for the objective; `λ = 0` is ordinary least squares).
    pub fn fit(features: &[f64], rows: usize, cols: usize, targets: &[f64], ridge: f64) -> Result<LinearFit> {
        if features.len() != rows * cols {
            return Err(Error::Length { what: "regression features", expected: rows * cols, got: features.len() });
        }
        if targets.len() != rows {
            return Err(Error::Length { what: "regression targets", expected: rows, got: targets.len() });
        }
        if rows == 0 {
            return Err(Error::Invalid {
                name: "regression rows",
                value: "0".into(),
                reason: "need at least one point".into(),
            });
        }
        if !(ridge.is_finite() && ridge >= 0.0) {
            return Err(Error::Invalid {
                name: "ridge",
                value: ridge.to_string(),
                reason: "must be a finite number ≥ 0".into(),
            });
        }
        let n = rows as f64;
        let mut mean = vec![0.0; cols];
        let mut scale = vec![0.0; cols];
        for j in 0..cols {
            mean[j] = (0..rows).map(|i| features[i * cols + j]).sum::<f64>() / n;
            let var = (0..rows).map(|i| (features[i * cols + j] - mean[j]).powi(2)).sum::<f64>() / n;
            scale[j] = if var > 0.0 { var.sqrt() } else { 1.0 };
        }
        let intercept = targets.iter().sum::<f64>() / n;
        let extra = if ridge > 0.0 { cols } else { 0 };
        let mut z = vec![0.0; (rows + extra) * cols];
        let mut rhs = vec![0.0; rows + extra];
        for i in 0..rows {
            for j in 0..cols {
                z[i * cols + j] = (features[i * cols + j] - mean[j]) / scale[j];
            }
            rhs[i] = targets[i] - intercept;
        }
        let root = (n * ridge).sqrt();
        for j in 0..extra {
            z[(rows + j) * cols + j] = root;
        }
        let weights = lstsq(&z, rows + extra, cols, &rhs)?;
        Ok(LinearFit { mean, scale, weights, intercept })
    }

    /// The prediction for one row of features (`[cols]`).
    pub fn predict(&self, row: &[f64]) -> f64 {
        let mut y = self.intercept;
        for (j, &x) in row.iter().enumerate().take(self.weights.len()) {
            y += self.weights[j] * (x - self.mean[j]) / self.scale[j];
        }
        y
    }

    /// The weights and intercept in the units of the raw features:
    /// `ŷ = bias + Σ_j coefficients[j]·x_j`.
    pub fn raw(&self) -> (Vec<f64>, f64) {
        let coefficients: Vec<f64> = self.weights.iter().zip(&self.scale).map(|(w, s)| w / s).collect();
        let bias = self.intercept - coefficients.iter().zip(&self.mean).map(|(c, m)| c * m).sum::<f64>();
        (coefficients, bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    /// Points (0, 1), (1, 3), (2, 4): x̄ = 1, ȳ = 8/3, Sxy = 3, Sxx = 2, so the slope is
    /// 3/2 and the intercept 8/3 − 3/2 = 7/6.
    #[test]
    fn line_through_three_points_by_hand() {
        let fit = LinearFit::fit(&[0.0, 1.0, 2.0], 3, 1, &[1.0, 3.0, 4.0], 0.0).unwrap();
        let (c, b) = fit.raw();
        assert!(close(c[0], 1.5, 1e-12), "{c:?}");
        assert!(close(b, 7.0 / 6.0, 1e-12), "{b}");
        assert!(close(fit.predict(&[3.0]), 7.0 / 6.0 + 4.5, 1e-12));
        // The raw solver on [1, x] gives the same line.
        let w = lstsq(&[1.0, 0.0, 1.0, 1.0, 1.0, 2.0], 3, 2, &[1.0, 3.0, 4.0]).unwrap();
        assert!(close(w[0], 7.0 / 6.0, 1e-12) && close(w[1], 1.5, 1e-12), "{w:?}");
    }

    /// A square system is solved exactly: 2a + b = 5, a − b = 1 → a = 2, b = 1.
    #[test]
    fn square_system_by_hand() {
        let w = lstsq(&[2.0, 1.0, 1.0, -1.0], 2, 2, &[5.0, 1.0]).unwrap();
        assert!(close(w[0], 2.0, 1e-14) && close(w[1], 1.0, 1e-14), "{w:?}");
    }

    /// One feature x = (−1, 0, 1) (mean 0, std √(2/3)), y = (0, 1, 5): the scaled feature is
    /// z = x/√(2/3), Σz·(y − ȳ) = 5/√(2/3), Σz² = 3, so the ridge weight is
    /// (5/√(2/3)) / (3 + 3λ): at λ = 1 the slope in x is 5/(2/3)/6 = 1.25, half of OLS's 2.5.
    #[test]
    fn ridge_by_hand() {
        let x = [-1.0, 0.0, 1.0];
        let y = [0.0, 1.0, 5.0];
        let ols = LinearFit::fit(&x, 3, 1, &y, 0.0).unwrap();
        assert!(close(ols.raw().0[0], 2.5, 1e-12));
        let ridge = LinearFit::fit(&x, 3, 1, &y, 1.0).unwrap();
        assert!(close(ridge.raw().0[0], 1.25, 1e-12), "{:?}", ridge.raw());
        // The intercept is not shrunk: the prediction at the mean x is still the mean y.
        assert!(close(ridge.predict(&[0.0]), 2.0, 1e-12));
    }

    /// A cubic is recovered exactly from its samples, even on features x, x², x³ of very
    /// different sizes.
    #[test]
    fn recovers_a_cubic() {
        let xs: Vec<f64> = (0..20).map(|i| -3.0 + 0.3 * f64::from(i)).collect();
        let f = |x: f64| 0.5 - 2.0 * x + 0.25 * x * x + 0.1 * x * x * x;
        let features: Vec<f64> = xs.iter().flat_map(|&x| [x, x * x, x * x * x]).collect();
        let y: Vec<f64> = xs.iter().map(|&x| f(x)).collect();
        let fit = LinearFit::fit(&features, 20, 3, &y, 0.0).unwrap();
        let (c, b) = fit.raw();
        for (got, want) in c.iter().chain([&b]).zip([-2.0, 0.25, 0.1, 0.5]) {
            assert!(close(*got, want, 1e-10), "{c:?} {b}");
        }
    }

    /// QR agrees with the normal equations (solved by Gaussian elimination here) on a random
    /// well-conditioned problem, and its residual is orthogonal to every column.
    #[test]
    fn agrees_with_normal_equations() {
        let mut rng = Rng::new(7);
        let (rows, cols) = (17, 4);
        let a: Vec<f64> = (0..rows * cols).map(|_| rng.normal()).collect();
        let b: Vec<f64> = (0..rows).map(|_| rng.normal()).collect();
        let w = lstsq(&a, rows, cols, &b).unwrap();
        // AᵀA and Aᵀb.
        let mut m = vec![0.0; cols * (cols + 1)];
        for i in 0..cols {
            for j in 0..cols {
                m[i * (cols + 1) + j] = (0..rows).map(|r| a[r * cols + i] * a[r * cols + j]).sum();
            }
            m[i * (cols + 1) + cols] = (0..rows).map(|r| a[r * cols + i] * b[r]).sum();
        }
        for k in 0..cols {
            for i in k + 1..cols {
                let f = m[i * (cols + 1) + k] / m[k * (cols + 1) + k];
                for j in k..=cols {
                    m[i * (cols + 1) + j] -= f * m[k * (cols + 1) + j];
                }
            }
        }
        let mut want = vec![0.0; cols];
        for k in (0..cols).rev() {
            let rest: f64 = (k + 1..cols).map(|j| m[k * (cols + 1) + j] * want[j]).sum();
            want[k] = (m[k * (cols + 1) + cols] - rest) / m[k * (cols + 1) + k];
        }
        for (g, w) in w.iter().zip(&want) {
            assert!(close(*g, *w, 1e-10), "{g} vs {w}");
        }
        for j in 0..cols {
            let dot: f64 = (0..rows)
                .map(|r| a[r * cols + j] * (b[r] - (0..cols).map(|k| a[r * cols + k] * w[k]).sum::<f64>()))
                .sum();
            assert!(dot.abs() < 1e-10, "residual · column {j} = {dot}");
        }
    }

    #[test]
    fn dependent_columns_and_too_few_points_are_errors() {
        // Second column = 2 × first.
        let err = lstsq(&[1.0, 2.0, 2.0, 4.0, 3.0, 6.0], 3, 2, &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(err.to_string().contains("linearly dependent"), "{err}");
        let err = lstsq(&[1.0, 2.0], 1, 2, &[1.0]).unwrap_err();
        assert!(err.to_string().contains("at least 2"), "{err}");
        // Ridge makes the underdetermined problem solvable.
        let fit = LinearFit::fit(&[1.0, 1.0, 2.0, 4.0], 2, 2, &[1.0, 2.0], 0.1).unwrap();
        assert!(fit.weights.iter().all(|w| w.is_finite()));
        assert!(LinearFit::fit(&[1.0], 1, 1, &[1.0], -1.0).is_err());
        assert!(lstsq(&[f64::NAN], 1, 1, &[1.0]).is_err());
    }
}
