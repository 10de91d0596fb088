//! Data-parallel training over real MPI processes (feature `mpi`; run by `.ci/mpi.sh`).
//!
//! Run without `mpirun`, this program is the driver: it trains the single-process reference
//! on digits (with input and hidden dropout), then starts itself under `mpirun -np N` and
//! checks rank 0's per-step losses (first 100 steps, 1e-5 relative) and final weights (1e-4)
//! against it: N = 2 and 3 with each layer's all-reduce overlapping the backward pass, N = 3
//! with one blocking all-reduce. Then it kills a rank of a running job: the job must end,
//! non-zero, within [`KILL_LIMIT`]; and the last checkpoint, resumed under 3 ranks, must end
//! at the reference's weights.
//!
//! Run under `mpirun` (`NABLA_MPI_WORKER_OUT` set), it is a rank: it trains with
//! [`MpiReducer`], and rank 0 writes its losses and weights to that file.
//!
//! A plain `harness = false` program, so that MPI is initialised on the main thread, once;
//! it reports on stdout/stderr itself, as a test harness would.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{loss_gap, parallel_config, weight_gap, Losses};
use nabla_testkit::data_dir;
use nabla_train::checkpoint;
use nabla_train::distributed::{MpiReducer, Reducer};
use nabla_train::train::{train, train_with, EpochMetrics, Observer, StepInfo, TrainRun};

/// Where rank 0 writes its result (and the mark of a worker).
const WORKER_OUT: &str = "NABLA_MPI_WORKER_OUT";
/// Where rank 0 writes checkpoints.
const CKPT_DIR: &str = "NABLA_MPI_CKPT_DIR";
/// A checkpoint to resume from.
const RESUME: &str = "NABLA_MPI_RESUME";
/// `0`: one blocking all-reduce after the backward pass instead of one per layer.
const OVERLAP: &str = "NABLA_MPI_OVERLAP";
/// A file: after epoch 1, rank 1 writes its process id there and stops, to be killed.
const STALL: &str = "NABLA_MPI_STALL";
/// A rank that has not finished by then is a hang: fail instead of waiting for ever.
const JOB_LIMIT: Duration = Duration::from_secs(300);
/// How soon after one rank is killed the whole job must have ended.
const KILL_LIMIT: Duration = Duration::from_secs(60);

/// Rank 0's record, and rank 1's stall when asked.
struct Worker {
    losses: Losses,
    stall: Option<PathBuf>,
}

impl Observer for Worker {
    fn on_step(&mut self, step: &StepInfo) {
        self.losses.on_step(step);
    }
    fn on_epoch(&mut self, epoch: &EpochMetrics) {
        if let (Some(path), 1) = (&self.stall, epoch.epoch) {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, std::process::id().to_string()).and_then(|()| std::fs::rename(&tmp, path)).is_ok() {
                // Rank 0 goes on into epoch 2 and waits for this rank in the first all-reduce.
                std::thread::sleep(Duration::from_secs(600));
            }
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Result {
    losses: Vec<f64>,
    params: Vec<f32>,
}

fn worker(out: &Path) -> std::result::Result<(), String> {
    let overlap = std::env::var(OVERLAP).map_or(true, |v| v != "0");
    let mut world = MpiReducer::init().ok_or("MPI was already initialised")?.with_overlap(overlap);
    let data = nabla_data::load("digits", &data_dir()).map_err(|e| e.to_string())?;
    let config = parallel_config();
    let ckpt_dir = std::env::var_os(CKPT_DIR).map(PathBuf::from);
    let resume = match std::env::var_os(RESUME) {
        Some(path) => Some(checkpoint::load(Path::new(&path)).map_err(|e| e.to_string())?),
        None => None,
    };
    let stall = std::env::var_os(STALL).filter(|_| world.rank() == 1).map(PathBuf::from);
    let mut observer = Worker { losses: Losses::default(), stall };
    let run = TrainRun { config: &config, data: (&data).into(), out_dir: ckpt_dir.as_deref(), resume, stop: None };
    let outcome = train_with(run, &mut world, &mut observer).map_err(|e| e.to_string())?;
    if world.rank() == 0 {
        let json = serde_json::to_vec(&Result { losses: observer.losses.0, params: outcome.network.params().to_vec() })
            .map_err(|e| e.to_string())?;
        let tmp = out.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, out))
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// `mpirun -np ranks` of this program with `env` set on every rank; `out` is rank 0's result
/// file, `log` gets mpirun's stderr.
fn start_job(
    ranks: usize,
    out: &Path,
    log: &Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::result::Result<std::process::Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mpirun = std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into());
    let mut command = Command::new(&mpirun);
    command.args(["--oversubscribe", "-np", &ranks.to_string(), "-x", WORKER_OUT, "-x", "NABLA_DATA"]);
    for (name, value) in env {
        command.args(["-x", name]).env(name, value);
    }
    let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    command
        .arg(&exe)
        .env(WORKER_OUT, out)
        .env("NABLA_DATA", data_dir())
        // Open MPI refuses root unless told twice; CI containers run as root.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("cannot start {mpirun} (install openmpi-bin): {e}"))
}

/// Waits for `child` up to `limit`; kills it and fails past that.
fn wait_for(child: &mut std::process::Child, limit: Duration, what: &str) -> std::result::Result<ExitStatus, String> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} did not finish within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs this program as `ranks` MPI ranks to the end and returns rank 0's result.
fn run_job(
    ranks: usize,
    dir: &Path,
    name: &str,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::result::Result<Result, String> {
    let (out, log) = (dir.join(format!("{name}.json")), dir.join(format!("{name}.log")));
    let mut child = start_job(ranks, &out, &log, env)?;
    let status = wait_for(&mut child, JOB_LIMIT, &format!("mpirun -np {ranks} ({name})"))?;
    if !status.success() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!("mpirun -np {ranks} ({name}) failed: {status}\n{log}"));
    }
    let bytes = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", out.display()))
}

