//! Loss functions, each computed together with its gradient.
//!
//! Shapes: `output: [batch, outputs]`. Every loss is a mean over the batch, so its
//! gradient carries a `1 / batch` factor and the learning rate does not depend on the batch
//! size. Loss values are summed in `f64`, which keeps gradient checks accurate.

use std::fmt;
use std::str::FromStr;

use crate::error::{shape_error, Error, Result};
use crate::matrix::{MatMut, MatRef};

/// What the network's output is compared with.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// One target value per output: `[batch, outputs]` (regression, XOR).
    Values(MatRef<'a>),
    /// One class index per example: `[batch]` (classification).
    Classes(&'a [u32]),
}

/// A loss function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Half squared error, `½ Σ_outputs (y − t)²`, averaged over the batch: the lecture's
    /// `½(y − t)²`, whose gradient is simply `y − t`. Takes [`Targets::Values`].
    Mse,
    /// Absolute error, `Σ_outputs |y − t|`, averaged over the batch: the median's loss, which
    /// an outlier pulls no harder than any other point. Its gradient is `sign(y − t)` (0 at a
    /// tie, as PyTorch's `L1Loss`). Takes [`Targets::Values`].
    Mae,
    /// Huber's loss with δ = 1 (PyTorch's `HuberLoss()` default): `½(y − t)²` within one unit
    /// of the target, `|y − t| − ½` beyond it, summed over outputs and averaged over the batch.
    /// Quadratic near the target like MSE, linear far from it like MAE; its gradient is
    /// `y − t` clipped to `[−1, 1]`. Takes [`Targets::Values`].
    Huber,
    /// Softmax followed by cross-entropy, `−ln softmax(y)_label`, averaged over the batch.
    /// The output layer gives raw scores (logits); the two are fused because their joint
    /// gradient is just `p − onehot(label)`, which avoids dividing by tiny probabilities.
    /// Takes [`Targets::Classes`].
    SoftmaxCrossEntropy,
}

impl Loss {
    /// The loss of `output` against `targets`, and (when `grad` is given) `dL/doutput`
    /// written into `grad` (`[batch, outputs]`, overwritten).
    pub fn forward_backward(self, output: MatRef<'_>, targets: Targets<'_>, grad: Option<MatMut<'_>>) -> Result<f64> {
        if let Some(g) = &grad {
            if g.shape() != output.shape() {
                return Err(shape_error("loss gradient", output.shape(), g.shape()));
            }
        }
        match (self, targets) {
            (Loss::Mse, Targets::Values(t)) => elementwise(output, t, grad, |d| (0.5 * f64::from(d) * f64::from(d), d)),
            (Loss::Mae, Targets::Values(t)) => elementwise(output, t, grad, |d| (f64::from(d.abs()), sign(d))),
            (Loss::Huber, Targets::Values(t)) => elementwise(output, t, grad, |d| {
                if d.abs() <= 1.0 {
                    (0.5 * f64::from(d) * f64::from(d), d)
                } else {
                    (f64::from(d.abs()) - 0.5, sign(d))
                }
            }),
            (Loss::SoftmaxCrossEntropy, Targets::Classes(labels)) => softmax_cross_entropy(output, labels, grad),
            (Loss::Mse | Loss::Mae | Loss::Huber, Targets::Classes(_)) => Err(Error::Invalid {
                name: "targets",
                value: "class labels".into(),
                reason: format!("{self} needs one target value per output"),
            }),
            (Loss::SoftmaxCrossEntropy, Targets::Values(_)) => Err(Error::Invalid {
                name: "targets",
                value: "values".into(),
                reason: "softmax cross-entropy needs class labels".into(),
            }),
        }
    }
}

