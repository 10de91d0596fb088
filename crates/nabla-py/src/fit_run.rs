//! An estimator's fit recorded as a tracked run (`MLPClassifier(track=True)`): the run is
//! started once the settings and the data are known, each epoch's metrics are logged as the
//! trainer reports them (under the names `nabla train` uses), and the run ends `finished`,
//! `interrupted` (Ctrl-C) or `failed` (with the error in its summary).
//!
//! With `$NABLA_TRACKING_URI` (and `$NABLA_TOKEN`) set, the run is also sent to that `nabla
//! server` in the background, as `nabla train`'s is.
//!
//! Tracking never fails a fit: a store that cannot be opened, or an error while logging,
//! turns tracking off and leaves a note that the Python side shows as a warning; a server
//! that is away or refuses the run leaves a note too, and the run stays in the local store.

use std::time::Duration;

use nabla_track::{EndStatus, Run, RunMeta, RunOptions};
use nabla_train::config::TrainConfig;
use nabla_train::train::{EpochMetrics, Observer, StartInfo, TrainOutcome};
use serde_json::Value;

/// Where and how to record a fit: the Python side's `track` argument.
pub struct TrackSpec {
    /// The run's project.
    pub project: String,
    /// The estimator's keywords and the data's shape (`n_features`, `rows`, `task`, ...).
    pub config: Value,
    /// How often the run proves itself alive.
    pub heartbeat: Duration,
    /// How often system metrics are sampled (`None`: never).
    pub system: Option<Duration>,
}

/// The tracked run of one fit, if tracking is on and the run could be started.
pub struct FitRun {
    run: Option<Run>,
    /// What went wrong with tracking, for a warning; the fit goes on without it.
    note: Option<String>,
    /// Whether rows are held out: the `val/*` metrics are logged only then (otherwise the
    /// trainer's evaluation is of no rows).
    validated: bool,
    steps_per_epoch: u64,
}

impl FitRun {
    /// Starts the run `spec` asks for (none when `spec` is `None`), with `settings` (the
    /// resolved training settings) added to its config under `settings`.
    pub fn start(spec: Option<TrackSpec>, settings: &TrainConfig, validated: bool) -> FitRun {
        let mut fit = FitRun { run: None, note: None, validated, steps_per_epoch: 1 };
        let Some(spec) = spec else { return fit };
        let mut config = spec.config;
        if let Value::Object(map) = &mut config {
            map.insert("settings".into(), settings.to_json());
        }
        let mut options = RunOptions::new(spec.project)
            .config(config)
            .meta(RunMeta::detect().with_threads(settings.threads))
            .heartbeat_interval(spec.heartbeat)
            .system_interval(spec.system);
        match nabla_track::Remote::from_env() {
            Some(Ok(remote)) => options.remote = Some(remote),
            Some(Err(e)) => fit.note = Some(format!("this fit is recorded locally only: {e}")),
            None => {}
        }
        match nabla_track::tracking_dir(None).and_then(|dir| Run::start(dir, options)) {
            Ok(run) => fit.run = Some(run),
            Err(e) => fit.note = Some(format!("this fit is not tracked: {e}")),
        }
        fit
    }

    /// The run's id, when one is being recorded.
    pub fn id(&self) -> Option<String> {
        self.run.as_ref().map(|r| r.id().to_string())
    }

    /// Runs `f` on the run; a tracking error stops tracking with a note.
    fn with_run(&mut self, f: impl FnOnce(&mut Run) -> nabla_track::Result<()>) {
        if let Some(run) = self.run.as_mut() {
            if let Err(e) = f(run) {
                self.note = Some(format!("tracking stopped ({e}); the fit went on"));
                self.run = None;
            }
        }
    }

    /// Ends the run after the trainer returned `result`; returns the run's id (when it was
    /// recorded to the end) and any note about tracking.
    pub fn end<E: std::fmt::Display>(mut self, result: Result<&TrainOutcome, &E>) -> (Option<String>, Option<String>) {
        let status = match result {
            Ok(outcome) => {
                let validated = self.validated;
                self.with_run(|r| summarize(r, outcome, validated));
                if outcome.interrupted {
                    EndStatus::Interrupted
                } else {
                    EndStatus::Finished
                }
            }
            Err(e) => {
                let error = e.to_string();
                self.with_run(|r| r.summary("error", error));
                EndStatus::Failed
            }
        };
        let id = self.id();
        if let Some(run) = self.run.take() {
            match run.finish(status) {
                Ok(()) => {}
                Err(e @ nabla_track::TrackError::NotDelivered { .. }) => self.note = Some(e.to_string()),
                Err(e) => {
                    self.note = Some(format!("the tracker could not close run {}: {e}", id.as_deref().unwrap_or("?")));
                }
            }
        }
        (id, self.note)
    }
}

/// The run's summary: the last epoch's training loss and scores, the best validation loss
/// and scores (when rows are held out), the epochs trained and the epoch whose weights the
/// model has.
fn summarize(r: &mut Run, outcome: &TrainOutcome, validated: bool) -> nabla_track::Result<()> {
    r.summary("epochs", outcome.epochs_completed as u64)?;
    r.summary("best_epoch", outcome.best_epoch as u64)?;
    r.summary("stopped_early", outcome.stopped_early)?;
    if let Some(last) = outcome.history.last() {
        r.summary("train_loss", last.train_loss)?;
        for (key, value) in last.train.named("train") {
            r.summary(&key.replace('/', "_"), value)?;
        }
    }
    if validated {
        // The kept epoch's validation numbers: with early stopping, the best epoch's.
        if let Some(best) = outcome.history.iter().find(|m| m.epoch == outcome.best_epoch) {
            r.summary("best_val_loss", best.val_loss)?;
            for (key, value) in best.val.named("val") {
                r.summary(&format!("best_{}", key.replace('/', "_")), value)?;
            }
        }
    }
    Ok(())
}

impl Observer for FitRun {
    fn on_start(&mut self, info: &StartInfo) {
        self.steps_per_epoch = info.steps_per_epoch as u64;
        self.with_run(|r| {
            r.summary("params", info.params as u64)?;
            r.summary("architecture", info.spec.to_string())
        });
    }

    fn on_epoch(&mut self, m: &EpochMetrics) {
        if self.run.is_none() {
            return;
        }
        let validated = self.validated;
        let global = m.epoch as u64 * self.steps_per_epoch;
        let mut metrics = m.tracked();
        if !validated {
            metrics.retain(|(name, _)| !name.starts_with("val/"));
        }
        self.with_run(|r| r.log(global, &metrics));
    }
}
