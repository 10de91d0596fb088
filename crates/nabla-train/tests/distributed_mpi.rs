//! Data-parallel training over real MPI processes (feature `mpi`; run by `.ci/mpi.sh`).
//!
//! Run without `mpirun`, this program is the driver: it trains the single-process reference
//! on digits, then starts itself under `mpirun -np N` for N = 2 and 3 and compares rank 0's
//! per-step losses (first 100 steps, 1e-5 relative) and final weights (1e-4) with it. Run
//! under `mpirun` (`NABLA_MPI_WORKER_OUT` set), it is a rank: it trains with
//! [`MpiReducer`], and rank 0 writes its losses and weights to that file.
//!
//! A plain `harness = false` program, so that MPI is initialised on the main thread, once;
//! it reports on stdout/stderr itself, as a test harness would.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nabla_train::config::TrainConfig;
use nabla_train::distributed::{MpiReducer, Reducer};
use nabla_train::train::{train, train_with, Observer, StepInfo, TrainRun};

const WORKER_OUT: &str = "NABLA_MPI_WORKER_OUT";
/// A rank that has not finished by then is a hang: fail instead of waiting for ever.
const JOB_LIMIT: Duration = Duration::from_secs(300);

fn data_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("NABLA_DATA").filter(|v| !v.is_empty()) {
        Some(v) if PathBuf::from(&v).is_absolute() => PathBuf::from(v),
        Some(v) => root.join(v),
        None => root.join("../shared/data"),
    }
}

/// 32-row batches (16/16 over two ranks, 11/11/10 over three), a partial last batch, an L2
/// penalty; no dropout, whose masks are drawn per rank.
fn config() -> TrainConfig {
    TrainConfig {
        hidden: vec![32],
        epochs: 3,
        batch_size: 32,
        dropout: 0.0,
        l2: 1e-4,
        lr: 0.01,
        ..TrainConfig::for_dataset("digits")
    }
}

#[derive(Default)]
struct Losses(Vec<f64>);
impl Observer for Losses {
    fn on_step(&mut self, step: &StepInfo) {
        self.0.push(step.loss);
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Result {
    losses: Vec<f64>,
    params: Vec<f32>,
}

fn worker(out: &Path) -> std::result::Result<(), String> {
    let mut world = MpiReducer::init().ok_or("MPI was already initialised")?;
    let data = nabla_data::load("digits", &data_dir()).map_err(|e| e.to_string())?;
    let config = config();
    let mut losses = Losses::default();
    let outcome = train_with(
        TrainRun { config: &config, data: &data, out_dir: None, resume: None, stop: None },
        &mut world,
        &mut losses,
    )
    .map_err(|e| e.to_string())?;
    if world.rank() == 0 {
        let json = serde_json::to_vec(&Result { losses: losses.0, params: outcome.mlp.params().to_vec() })
            .map_err(|e| e.to_string())?;
        let tmp = out.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, out))
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// Runs this program as `ranks` MPI ranks and returns rank 0's result.
fn run_job(ranks: usize, dir: &Path) -> std::result::Result<Result, String> {
    let out = dir.join(format!("np{ranks}.json"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mpirun = std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into());
    let mut child = Command::new(&mpirun)
        .args(["--oversubscribe", "-np", &ranks.to_string(), "-x", WORKER_OUT, "-x", "NABLA_DATA"])
        .arg(&exe)
        .env(WORKER_OUT, &out)
        .env("NABLA_DATA", data_dir())
        // Open MPI refuses root unless told twice; CI containers run as root.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .spawn()
        .map_err(|e| format!("cannot start {mpirun} (install openmpi-bin): {e}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > JOB_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("mpirun -np {ranks} did not finish within {JOB_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(format!("mpirun -np {ranks} failed: {status}"));
    }
    let bytes = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", out.display()))
}

fn compare(ranks: usize, single: &Result, job: &Result) -> std::result::Result<(), String> {
    if job.losses.len() != single.losses.len() {
        return Err(format!("{ranks} ranks took {} steps, one process {}", job.losses.len(), single.losses.len()));
    }
    let loss_gap =
        single.losses.iter().zip(&job.losses).take(100).map(|(a, b)| (a - b).abs() / a.abs()).fold(0.0, f64::max);
    let weight_gap =
        single.params.iter().zip(&job.params).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0.0f32, f32::max);
    println!(
        "mpirun -np {ranks}: worst relative loss gap (100 steps) {loss_gap:.2e}, worst weight gap {weight_gap:.2e}"
    );
    if loss_gap > 1e-5 || weight_gap > 1e-4 {
        return Err(format!(
            "{ranks} ranks left the single-process run (loss {loss_gap:.2e}, weights {weight_gap:.2e})"
        ));
    }
    Ok(())
}

fn driver() -> std::result::Result<(), String> {
    let data = nabla_data::load("digits", &data_dir()).map_err(|e| format!("the digits set (set NABLA_DATA): {e}"))?;
    let config = config();
    let mut losses = Losses::default();
    let outcome =
        train(TrainRun { config: &config, data: &data, out_dir: None, resume: None, stop: None }, &mut losses)
            .map_err(|e| e.to_string())?;
    if losses.0.len() < 100 {
        return Err(format!("the comparison needs 100 steps, the run has {}", losses.0.len()));
    }
    let single = Result { losses: losses.0, params: outcome.mlp.params().to_vec() };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for ranks in [2, 3] {
        compare(ranks, &single, &run_job(ranks, dir.path())?)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let outcome = match std::env::var_os(WORKER_OUT) {
        Some(out) => worker(Path::new(&out)),
        None => driver(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distributed_mpi: {e}");
            ExitCode::FAILURE
        }
    }
}
