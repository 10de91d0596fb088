//! Gradient checking by central finite differences.
//!
//! For every parameter `θ_i`, `∂L/∂θ_i ≈ (L(θ + h·e_i) − L(θ − h·e_i)) / 2h`, with an error
//! of order `h²`. The losses are accumulated in `f64`, and the step actually taken is measured
//! after rounding `θ_i ± h` to `f32`, so the quotient is as exact as the `f32` forward pass
//! allows. An element passes when `|analytic − numeric| ≤ atol + rtol · max(|analytic|,
//! |numeric|)`.

/// Settings of a gradient check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// The step `h`.
    pub eps: f32,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance (for gradients near zero).
    pub atol: f64,
}

impl Default for GradCheck {
    /// Settings that pass correct `f32` gradients of small networks and fail a gradient
    /// that is off by 1 %.
    fn default() -> Self {
        Self { eps: 1e-2, rtol: 2e-3, atol: 1e-4 }
    }
}

/// What a gradient check found.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckReport {
    /// Number of parameters checked.
    pub checked: usize,
    /// Number of parameters outside the tolerance.
    pub failures: usize,
    /// The largest `|analytic − numeric|`.
    pub max_abs_err: f64,
    /// The largest `|analytic − numeric| / max(|analytic|, |numeric|)` over elements whose
    /// gradient is larger than `atol`.
    pub max_rel_err: f64,
    /// The index, analytic and numeric value of the worst element (by tolerance ratio).
    pub worst: Option<(usize, f64, f64)>,
}

impl GradCheckReport {
    /// Whether every element is within tolerance.
    pub fn passed(&self) -> bool {
        self.failures == 0
    }
}

impl GradCheck {
    /// Checks `analytic` (the claimed `∂L/∂θ`) against finite differences of `loss` around
    /// `params`. `params` is perturbed one element at a time and restored exactly.
    pub fn check(&self, params: &mut [f32], analytic: &[f32], mut loss: impl FnMut(&[f32]) -> f64) -> GradCheckReport {
        assert_eq!(params.len(), analytic.len(), "gradient check: params and gradient differ in length");
        let mut report = GradCheckReport { checked: 0, failures: 0, max_abs_err: 0.0, max_rel_err: 0.0, worst: None };
        let mut worst_ratio = -1.0f64;
        for i in 0..params.len() {
            let original = params[i];
            let plus = original + self.eps;
            let minus = original - self.eps;
            params[i] = plus;
            let loss_plus = loss(params);
            params[i] = minus;
            let loss_minus = loss(params);
            params[i] = original;
            let numeric = (loss_plus - loss_minus) / (f64::from(plus) - f64::from(minus));
            let a = f64::from(analytic[i]);
            let err = (a - numeric).abs();
            let scale = a.abs().max(numeric.abs());
            let allowed = self.atol + self.rtol * scale;
            report.checked += 1;
            report.max_abs_err = report.max_abs_err.max(err);
            if scale > self.atol {
                report.max_rel_err = report.max_rel_err.max(err / scale);
            }
            if err > allowed {
                report.failures += 1;
            }
            if err / allowed > worst_ratio {
                worst_ratio = err / allowed;
                report.worst = Some((i, a, numeric));
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L(θ) = θ0² + 3·θ0·θ1, ∂L/∂θ = (2θ0 + 3θ1, 3θ0).
    fn loss(p: &[f32]) -> f64 {
        let (a, b) = (f64::from(p[0]), f64::from(p[1]));
        a * a + 3.0 * a * b
    }

    #[test]
    fn passes_the_right_gradient_and_fails_a_wrong_one() {
        let mut p = [1.5f32, -0.5];
        let right = [2.0 * 1.5 + 3.0 * -0.5, 3.0 * 1.5];
        let report = GradCheck::default().check(&mut p, &right, loss);
        assert!(report.passed(), "{report:?}");
        assert_eq!(p, [1.5, -0.5], "parameters restored");
        let off = [right[0] * 1.01, right[1] * 1.01];
        let report = GradCheck::default().check(&mut p, &off, loss);
        assert!(!report.passed(), "{report:?}");
        assert_eq!(report.failures, 2);
    }
}
