//! What a sweep varies and how, expanded into a list of trials.
//!
//! A parameter is a training key (as in a TOML recipe: `lr`, `batch-size`, `hidden`) with
//! a [`ParamSpec`]: a list of values (`0.001,0.01,0.1`), a whole-number range (`64..512`),
//! a number range (`0.1..0.9`) or a log-uniform range (`log:1e-4..1`). A grid takes every
//! combination of lists; a random search draws each parameter independently, from a seeded
//! [`Rng`], so the same sweep gives the same trials. A trial is the list of `key = value`
//! texts that a recipe would hold; [`crate::trial::apply`] turns it into a checked
//! [`nabla_train::config::TrainConfig`].

use std::fmt;
use std::str::FromStr;

use nabla::limits::MAX_TRIALS;
use nabla::Rng;

use crate::Trial;

/// How one parameter varies.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSpec {
    /// These values, as written (`sgd`, `0.01`, `512-256`).
    List(Vec<String>),
    /// A whole number drawn uniformly from `lo..=hi`.
    Int {
        /// Smallest value.
        lo: i64,
        /// Largest value.
        hi: i64,
    },
    /// A number drawn uniformly from `[lo, hi)`.
    Uniform {
        /// Low end.
        lo: f64,
        /// High end.
        hi: f64,
    },
    /// A number whose logarithm is drawn uniformly: as many draws per decade.
    Log {
        /// Low end (> 0).
        lo: f64,
        /// High end.
        hi: f64,
    },
}

impl FromStr for ParamSpec {
    type Err = String;

    /// `a,b,c` | `LO..HI` (whole numbers: integers; else numbers) | `log:LO..HI`.
    fn from_str(s: &str) -> Result<ParamSpec, String> {
        let s = s.trim();
        let (log, body) = match s.strip_prefix("log:") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if let Some((lo, hi)) = body.split_once("..") {
            let num = |t: &str| {
                t.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("`{t}` is not a number in `{s}`"))
            };
            let (l, h) = (num(lo)?, num(hi)?);
            if l >= h {
                return Err(format!("`{s}`: the low end must be below the high end"));
            }
            if log {
                if l <= 0.0 {
                    return Err(format!("`{s}`: a log range needs a low end > 0"));
                }
                return Ok(ParamSpec::Log { lo: l, hi: h });
            }
            let int = |t: &str| t.trim().parse::<i64>().ok();
            return Ok(match (int(lo), int(hi)) {
                (Some(lo), Some(hi)) => ParamSpec::Int { lo, hi },
                _ => ParamSpec::Uniform { lo: l, hi: h },
            });
        }
        if log {
            return Err(format!("`{s}`: `log:` takes a range, e.g. log:1e-4..1"));
        }
        let values: Vec<String> = body.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(format!("`{s}`: empty value in the list"));
        }
        Ok(ParamSpec::List(values))
    }
}

impl fmt::Display for ParamSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamSpec::List(v) => f.write_str(&v.join(",")),
            ParamSpec::Int { lo, hi } => write!(f, "{lo}..{hi}"),
            ParamSpec::Uniform { lo, hi } => write!(f, "{lo}..{hi}"),
            ParamSpec::Log { lo, hi } => write!(f, "log:{lo}..{hi}"),
        }
    }
}

/// Parses `KEY=SPEC` (as given to `--grid`).
pub fn parse_param(s: &str) -> Result<(String, ParamSpec), String> {
    let (key, spec) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected KEY=VALUES, e.g. lr=0.01,0.1"))?;
    let key = key.trim().trim_start_matches("--").to_string();
    if key.is_empty() {
        return Err(format!("`{s}`: the key is empty"));
    }
    Ok((key, spec.parse()?))
}

/// Every combination of the parameters' values (the first key varies slowest). Every
/// parameter must be a list.
pub fn grid(params: &[(String, ParamSpec)]) -> Result<Vec<Trial>, String> {
    // Counted before anything is expanded: a grid of millions of trials is refused, not built.
    let count = params.iter().try_fold(1usize, |n, (_, spec)| match spec {
        ParamSpec::List(values) => n.checked_mul(values.len()),
        _ => Some(n),
    });
    if count.is_none_or(|n| n > MAX_TRIALS) {
        let shown = count.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
        return Err(format!("a grid of {shown} trials is more than nabla's limit of {MAX_TRIALS}: sweep fewer values, or draw --random N of them"));
    }
    let mut trials: Vec<Trial> = vec![Vec::new()];
    for (key, spec) in params {
        let ParamSpec::List(values) = spec else {
            return Err(format!("{key}={spec}: a grid takes lists of values; ranges need --random N"));
        };
        trials = trials
            .into_iter()
            .flat_map(|t| {
                values.iter().map(move |v| {
                    let mut t = t.clone();
                    t.push((key.clone(), v.clone()));
                    t
                })
            })
            .collect();
    }
    Ok(trials)
}

