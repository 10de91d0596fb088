//! Layer normalisation (Ba, Kiros & Hinton 2016): every row of a batch is normalised over its
//! own features, then scaled and shifted by a learnable gain `γ` and bias `β`.
//!
//! Shapes: `x, y: [B, d]`, `γ, β: [d]`. Definitions as PyTorch's `nn.LayerNorm(d, eps=1e-5)`:
//! the variance is the biased one (divided by `d`, not `d − 1`) and `ε` sits inside the square
//! root. For one row `x ∈ ℝᵈ`:
//!
//! ```text
//! μ = (1/d) Σ_j x_j           σ² = (1/d) Σ_j (x_j − μ)²        r = 1 / √(σ² + ε)
//! x̂_j = (x_j − μ) · r          y_j = γ_j · x̂_j + β_j
//! ```
//!
//! The parameters are one slice `[γ | β]`, a window of the model's single parameter vector
//! (names `….weight` and `….bias`, as PyTorch's). Unlike batch normalisation nothing depends
//! on the other rows, so training and evaluation compute the same thing and a batch of one is
//! fine.

use crate::error::{shape_error, Error, Result};
use crate::matrix::{MatMut, MatRef};

/// The size of a layer normalisation; its `[γ | β]` live in a parameter slice the caller owns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerNorm {
    /// Features per row (`d`).
    pub features: usize,
    /// Added to the variance before the square root, so a constant row gives `x̂ = 0`, not 0/0.
    pub eps: f32,
}

impl LayerNorm {
    /// PyTorch's default `ε`.
    pub const EPS: f32 = 1e-5;

    /// A layer normalisation over `features` features with PyTorch's `ε`.
    pub fn new(features: usize) -> Self {
        Self { features, eps: Self::EPS }
    }

    /// Number of parameters: `d` gains and `d` biases.
    pub fn param_count(&self) -> usize {
        2 * self.features
    }

    /// The starting parameters PyTorch uses, `γ = 1` and `β = 0`: at first the layer only
    /// normalises.
    pub fn init(&self, params: &mut [f32]) {
        let (gain, bias) = params.split_at_mut(self.features);
        gain.fill(1.0);
        bias.fill(0.0);
    }

    fn check(&self, params: usize, x: (usize, usize), y: (usize, usize), stats: (usize, usize)) -> Result<()> {
        if params != self.param_count() {
            return Err(Error::Length { what: "layer norm parameters", expected: self.param_count(), got: params });
        }
        if x.1 != self.features {
            return Err(Error::Shape {
                op: "layer norm",
                left: format!("input {}×{}", x.0, x.1),
                right: format!("{} features", self.features),
            });
        }
        if y != x {
            return Err(shape_error("layer norm", x, y));
        }
        // The kept x̂ [B, d] and r [B].
        let (xhat, rstd) = stats;
        if xhat != x.0 * x.1 || rstd != x.0 {
            return Err(Error::Length { what: "layer norm statistics", expected: x.0 * (x.1 + 1), got: xhat + rstd });
        }
        Ok(())
    }

    /// `y = γ ⊙ x̂ + β`, row by row. `x: [B, d] -> y: [B, d]`; keeps `x̂` (`xhat: [B, d]`) and
    /// `r = 1/√(σ² + ε)` (`rstd: [B]`) for the backward pass.
    pub fn forward(
        &self,
        params: &[f32],
        x: MatRef<'_>,
        mut y: MatMut<'_>,
        xhat: &mut [f32],
        rstd: &mut [f32],
    ) -> Result<()> {
        self.check(params.len(), x.shape(), y.shape(), (xhat.len(), rstd.len()))?;
        let d = self.features;
        let (gain, bias) = params.split_at(d);
        for i in 0..x.rows() {
            let row = x.row(i);
            let mean = row.iter().sum::<f32>() / d as f32;
            // Two passes (mean first, then the squared deviations): Σx² − dμ² would cancel
            // catastrophically for rows far from 0.
            let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
            let r = 1.0 / (var + self.eps).sqrt();
            rstd[i] = r;
            let xh = &mut xhat[i * d..(i + 1) * d];
            for ((((out, h), &v), &g), &b) in y.row_mut(i).iter_mut().zip(xh.iter_mut()).zip(row).zip(gain).zip(bias) {
                *h = (v - mean) * r;
                *out = g * *h + b;
            }
        }
        Ok(())
    }

