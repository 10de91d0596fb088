//! Runs recorded in a store through the tracker's API, as the report and dashboard tests seed
//! them.

use std::path::Path;

use nabla_track::{EndStatus, Run, RunOptions};
use serde_json::Value;

/// Records one run in the store at `dir`: started with `options` (the system sampler off),
/// filled by `log`, finished with the status `log` returns. Returns the run's id.
pub fn record_run(dir: &Path, options: RunOptions, log: impl FnOnce(&mut Run) -> EndStatus) -> String {
    let mut run = Run::start(dir, options.system_interval(None)).expect("start run");
    let status = log(&mut run);
    let id = run.id().to_string();
    run.finish(status).expect("finish");
    id
}

/// One epoch of a trial's curves.
#[derive(Debug, Clone, Copy)]
pub struct Epoch {
    /// `train/loss`.
    pub train_loss: f64,
    /// `val/loss`.
    pub val_loss: f64,
    /// `train/acc`.
    pub train_acc: f64,
    /// `val/acc`.
    pub val_acc: f64,
}

/// Trial `k` of sweep `sweep` as `nabla sweep` records it: run `sweep-{sweep}-{k}` of
/// `project`, tagged `sweep:{sweep}`, with `config`. Epoch `e` (from 1) logs `epoch`,
/// `train/loss`, `val/loss`, `train/acc` and `val/acc` at step `10·e`; a NaN training loss
/// ends the trial there, as diverged. Returns the run's id.
pub fn sweep_trial(dir: &Path, project: &str, sweep: &str, k: usize, config: Value, epochs: &[Epoch]) -> String {
    let options =
        RunOptions::new(project).name(format!("sweep-{sweep}-{k}")).config(config).tags([format!("sweep:{sweep}")]);
    record_run(dir, options, |run| {
        for (epoch, m) in (1..).zip(epochs) {
            let metrics = [
                ("epoch", epoch as f64),
                ("train/loss", m.train_loss),
                ("val/loss", m.val_loss),
                ("train/acc", m.train_acc),
                ("val/acc", m.val_acc),
            ];
            run.log(epoch * 10, &metrics).unwrap();
            if m.train_loss.is_nan() {
                return EndStatus::Diverged;
            }
        }
        EndStatus::Finished
    })
}

/// A learning-rate grid sweep of `digits` as `nabla sweep` records it, saved under `dir`: one
/// trial per rate in `rates`, the `fixed` settings, `val/acc` to maximise, and the `command`
/// that ran it. Its trial runs are recorded separately ([`sweep_trial`]).
#[cfg(feature = "sweep")]
pub fn lr_sweep(dir: &Path, id: &str, rates: &[&str], fixed: &[(&str, &str)], command: &str) -> nabla_sweep::SweepDef {
    let def = nabla_sweep::SweepDef {
        id: id.into(),
        target: "digits".into(),
        table: None,
        project: "digits".into(),
        keys: vec!["lr".into()],
        fixed: fixed.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
        trials: rates.iter().map(|r| vec![("lr".to_string(), (*r).to_string())]).collect(),
        metric: "val/acc".into(),
        goal: "max".into(),
        jobs: 1,
        threads: 1,
        out: "/nowhere".into(),
        data: None,
        command: command.into(),
    };
    nabla_sweep::save_def(dir, &def).expect("save the sweep record");
    def
}
