//! The trainer on the real digits set: determinism, exact resume, divergence handling.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::digits;
use nabla_train::checkpoint;
use nabla_train::config::TrainConfig;
use nabla_train::train::{train, EpochMetrics, Observer, Silent, TrainError, TrainRun};

fn small_config() -> TrainConfig {
    TrainConfig {
        hidden: vec![32],
        epochs: 4,
        batch_size: 32,
        dropout: 0.1,
        lr: 0.01,
        ..TrainConfig::for_dataset("digits")
    }
}

#[test]
fn same_seed_same_curve_and_weights_whatever_the_thread_count() {
    let data = digits();
    let run = |threads: usize| {
        let config = TrainConfig { threads, ..small_config() };
        let (out, parallel) = nabla::pool::with_threads(threads, || {
            train(
                TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None },
                &mut Silent,
            )
            .unwrap()
        });
        // Two threads must really have split work (issue 21: a busy pool ran it serially).
        assert!(threads == 1 || parallel > 0, "no pass ran on {threads} threads");
        out
    };
    let (a, b, c) = (run(1), run(1), run(2));
    let losses = |o: &nabla_train::train::TrainOutcome| o.history.iter().map(|m| m.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    assert_eq!(a.network.params(), b.network.params());
    assert_eq!(losses(&a), losses(&c));
    assert_eq!(a.network.params(), c.network.params());
    assert!(a.test.headline() > 0.9, "a 64-32-10 net learns digits: {}", a.test.headline());
    let other = train(
        TrainRun {
            config: &TrainConfig { seed: 1, ..small_config() },
            data: (&data).into(),
            out_dir: None,
            resume: None,
            stop: None,
        },
        &mut Silent,
    )
    .unwrap();
    assert_ne!(losses(&a), losses(&other));
}

/// Stops the run after a given epoch, as Ctrl-C would.
struct StopAfter<'a>(usize, &'a AtomicBool);
impl Observer for StopAfter<'_> {
    fn on_epoch(&mut self, m: &EpochMetrics) {
        if m.epoch == self.0 {
            self.1.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn resume_gives_the_same_result_as_an_uninterrupted_run() {
    let data = digits();
    let dir = tempfile::tempdir().unwrap();
    for optimizer in ["adam", "momentum"] {
        let config = TrainConfig { optimizer: optimizer.parse().unwrap(), lr: 0.01, ..small_config() };
        let full = train(
            TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None },
            &mut Silent,
        )
        .unwrap();

        let out = dir.path().join(optimizer);
        let stop = AtomicBool::new(false);
        let first = train(
            TrainRun { config: &config, data: (&data).into(), out_dir: Some(&out), resume: None, stop: Some(&stop) },
            &mut StopAfter(2, &stop),
        )
        .unwrap();
        assert!(first.interrupted);
        assert_eq!(first.epochs_completed, 2);
        let ckpt = checkpoint::load(&out.join("last.safetensors")).unwrap();
        assert_eq!(ckpt.epoch, 2);
        let resumed = train(
            TrainRun { config: &config, data: (&data).into(), out_dir: Some(&out), resume: Some(ckpt), stop: None },
            &mut Silent,
        )
        .unwrap();
        assert_eq!(resumed.epochs_completed, 4);
        assert_eq!(resumed.network.params(), full.network.params(), "{optimizer}: resumed weights differ");
        // The same numbers, epoch by epoch (wall times aside).
        let numbers = |h: &[EpochMetrics]| {
            h.iter().map(|m| (m.epoch, m.train_loss, m.train, m.val_loss, m.val, m.lr)).collect::<Vec<_>>()
        };
        assert_eq!(numbers(&resumed.history), numbers(&full.history[2..]));
    }
}

#[test]
fn resume_refuses_another_architecture() {
    let data = digits();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig { epochs: 1, ..small_config() };
    train(
        TrainRun { config: &config, data: (&data).into(), out_dir: Some(dir.path()), resume: None, stop: None },
        &mut Silent,
    )
    .unwrap();
    let ckpt = checkpoint::load(&dir.path().join("last.safetensors")).unwrap();
    let wider = TrainConfig { hidden: vec![48], epochs: 2, ..small_config() };
    let err = train(
        TrainRun { config: &wider, data: (&data).into(), out_dir: None, resume: Some(ckpt), stop: None },
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("64-32-10") && err.contains("64-48-10"), "{err}");
}

#[test]
fn divergence_stops_at_once_and_names_the_step() {
    let data = digits();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        optimizer: "sgd".parse().unwrap(),
        lr: 1e30,
        dropout: 0.0,
        schedule: "constant".parse().unwrap(),
        ..small_config()
    };
    let err = train(
        TrainRun { config: &config, data: (&data).into(), out_dir: Some(dir.path()), resume: None, stop: None },
        &mut Silent,
    )
    .unwrap_err();
    match &err {
        TrainError::NonFinite { epoch, step, .. } => assert!(*epoch >= 1 && *step >= 1),
        other => panic!("expected a divergence error, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("epoch") && msg.contains("step") && msg.contains("lower learning rate"), "{msg}");
}

/// A fingerprint of every parameter's bits (order-sensitive).
fn fingerprint(params: &[f32]) -> u64 {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64 + 1).wrapping_mul(u64::from(p.to_bits())))
        .fold(0u64, u64::wrapping_add)
}

