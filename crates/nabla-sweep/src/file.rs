//! Sweep files: a sweep written in TOML (what to train, the search, the ranking, `[grid]` and
//! `[set]`), read into a [`SweepFile`] whose keys the command line's flags may override.

use crate::ParamSpec;

/// A sweep written as a TOML file: every key optional; the command line's flags win.
///
/// ```toml
/// target = "mnist"       # or a table: target = "wine.csv" with column = "class"
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
    /// What to train (`mnist`, `xor`, a table's file, …).
    pub target: Option<String>,
    /// A table's column to predict.
    pub column: Option<String>,
    /// A table's task (`classify`, `regress`, `auto`).
    pub task: Option<String>,
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
            "column" => file.column = Some(text(value)?),
            "task" => file.task = Some(text(value)?),
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
                    "unknown key `{other}` (expected target, column, task, random, seed, metric, goal, jobs, [grid], [set])"
                ))
            }
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
