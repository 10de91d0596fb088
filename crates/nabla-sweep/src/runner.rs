//! Running a sweep: every trial is a tracked run tagged `sweep:ID`, trained in one of the
//! sweep's parallel jobs (the matrix threads shared between them); a trial whose loss becomes
//! NaN is recorded as `diverged` and the sweep goes on; a stop flag (Ctrl-C) ends the trials
//! between steps, and a later [`Plan`] of the same sweep runs only the trials that did not
//! finish. Each finished trial is reported to a callback; nothing here prints.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nabla_track::{EndStatus, RunMeta, RunOptions, Store};
use nabla_train::train::{self, EpochMetrics, Observer, StartInfo, StepInfo, TrainData, TrainError, TrainRun};
use nabla_train::xor;
use serde_json::{json, Value};

use crate::trial::TrialConfig;
use crate::{ranking_value, results, save_def, SweepDef, SweepError};

/// A sweep ready to run: its definition, every trial's checked settings, and the trials
/// still to run.
#[derive(Debug)]
pub struct Plan {
    def: SweepDef,
    configs: Vec<TrialConfig>,
    todo: Vec<usize>,
}

/// What one trial gave.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialOutcome {
    /// The run's id.
    pub run: String,
    /// How the run ended.
    pub status: EndStatus,
    /// The last value of the ranking metric (None when diverged or missing).
    pub metric: Option<f64>,
}

impl Plan {
    /// Checks every trial's settings before the first one trains, records a new sweep (a
    /// resumed one is on record already) and finds the trials that have not finished or
    /// diverged. Opening the store read-write creates it on a first sweep.
    pub fn new(tracking: &Path, def: SweepDef, resumed: bool) -> Result<Plan, SweepError> {
        let configs = (0..def.trials.len()).map(|k| TrialConfig::of(&def, k)).collect::<Result<Vec<_>, _>>()?;
        if !resumed {
            save_def(tracking, &def)?;
        }
        let done: Vec<usize> = {
            let store = Store::open(tracking)?;
            results(&store, &def)?
                .into_iter()
                .filter(|r| r.status == "finished" || r.status == "diverged")
                .map(|r| r.trial)
                .collect()
        };
        let todo = (0..def.trials.len()).filter(|k| !done.contains(k)).collect();
        Ok(Plan { def, configs, todo })
    }

    /// The sweep.
    pub fn def(&self) -> &SweepDef {
        &self.def
    }

    /// The trials to run, by index.
    pub fn todo(&self) -> &[usize] {
        &self.todo
    }

    /// Whether its trials need data: a data set or a table (every target but xor).
    pub fn needs_data(&self) -> bool {
        self.def.target != "xor"
    }