/// Regression (issue 22): the trainer now trains a `nabla::Network` (plain or residual). A
/// plain run must compute exactly what it did before: these bits were printed by the
/// trainer before the change (commit 1f99ce1, on AVX-512), for a run with dropout and an L2
/// penalty. AVX2 CPUs compute the same bits since their ten-output products run on a skinny
/// kernel with the AVX-512 one's bits (issue 23; before, they ran on the packed GEMM and
/// gave the bits ae575db printed on an AVX2 Zen 3, `…2e44_29cc`, which Zen 4 with
/// `NABLA_GEMM_ISA=avx2` reproduced, and now gives these). A CPU without AVX2 has no
/// recorded bits and fails here by name.
#[test]
fn a_plain_run_has_the_bits_it_had_before_residual_nets() {
    let data = digits();
    let config =
        TrainConfig { hidden: vec![16, 16], epochs: 2, seed: 3, l2: 1e-4, ..TrainConfig::for_dataset("digits") };
    let o =
        train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut Silent)
            .unwrap();
    // (final train loss, test loss, parameter fingerprint)
    let want: (u64, u64, u64) = if nabla::simd::has_avx2() {
        (0x4002_16a3_2e31_712e, 0x4001_b9fd_a71b_b23a, 0x8_560b_a3f7_2acb)
    } else {
        panic!("no recorded bits for a CPU without AVX2 (the portable GEMM kernel): record them here");
    };
    assert_eq!(o.history.last().unwrap().train_loss.to_bits(), want.0);
    assert_eq!(o.test_loss.to_bits(), want.1);
    assert_eq!(fingerprint(o.network.params()), want.2);
    // `depth` and `width` without `residual` are the same plain net as `hidden`.
    let deep = TrainConfig { hidden: vec![], depth: Some(2), width: Some(16), ..config };
    let d =
        train(TrainRun { config: &deep, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut Silent)
            .unwrap();
    assert_eq!(d.network.params(), o.network.params());
}

fn residual_config() -> TrainConfig {
    TrainConfig {
        hidden: vec![],
        depth: Some(3),
        width: Some(32),
        residual: true,
        dropout: 0.0,
        epochs: 4,
        lr: 0.003,
        ..TrainConfig::for_dataset("digits")
    }
}

#[test]
fn a_residual_net_trains_deterministically_and_resumes_exactly() {
    let data = digits();
    let config = residual_config();
    let run = |resume, out_dir, stop, observer: &mut dyn Observer| {
        train(TrainRun { config: &config, data: (&data).into(), out_dir, resume, stop }, observer).unwrap()
    };
    let full = run(None, None, None, &mut Silent);
    assert!(matches!(full.network, nabla::Network::Residual(_)));
    assert_eq!(full.network.spec().to_string(), "64 → 32 → 3 × [norm, 32-relu-32, +skip] → norm → 10 identity");
    assert!(full.test.headline() > 0.9, "a 3-block residual net learns digits: {}", full.test.headline());
    let again = run(None, None, None, &mut Silent);
    assert_eq!(again.network.params(), full.network.params());

    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let first = run(None, Some(dir.path()), Some(&stop), &mut StopAfter(2, &stop));
    assert!(first.interrupted);
    let ckpt = checkpoint::load(&dir.path().join("last.safetensors")).unwrap();
    assert_eq!((ckpt.epoch, ckpt.spec()), (2, full.network.spec()));
    let resumed = run(Some(ckpt), Some(dir.path()), None, &mut Silent);
    assert_eq!(resumed.network.params(), full.network.params(), "resumed residual weights differ");

    // Resuming it as a plain net is refused with both architectures named.
    let ckpt = checkpoint::load(&dir.path().join("last.safetensors")).unwrap();
    let plain = TrainConfig { hidden: vec![32], depth: None, width: None, residual: false, ..config.clone() };
    let err = train(
        TrainRun { config: &plain, data: (&data).into(), out_dir: None, resume: Some(ckpt), stop: None },
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("checkpoint is 64 → 3 residual blocks of 32 → 10 (relu) but the run asks for 64-32-10"),
        "{err}"
    );
}

#[test]
fn dropout_on_a_residual_net_is_refused_by_name() {
    let data = digits();
    let config = TrainConfig { dropout: 0.2, ..residual_config() };
    let err =
        train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut Silent)
            .unwrap_err();
    assert!(matches!(err, TrainError::Config(ref e) if e.key == "dropout"), "{err}");
    assert!(err.to_string().contains("residual nets train without dropout"), "{err}");
}
