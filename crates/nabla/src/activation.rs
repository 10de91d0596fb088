//! Activation functions and their derivatives.
//!
//! A layer computes `z = x·Wᵀ + b` and then `a = f(z)`. The backward pass needs
//! `dz = da ⊙ f'(z)`; each derivative below is computed from whichever of `z` or `a` is
//! cheaper and numerically safer: sigmoid and tanh from their output `a`, the piecewise ones
//! from the sign of `z`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::pool::{self, SharedMut, ELEMENTWISE_MIN_PER_TASK};

/// How many of the engine's threads a fused pass over `len` values should use.
fn tasks_for(len: usize) -> usize {
    pool::threads().min(len / ELEMENTWISE_MIN_PER_TASK).max(1)
}

/// An element-wise activation function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// `f(z) = z` (the output layer of a classifier, whose softmax lives in the loss).
    Identity,
    /// `f(z) = 1 / (1 + e^(−z))`, `f' = a(1 − a)`.
    Sigmoid,
    /// `f(z) = tanh z`, `f' = 1 − a²`.
    Tanh,
    /// `f(z) = max(0, z)`, `f' = [z > 0]`.
    Relu,
    /// `f(z) = z` for `z > 0`, else `alpha·z`; `f' = 1` or `alpha`.
    LeakyRelu {
        /// Slope for negative inputs (0.01 by default).
        alpha: f32,
    },
    /// `f(z) = z` for `z > 0`, else `alpha·(e^z − 1)`; `f' = 1` or `a + alpha`.
    Elu {
        /// Saturation value for very negative inputs is `−alpha` (1.0 by default).
        alpha: f32,
    },
}

impl Activation {
    /// Default slope of [`Activation::LeakyRelu`].
    pub const LEAKY_RELU_ALPHA: f32 = 0.01;
    /// Default `alpha` of [`Activation::Elu`].
    pub const ELU_ALPHA: f32 = 1.0;

