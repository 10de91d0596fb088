//! The trainer on tables built in memory and prepared with `tabular::prepare`: a linear
//! regression learnt to the noise level (scored in the target's units), early stopping that
//! returns the best epoch's network, the same bits from the same seed, and a classification
//! scored as classes.

use std::path::PathBuf;

use nabla_data::table::{Cells, Column, PreprocessOptions, Table, Task};
use nabla_train::config::TrainConfig;
use nabla_train::tabular::{prepare, TableSettings};
use nabla_train::train::{self, Scores, Silent, TableSet, TrainOutcome, TrainRun};

/// A little deterministic generator (a 64-bit LCG).
struct Lcg(u64);

impl Lcg {
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `rows` rows of `x1`, `x2` uniform in [-1, 1) and `y = 3·x1 − 2·x2 + noise·N(0, 1)`.
fn linear(rows: usize, noise: f64, seed: u64) -> Table {
    let mut rng = Lcg(seed);
    let (mut x1, mut x2, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rows {
        let (a, b) = (2.0 * rng.uniform() - 1.0, 2.0 * rng.uniform() - 1.0);
        x1.push(a);
        x2.push(b);
        y.push(3.0 * a - 2.0 * b + noise * rng.normal());
    }
    Table {
        path: PathBuf::from("linear.csv"),
        columns: vec![
            Column { name: "x1".into(), cells: Cells::Numbers(x1) },
            Column { name: "x2".into(), cells: Cells::Numbers(x2) },
            Column { name: "y".into(), cells: Cells::Numbers(y) },
        ],
        rows,
    }
}

fn settings(target: &str, task: Task, val_split: f64) -> TableSettings {
    TableSettings {
        target: target.into(),
        task,
        preprocess: PreprocessOptions::default(),
        test_split: 0.2,
        val_split,
        seed: 7,
    }
}

fn set(table: &Table, s: &TableSettings) -> TableSet {
    prepare(table, None, s).unwrap().0
}

fn run(config: &TrainConfig, set: &TableSet) -> TrainOutcome {
    train::train(TrainRun { config, data: set.into(), out_dir: None, resume: None, stop: None }, &mut Silent).unwrap()
}

#[test]
fn a_linear_target_is_learnt_to_the_noise_level() {
    const NOISE: f64 = 0.1;
    let table = linear(1000, NOISE, 1);
    let set = set(&table, &settings("y", Task::Regress, 0.1));
    let config = TrainConfig { epochs: 60, l2: 0.0, patience: 0, ..TrainConfig::for_table(table.rows, Task::Regress) };
    let out = run(&config, &set);
    let r = out.test.regression().expect("a regression's scores");
    assert!(r.r2 > 0.95, "{r:?}");
    // In the target's units (its deviation is about 2.1): near the noise, not the spread.
    assert!(r.rmse > 0.5 * NOISE && r.rmse < 2.5 * NOISE, "{r:?}");
    assert!(r.mae < r.rmse, "{r:?}");
    assert!(out.history.iter().all(|e| matches!((e.train, e.val), (Scores::Values(_), Scores::Values(_)))));
}

#[test]
fn early_stopping_returns_the_best_epochs_network() {
    // A tiny noisy table: the validation loss soon stops falling.
    let table = linear(40, 3.0, 2);
    // No validation rows: the test rows are evaluated after each epoch, so the test loss of the
    // returned network is the same score of the same rows as an epoch's `val_loss`.
    let set = set(&table, &settings("y", Task::Regress, 0.0));
    assert!(set.val.is_none());
    let config = TrainConfig {
        epochs: 500,
        patience: 5,
        hidden: vec![32],
        l2: 0.0,
        lr: 0.01,
        ..TrainConfig::for_table(table.rows, Task::Regress)
    };
    let out = run(&config, &set);
    assert!(out.stopped_early && out.epochs_completed < config.epochs, "{} epochs", out.epochs_completed);
    assert_eq!(out.history.len(), out.epochs_completed);
    assert!(out.best_epoch < out.epochs_completed, "best {} of {}", out.best_epoch, out.epochs_completed);
    assert_eq!(out.epochs_completed - out.best_epoch, config.patience);
    let best = &out.history[out.best_epoch - 1];
    assert_eq!(best.epoch, out.best_epoch);
    assert!(out.history.iter().all(|e| e.val_loss >= best.val_loss));
    // The network returned is the best epoch's, not the last one's.
    assert_eq!(out.test_loss.to_bits(), best.val_loss.to_bits(), "{} vs {}", out.test_loss, best.val_loss);
    assert!(out.history.last().unwrap().val_loss > best.val_loss);
}

#[test]
fn the_same_seed_gives_the_same_bits() {
    let table = linear(200, 0.3, 3);
    let set = set(&table, &settings("y", Task::Regress, 0.2));
    let config = TrainConfig { epochs: 5, ..TrainConfig::for_table(table.rows, Task::Regress) };
    let (a, b) = (run(&config, &set), run(&config, &set));
    let bits = |o: &TrainOutcome| o.network.params().iter().map(|p| p.to_bits()).collect::<Vec<u32>>();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.test_loss.to_bits(), b.test_loss.to_bits());

    // Another seed, other weights.
    let other = run(&TrainConfig { seed: config.seed + 1, ..config.clone() }, &set);
    assert_ne!(bits(&a), bits(&other));
}

#[test]
fn a_classification_is_scored_as_classes() {
    let mut table = linear(300, 0.0, 4);
    let Cells::Numbers(y) = &table.columns[2].cells else { unreachable!() };
    let labels: Vec<Option<String>> =
        y.iter().map(|&v| Some(if v > 0.0 { "up" } else { "down" }.to_string())).collect();
    table.columns[2] = Column { name: "dir".into(), cells: Cells::Text(labels) };
    let set = set(&table, &settings("dir", Task::Classify, 0.1));
    assert_eq!(set.preprocessor.classes(), Some(&["down".to_string(), "up".to_string()][..]));
    let config = TrainConfig { epochs: 30, ..TrainConfig::for_table(table.rows, Task::Classify) };
    let out = run(&config, &set);
    for e in &out.history {
        assert!(matches!((e.train, e.val), (Scores::Classes { .. }, Scores::Classes { .. })), "{e:?}");
    }
    let acc = out.test.acc().expect("a classification's accuracy");
    assert!(acc > 0.9, "{acc}");
}