/// A loss that is a sum over elements of `ℓ(d)`, `d = y − t`, averaged over the batch:
/// `L = (1/B) Σ_i Σ_j ℓ(y_ij − t_ij)`, `dL/dy_ij = ℓ'(y_ij − t_ij) / B`. `each(d)` gives
/// `(ℓ(d), ℓ'(d))`: MSE `(½d², d)`, MAE `(|d|, sign d)`, Huber the one or the other by `|d|`;
/// the value in f64, so that sums (and gradient checks) keep their accuracy.
fn elementwise(
    y: MatRef<'_>,
    t: MatRef<'_>,
    mut grad: Option<MatMut<'_>>,
    each: impl Fn(f32) -> (f64, f32),
) -> Result<f64> {
    if y.shape() != t.shape() {
        return Err(shape_error("regression loss", y.shape(), t.shape()));
    }
    let batch = y.rows();
    let scale = 1.0 / batch.max(1) as f32;
    let mut total = 0.0f64;
    for i in 0..batch {
        let (yr, tr) = (y.row(i), t.row(i));
        match grad.as_mut() {
            Some(g) => {
                for (g, (y, t)) in g.row_mut(i).iter_mut().zip(yr.iter().zip(tr)) {
                    let (value, slope) = each(y - t);
                    total += value;
                    *g = slope * scale;
                }
            }
            None => {
                for (y, t) in yr.iter().zip(tr) {
                    total += each(y - t).0;
                }
            }
        }
    }
    Ok(total / batch.max(1) as f64)
}

/// The sign of `d`, and 0 at 0 (a tie has no direction to move in).
fn sign(d: f32) -> f32 {
    if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `L = −(1/B) Σ_i ln softmax(y_i)_{label_i}`, `dL/dy_ij = (p_ij − [j = label_i]) / B`.
fn softmax_cross_entropy(logits: MatRef<'_>, labels: &[u32], mut grad: Option<MatMut<'_>>) -> Result<f64> {
    let (batch, classes) = logits.shape();
    if labels.len() != batch {
        return Err(shape_error("softmax cross-entropy labels", (batch, classes), (labels.len(), 1)));
    }
    let scale = 1.0 / batch.max(1) as f32;
    let mut total = 0.0f64;
    for (i, &label) in labels.iter().enumerate() {
        let label = label as usize;
        if label >= classes {
            return Err(Error::Invalid {
                name: "label",
                value: label.to_string(),
                reason: format!("the output has {classes} classes (0..{})", classes - 1),
            });
        }
        let row = logits.row(i);
        // Subtract the row maximum so that no exponent overflows (see `softmax`).
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&v| f64::from((v - max).exp())).sum();
        let log_sum = f64::from(max) + sum.ln();
        total += log_sum - f64::from(row[label]);
        if let Some(g) = grad.as_mut() {
            let inv = (1.0 / sum) as f32;
            let g = g.row_mut(i);
            for (g, &v) in g.iter_mut().zip(row) {
                *g = (v - max).exp() * inv * scale;
            }
            g[label] -= scale;
        }
    }
    Ok(total / batch.max(1) as f64)
}

impl FromStr for Loss {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mse" => Ok(Loss::Mse),
            "mae" | "l1" => Ok(Loss::Mae),
            "huber" => Ok(Loss::Huber),
            "cross-entropy" | "softmax-cross-entropy" | "ce" => Ok(Loss::SoftmaxCrossEntropy),
            _ => Err(Error::Parse {
                what: "loss",
                input: s.into(),
                reason: "expected `mse`, `mae`, `huber` or `cross-entropy`".into(),
            }),
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber => "huber",
            Loss::SoftmaxCrossEntropy => "cross-entropy",
        })
    }
}