/// Rank 0's losses (against `single_losses`, step for step) and final weights.
fn compare(what: &str, single_losses: &[f64], single_params: &[f32], job: &Result) -> std::result::Result<(), String> {
    if job.losses.len() != single_losses.len() {
        return Err(format!("{what} took {} steps, one process {}", job.losses.len(), single_losses.len()));
    }
    let (losses, weights) = (loss_gap(single_losses, &job.losses, 100), weight_gap(single_params, &job.params));
    println!("{what}: worst relative loss gap (100 steps) {losses:.2e}, worst weight gap {weights:.2e}");
    if losses > 1e-5 || weights > 1e-4 {
        return Err(format!("{what} left the single-process run (loss {losses:.2e}, weights {weights:.2e})"));
    }
    Ok(())
}

/// Kills rank 1 of a 2-rank job while rank 0 waits for it in an all-reduce: the job must end
/// non-zero within [`KILL_LIMIT`], leaving the epoch-1 checkpoint; that checkpoint resumed
/// under 3 ranks must end where the uninterrupted one-process run ends.
fn killed_rank_ends_the_job(dir: &Path, single: &Result, steps_per_epoch: usize) -> std::result::Result<(), String> {
    let (ckpts, stall) = (dir.join("killed-ckpt"), dir.join("rank1.pid"));
    let (out, log) = (dir.join("killed.json"), dir.join("killed.log"));
    let mut child = start_job(2, &out, &log, &[(CKPT_DIR, ckpts.as_os_str()), (STALL, stall.as_os_str())])?;
    let last = ckpts.join("last.safetensors");
    let started = Instant::now();
    let pid = loop {
        if let (Ok(pid), true) = (std::fs::read_to_string(&stall), last.exists()) {
            break pid;
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("the job ended ({status}) before rank 1 stalled after epoch 1"));
        }
        if started.elapsed() > JOB_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err("rank 1 never reached the end of epoch 1".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let killed = Command::new("kill").args(["-9", pid.trim()]).status().map_err(|e| format!("kill: {e}"))?;
    if !killed.success() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("kill -9 {pid} failed: {killed}"));
    }
    let killed_at = Instant::now();
    let status = wait_for(&mut child, KILL_LIMIT, "the job with a killed rank")?;
    let after = killed_at.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let said = text.lines().find(|l| l.contains("signal 9")).unwrap_or("").trim();
    println!("killed rank 1 (pid {}): mpirun exited with {status} {after:.1?} later: {said}", pid.trim());
    if status.success() {
        return Err(format!("the job with a killed rank exited 0:\n{text}"));
    }
    if said.is_empty() {
        return Err(format!("mpirun did not say which rank died and how:\n{text}"));
    }
    if out.exists() {
        return Err("rank 0 finished training without its partner".into());
    }
    let ckpt = checkpoint::load(&last).map_err(|e| e.to_string())?;
    if ckpt.epoch != 1 {
        return Err(format!("the last checkpoint is of epoch {}, not 1", ckpt.epoch));
    }
    let resumed = run_job(3, dir, "resumed", &[(RESUME, last.as_os_str())])?;
    compare("resumed under mpirun -np 3", &single.losses[steps_per_epoch..], &single.params, &resumed)
}

fn driver() -> std::result::Result<(), String> {
    let data = nabla_data::load("digits", &data_dir()).map_err(|e| format!("the digits set (set NABLA_DATA): {e}"))?;
    let config = parallel_config();
    let mut losses = Losses::default();
    let outcome =
        train(TrainRun { config: &config, data: (&data).into(), out_dir: None, resume: None, stop: None }, &mut losses)
            .map_err(|e| e.to_string())?;
    if losses.0.len() < 100 {
        return Err(format!("the comparison needs 100 steps, the run has {}", losses.0.len()));
    }
    let steps_per_epoch = losses.0.len() / config.epochs;
    let single = Result { losses: losses.0, params: outcome.network.params().to_vec() };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let blocking = std::ffi::OsStr::new("0");
    for (ranks, env, what) in [
        (2, &[][..], "mpirun -np 2"),
        (3, &[][..], "mpirun -np 3"),
        (3, &[(OVERLAP, blocking)][..], "mpirun -np 3, blocking all-reduce"),
    ] {
        let job = run_job(ranks, dir.path(), &format!("np{ranks}-{}", env.len()), env)?;
        compare(what, &single.losses, &single.params, &job)?;
    }
    killed_rank_ends_the_job(dir.path(), &single, steps_per_epoch)
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
