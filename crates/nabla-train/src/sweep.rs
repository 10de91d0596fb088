//! Hyperparameter sweeps: what to vary and how, expanded into a list of trials.
//!
//! A parameter is a training key (as in a TOML recipe: `lr`, `batch-size`, `hidden`) with
//! a [`ParamSpec`]: a list of values (`0.001,0.01,0.1`), a whole-number range (`64..512`),
//! a number range (`0.1..0.9`) or a log-uniform range (`log:1e-4..1`). A grid takes every
//! combination of lists; a random search draws each parameter independently, from a seeded
//! [`Rng`], so the same sweep gives the same trials. A trial is the list of `key = value`
//! texts that a recipe would hold; [`apply`] turns it into a checked [`TrainConfig`].

use std::fmt;
use std::str::FromStr;

use nabla::Rng;

use crate::config::{parse_hidden, TrainConfig};

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

/// One trial: the swept keys and the values it takes, as text, in the sweep's key order.
pub type Trial = Vec<(String, String)>;

/// Every combination of the parameters' values (the first key varies slowest). Every
/// parameter must be a list.
pub fn grid(params: &[(String, ParamSpec)]) -> Result<Vec<Trial>, String> {
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

/// One `key = value` line of TOML for a value given as text: `hidden` becomes a list of
/// widths; numbers and `true`/`false` stay bare; anything else is quoted.
pub fn toml_line(key: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    let rhs = if key == "hidden" {
        let widths = parse_hidden(v).map_err(|e| format!("hidden={v}: {e}"))?;
        format!("[{}]", widths.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
    } else if v.parse::<i64>().is_ok() || v == "true" || v == "false" {
        v.to_string()
    } else if v.parse::<f64>().is_ok_and(f64::is_finite) {
        // TOML wants a digit on both sides of the point: `.5` → `0.5`, `1.` → `1.0`.
        let f: f64 = v.parse().unwrap_or_default();
        format!("{f:?}")
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    };
    Ok(format!("{key} = {rhs}\n"))
}

/// The settings of a trial: `base`, then `fixed`, then the trial's values. An error names
/// the key (an unknown key, a value of the wrong type or out of range).
pub fn apply(
    base: &TrainConfig,
    fixed: &[(String, String)],
    trial: &[(String, String)],
) -> Result<TrainConfig, String> {
    let mut text = String::new();
    for (key, value) in fixed.iter().chain(trial) {
        text.push_str(&toml_line(key, value)?);
    }
    base.merge_toml(&text)
}

/// A sweep written as a TOML file: every key optional; the command line's flags win.
///
/// ```toml
/// target = "mnist"
/// random = 20            # a random search of 20 trials (default: the grid)
/// seed = 0               # of the random draws
/// metric = "val/acc"
/// goal = "max"
/// jobs = 2
/// [grid]                 # a list, or a text spec: "log:1e-4..1", "64..512", "0.1,1"
/// lr = [0.001, 0.01, 0.1]
/// optimizer = ["sgd", "adam"]
/// [set]                  # fixed for every trial
/// epochs = 5
/// hidden = [128]
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepFile {
    /// What to train (`mnist`, `xor`, …).
    pub target: Option<String>,
    /// Trials of a random search.
    pub random: Option<usize>,
    /// Seed of the random draws.
    pub seed: Option<u64>,
    /// The metric that ranks trials.
    pub metric: Option<String>,
    /// `max` or `min`.
    pub goal: Option<String>,
    /// Trials at once.
    pub jobs: Option<usize>,
    /// The swept parameters.
    pub params: Vec<(String, ParamSpec)>,
    /// Settings fixed for every trial.
    pub fixed: Vec<(String, String)>,
}

/// A TOML value as the text a flag would take (`[512, 256]` → `512-256`).
fn value_text(key: &str, v: &toml::Value) -> Result<String, String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(a) if key == "hidden" => {
            a.iter().map(|w| value_text(key, w)).collect::<Result<Vec<_>, _>>()?.join("-")
        }
        other => return Err(format!("{key}: unsupported value {other}")),
    })
}

