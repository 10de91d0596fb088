//! Logging throughput: 1,000,000 points from one run, timed from the first `log` until
//! `finish` returns (so every point is committed to SQLite), into a fresh store each time.
//!
//! Run: `cargo bench -p nabla-track --bench log_throughput`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use nabla_track::{EndStatus, Run, RunOptions};

const POINTS: u64 = 1_000_000;

/// Logs `POINTS` points as `steps` calls of `metrics` named scalars and returns the time taken.
fn log_points(metrics: usize) -> Duration {
    let tmp = tempfile::tempdir().expect("temp dir");
    let names: Vec<String> = (0..metrics).map(|i| format!("metric/{i}")).collect();
    let steps = POINTS / metrics as u64;
    let mut values: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 0.0)).collect();
    let run = RunOptions::new("bench").system_interval(None);
    let mut run = Run::start(tmp.path(), run).expect("start run");
    let start = Instant::now();
    for step in 0..steps {
        for (i, v) in values.iter_mut().enumerate() {
            v.1 = step as f64 + i as f64;
        }
        run.log(step, &values).expect("log");
    }
    run.finish(EndStatus::Finished).expect("finish");
    start.elapsed()
}

/// Criterion entry point (a plain `main`, as the bench has `harness = false`).
fn main() {
    let mut criterion =
        Criterion::default().sample_size(10).measurement_time(Duration::from_secs(20)).configure_from_args();
    let mut group = criterion.benchmark_group("log_1M_points");
    group.throughput(Throughput::Elements(POINTS));
    for metrics in [1usize, 10] {
        group.bench_function(format!("{metrics}_metrics_per_call"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| log_points(metrics)).sum());
        });
    }
    group.finish();
    criterion.final_summary();
}