    /// The backward pass. Given `x̂` and `r` kept by [`LayerNorm::forward`] and
    /// `dy = dL/dy: [B, d]`, writes
    /// - `dparams` (overwritten): `dγ = Σ_B dy ⊙ x̂` and `dβ = Σ_B dy`;
    /// - `dx: [B, d]` (overwritten), by the compact formula derived below.
    ///
    /// Write `g = dL/dx̂ = dy ⊙ γ` for one row. `x̂_j` depends on every `x_k`, through `μ` and
    /// `r`: `∂μ/∂x_k = 1/d`, and `∂r/∂x_k = −½ (σ² + ε)^(−3/2) · ∂σ²/∂x_k = −r³ (x_k − μ)/d`
    /// (the terms of `∂σ²/∂x_k` that multiply `Σ_j (x_j − μ)` vanish: that sum is 0). So
    ///
    /// ```text
    /// ∂x̂_j/∂x_k = r (δ_jk − 1/d) − (x_j − μ) r³ (x_k − μ)/d = r (δ_jk − 1/d − x̂_j x̂_k / d)
    /// dx_k = Σ_j g_j ∂x̂_j/∂x_k = r · (g_k − mean(g) − x̂_k · mean(g ⊙ x̂))
    /// ```
    ///
    /// Two row means and one pass, instead of a `d × d` Jacobian. The two subtractions remove
    /// the parts of `g` that the normalisation cannot pass on: a shift of the whole row
    /// (`Σ_k dx_k = 0`) and a scaling of it (`Σ_k dx_k x̂_k = 0`, up to `ε`).
    pub fn backward(
        &self,
        params: &[f32],
        xhat: &[f32],
        rstd: &[f32],
        dy: MatRef<'_>,
        dparams: &mut [f32],
        mut dx: MatMut<'_>,
    ) -> Result<()> {
        self.check(params.len(), dy.shape(), dx.shape(), (xhat.len(), rstd.len()))?;
        if dparams.len() != params.len() {
            return Err(Error::Length { what: "layer norm gradients", expected: params.len(), got: dparams.len() });
        }
        let d = self.features;
        let gain = &params[..d];
        let (dgain, dbias) = dparams.split_at_mut(d);
        dgain.fill(0.0);
        dbias.fill(0.0);
        for i in 0..dy.rows() {
            let (dyr, xh) = (dy.row(i), &xhat[i * d..(i + 1) * d]);
            let (mut mean_g, mut mean_gx) = (0.0f32, 0.0f32);
            for j in 0..d {
                dgain[j] += dyr[j] * xh[j];
                dbias[j] += dyr[j];
                let g = dyr[j] * gain[j];
                mean_g += g;
                mean_gx += g * xh[j];
            }
            mean_g /= d as f32;
            mean_gx /= d as f32;
            let r = rstd[i];
            for (j, out) in dx.row_mut(i).iter_mut().enumerate() {
                *out = r * (dyr[j] * gain[j] - mean_g - xh[j] * mean_gx);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::GradCheck;
    use crate::matrix::Matrix;
    use crate::rng::Rng;

    /// The standard-deviation example of the textbooks: 2, 4, 4, 4, 5, 5, 7, 9 has mean 5
    /// and (biased) standard deviation 2, so `x̂ = (x − 5)/2`.
    #[test]
    fn forward_and_backward_by_hand() {
        let ln = LayerNorm::new(8);
        let x = Matrix::from_rows(&[[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]]);
        let mut params = vec![0.0; 16];
        ln.init(&mut params);
        params[7] = 3.0; // γ_7
        params[8 + 7] = 0.5; // β_7
        let (mut y, mut xhat, mut rstd) = (Matrix::zeros(1, 8), vec![0.0; 8], vec![0.0; 1]);
        ln.forward(&params, x.view(), y.view_mut(), &mut xhat, &mut rstd).unwrap();
        let r = 1.0 / (4.0f64 + 1e-5).sqrt();
        assert!((f64::from(rstd[0]) - r).abs() < 1e-7);
        let want = [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0 * 3.0 + 0.5];
        for (j, (&got, want)) in y.as_slice().iter().zip(want).enumerate() {
            assert!((f64::from(got) - want).abs() < 1e-5, "y_{j}: {got} vs {want}");
        }

        // L = y_7: dγ_7 = x̂_7 = 2, dβ_7 = 1, and with g = 3·e_7,
        // dx_k = r · 3 · (δ_7k − 1/8 − x̂_k · x̂_7 / 8) = 1.5 · (δ_7k − 0.125 − 0.25 · x̂_k).
        let mut dy = Matrix::zeros(1, 8);
        dy.set(0, 7, 1.0);
        let (mut dparams, mut dx) = (vec![9.0; 16], Matrix::zeros(1, 8));
        ln.backward(&params, &xhat, &rstd, dy.view(), &mut dparams, dx.view_mut()).unwrap();
        let xh = [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0];
        for k in 0..8 {
            let delta = if k == 7 { 1.0 } else { 0.0 };
            let want = 1.5 * (delta - 0.125 - 0.25 * xh[k]);
            assert!((f64::from(dx.get(0, k)) - want).abs() < 1e-5, "dx_{k}: {} vs {want}", dx.get(0, k));
        }
        assert!((dparams[7] - 2.0).abs() < 1e-5 && dparams[15] == 1.0);
        assert!(dparams.iter().enumerate().all(|(i, &g)| i == 7 || i == 15 || g.abs() < 1e-6), "{dparams:?}");
        // A shift of the row changes nothing downstream, so its gradient sums to 0.
        assert!(dx.as_slice().iter().sum::<f32>().abs() < 1e-6);
    }

    /// `L = Σ c ⊙ y` for a fixed random `c`: its gradient is the backward pass with `dy = c`.
    struct Problem {
        ln: LayerNorm,
        params: Vec<f32>,
        x: Matrix,
        c: Matrix,
    }

    fn problem(seed: u64) -> Problem {
        let mut rng = Rng::new(seed);
        let ln = LayerNorm::new(5);
        // Gains around 1 and biases around 0, but not exactly: every term of the formula counts.
        let params = (0..10).map(|i| if i < 5 { 1.0 } else { 0.0 } + rng.uniform_f32(-0.5, 0.5)).collect();
        // Rows of different scales and offsets (each spread wide enough that the finite
        // difference step stays small beside its standard deviation).
        let mut x = Matrix::random_uniform(4, 5, -1.0, 1.0, &mut rng);
        for i in 0..4 {
            x.row_mut(i).iter_mut().for_each(|v| *v = *v * (1.0 + i as f32) + i as f32 - 1.5);
        }
        let c = Matrix::random_uniform(4, 5, -1.0, 1.0, &mut rng);
        Problem { ln, params, x, c }
    }

    impl Problem {
        fn loss(&self, params: &[f32], x: &[f32]) -> f64 {
            let (b, d) = (self.x.rows(), self.ln.features);
            let (mut y, mut xhat, mut rstd) = (Matrix::zeros(b, d), vec![0.0; b * d], vec![0.0; b]);
            let x = MatRef::new(x, b, d).unwrap();
            self.ln.forward(params, x, y.view_mut(), &mut xhat, &mut rstd).unwrap();
            y.as_slice().iter().zip(self.c.as_slice()).map(|(&y, &c)| f64::from(y) * f64::from(c)).sum()
        }

        /// `(dL/dθ, dL/dx)`.
        fn gradients(&self) -> (Vec<f32>, Vec<f32>) {
            let (b, d) = (self.x.rows(), self.ln.features);
            let (mut y, mut xhat, mut rstd) = (Matrix::zeros(b, d), vec![0.0; b * d], vec![0.0; b]);
            self.ln.forward(&self.params, self.x.view(), y.view_mut(), &mut xhat, &mut rstd).unwrap();
            let (mut dparams, mut dx) = (vec![0.0; 2 * d], Matrix::zeros(b, d));
            self.ln.backward(&self.params, &xhat, &rstd, self.c.view(), &mut dparams, dx.view_mut()).unwrap();
            (dparams, dx.into_vec())
        }

        /// The check of both gradients, each multiplied by `scale`: (parameters, input).
        fn check(&self, scale: f32) -> (bool, bool) {
            let (mut dparams, mut dx) = self.gradients();
            dparams.iter_mut().chain(dx.iter_mut()).for_each(|g| *g *= scale);
            let cfg = GradCheck::default();
            let x = self.x.as_slice().to_vec();
            let on_params = cfg.check(&mut self.params.clone(), &dparams, |p| self.loss(p, &x));
            let on_input = cfg.check(&mut x.clone(), &dx, |x| self.loss(&self.params, x));
            (on_params.passed(), on_input.passed())
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for seed in 0..5 {
            assert_eq!(problem(seed).check(1.0), (true, true), "seed {seed}");
        }
    }

    #[test]
    fn gradient_check_catches_a_gradient_off_by_one_percent() {
        for seed in 0..5 {
            assert_eq!(problem(seed).check(1.01), (false, false), "seed {seed}");
        }
    }

    /// PyTorch's definitions: every row comes out with mean 0 and biased variance
    /// `σ²/(σ² + ε)`; a constant row gives `β` (not NaN).
    #[test]
    fn rows_come_out_with_mean_zero_and_unit_biased_variance() {
        let ln = LayerNorm::new(6);
        let mut params = vec![0.0; 12];
        ln.init(&mut params);
        let mut x = Matrix::random_uniform(3, 6, -4.0, 10.0, &mut Rng::new(3));
        x.row_mut(2).fill(7.0);
        let (mut y, mut xhat, mut rstd) = (Matrix::zeros(3, 6), vec![0.0; 18], vec![0.0; 3]);
        ln.forward(&params, x.view(), y.view_mut(), &mut xhat, &mut rstd).unwrap();
        for i in 0..2 {
            let row: Vec<f64> = y.row(i).iter().map(|&v| f64::from(v)).collect();
            let mean = row.iter().sum::<f64>() / 6.0;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0;
            assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4, "row {i}: mean {mean}, variance {var}");
        }
        assert_eq!(y.row(2), &[0.0; 6]);
        let err = ln.forward(&params, Matrix::zeros(3, 5).view(), y.view_mut(), &mut xhat, &mut rstd).unwrap_err();
        assert_eq!(err.to_string(), "shape mismatch in layer norm: input 3×5 vs 6 features");
        assert!(ln.forward(&params[..11], x.view(), y.view_mut(), &mut xhat, &mut rstd).is_err());
        assert!(ln.forward(&params, x.view(), y.view_mut(), &mut xhat, &mut rstd[..2]).is_err());
    }
}