/// Reads a sweep file's text; errors name the key.
pub fn parse_file(text: &str) -> Result<SweepFile, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let mut file = SweepFile::default();
    for (key, value) in &table {
        let text = |v: &toml::Value| value_text(key, v);
        let whole = |v: &toml::Value| {
            v.as_integer()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| format!("{key}: expected a whole number ≥ 0"))
        };
        match key.as_str() {
            "target" => file.target = Some(text(value)?),
            "metric" => file.metric = Some(text(value)?),
            "goal" => file.goal = Some(text(value)?),
            "random" => file.random = Some(whole(value)?),
            "jobs" => file.jobs = Some(whole(value)?),
            "seed" => file.seed = Some(whole(value)? as u64),
            "grid" | "set" => {
                let section = value.as_table().ok_or_else(|| format!("{key}: expected a table [{key}]"))?;
                for (k, v) in section {
                    if key == "set" {
                        file.fixed.push((k.clone(), value_text(k, v)?));
                        continue;
                    }
                    let spec = match v {
                        toml::Value::Array(items) if k != "hidden" || items.iter().all(toml::Value::is_array) => {
                            ParamSpec::List(items.iter().map(|i| value_text(k, i)).collect::<Result<_, _>>()?)
                        }
                        toml::Value::String(s) => s.parse().map_err(|e| format!("grid.{k}: {e}"))?,
                        other => ParamSpec::List(vec![value_text(k, other)?]),
                    };
                    file.params.push((k.clone(), spec));
                }
            }
            other => {
                return Err(format!(
                    "unknown key `{other}` (expected target, random, seed, metric, goal, jobs, [grid], [set])"
                ))
            }
        }
    }
    Ok(file)
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

    #[test]
    fn sweep_files_parse_and_name_bad_keys() {
        let f = parse_file(
            "target = \"digits\"\nrandom = 4\n[grid]\nlr = \"log:1e-3..1\"\noptimizer = [\"sgd\", \"adam\"]\nhidden = [[64], [128, 64]]\n[set]\nepochs = 2\nhidden = [32]\n",
        )
        .unwrap();
        assert_eq!(f.target.as_deref(), Some("digits"));
        assert_eq!(f.random, Some(4));
        assert_eq!(f.params[0], ("hidden".to_string(), ParamSpec::List(vec!["64".into(), "128-64".into()])));
        assert_eq!(f.params[1].1, ParamSpec::Log { lo: 1e-3, hi: 1.0 });
        assert_eq!(f.fixed, vec![("epochs".to_string(), "2".to_string()), ("hidden".to_string(), "32".to_string())]);
        assert!(parse_file("trials = 3").unwrap_err().contains("trials"));
        assert!(parse_file("[grid]\nlr = \"log:0..1\"").unwrap_err().contains("grid.lr"));
    }

    #[test]
    fn trials_become_checked_configs() {
        let base = TrainConfig::for_dataset("digits");
        let fixed = vec![("epochs".to_string(), "3".to_string())];
        let c = apply(&base, &fixed, &[("lr".into(), "1".into()), ("hidden".into(), "64-32".into())]).unwrap();
        assert_eq!((c.lr, c.hidden.clone(), c.epochs), (1.0, vec![64, 32], 3));
        let c = apply(&base, &[], &[("optimizer".into(), "sgd".into()), ("lr".into(), ".5".into())]).unwrap();
        assert_eq!((c.optimizer.to_string().as_str(), c.lr), ("sgd", 0.5));
        let e = apply(&base, &[], &[("learning-rate".into(), "1".into())]).unwrap_err();
        assert!(e.contains("learning-rate"), "{e}");
        let e = apply(&base, &[], &[("lr".into(), "-1".into())]).unwrap_err();
        assert!(e.contains("lr"), "{e}");
    }
}
