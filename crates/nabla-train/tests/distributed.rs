//! Data-parallel training without MPI: N ranks as N threads joined by an in-process
//! all-reduce must walk the single-process run's loss curve and end at its weights, with
//! uneven shards, a partial last batch, and batches smaller than the number of ranks.
//! (The same check over real MPI processes is `distributed_mpi.rs`, feature `mpi`.)

use std::path::PathBuf;
use std::sync::{Arc, Barrier, Mutex};

use nabla_train::config::TrainConfig;
use nabla_train::distributed::Reducer;
use nabla_train::train::{train, train_with, Observer, Silent, StepInfo, TrainOutcome, TrainRun};

fn data_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("NABLA_DATA").filter(|v| !v.is_empty()) {
        Some(v) if PathBuf::from(&v).is_absolute() => PathBuf::from(v),
        Some(v) => root.join(v),
        None => root.join("../shared/data"),
    }
}

/// Every step's loss.
#[derive(Default)]
struct Losses(Vec<f64>);
impl Observer for Losses {
    fn on_step(&mut self, step: &StepInfo) {
        self.0.push(step.loss);
    }
}

/// The ranks of one job, as threads. Each call writes this rank's buffer into its slot, and
/// after a barrier every rank sums the slots in rank order, so all ranks get the same bits.
struct ThreadReducer {
    rank: usize,
    size: usize,
    slots: Arc<Mutex<Vec<Vec<f64>>>>,
    barrier: Arc<Barrier>,
}

impl ThreadReducer {
    fn group(size: usize) -> Vec<ThreadReducer> {
        let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
        let barrier = Arc::new(Barrier::new(size));
        (0..size)
            .map(|rank| ThreadReducer { rank, size, slots: Arc::clone(&slots), barrier: Arc::clone(&barrier) })
            .collect()
    }

    fn sum(&self, values: &mut [f64]) {
        self.slots.lock().unwrap()[self.rank] = values.to_vec();
        self.barrier.wait();
        {
            let slots = self.slots.lock().unwrap();
            for (i, v) in values.iter_mut().enumerate() {
                *v = slots.iter().map(|s| s[i]).sum();
            }
        }
        // Nobody may overwrite a slot before every rank has read them all.
        self.barrier.wait();
    }
}

impl Reducer for ThreadReducer {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn sum_f32(&mut self, buf: &mut [f32]) {
        let mut wide: Vec<f64> = buf.iter().map(|&v| f64::from(v)).collect();
        self.sum(&mut wide);
        buf.iter_mut().zip(wide).for_each(|(b, w)| *b = w as f32);
    }
    fn sum_f64(&mut self, buf: &mut [f64]) {
        self.sum(buf);
    }
}