    /// `f(z)` for one value.
    #[inline]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Identity => z,
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => crate::math::tanh(z),
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu { alpha } => {
                if z > 0.0 {
                    z
                } else {
                    alpha * z
                }
            }
            Activation::Elu { alpha } => {
                if z > 0.0 {
                    z
                } else {
                    alpha * z.exp_m1()
                }
            }
        }
    }

    /// `f'(z)`, given both `z` and `a = f(z)`.
    #[inline]
    pub fn derivative(self, z: f32, a: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { alpha } => {
                if z > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Elu { alpha } => {
                if z > 0.0 {
                    1.0
                } else {
                    a + alpha
                }
            }
        }
    }

    /// `a = f(z)` over a slice. `z` and `a` must have the same length.
    pub fn forward(self, z: &[f32], a: &mut [f32]) {
        assert_eq!(z.len(), a.len(), "activation forward: z and a differ in length");
        for (a, &z) in a.iter_mut().zip(z) {
            *a = self.apply(z);
        }
    }

    /// `a = f(a)` in place (for when `z` need not be kept).
    pub fn forward_in_place(self, x: &mut [f32]) {
        for v in x {
            *v = self.apply(*v);
        }
    }

    /// `dz = da ⊙ f'(z)` over slices of equal length.
    pub fn backward(self, z: &[f32], a: &[f32], da: &[f32], dz: &mut [f32]) {
        assert!(
            z.len() == a.len() && a.len() == da.len() && da.len() == dz.len(),
            "activation backward: lengths differ"
        );
        if self == Activation::Identity {
            dz.copy_from_slice(da);
            return;
        }
        for i in 0..dz.len() {
            dz[i] = da[i] * self.derivative(z[i], a[i]);
        }
    }

    /// The forward pass of a layer after its product: `z ← z + b` row by row, then
    /// `a = f(z)`, in one pass over `z` (the bias add and the activation fused).
    ///
    /// `z`, `a`: `[rows, n]` row-major with `n = bias.len()`; `z` holds `x·Wᵀ` on entry.
    pub fn forward_with_bias(self, bias: &[f32], z: &mut [f32], a: &mut [f32]) {
        let n = bias.len();
        assert!(
            n > 0 && z.len() == a.len() && z.len().is_multiple_of(n),
            "activation forward_with_bias: shapes differ"
        );
        // One loop per activation, so that each is branch-free and vectorises; large
        // batches are split into bands of rows on the engine's threads (each element is
        // computed the same way whichever thread has it).
        fn rows(bias: &[f32], z: &mut [f32], a: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
            let n = bias.len();
            let band = |z: &mut [f32], a: &mut [f32]| {
                for (zr, ar) in z.chunks_exact_mut(n).zip(a.chunks_exact_mut(n)) {
                    for ((z, a), &b) in zr.iter_mut().zip(ar.iter_mut()).zip(bias) {
                        *z += b;
                        *a = f(*z);
                    }
                }
            };
            let rows = z.len() / n;
            let (z, a) = (SharedMut::new(z), SharedMut::new(a));
            pool::for_row_bands(pool::threads(), rows, n, &|r| {
                let r = r.start * n..r.end * n;
                // SAFETY: every task has its own band of rows.
                let (z, a) = unsafe { (z.range(r.clone()), a.range(r)) };
                crate::widest_simd!(band(z, a));
            });
        }
        match self {
            Activation::Identity => rows(bias, z, a, |v| v),
            Activation::Relu => rows(bias, z, a, |v| v.max(0.0)),
            Activation::Sigmoid => rows(bias, z, a, crate::math::sigmoid),
            Activation::Tanh => rows(bias, z, a, crate::math::tanh),
            other => rows(bias, z, a, |v| other.apply(v)),
        }
    }

    /// [`Activation::backward`] with the bias gradient of the same pass: `dz = da ⊙ f'(z, a)`
    /// and `db = Σ_rows dz`, in one pass over the rows (`db` accumulated row after row, as
    /// a separate sum would).
    ///
    /// `z`, `a`, `da`, `dz`: `[rows, n]` with `n = db.len()`; `db` is overwritten.
    pub fn backward_with_bias_grad(self, z: &[f32], a: &[f32], da: &[f32], dz: &mut [f32], db: &mut [f32]) {
        let n = db.len();
        assert!(
            n > 0 && z.len() == a.len() && a.len() == da.len() && da.len() == dz.len() && dz.len().is_multiple_of(n),
            "activation backward_with_bias_grad: shapes differ"
        );
        // Large batches are split into bands of columns on the engine's threads: each
        // column's bias gradient is still summed row after row, so the bits do not depend on
        // the thread count.
        fn rows(
            z: &[f32],
            a: &[f32],
            da: &[f32],
            dz: &mut [f32],
            db: &mut [f32],
            f: impl Fn(f32, f32, f32) -> f32 + Sync,
        ) {
            let n = db.len();
            // Columns c of every row, with their bias gradients `db` (= db[c]).
            let band = |c: std::ops::Range<usize>, dz: &SharedMut<'_, f32>, db: &mut [f32]| {
                db.fill(0.0);
                for i in 0..z.len() / n {
                    let row = i * n + c.start..i * n + c.end;
                    // SAFETY: bands have disjoint columns, and within a band rows are disjoint.
                    let dzr = unsafe { dz.range(row.clone()) };
                    let (zr, ar, dar) = (&z[row.clone()], &a[row.clone()], &da[row]);
                    for ((((d, &z), &a), &g), b) in dzr.iter_mut().zip(zr).zip(ar).zip(dar).zip(db.iter_mut()) {
                        *d = f(z, a, g);
                        *b += *d;
                    }
                }
            };
            let tasks = tasks_for(z.len()).min(n / 16).max(1);
            let per = n.div_ceil(tasks).div_ceil(16) * 16;
            let (dz, db) = (SharedMut::new(dz), SharedMut::new(db));
            let task = |t: usize| {
                let c = t * per..((t + 1) * per).min(n);
                // SAFETY: every task has its own columns of `db`.
                let db = unsafe { db.range(c.clone()) };
                crate::widest_simd!(band(c, &dz, db));
            };
            if tasks == 1 {
                task(0);
            } else {
                pool::run(n.div_ceil(per), &task);
            }
        }
        match self {
            Activation::Identity => rows(z, a, da, dz, db, |_, _, g| g),
            Activation::Relu => rows(z, a, da, dz, db, |z, _, g| g * if z > 0.0 { 1.0 } else { 0.0 }),
            Activation::Sigmoid => rows(z, a, da, dz, db, |_, a, g| g * (a * (1.0 - a))),
            Activation::Tanh => rows(z, a, da, dz, db, |_, a, g| g * (1.0 - a * a)),
            other => rows(z, a, da, dz, db, |z, a, g| g * other.derivative(z, a)),
        }
    }

    /// The names accepted by [`FromStr`], for help texts and error messages.
    pub const NAMES: &'static str = "identity, sigmoid, tanh, relu, leaky-relu[:alpha], elu[:alpha]";
}

