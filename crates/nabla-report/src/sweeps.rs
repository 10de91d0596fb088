//! Sweep records: the definition `nabla sweep` keeps in the tracking directory
//! (`sweeps/ID.json`), and its trials' results read back from the run store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nabla_track::{RunQuery, RunRecord, RunStatus, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ReportError;

/// One trial: the swept keys and the values it takes, as text, in the sweep's key order.
pub type Trial = Vec<(String, String)>;

/// A sweep as stored in `sweeps/ID.json`: enough to resume it and to read its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDef {
    /// The sweep's id (the tag of its runs is `sweep:ID`).
    pub id: String,
    /// What it trains.
    pub target: String,
    /// The tracker project of its runs.
    pub project: String,
    /// The swept keys, in order.
    pub keys: Vec<String>,
    /// The settings fixed for every trial.
    pub fixed: Vec<(String, String)>,
    /// Every trial's values.
    pub trials: Vec<Trial>,
    /// The ranking metric.
    pub metric: String,
    /// `max` or `min`.
    pub goal: String,
    /// Trials at once.
    pub jobs: usize,
    /// Total threads.
    pub threads: usize,
    /// Where trial checkpoints go (absolute since sweeps record it so; older sweeps may hold a
    /// path relative to where they were started).
    pub out: PathBuf,
    /// Where data sets were looked for (`--data`), if given; absolute.
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// The command line that made it.
    pub command: String,
}

impl SweepDef {
    /// Whether a larger metric is better.
    pub fn maximises(&self) -> bool {
        self.goal == "max"
    }
}

/// Whether `id` can name a sweep: letters, digits, `-` and `_` (so that an id taken from a URL
/// never reaches outside the `sweeps` folder).
pub fn is_sweep_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The path of a sweep's definition in a tracking directory.
pub fn def_path(tracking: &Path, id: &str) -> PathBuf {
    tracking.join("sweeps").join(format!("{id}.json"))
}

/// Whether the tracking directory holds a sweep of this id.
pub fn exists(tracking: &Path, id: &str) -> bool {
    is_sweep_id(id) && def_path(tracking, id).is_file()
}

/// Reads a sweep's definition; the error says where it looked.
pub fn load_def(tracking: &Path, id: &str) -> Result<SweepDef, ReportError> {
    if !is_sweep_id(id) {
        return Err(ReportError::Input(format!("`{id}` is not a sweep id (letters, digits, - and _)")));
    }
    let path = def_path(tracking, id);
    let text = std::fs::read_to_string(&path).map_err(|source| ReportError::UnknownSweep {
        id: id.to_string(),
        dir: tracking.to_path_buf(),
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ReportError::BadSweep { path, source })
}

/// Writes a sweep's definition atomically (creating `sweeps/`).
pub fn save_def(tracking: &Path, def: &SweepDef) -> Result<(), ReportError> {
    let path = def_path(tracking, &def.id);
    let dir = tracking.join("sweeps");
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io { context: "creating", path: dir, source })?;
    let text =
        serde_json::to_string_pretty(def).map_err(|source| ReportError::BadSweep { path: path.clone(), source })?;
    nabla_plot::write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// One trial's result, as read back from the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialResult {
    /// Index in the sweep's trial list.
    pub trial: usize,
    /// The run's id.
    pub run: String,
    /// Its status (`finished`, `diverged`, …).
    pub status: String,
    /// The swept values.
    pub values: Vec<(String, String)>,
    /// The last value of the ranking metric (None when diverged or missing).
    pub metric: Option<f64>,
}

