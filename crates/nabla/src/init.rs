//! Weight initialisers.
//!
//! Where the first weights come from decides whether a deep network trains at all: too
//! large and activations saturate, too small and the signal dies out layer by layer. The
//! schemes here keep the variance of the signal roughly constant through the layers.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::rng::Rng;

/// How a dense layer's weights and biases are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Every weight and bias uniform in `(−limit, limit)`: the lecture's scheme with
    /// `limit = 1`.
    Uniform {
        /// Half-width of the interval.
        limit: f32,
    },
    /// Glorot & Bengio (2010): weights uniform in `±√(6 / (fan_in + fan_out))`, biases 0.
    /// Keeps the variance of activations and gradients for tanh and sigmoid networks.
    XavierUniform,
    /// He et al. (2015): weights normal with std `√(2 / fan_in)`, biases 0. Accounts for
    /// ReLU zeroing half its inputs.
    HeNormal,
    /// He et al. (2015), uniform form: weights uniform in `±√(6 / fan_in)`, biases 0.
    HeUniform,
}

impl Init {
    /// The names accepted by [`FromStr`].
    pub const NAMES: &'static str = "uniform[:limit], xavier, he, he-uniform";

    /// Fills one layer: `weight` is `[fan_out, fan_in]` row-major, `bias` is `[fan_out]`.
    /// Draws the weights in storage order, then the biases.
    pub fn fill(self, weight: &mut [f32], bias: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        match self {
            Init::Uniform { limit } => {
                weight.iter_mut().for_each(|w| *w = rng.uniform_f32(-limit, limit));
                bias.iter_mut().for_each(|b| *b = rng.uniform_f32(-limit, limit));
            }
            Init::XavierUniform => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                weight.iter_mut().for_each(|w| *w = rng.uniform_f32(-limit, limit));
                bias.fill(0.0);
            }
            Init::HeNormal => {
                let std = (2.0 / fan_in as f64).sqrt();
                weight.iter_mut().for_each(|w| *w = (rng.normal() * std) as f32);
                bias.fill(0.0);
            }
            Init::HeUniform => {
                let limit = (6.0 / fan_in as f64).sqrt() as f32;
                weight.iter_mut().for_each(|w| *w = rng.uniform_f32(-limit, limit));
                bias.fill(0.0);
            }
        }
    }
}

impl FromStr for Init {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| Error::Parse { what: "initialiser", input: s.to_string(), reason };
        let (name, param) = match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let init = match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "uniform" => {
                let limit = match param {
                    None => 1.0,
                    Some(p) => match p.parse::<f32>() {
                        Ok(v) if v.is_finite() && v > 0.0 => v,
                        _ => return Err(err(format!("the limit must be a finite number > 0, got `{p}`"))),
                    },
                };
                return Ok(Init::Uniform { limit });
            }
            "xavier" | "glorot" | "xavier-uniform" | "glorot-uniform" => Init::XavierUniform,
            "he" | "kaiming" | "he-normal" | "kaiming-normal" => Init::HeNormal,
            "he-uniform" | "kaiming-uniform" => Init::HeUniform,
            _ => return Err(err(format!("expected one of {}", Self::NAMES))),
        };
        if param.is_some() {
            return Err(err(format!("`{name}` takes no parameter")));
        }
        Ok(init)
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Uniform { limit } if *limit == 1.0 => write!(f, "uniform"),
            Init::Uniform { limit } => write!(f, "uniform:{limit}"),
            Init::XavierUniform => write!(f, "xavier"),
            Init::HeNormal => write!(f, "he"),
            Init::HeUniform => write!(f, "he-uniform"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(init: Init, fan_in: usize, fan_out: usize) -> (f64, f64, f32) {
        let mut w = vec![0.0; fan_in * fan_out];
        let mut b = vec![1.0; fan_out];
        init.fill(&mut w, &mut b, fan_in, fan_out, &mut Rng::new(1));
        let n = w.len() as f64;
        let mean = w.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = w.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        let max = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        (mean, var, max)
    }

    #[test]
    fn variances_match_their_formulas() {
        let (fi, fo) = (400, 300);
        let (_, var, max) = stats(Init::XavierUniform, fi, fo);
        let limit = (6.0 / (fi + fo) as f64).sqrt();
        assert!((var - limit * limit / 3.0).abs() < 0.03 * limit * limit / 3.0);
        assert!(f64::from(max) <= limit);
        let (mean, var, _) = stats(Init::HeNormal, fi, fo);
        assert!(mean.abs() < 0.01 && (var - 2.0 / fi as f64).abs() < 0.03 * 2.0 / fi as f64, "{var}");
        let (_, var, _) = stats(Init::HeUniform, fi, fo);
        assert!((var - 2.0 / fi as f64).abs() < 0.03 * 2.0 / fi as f64);
        let (_, var, max) = stats(Init::Uniform { limit: 1.0 }, fi, fo);
        assert!((var - 1.0 / 3.0).abs() < 0.01 && max < 1.0);
    }

    #[test]
    fn biases_zero_except_for_uniform() {
        let mut w = [0.0; 4];
        let mut b = [1.0; 2];
        Init::XavierUniform.fill(&mut w, &mut b, 2, 2, &mut Rng::new(0));
        assert_eq!(b, [0.0, 0.0]);
        Init::Uniform { limit: 1.0 }.fill(&mut w, &mut b, 2, 2, &mut Rng::new(0));
        assert!(b.iter().all(|&x| x != 0.0 && x.abs() < 1.0));
    }

    #[test]
    fn parse_round_trip() {
        for init in [
            Init::Uniform { limit: 1.0 },
            Init::Uniform { limit: 0.1 },
            Init::XavierUniform,
            Init::HeNormal,
            Init::HeUniform,
        ] {
            assert_eq!(init.to_string().parse::<Init>().unwrap(), init);
        }
        assert_eq!("Kaiming".parse::<Init>().unwrap(), Init::HeNormal);
        assert!("zeros".parse::<Init>().unwrap_err().to_string().contains("xavier"));
        assert!("uniform:-1".parse::<Init>().is_err());
    }
}
