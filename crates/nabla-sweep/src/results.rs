//! A sweep's results: each trial's run read back from the run store (the latest, when a
//! trial ran more than once), its ranking metric, and the trials ranked best first.

use std::collections::BTreeMap;

use nabla_track::{RunQuery, RunRecord, RunStatus, Store};
use serde::Serialize;
use serde_json::Value;

use crate::{SweepDef, SweepError};

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
pub fn results(store: &Store, def: &SweepDef) -> Result<Vec<TrialResult>, SweepError> {
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

    #[test]
    fn ranking_puts_the_best_first_and_runs_without_a_metric_last() {
        let rs = [result(0, Some(0.5)), result(1, None), result(2, Some(0.9)), result(3, Some(0.1))];
        let order = |goal| ranked(&crate::record::sample_def(goal), &rs).iter().map(|r| r.trial).collect::<Vec<_>>();
        assert_eq!(order("max"), [2, 0, 3, 1]);
        assert_eq!(order("min"), [3, 0, 2, 1]);
    }
}