/// Trains with `ranks` threads; returns rank 0's per-step losses and every rank's outcome.
fn train_ranks(config: &TrainConfig, data: &nabla_data::Split, ranks: usize) -> (Vec<f64>, Vec<TrainOutcome>) {
    let mut results: Vec<(Vec<f64>, TrainOutcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = ThreadReducer::group(ranks)
            .into_iter()
            .map(|mut reducer| {
                scope.spawn(move || {
                    // Every rank records its losses: each sees the reduced (whole-batch) loss.
                    let mut losses = Losses::default();
                    let run = TrainRun { config, data, out_dir: None, resume: None, stop: None };
                    let outcome = train_with(run, &mut reducer, &mut losses).unwrap();
                    (losses.0, outcome)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (r, (losses, _)) in results.iter().enumerate() {
        assert_eq!(losses, &results[0].0, "rank {r} of {ranks} saw other losses than rank 0");
    }
    let losses = std::mem::take(&mut results[0].0);
    (losses, results.into_iter().map(|(_, o)| o).collect())
}

fn assert_matches(single: &[f64], single_w: &[f32], ranks: usize, losses: &[f64], outcomes: &[TrainOutcome]) {
    assert_eq!(losses.len(), single.len(), "{ranks} ranks take as many steps");
    for (step, (a, b)) in single.iter().zip(losses).take(100).enumerate() {
        assert!((a - b).abs() <= 1e-5 * a.abs(), "{ranks} ranks, step {}: loss {b} against {a}", step + 1);
    }
    for (r, o) in outcomes.iter().enumerate() {
        // Every rank took the same steps, so every rank holds the same weights.
        assert_eq!(o.mlp.params(), outcomes[0].mlp.params(), "rank {r} of {ranks} drifted from rank 0");
    }
    let worst = single_w
        .iter()
        .zip(outcomes[0].mlp.params())
        .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "{ranks} ranks: final weights differ by {worst}");
}

#[test]
fn two_and_three_ranks_follow_the_single_process_run() {
    let data = nabla_data::load("digits", &data_dir()).expect("the digits set (set NABLA_DATA)");
    // 32 rows split 16/16 and 11/11/10; the last batch of each epoch is partial; the L2
    // penalty checks that it is added once, after the reduction. Dropout masks are drawn per
    // rank (see `train_with`), so they are off for the exact comparison.
    let config = TrainConfig {
        hidden: vec![32],
        epochs: 3,
        batch_size: 32,
        dropout: 0.0,
        l2: 1e-4,
        lr: 0.01,
        ..TrainConfig::for_dataset("digits")
    };
    let mut single = Losses::default();
    let one =
        train(TrainRun { config: &config, data: &data, out_dir: None, resume: None, stop: None }, &mut single).unwrap();
    assert!(single.0.len() >= 100, "the comparison needs 100 steps, the run has {}", single.0.len());
    assert!(one.test_acc > 0.9, "the reference run learns: {}", one.test_acc);
    for ranks in [2, 3] {
        let (losses, outcomes) = train_ranks(&config, &data, ranks);
        assert_matches(&single.0, one.mlp.params(), ranks, &losses, &outcomes);
        let m = (&one.history, &outcomes[0].history);
        for (a, b) in m.0.iter().zip(m.1) {
            assert!((a.train_loss - b.train_loss).abs() <= 1e-5 * a.train_loss, "epoch {}", a.epoch);
            assert_eq!(a.train_acc, b.train_acc, "epoch {}: train accuracy counted over all ranks", a.epoch);
        }
    }
}

#[test]
fn ranks_without_rows_in_a_batch_still_join_the_step() {
    let data = nabla_data::load("digits", &data_dir()).expect("the digits set (set NABLA_DATA)");
    // Batches of 2 over 3 ranks: one rank has no row in every step.
    let config = TrainConfig {
        hidden: vec![8],
        epochs: 1,
        batch_size: 2,
        dropout: 0.0,
        lr: 0.01,
        ..TrainConfig::for_dataset("digits")
    };
    let mut single = Losses::default();
    let one =
        train(TrainRun { config: &config, data: &data, out_dir: None, resume: None, stop: None }, &mut single).unwrap();
    let (losses, outcomes) = train_ranks(&config, &data, 3);
    assert_matches(&single.0, one.mlp.params(), 3, &losses, &outcomes);
}

#[test]
fn a_gradient_share_left_unweighted_would_be_caught() {
    // The comparison above must be able to fail: a rank that forgets its share n_r / B
    // doubles the gradient with two ranks, and the loss curve leaves the single run's.
    struct Unweighted(ThreadReducer);
    impl Reducer for Unweighted {
        fn rank(&self) -> usize {
            self.0.rank
        }
        fn size(&self) -> usize {
            self.0.size
        }
        fn sum_f32(&mut self, buf: &mut [f32]) {
            self.0.sum_f32(buf);
            // With equal shards, N times the weighted sum is the sum of the ranks' means.
            buf.iter_mut().for_each(|g| *g *= self.0.size as f32);
        }
        fn sum_f64(&mut self, buf: &mut [f64]) {
            self.0.sum_f64(buf);
        }
    }
    let data = nabla_data::load("digits", &data_dir()).expect("the digits set (set NABLA_DATA)");
    let config = TrainConfig {
        hidden: vec![16],
        epochs: 1,
        batch_size: 32,
        dropout: 0.0,
        optimizer: nabla::optim::OptimizerKind::Sgd,
        lr: 0.1,
        ..TrainConfig::for_dataset("digits")
    };
    let mut single = Losses::default();
    train(TrainRun { config: &config, data: &data, out_dir: None, resume: None, stop: None }, &mut single).unwrap();
    let mut losses = Losses::default();
    std::thread::scope(|scope| {
        let mut group = ThreadReducer::group(2).into_iter();
        let (r0, r1) = (group.next().unwrap(), group.next().unwrap());
        let run = || TrainRun { config: &config, data: &data, out_dir: None, resume: None, stop: None };
        let other = scope.spawn(move || train_with(run(), &mut Unweighted(r1), &mut Silent).unwrap());
        train_with(run(), &mut Unweighted(r0), &mut losses).unwrap();
        other.join().unwrap();
    });
    let worst = single.0.iter().zip(&losses.0).map(|(a, b)| (a - b).abs() / a.abs()).fold(0.0, f64::max);
    assert!(worst > 1e-3, "a doubled gradient must change the curve (worst relative gap {worst})");
}