    /// Trains the trials still to run, `jobs` at a time, until they are done or `stop` is
    /// set. `on_trial` hears of each trial as it ends (its index, what it gave, how long it
    /// took), from the job's thread. Returns the trials that failed, in the order they ended.
    pub fn run(
        &self,
        tracking: &Path,
        data: Option<TrainData<'_>>,
        stop: &AtomicBool,
        on_trial: impl Fn(usize, &Result<TrialOutcome, SweepError>, Duration) + Sync,
    ) -> Vec<(usize, SweepError)> {
        let per_job = self.def.threads_per_job();
        nabla::pool::set_threads(per_job);
        let next = AtomicUsize::new(0);
        let failures = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..self.def.jobs.min(self.todo.len()) {
                scope.spawn(|| loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&k) = self.todo.get(i) else { break };
                    let started = Instant::now();
                    let outcome = run_trial(&self.def, k, &self.configs[k], data, tracking, stop, per_job);
                    on_trial(k, &outcome, started.elapsed());
                    if let Err(e) = outcome {
                        failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((k, e));
                    }
                });
            }
        });
        failures.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn run_trial(
    def: &SweepDef,
    k: usize,
    config: &TrialConfig,
    data: Option<TrainData<'_>>,
    tracking: &Path,
    stop: &AtomicBool,
    threads: usize,
) -> Result<TrialOutcome, SweepError> {
    let swept: serde_json::Map<String, Value> =
        def.trials[k].iter().map(|(key, v)| (key.clone(), Value::String(v.clone()))).collect();
    let sweep_info = json!({"id": def.id, "trial": k, "values": swept});
    let mut tracked = match config {
        TrialConfig::Data(c) => {
            let mut j = c.to_json();
            j["dataset"] = json!(def.target);
            // As `nabla train TABLE` records a table's run.
            if let Some(t) = &def.table {
                j["target"] = json!(t.column);
                j["task"] = json!(t.task);
            }
            j
        }
        TrialConfig::Xor(c, seed) => json!({
            "experiment": "xor",
            "epochs": c.epochs,
            "lr": c.lr,
            "hidden": c.hidden,
            "hidden_activation": c.hidden_activation.to_string(),
            "output_activation": c.output_activation.to_string(),
            "init": c.init.to_string(),
            "seed": seed,
            "seeds": 1,
        }),
    };
    tracked["sweep"] = sweep_info;
    let options = RunOptions::new(def.project.clone())
        .name(format!("sweep-{}-{k}", def.id))
        .config(tracked)
        .tags([format!("sweep:{}", def.id)])
        .meta(RunMeta::detect().with_threads(threads));
    let mut run = nabla_track::Run::start(tracking, options)?;
    let id = run.id().to_string();

    let (status, metric) = match (config, data) {
        (TrialConfig::Xor(c, seed), _) => {
            let every = (c.epochs / 2000).max(1);
            let mut log_err = None;
            let outcome = xor::train_with(c, *seed, |epoch, loss| {
                if (epoch % every == 0 || epoch == c.epochs) && log_err.is_none() {
                    log_err = run.log(epoch, &[("train/loss", loss)]).err();
                }
            });
            if let Some(e) = log_err {
                return Err(e.into());
            }
            run.summary("final_loss", outcome.final_loss)?;
            run.summary("solved", outcome.solved)?;
            run.summary("predictions", json!(outcome.predictions))?;
            // The ranking metric is read back from the store like a data-set trial's.
            if outcome.final_loss.is_finite() {
                (EndStatus::Finished, None)
            } else {
                (EndStatus::Diverged, None)
            }
        }
        (TrialConfig::Data(c), Some(data)) => {
            let out_dir = def.out.join(format!("trial-{k}"));
            let mut observer = TrialObserver { run: &mut run, steps_per_epoch: 1, error: None };
            let trained = train::train(
                TrainRun { config: c, data, out_dir: Some(&out_dir), resume: None, stop: Some(stop) },
                &mut observer,
            );
            let steps_per_epoch = observer.steps_per_epoch;
            if let Some(e) = observer.error.take() {
                return Err(e.into());
            }
            match trained {
                Ok(o) => {
                    let step = (o.epochs_completed * steps_per_epoch) as u64;
                    let mut logged = o.test.named("test");
                    logged.push(("test/loss", o.test_loss));
                    run.log(step, &logged)?;
                    for (key, value) in o.test.named("test") {
                        run.summary(&key.replace('/', "_"), value)?;
                    }
                    run.summary("test_loss", o.test_loss)?;
                    run.summary("epochs", o.epochs_completed as u64)?;
                    if o.best_epoch != o.epochs_completed {
                        // Early stopping restored an earlier epoch's weights: the trial is
                        // ranked by that epoch (`ranking_value`), as its checkpoint holds it.
                        run.summary("best_epoch", o.best_epoch as u64)?;
                        run.summary("best_step", (o.best_epoch * steps_per_epoch) as u64)?;
                    }
                    if let Some(p) = &o.last_checkpoint {
                        run.summary("checkpoint", p.display().to_string())?;
                    }
                    if let Some(p) = &o.best_checkpoint {
                        run.summary("best_checkpoint", p.display().to_string())?;
                    }
                    let status = if o.interrupted { EndStatus::Interrupted } else { EndStatus::Finished };
                    (status, None)
                }
                Err(e @ TrainError::NonFinite { .. }) => {
                    run.summary("error", e.to_string())?;
                    (EndStatus::Diverged, None)
                }
                Err(e) => {
                    run.summary("error", e.to_string())?;
                    run.finish(EndStatus::Failed)?;
                    return Err(e.into());
                }
            }
        }
        (TrialConfig::Data(_), None) => return Err(SweepError::Input(format!("no data loaded for {}", def.target))),
    };
    run.flush()?;
    let metric = match metric {
        Some(m) => Some(m),
        None if status == EndStatus::Diverged => None,
        None => {
            let store = Store::open_read_only(tracking)?;
            ranking_value(&store, &store.run(&id)?, &def.metric)
        }
    };
    run.finish(status)?;
    Ok(TrialOutcome { run: id, status, metric })
}

