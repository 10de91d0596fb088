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
    /// The ranking metric at the epoch the run kept ([`ranking_value`]; None when diverged or
    /// missing).
    pub metric: Option<f64>,
    /// The same split's loss at the same epoch (`val/loss` for `val/acc`), which breaks ties:
    /// on a small validation set many trials score the same accuracy. None when the ranking
    /// metric is itself a loss, or the run has no such loss.
    pub loss: Option<f64>,
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
        let score = |metric: &str| match run.status {
            RunStatus::Diverged => None,
            _ => ranking_value(store, &run, metric),
        };
        let (metric, loss) = (score(&def.metric), tie_breaker(&def.metric).and_then(|m| score(&m)));
        out.push(TrialResult {
            trial: k,
            run: run.id.clone(),
            status: run.status.to_string(),
            values: def.trials.get(k).cloned().unwrap_or_default(),
            metric,
            loss,
        });
    }
    Ok(out)
}

/// The last finite value of a run's metric; `None` when the run never logged it (stopped
/// before its first epoch) or it is not finite.
pub fn last_value(store: &Store, run: &str, metric: &str) -> Option<f64> {
    store.history(run, metric, ..).ok()?.last().map(|p| p.value).filter(|v| v.is_finite())
}

/// The value that ranks a run: the metric at the epoch whose weights the run kept (its
/// summary's `best_step`, set when early stopping restored an earlier epoch's weights), else
/// its last value. A `test/…` metric is scored once, on the kept weights, so it is always the
/// last value.
pub fn ranking_value(store: &Store, run: &RunRecord, metric: &str) -> Option<f64> {
    match run.summary.get("best_step").and_then(Value::as_u64) {
        Some(step) if !metric.starts_with("test/") => {
            store.history(&run.id, metric, ..=step).ok()?.last().map(|p| p.value).filter(|v| v.is_finite())
        }
        _ => last_value(store, &run.id, metric),
    }
}

/// The metric that breaks ties of `metric`: the loss of the same split (`val/loss` for
/// `val/acc` or `val/r2`); none for a loss.
pub fn tie_breaker(metric: &str) -> Option<String> {
    let (split, name) = metric.split_once('/')?;
    (!name.contains("loss")).then(|| format!("{split}/loss"))
}

/// Sorts results best first: trials with a metric by it (ties by the lower loss), then
/// diverged and the rest.
pub fn ranked(def: &SweepDef, results: &[TrialResult]) -> Vec<TrialResult> {
    use std::cmp::Ordering;
    // Present before missing; among present, `better` decides.
    fn by(a: Option<f64>, b: Option<f64>, better: impl Fn(f64, f64) -> Ordering) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => better(x, y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let mut sorted = results.to_vec();
    let max = def.maximises();
    let metric = |x: f64, y: f64| {
        let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
        if max {
            o.reverse()
        } else {
            o
        }
    };
    let lower = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    sorted.sort_by(|a, b| {
        by(a.metric, b.metric, metric).then_with(|| by(a.loss, b.loss, lower)).then_with(|| a.trial.cmp(&b.trial))
    });
    sorted
}

/// `lr=0.01 batch-size=32`: a trial as a person reads it.
pub fn describe(trial: &[(String, String)]) -> String {
    trial.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {

    use nabla_track::{EndStatus, Run, RunOptions};

    use super::*;

    #[test]
    fn a_trial_whose_early_stopping_kept_an_earlier_epoch_is_ranked_by_that_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let mut kept = Run::start(dir.path(), RunOptions::new("p").system_interval(None)).unwrap();
        let mut last = Run::start(dir.path(), RunOptions::new("p").system_interval(None)).unwrap();
        for (step, acc) in [(10, 0.7), (20, 0.9), (30, 0.8), (40, 0.6)] {
            kept.log(step, &[("val/acc", acc)]).unwrap();
            last.log(step, &[("val/acc", acc)]).unwrap();
        }
        kept.log(40, &[("test/acc", 0.85)]).unwrap();
        kept.summary("best_step", 20u64).unwrap();
        let (kept_id, last_id) = (kept.id().to_string(), last.id().to_string());
        kept.finish(EndStatus::Finished).unwrap();
        last.finish(EndStatus::Finished).unwrap();
        let store = Store::open_read_only(dir.path()).unwrap();
        let kept = store.run(&kept_id).unwrap();
        assert_eq!(ranking_value(&store, &kept, "val/acc"), Some(0.9));
        assert_eq!(ranking_value(&store, &kept, "test/acc"), Some(0.85));
        assert_eq!(ranking_value(&store, &store.run(&last_id).unwrap(), "val/acc"), Some(0.6));
        assert_eq!(ranking_value(&store, &kept, "val/loss"), None);
    }

    fn result(trial: usize, metric: Option<f64>, loss: Option<f64>) -> TrialResult {
        TrialResult { trial, run: format!("r{trial}"), status: "finished".into(), values: Vec::new(), metric, loss }
    }

    #[test]
    fn ranking_puts_the_best_first_and_runs_without_a_metric_last() {
        let rs =
            [result(0, Some(0.5), None), result(1, None, None), result(2, Some(0.9), None), result(3, Some(0.1), None)];
        let order = |goal| ranked(&crate::record::sample_def(goal), &rs).iter().map(|r| r.trial).collect::<Vec<_>>();
        assert_eq!(order("max"), [2, 0, 3, 1]);
        assert_eq!(order("min"), [3, 0, 2, 1]);
    }

    #[test]
    fn equal_scores_are_ranked_by_the_lower_loss_of_the_same_split() {
        let rs = [
            result(0, Some(1.0), Some(0.3)),
            result(1, Some(1.0), Some(0.1)),
            result(2, Some(1.0), None),
            result(3, Some(0.9), Some(0.01)),
        ];
        let order: Vec<usize> = ranked(&crate::record::sample_def("max"), &rs).iter().map(|r| r.trial).collect();
        assert_eq!(order, [1, 0, 2, 3]);
        assert_eq!(tie_breaker("val/acc").as_deref(), Some("val/loss"));
        assert_eq!(tie_breaker("test/r2").as_deref(), Some("test/loss"));
        assert_eq!((tie_breaker("train/loss"), tie_breaker("val/batch_loss"), tie_breaker("acc")), (None, None, None));
    }
}
