//! L1 and L2 weight penalties, added to both the loss and its gradient.
//!
//! `penalty = l1 · Σ|w| + l2 · ½ Σ w²`, so `d penalty / dw = l1 · sign(w) + l2 · w`.
//! Penalties apply to weights only: shrinking a bias does not make a model simpler.

/// L1 and L2 penalty weights (λ); both zero means no regularisation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Regularizer {
    /// λ of the L1 penalty `λ Σ|w|` (drives weights to exactly zero).
    pub l1: f32,
    /// λ of the L2 penalty `½ λ Σ w²` (shrinks weights in proportion to their size).
    pub l2: f32,
}

impl Regularizer {
    /// No penalty.
    pub const NONE: Regularizer = Regularizer { l1: 0.0, l2: 0.0 };

    /// Whether the penalty is zero for every weight.
    pub fn is_none(&self) -> bool {
        self.l1 == 0.0 && self.l2 == 0.0
    }

    /// The penalty of one weight tensor.
    pub fn penalty(&self, weights: &[f32]) -> f64 {
        if self.is_none() {
            return 0.0;
        }
        let (mut abs, mut sq) = (0.0f64, 0.0f64);
        for &w in weights {
            abs += f64::from(w.abs());
            sq += f64::from(w) * f64::from(w);
        }
        f64::from(self.l1) * abs + 0.5 * f64::from(self.l2) * sq
    }

    /// Adds the penalty's gradient to `grads` (same length as `weights`).
    /// The subgradient of `|w|` at 0 is taken as 0.
    pub fn add_gradient(&self, weights: &[f32], grads: &mut [f32]) {
        if self.is_none() {
            return;
        }
        for (g, &w) in grads.iter_mut().zip(weights) {
            let sign = if w > 0.0 {
                1.0
            } else if w < 0.0 {
                -1.0
            } else {
                0.0
            };
            *g += self.l1 * sign + self.l2 * w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        let r = Regularizer { l1: 0.1, l2: 0.5 };
        let w = [2.0, -1.0, 0.0];
        // 0.1·3 + ½·0.5·5 = 0.3 + 1.25
        assert!((r.penalty(&w) - 1.55).abs() < 1e-7);
        let mut g = [1.0, 1.0, 1.0];
        r.add_gradient(&w, &mut g);
        assert_eq!(g, [1.0 + 0.1 + 1.0, 1.0 - 0.1 - 0.5, 1.0]);
        assert_eq!(Regularizer::NONE.penalty(&w), 0.0);
    }
}