/// `count` trials, each parameter drawn independently (a list: one of its values).
pub fn random(params: &[(String, ParamSpec)], count: usize, seed: u64) -> Vec<Trial> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            params
                .iter()
                .map(|(key, spec)| {
                    let value = match spec {
                        ParamSpec::List(v) => v[rng.below(v.len() as u64) as usize].clone(),
                        ParamSpec::Int { lo, hi } => (lo + rng.below((hi - lo + 1) as u64) as i64).to_string(),
                        ParamSpec::Uniform { lo, hi } => short(rng.uniform(*lo, *hi)),
                        ParamSpec::Log { lo, hi } => short(rng.uniform(lo.ln(), hi.ln()).exp()),
                    };
                    (key.clone(), value)
                })
                .collect()
        })
        .collect()
}

/// A drawn number with three significant digits, as short text (`0.0123`, `2.5e-5`).
fn short(v: f64) -> String {
    let text = format!("{v:.2e}");
    let rounded: f64 = text.parse().unwrap_or(v);
    let plain = rounded.to_string();
    if plain.len() <= text.len() + 1 {
        plain
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(specs: &[&str]) -> Vec<(String, ParamSpec)> {
        specs.iter().map(|s| parse_param(s).unwrap()).collect()
    }

    #[test]
    fn specs_parse() {
        assert_eq!("0.1,1".parse::<ParamSpec>().unwrap(), ParamSpec::List(vec!["0.1".into(), "1".into()]));
        assert_eq!("64..512".parse::<ParamSpec>().unwrap(), ParamSpec::Int { lo: 64, hi: 512 });
        assert_eq!("0.1..0.5".parse::<ParamSpec>().unwrap(), ParamSpec::Uniform { lo: 0.1, hi: 0.5 });
        assert_eq!("log:1e-4..1".parse::<ParamSpec>().unwrap(), ParamSpec::Log { lo: 1e-4, hi: 1.0 });
        assert!("log:0..1".parse::<ParamSpec>().unwrap_err().contains("> 0"));
        assert!("5..1".parse::<ParamSpec>().unwrap_err().contains("below"));
        assert!("a,,b".parse::<ParamSpec>().is_err());
        assert!(parse_param("lr").unwrap_err().contains("KEY=VALUES"));
    }

    #[test]
    fn grid_takes_every_combination_first_key_slowest() {
        let trials = grid(&params(&["lr=0.1,1", "batch-size=32,64,128"])).unwrap();
        assert_eq!(trials.len(), 6);
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(trials[0], [pair("lr", "0.1"), pair("batch-size", "32")]);
        assert_eq!(trials[5], [pair("lr", "1"), pair("batch-size", "128")]);
        assert!(grid(&params(&["lr=log:1e-4..1"])).unwrap_err().contains("--random"));
    }

    #[test]
    fn random_draws_stay_in_range_and_repeat_with_the_seed() {
        let p = params(&["lr=log:1e-4..1", "hidden=64..512", "optimizer=sgd,adam"]);
        let a = random(&p, 200, 7);
        assert_eq!(a, random(&p, 200, 7));
        let mut decades = [0usize; 4];
        for t in &a {
            let lr: f64 = t[0].1.parse().unwrap();
            assert!((1e-4..=1.0).contains(&lr), "{lr}");
            decades[(lr.log10() + 4.0).floor().clamp(0.0, 3.0) as usize] += 1;
            let h: i64 = t[1].1.parse().unwrap();
            assert!((64..=512).contains(&h));
            assert!(t[2].1 == "sgd" || t[2].1 == "adam");
        }
        // Log-uniform: every decade gets a fair share of 200 draws.
        assert!(decades.iter().all(|&n| n > 25), "{decades:?}");
    }
}