/// The index of the largest value of each row (ties: the first), e.g. predicted classes.
pub fn argmax_rows(x: MatRef<'_>, out: &mut [u32]) {
    for (i, o) in out.iter_mut().enumerate().take(x.rows()) {
        let row = x.row(i);
        let mut best = 0;
        for (j, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = j;
            }
        }
        *o = best as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    #[test]
    fn mse_by_hand() {
        let y = Matrix::from_rows(&[[0.5, 1.0], [0.0, 2.0]]);
        let t = Matrix::from_rows(&[[1.0, 1.0], [1.0, 0.0]]);
        let mut g = Matrix::zeros(2, 2);
        let l = Loss::Mse.forward_backward(y.view(), Targets::Values(t.view()), Some(g.view_mut())).unwrap();
        // ½(0.25 + 0) + ½(1 + 4) = 0.125 + 2.5, over 2 examples.
        assert!((l - 1.3125).abs() < 1e-12);
        assert_eq!(g.as_slice(), &[-0.25, 0.0, -0.5, 1.0]);
    }

    #[test]
    fn mae_and_huber_by_hand() {
        let y = Matrix::from_rows(&[[0.5, 1.0], [0.0, 3.0]]);
        let t = Matrix::from_rows(&[[1.0, 1.0], [1.5, 0.0]]);
        let mut g = Matrix::zeros(2, 2);
        // Differences: −0.5, 0 | −1.5, 3.
        let l = Loss::Mae.forward_backward(y.view(), Targets::Values(t.view()), Some(g.view_mut())).unwrap();
        assert!((l - (0.5 + 0.0 + 1.5 + 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(g.as_slice(), &[-0.5, 0.0, -0.5, 0.5]);
        // Huber: ½·0.25 and 0 inside one unit; 1.5 − ½ and 3 − ½ outside it.
        let l = Loss::Huber.forward_backward(y.view(), Targets::Values(t.view()), Some(g.view_mut())).unwrap();
        assert!((l - (0.125 + 0.0 + 1.0 + 2.5) / 2.0).abs() < 1e-12);
        assert_eq!(g.as_slice(), &[-0.25, 0.0, -0.5, 0.5]);
        // Without a gradient buffer, the same value.
        let alone = Loss::Huber.forward_backward(y.view(), Targets::Values(t.view()), None).unwrap();
        assert_eq!(alone, l);
        for name in ["mse", "mae", "huber", "cross-entropy"] {
            assert_eq!(name.parse::<Loss>().unwrap().to_string(), name);
        }
    }

    #[test]
    fn cross_entropy_by_hand() {
        // Uniform logits over 4 classes: loss ln 4, gradient (¼ − onehot).
        let y = Matrix::zeros(1, 4);
        let mut g = Matrix::zeros(1, 4);
        let l =
            Loss::SoftmaxCrossEntropy.forward_backward(y.view(), Targets::Classes(&[2]), Some(g.view_mut())).unwrap();
        assert!((l - 4f64.ln()).abs() < 1e-7);
        assert_eq!(g.as_slice(), &[0.25, 0.25, -0.75, 0.25]);
    }

    #[test]
    fn cross_entropy_survives_huge_logits() {
        let y = Matrix::from_rows(&[[1e4, -1e4, 0.0]]);
        let mut g = Matrix::zeros(1, 3);
        let l =
            Loss::SoftmaxCrossEntropy.forward_backward(y.view(), Targets::Classes(&[1]), Some(g.view_mut())).unwrap();
        assert!((l - 2e4).abs() < 1e-3, "{l}");
        assert!(g.as_slice().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_targets_are_errors() {
        let y = Matrix::zeros(2, 3);
        let ce = Loss::SoftmaxCrossEntropy;
        assert!(ce.forward_backward(y.view(), Targets::Classes(&[0]), None).is_err());
        let err = ce.forward_backward(y.view(), Targets::Classes(&[0, 3]), None).unwrap_err().to_string();
        assert!(err.contains("label = 3"), "{err}");
        assert!(Loss::Mse.forward_backward(y.view(), Targets::Classes(&[0, 1]), None).is_err());
        let t = Matrix::zeros(2, 2);
        assert!(Loss::Mse.forward_backward(y.view(), Targets::Values(t.view()), None).is_err());
    }

    #[test]
    fn argmax_picks_first_of_ties() {
        let x = Matrix::from_rows(&[[0.1, 0.7, 0.2], [1.0, 1.0, 0.0]]);
        let mut out = [9; 2];
        argmax_rows(x.view(), &mut out);
        assert_eq!(out, [1, 0]);
    }
}