/// Records a trial's steps and epochs, as `nabla train` does, and prints nothing.
struct TrialObserver<'a> {
    run: &'a mut nabla_track::Run,
    steps_per_epoch: usize,
    error: Option<nabla_track::TrackError>,
}

impl TrialObserver<'_> {
    fn log(&mut self, step: u64, metrics: &[(&str, f64)]) {
        if self.error.is_none() {
            self.error = self.run.log(step, metrics).err();
        }
    }
}

impl Observer for TrialObserver<'_> {
    fn on_start(&mut self, info: &StartInfo) {
        self.steps_per_epoch = info.steps_per_epoch;
        let _ = self.run.summary("params", info.params as u64);
        let _ = self.run.summary("architecture", info.spec.to_string());
    }

    fn on_step(&mut self, s: &StepInfo) {
        let global = ((s.epoch - 1) * self.steps_per_epoch + s.step) as u64;
        self.log(global, &[("train/batch_loss", s.loss), ("lr", f64::from(s.lr))]);
    }

    fn on_epoch(&mut self, m: &EpochMetrics) {
        let global = (m.epoch * self.steps_per_epoch) as u64;
        self.log(global, &m.tracked());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{define, parse_param, SweepFile, SweepSettings};

    #[test]
    fn a_plan_runs_every_trial_once_and_a_second_plan_finds_nothing_left() {
        let dir = tempfile::tempdir().unwrap();
        let settings = SweepSettings {
            target: Some("xor".into()),
            grid: vec![parse_param("lr=0.5,1").unwrap()],
            set: vec![("epochs".into(), "20".into())],
            jobs: Some(2),
            threads: Some(2),
            out: Some(dir.path().join("runs")),
            ..SweepSettings::default()
        };
        let def = define(&settings, &SweepFile::default()).unwrap().0;
        let plan = Plan::new(dir.path(), def.clone(), false).unwrap();
        assert_eq!(plan.todo(), [0, 1]);
        assert!(!plan.needs_data());
        let heard = Mutex::new(Vec::new());
        let failures = plan.run(dir.path(), None, &AtomicBool::new(false), |k, outcome, _| {
            let o = outcome.as_ref().unwrap();
            assert_eq!(o.status, EndStatus::Finished);
            assert!(o.metric.is_some_and(f64::is_finite));
            heard.lock().unwrap().push(k);
        });
        assert!(failures.is_empty());
        let mut heard = heard.into_inner().unwrap();
        heard.sort_unstable();
        assert_eq!(heard, [0, 1]);
        assert_eq!(crate::load_def(dir.path(), &def.id).unwrap(), def);
        assert!(Plan::new(dir.path(), def, true).unwrap().todo().is_empty());
    }

    #[test]
    fn a_set_stop_flag_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let settings = SweepSettings {
            target: Some("xor".into()),
            grid: vec![parse_param("lr=0.5").unwrap()],
            ..SweepSettings::default()
        };
        let plan = Plan::new(dir.path(), define(&settings, &SweepFile::default()).unwrap().0, false).unwrap();
        let failures = plan.run(dir.path(), None, &AtomicBool::new(true), |k, _, _| panic!("trial {k} ran"));
        assert!(failures.is_empty());
    }
}
