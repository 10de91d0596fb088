//! A trial's values as settings that can be trained: for a data set or a table, a checked
//! [`TrainConfig`] (the recipe's defaults, then the sweep's fixed settings, then the trial's
//! values, merged as TOML); for the XOR net, an [`XorConfig`] and its seed.

use nabla::{Activation, Init};
use nabla_train::config::{parse_hidden, TrainConfig};
use nabla_train::xor::XorConfig;

use crate::{describe, SweepDef, SweepError};

/// A trial's settings: a data-set recipe or the XOR net.
#[derive(Debug, Clone)]
pub enum TrialConfig {
    /// A data-set trial.
    Data(TrainConfig),
    /// An XOR trial and its seed.
    Xor(XorConfig, u64),
}

impl TrialConfig {
    /// Trial `k` of `def`, checked; the error names the trial and the key.
    pub fn of(def: &SweepDef, k: usize) -> Result<TrialConfig, SweepError> {
        let trial = &def.trials[k];
        TrialConfig::new(def, trial).map_err(|message| SweepError::Trial {
            trial: k,
            values: describe(trial),
            source: Box::new(SweepError::Input(message)),
        })
    }

    fn new(def: &SweepDef, trial: &[(String, String)]) -> Result<TrialConfig, String> {
        if def.target != "xor" {
            let base = match &def.table {
                Some(source) => crate::table::recipe(source).map_err(|e| e.to_string())?,
                None => TrainConfig::for_dataset(&def.target),
            };
            let mut c = apply(&base, &def.fixed, trial)?;
            if !def.fixed.iter().chain(trial).any(|(k, _)| k == "threads") {
                c.threads = def.threads_per_job();
            }
            return Ok(TrialConfig::Data(c));
        }
        let mut c = XorConfig::default();
        let mut seed = 1;
        for (key, value) in def.fixed.iter().chain(trial) {
            let bad = |e: String| format!("{key}={value}: {e}");
            match key.as_str() {
                "epochs" => c.epochs = non_negative_u64(value).map_err(bad)?,
                "lr" => c.lr = positive_f32(value).map_err(bad)?,
                "hidden" => c.hidden = positive_usize(value).map_err(bad)?,
                "hidden-activation" => c.hidden_activation = activation(value).map_err(bad)?,
                "output-activation" => c.output_activation = activation(value).map_err(bad)?,
                "init" => c.init = init(value).map_err(bad)?,
                "seed" => seed = non_negative_u64(value).map_err(bad)?,
                other => {
                    return Err(format!(
                        "unknown xor setting `{other}` (epochs, lr, hidden, hidden-activation, output-activation, init, seed)"
                    ))
                }
            }
        }
        Ok(TrialConfig::Xor(c, seed))
    }
}

// The XOR settings take the values `nabla xor`'s flags take, with the same messages.

fn non_negative_u64(s: &str) -> Result<u64, String> {
    s.trim().parse::<u64>().map_err(|_| format!("expected a whole number ≥ 0, got `{s}`"))
}

fn positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => usize::try_from(n).map_err(|_| format!("`{s}` is too large")),
        _ => Err(format!("expected a whole number ≥ 1, got `{s}`")),
    }
}

fn positive_f32(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a finite number > 0, got `{s}`")),
    }
}

fn activation(s: &str) -> Result<Activation, String> {
    s.parse().map_err(|e: nabla::Error| e.to_string())
}

fn init(s: &str) -> Result<Init, String> {
    s.parse().map_err(|e: nabla::Error| e.to_string())
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn def(target: &str, fixed: &[(&str, &str)], trials: &[&[(&str, &str)]]) -> SweepDef {
        let pairs = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        SweepDef {
            id: "0123abcd".into(),
            target: target.into(),
            table: None,
            project: target.into(),
            keys: vec!["lr".into()],
            fixed: pairs(fixed),
            trials: trials.iter().map(|t| pairs(t)).collect(),
            metric: "val/acc".into(),
            goal: "max".into(),
            jobs: 2,
            threads: 8,
            out: PathBuf::from("/runs"),
            data: None,
            command: String::new(),
        }
    }

    #[test]
    fn data_trials_get_the_threads_of_one_job_unless_they_set_them() {
        let d = def("digits", &[], &[&[("lr", "0.1")], &[("threads", "1")]]);
        let TrialConfig::Data(c) = TrialConfig::of(&d, 0).unwrap() else { panic!("not a data trial") };
        assert_eq!((c.lr, c.threads), (0.1, 4));
        let TrialConfig::Data(c) = TrialConfig::of(&d, 1).unwrap() else { panic!("not a data trial") };
        assert_eq!(c.threads, 1);
    }

    #[test]
    fn xor_trials_read_the_xor_settings_and_name_the_trial_and_key() {
        let d = def("xor", &[("epochs", "800"), ("seed", "3")], &[&[("lr", "1")], &[("lr", "-1")], &[("width", "2")]]);
        let TrialConfig::Xor(c, seed) = TrialConfig::of(&d, 0).unwrap() else { panic!("not an xor trial") };
        assert_eq!((c.epochs, c.lr, seed), (800, 1.0, 3));
        let e = TrialConfig::of(&d, 1).unwrap_err();
        assert_eq!(e.to_string(), "trial 1 (lr=-1)");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(cause, "lr=-1: expected a finite number > 0, got `-1`");
        let cause = std::error::Error::source(&TrialConfig::of(&d, 2).unwrap_err()).unwrap().to_string();
        assert!(cause.starts_with("unknown xor setting `width`"), "{cause}");
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