/// The logistic function `1 / (1 + e^(−z))`, safe at both extremes (see [`crate::math::sigmoid`]).
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    crate::math::sigmoid(z)
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses `sigmoid`, `tanh`, `relu`, `identity` (or `linear`), `leaky-relu` with an
    /// optional `:alpha` (`leaky-relu:0.2`), and `elu` with an optional `:alpha`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| Error::Parse { what: "activation", input: s.to_string(), reason };
        let (name, param) = match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let alpha = |default: f32| -> Result<f32, Error> {
            match param {
                None => Ok(default),
                Some(p) => match p.parse::<f32>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    _ => Err(err(format!("alpha must be a finite number ≥ 0, got `{p}`"))),
                },
            }
        };
        let act = match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "identity" | "linear" | "none" => Activation::Identity,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky-relu" | "leakyrelu" => Activation::LeakyRelu { alpha: alpha(Self::LEAKY_RELU_ALPHA)? },
            "elu" => Activation::Elu { alpha: alpha(Self::ELU_ALPHA)? },
            _ => return Err(err(format!("expected one of {}", Self::NAMES))),
        };
        if param.is_some() && !matches!(act, Activation::LeakyRelu { .. } | Activation::Elu { .. }) {
            return Err(err(format!("`{name}` takes no parameter")));
        }
        Ok(act)
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => write!(f, "identity"),
            Activation::Sigmoid => write!(f, "sigmoid"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Relu => write!(f, "relu"),
            Activation::LeakyRelu { alpha } if *alpha == Self::LEAKY_RELU_ALPHA => write!(f, "leaky-relu"),
            Activation::LeakyRelu { alpha } => write!(f, "leaky-relu:{alpha}"),
            Activation::Elu { alpha } if *alpha == Self::ELU_ALPHA => write!(f, "elu"),
            Activation::Elu { alpha } => write!(f, "elu:{alpha}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 6] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Elu { alpha: 0.7 },
    ];

    #[test]
    fn sigmoid_is_safe_at_the_extremes() {
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
        for z in [-1e30f32, -88.0, -20.0, 20.0, 88.0, 1e30, f32::INFINITY, f32::NEG_INFINITY] {
            let s = sigmoid(z);
            assert!(s.is_finite() && (0.0..=1.0).contains(&s), "sigmoid({z}) = {s}");
        }
        for act in ALL {
            for z in [-1000.0f32, 1000.0] {
                let a = act.apply(z);
                assert!(!a.is_nan() && !act.derivative(z, a).is_nan(), "{act} at {z}");
            }
        }
    }

    #[test]
    fn values_by_hand() {
        assert!((Activation::Sigmoid.apply(1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((Activation::Tanh.apply(0.5) - 0.462_117_16).abs() < 1e-6);
        assert_eq!(Activation::Relu.apply(-2.0), 0.0);
        assert_eq!(Activation::LeakyRelu { alpha: 0.1 }.apply(-2.0), -0.2);
        assert!((Activation::Elu { alpha: 1.0 }.apply(-1.0) + 0.632_120_56).abs() < 1e-6);
        assert_eq!(Activation::Elu { alpha: 1.0 }.apply(3.0), 3.0);
    }

    /// Every derivative against a central difference of `apply`, away from the kinks.
    #[test]
    fn derivatives_match_finite_differences() {
        for act in ALL {
            for i in -40..=40 {
                let z = i as f32 * 0.1 + 0.05;
                let a = act.apply(z);
                let h = 1e-3f64;
                let zp = f64::from(z) + h;
                let zm = f64::from(z) - h;
                let numeric = (f64::from(act.apply(zp as f32)) - f64::from(act.apply(zm as f32)))
                    / (f64::from(zp as f32) - f64::from(zm as f32));
                let analytic = f64::from(act.derivative(z, a));
                assert!((numeric - analytic).abs() < 2e-3, "{act} at {z}: numeric {numeric} analytic {analytic}");
            }
        }
    }

    #[test]
    fn parse_and_display_round_trip() {
        for act in ALL.iter().copied().chain([Activation::LeakyRelu { alpha: 0.01 }, Activation::Elu { alpha: 1.0 }]) {
            assert_eq!(act.to_string().parse::<Activation>().unwrap(), act);
        }
        assert_eq!("ReLU".parse::<Activation>().unwrap(), Activation::Relu);
        assert_eq!("leaky_relu".parse::<Activation>().unwrap(), Activation::LeakyRelu { alpha: 0.01 });
        let err = "swish".parse::<Activation>().unwrap_err().to_string();
        assert!(err.contains("invalid activation `swish`") && err.contains("sigmoid"), "{err}");
        assert!("relu:2".parse::<Activation>().is_err());
        assert!("elu:nan".parse::<Activation>().is_err());
    }

    /// The fused passes give exactly what the separate ones give, on one thread and split
    /// across threads (bands of rows forward, of columns backward; a band edge inside a row).
    #[test]
    fn fused_passes_equal_the_separate_ones() {
        let mut parallel = 0;
        for (rows, n, threads) in [(5, 7, 1), (300, 333, 3), (700, 190, 2), (7000, 10, 2)] {
            parallel += crate::pool::with_threads(threads, || fused_case(rows, n)).1;
        }
        assert!(parallel > 0, "no fused pass was split across threads");
    }

    fn fused_case(rows: usize, n: usize) {
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.3 - 1.0).collect();
        let product: Vec<f32> = (0..rows * n).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.21).collect();
        let da: Vec<f32> = (0..rows * n).map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.1).collect();
        for act in ALL {
            let mut z = product.clone();
            let mut a = vec![0.0; rows * n];
            act.forward_with_bias(&bias, &mut z, &mut a);
            let z_want: Vec<f32> = product.iter().enumerate().map(|(i, &p)| p + bias[i % n]).collect();
            let mut a_want = vec![0.0; rows * n];
            act.forward(&z_want, &mut a_want);
            assert_eq!((&z, &a), (&z_want, &a_want), "{act}");

            let (mut dz, mut db) = (vec![0.0; rows * n], vec![9.0; n]);
            act.backward_with_bias_grad(&z, &a, &da, &mut dz, &mut db);
            let mut dz_want = vec![0.0; rows * n];
            act.backward(&z, &a, &da, &mut dz_want);
            let mut db_want = vec![0.0; n];
            for r in 0..rows {
                for j in 0..n {
                    db_want[j] += dz_want[r * n + j];
                }
            }
            assert_eq!((&dz, &db), (&dz_want, &db_want), "{act}");
        }
    }

    #[test]
    fn backward_multiplies_upstream_gradient() {
        let z = [-1.0, 0.5, 2.0];
        let mut a = [0.0; 3];
        Activation::Relu.forward(&z, &mut a);
        assert_eq!(a, [0.0, 0.5, 2.0]);
        let mut dz = [0.0; 3];
        Activation::Relu.backward(&z, &a, &[3.0, 4.0, 5.0], &mut dz);
        assert_eq!(dz, [0.0, 4.0, 5.0]);
    }
}
