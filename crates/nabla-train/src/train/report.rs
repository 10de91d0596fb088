//! What the trainer tells its caller: the [`Observer`] it reports to as it goes, the numbers
//! of a step and of an epoch, and the outcome of a run.

use std::path::{Path, PathBuf};

use nabla::{Network, NetworkSpec};

use super::data::{Objective, Scores};

/// What the trainer reports as it goes; every method has a do-nothing default.
pub trait Observer {
    /// Training is about to start.
    fn on_start(&mut self, _info: &StartInfo) {}
    /// A step finished.
    fn on_step(&mut self, _step: &StepInfo) {}
    /// An epoch finished and was evaluated.
    fn on_epoch(&mut self, _epoch: &EpochMetrics) {}
    /// A checkpoint was written.
    fn on_checkpoint(&mut self, _path: &Path, _kind: CheckpointKind) {}
    /// Whether a fresh image run with an output folder should also write the weights it
    /// starts from ([`CheckpointKind::Initial`]), e.g. to draw the optimiser's path from its
    /// first point.
    fn wants_initial(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Which checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The end of the latest epoch (resumable).
    Last,
    /// The epoch with the best evaluation score so far: accuracy for classes; for a
    /// regression, or with early stopping, the lowest evaluation loss.
    Best,
    /// The initialised weights, before the first step (`initial.safetensors`, epoch 0;
    /// written only when the observer [wants it](Observer::wants_initial)).
    Initial,
}

/// Facts about a run, before its first step.
#[derive(Debug, Clone)]
pub struct StartInfo {
    /// The network.
    pub spec: NetworkSpec,
    /// What it is trained to output.
    pub objective: Objective,
    /// Number of parameters.
    pub params: usize,
    /// Training examples.
    pub train_examples: usize,
    /// Examples evaluated after each epoch.
    pub eval_examples: usize,
    /// `"validation"` or `"test"`: what the per-epoch evaluation uses.
    pub eval_split: &'static str,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// The first epoch this run trains (1 unless resumed).
    pub first_epoch: usize,
    /// The last epoch.
    pub epochs: usize,
}

/// Progress within an epoch.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// This batch's loss.
    pub loss: f64,
    /// The learning rate used for this step.
    pub lr: f32,
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches, weighted by batch size, as seen during
    /// the epoch (with dropout active and the penalty included).
    pub train_loss: f64,
    /// Training scores over the epoch, as seen during it.
    pub train: Scores,
    /// Loss on the evaluation split (validation, or test when there is none).
    pub val_loss: f64,
    /// Scores on the evaluation split.
    pub val: Scores,
    /// The learning rate of the epoch's last step.
    pub lr: f32,
    /// Wall time of the epoch's training steps.
    pub seconds: f64,
    /// Training examples per second.
    pub samples_per_sec: f64,
}

impl EpochMetrics {
    /// Training accuracy, for a classification.
    pub fn train_acc(&self) -> Option<f64> {
        self.train.acc()
    }

    /// Evaluation accuracy, for a classification.
    pub fn val_acc(&self) -> Option<f64> {
        self.val.acc()
    }

    /// The metrics a training run records after each epoch, under the names the dashboard,
    /// the plots and the sweeps read (`train/loss`, `val/acc`; for a regression `val/rmse`,
    /// `val/mae`, `val/r2`, …): one list for `nabla train` and every sweep trial.
    pub fn tracked(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![("epoch", self.epoch as f64), ("train/loss", self.train_loss)];
        out.extend(self.train.named("train"));
        out.push(("val/loss", self.val_loss));
        out.extend(self.val.named("val"));
        out.push(("perf/epoch_seconds", self.seconds));
        out.push(("perf/samples_per_sec", self.samples_per_sec));
        out
    }

    /// The epoch as one JSON object (`nabla train --json`): `epoch`, `train_loss`, `val_loss`,
    /// the scores as `train_acc`/`val_acc` or `train_rmse`, `val_r2`, …, `lr`, `seconds`,
    /// `samples_per_sec`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut line = serde_json::json!({ "epoch": self.epoch, "train_loss": self.train_loss });
        for (key, value) in self.train.named("train").into_iter().chain([("val/loss", self.val_loss)]) {
            line[key.replace('/', "_")] = value.into();
        }
        for (key, value) in self.val.named("val") {
            line[key.replace('/', "_")] = value.into();
        }
        line["lr"] = self.lr.into();
        line["seconds"] = self.seconds.into();
        line["samples_per_sec"] = self.samples_per_sec.into();
        line
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The trained network (the last epoch's).
    pub network: Network,
    /// Epochs completed (counting those before a resume).
    pub epochs_completed: usize,
    /// Test-set loss of the final network.
    pub test_loss: f64,
    /// Test-set scores of the final network.
    pub test: Scores,
    /// The epoch whose weights the final network has: the last one, or with early stopping
    /// the one with the lowest evaluation loss.
    pub best_epoch: usize,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// The last checkpoint written, if any.
    pub last_checkpoint: Option<PathBuf>,
    /// The best checkpoint written, if any.
    pub best_checkpoint: Option<PathBuf>,
    /// Whether the stop flag ended training early.
    pub interrupted: bool,
    /// Per-epoch metrics of this run.
    pub history: Vec<EpochMetrics>,
    /// Where this rank's training steps spent their time.
    pub profile: StepProfile,
    /// The optimiser's state buffers (momentum, Adam's moments) after the last step, by
    /// name, so that a caller can continue training exactly (`partial_fit`).
    pub optimizer_state: Vec<(String, Vec<f32>)>,
    /// Optimiser steps taken, counting those before a resume.
    pub optimizer_steps: u64,
}

/// Where a rank's training steps spent their time: wall-clock seconds summed over the run's
/// steps (evaluation and checkpoints excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepProfile {
    /// Steps timed.
    pub steps: u64,
    /// This rank's own work: filling the batch, forward, loss and backward (with overlap,
    /// also starting the layers' all-reduces).
    pub compute: f64,
    /// Waiting for the all-reduces (gradient and step statistics) after this rank's backward
    /// pass was done: the whole all-reduce without overlap, what overlap did not hide with
    /// it; 0 for one process.
    pub reduce: f64,
    /// The penalty and the optimiser step.
    pub update: f64,
}
