//! Set-up shared by the trainer's integration tests (`train.rs`, `distributed.rs`,
//! `distributed_mpi.rs`): the digits set, an observer of step losses, and
//! the small digits run that the data-parallel tests compare against one process.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use nabla_testkit::data_dir;
use nabla_train::config::TrainConfig;
use nabla_train::train::{Observer, StepInfo};

/// The digits set (1,797 8×8 images), or a panic that says to set `NABLA_DATA`.
pub fn digits() -> nabla_data::Split {
    nabla_data::load("digits", &data_dir()).expect("the digits set (set NABLA_DATA)")
}

/// Every step's loss.
#[derive(Default)]
pub struct Losses(pub Vec<f64>);

impl Observer for Losses {
    fn on_step(&mut self, step: &StepInfo) {
        self.0.push(step.loss);
    }
}

/// The data-parallel comparison run: 32-row batches (16/16 over two ranks, 11/11/10 over
/// three), a partial last batch, an L2 penalty (added once, after the reduction), input and
/// hidden dropout (every rank keeps its rows of the one-process masks), 3 epochs (over 100
/// steps).
pub fn parallel_config() -> TrainConfig {
    TrainConfig {
        hidden: vec![32],
        epochs: 3,
        batch_size: 32,
        dropout: 0.2,
        input_dropout: 0.1,
        l2: 1e-4,
        lr: 0.01,
        ..TrainConfig::for_dataset("digits")
    }
}

/// The worst relative gap between two loss curves over their first `steps` steps.
pub fn loss_gap(a: &[f64], b: &[f64], steps: usize) -> f64 {
    a.iter().zip(b).take(steps).map(|(a, b)| (a - b).abs() / a.abs()).fold(0.0, f64::max)
}

/// The worst gap between two weight vectors, relative to the weight (at least 1).
pub fn weight_gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0.0f32, f32::max)
}
