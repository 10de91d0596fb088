//! Data-parallel training without MPI: N ranks as N threads joined by an in-process
//! all-reduce must walk the single-process run's loss curve and end at its weights, with
//! uneven shards, a partial last batch, dropout, and batches smaller than the number of
//! ranks; the sharded evaluation must give the one-process evaluation.
//! (The same check over real MPI processes is `distributed_mpi.rs`, feature `mpi`.)

mod common;

use std::sync::{Arc, Barrier, Mutex};

use common::{digits, loss_gap, parallel_config, weight_gap, Losses};
use nabla_data::Normalizer;
use nabla_train::config::TrainConfig;
use nabla_train::distributed::Reducer;
use nabla_train::train::{evaluate, evaluate_with, train, train_with, Silent, TrainOutcome, TrainRun};

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
                    let run = TrainRun { config, data: data.into(), out_dir: None, resume: None, stop: None };
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
        assert_eq!(o.network.params(), outcomes[0].network.params(), "rank {r} of {ranks} drifted from rank 0");
        // And every rank got the same (reduced) evaluations.
        assert_eq!((o.test_loss, o.test), (outcomes[0].test_loss, outcomes[0].test), "rank {r}");
    }
    let worst = weight_gap(single_w, outcomes[0].network.params());
    assert!(worst <= 1e-4, "{ranks} ranks: final weights differ by {worst}");
}

#[test]
fn two_and_three_ranks_follow_the_single_process_run() {
    let data = digits();
    // 32 rows split 16/16 and 11/11/10; the last batch of each epoch is partial; the L2
    // penalty checks that it is added once, after the reduction; with input and hidden
    // dropout, every rank must keep its rows of the one-process masks.
    let config = parallel_config();
    let mut single = Losses::default();
    let one =
        train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut single)
            .unwrap();
    assert!(single.0.len() >= 100, "the comparison needs 100 steps, the run has {}", single.0.len());
    assert!(one.test.headline() > 0.9, "the reference run learns: {}", one.test.headline());
    for ranks in [2, 3] {
        let (losses, outcomes) = train_ranks(&config, &data, ranks);
        assert_matches(&single.0, one.network.params(), ranks, &losses, &outcomes);
        let m = (&one.history, &outcomes[0].history);
        for (a, b) in m.0.iter().zip(m.1) {
            assert!((a.train_loss - b.train_loss).abs() <= 1e-5 * a.train_loss, "epoch {}", a.epoch);
            assert_eq!(a.train, b.train, "epoch {}: train accuracy counted over all ranks", a.epoch);
            // The sharded, reduced evaluation of (nearly) the same weights.
            assert!((a.val_loss - b.val_loss).abs() <= 1e-4 * a.val_loss, "epoch {}", a.epoch);
        }
        assert!((one.test_loss - outcomes[0].test_loss).abs() <= 1e-4 * one.test_loss);
    }
}

/// The comparison above sees the masks: the same run without dropout leaves the dropout
/// run's curve by far more than the 1e-5 allowed, so ranks that drew other masks than the
/// one-process run (as each rank drawing its own would) could not pass it.
#[test]
fn the_dropout_masks_move_the_curve_beyond_the_tolerance() {
    let data = digits();
    let config = TrainConfig { epochs: 1, ..parallel_config() };
    let mut with = Losses::default();
    train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut with)
        .unwrap();
    let (losses, _) = train_ranks(&config, &data, 2);
    assert!(loss_gap(&with.0, &losses, 100) <= 1e-5);
    let without = TrainConfig { dropout: 0.0, input_dropout: 0.0, ..config };
    let mut plain = Losses::default();
    train(TrainRun { config: &without, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut plain)
        .unwrap();
    assert!(loss_gap(&with.0, &plain.0, 100) > 1e-3, "the masks must move the curve");
}

/// The sharded evaluation over 1, 2, 3 and 7 ranks gives the one-process evaluation: the same
/// accuracy, and the loss to float rounding (the sums are taken in another order).
#[test]
fn sharded_evaluation_equals_the_single_process_evaluation() {
    let data = digits();
    let config = TrainConfig { epochs: 1, ..parallel_config() };
    let trained =
        train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut Silent)
            .unwrap();
    let norm = Normalizer::unit(data.test.max_value);
    // 64-row evaluation batches: uneven shards and partial batches on every rank.
    let single = evaluate(&trained.network, &data.test, &norm, 64).unwrap();
    assert!(single.accuracy > 0.5, "{single:?}");
    for ranks in [1, 2, 3, 7] {
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = ThreadReducer::group(ranks)
                .into_iter()
                .map(|mut r| {
                    let (mlp, test, norm) = (&trained.network, &data.test, &norm);
                    scope.spawn(move || evaluate_with(mlp, test, norm, 64, &mut r).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (r, e) in results.iter().enumerate() {
            assert_eq!(e.accuracy, single.accuracy, "{ranks} ranks, rank {r}");
            assert!((e.loss - single.loss).abs() <= 1e-12 * single.loss, "{ranks} ranks, rank {r}: {e:?} {single:?}");
        }
    }
}

#[test]
fn ranks_without_rows_in_a_batch_still_join_the_step() {
    let data = digits();
    // Batches of 2 over 3 ranks: one rank has no row in every step, and must still walk the
    // dropout stream past the batch's masks.
    let config = TrainConfig {
        hidden: vec![8],
        epochs: 1,
        batch_size: 2,
        dropout: 0.3,
        lr: 0.01,
        ..TrainConfig::for_dataset("digits")
    };
    let mut single = Losses::default();
    let one =
        train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut single)
            .unwrap();
    let (losses, outcomes) = train_ranks(&config, &data, 3);
    assert_matches(&single.0, one.network.params(), 3, &losses, &outcomes);
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
    let data = digits();
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
    train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut single)
        .unwrap();
    let mut losses = Losses::default();
    std::thread::scope(|scope| {
        let mut group = ThreadReducer::group(2).into_iter();
        let (r0, r1) = (group.next().unwrap(), group.next().unwrap());
        let run = || TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None };
        let other = scope.spawn(move || train_with(run(), &mut Unweighted(r1), &mut Silent).unwrap());
        train_with(run(), &mut Unweighted(r0), &mut losses).unwrap();
        other.join().unwrap();
    });
    let worst = loss_gap(&single.0, &losses.0, usize::MAX);
    assert!(worst > 1e-3, "a doubled gradient must change the curve (worst relative gap {worst})");
}