impl TrialResult {
    /// The value this trial gave `key`, as text.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The runs of a sweep, one per trial (the latest run of a trial if it ran more than once).
pub fn results(store: &Store, def: &SweepDef) -> Result<Vec<TrialResult>, ReportError> {
    let query = RunQuery::parse(None, &[format!("tags=sweep:{}", def.id)], None, None)?;
    let mut latest: BTreeMap<usize, RunRecord> = BTreeMap::new();
    for run in store.runs(&query)? {
        let Some(k) = run.config.pointer("/sweep/trial").and_then(Value::as_u64) else { continue };
        let k = k as usize;
        if latest.get(&k).is_none_or(|r| r.started < run.started) {
            latest.insert(k, run);
        }
    }
    let mut out = Vec::new();
    for (k, run) in latest {
        let metric = if run.status == RunStatus::Diverged { None } else { last_value(store, &run.id, &def.metric) };
        out.push(TrialResult {
            trial: k,
            run: run.id.clone(),
            status: run.status.to_string(),
            values: def.trials.get(k).cloned().unwrap_or_default(),
            metric,
        });
    }
    Ok(out)
}

/// The last finite value of a run's metric; `None` when the run never logged it (stopped
/// before its first epoch) or it is not finite.
pub fn last_value(store: &Store, run: &str, metric: &str) -> Option<f64> {
    store.history(run, metric, ..).ok()?.last().map(|p| p.value).filter(|v| v.is_finite())
}

/// Sorts results best first: trials with a metric by it, then diverged and the rest.
pub fn ranked(def: &SweepDef, results: &[TrialResult]) -> Vec<TrialResult> {
    let mut sorted = results.to_vec();
    let max = def.maximises();
    sorted.sort_by(|a, b| match (a.metric, b.metric) {
        (Some(x), Some(y)) => {
            let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
            if max {
                o.reverse()
            } else {
                o
            }
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.trial.cmp(&b.trial),
    });
    sorted
}

/// `lr=0.01 batch-size=32`: a trial as a person reads it.
pub fn describe(trial: &[(String, String)]) -> String {
    trial.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(trial: usize, metric: Option<f64>) -> TrialResult {
        TrialResult { trial, run: format!("r{trial}"), status: "finished".into(), values: Vec::new(), metric }
    }

    fn def(goal: &str) -> SweepDef {
        SweepDef {
            id: "abc123".into(),
            target: "digits".into(),
            project: "digits".into(),
            keys: vec!["lr".into()],
            fixed: Vec::new(),
            trials: Vec::new(),
            metric: "val/acc".into(),
            goal: goal.into(),
            jobs: 1,
            threads: 1,
            out: PathBuf::from("/tmp/x"),
            data: None,
            command: "nabla sweep".into(),
        }
    }

    #[test]
    fn ranking_puts_the_best_first_and_runs_without_a_metric_last() {
        let rs = [result(0, Some(0.5)), result(1, None), result(2, Some(0.9)), result(3, Some(0.1))];
        let order = |goal| ranked(&def(goal), &rs).iter().map(|r| r.trial).collect::<Vec<_>>();
        assert_eq!(order("max"), [2, 0, 3, 1]);
        assert_eq!(order("min"), [3, 0, 2, 1]);
    }

    #[test]
    fn sweep_ids_stay_inside_the_sweeps_folder() {
        assert!(is_sweep_id("0a1b2c3d") && is_sweep_id("my_sweep-2"));
        for bad in ["", "..", "../x", "a/b", "a.json", "a b", "%2e%2e"] {
            assert!(!is_sweep_id(bad), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_def(dir.path(), "../../etc/passwd"), Err(ReportError::Input(_))));
        let e = load_def(dir.path(), "nosuch").unwrap_err();
        assert!(e.to_string().contains("no sweep `nosuch`"), "{e}");
    }

    #[test]
    fn definitions_round_trip_and_older_ones_without_data_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = def("max");
        d.data = Some(PathBuf::from("/data"));
        save_def(dir.path(), &d).unwrap();
        assert_eq!(load_def(dir.path(), "abc123").unwrap(), d);
        let mut old = serde_json::to_value(def("max")).unwrap();
        old.as_object_mut().unwrap().remove("data");
        std::fs::write(def_path(dir.path(), "old"), old.to_string()).unwrap();
        assert_eq!(load_def(dir.path(), "old").unwrap().data, None);
        std::fs::write(def_path(dir.path(), "bad"), "{}").unwrap();
        assert!(load_def(dir.path(), "bad").unwrap_err().to_string().contains("bad.json"));
    }
}
