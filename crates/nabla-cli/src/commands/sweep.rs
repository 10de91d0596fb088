//! `nabla sweep TARGET`: a grid or random search over training settings. Every trial is a
//! tracked run tagged `sweep:ID`; trials run in parallel with `--jobs`; a trial whose loss
//! becomes NaN is recorded as `diverged` and the sweep goes on; Ctrl-C stops between steps
//! and `--resume ID` runs the trials that did not finish. The sweep's definition is kept in
//! the tracking directory (`sweeps/ID.json`, see `nabla_report::sweeps`) with every setting
//! it was made with (`--out`, `--data`, …), so that `--resume` needs nothing else.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use nabla_data::Split;
use nabla_report::sweeps::{self, describe, load_def, SweepDef, TrialResult};
use nabla_track::{EndStatus, RunMeta, RunOptions, Store};
use nabla_train::config::TrainConfig;
use nabla_train::sweep::{self, ParamSpec};
use nabla_train::train::{self, EpochMetrics, Observer, StartInfo, StepInfo, TrainError, TrainRun};
use nabla_train::xor::{self, XorConfig};
use serde_json::{json, Value};

use crate::commands::data::FetchReporter;
use crate::commands::parse;

/// Flags of `nabla sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// What to train: mnist, fashion-mnist, digits, or xor (optional with --file or --resume).
    pub target: Option<String>,
    /// A swept setting and its values: `lr=0.001,0.01,0.1`; with --random also a range:
    /// `hidden=64..512`, `dropout=0.1..0.5`, `lr=log:1e-4..1`. Repeat for more settings.
    #[arg(long = "grid", value_name = "KEY=VALUES", value_parser = sweep::parse_param)]
    pub grid: Vec<(String, ParamSpec)>,
    /// A random search of N trials instead of the full grid.
    #[arg(long, value_name = "N", value_parser = parse::positive_usize)]
    pub random: Option<usize>,
    /// Seed of the random search's draws (default 0).
    #[arg(long, value_parser = parse::non_negative_u64)]
    pub seed: Option<u64>,
    /// A setting fixed for every trial: `hidden=128`, `schedule=constant`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_fixed)]
    pub set: Vec<(String, String)>,
    /// Epochs of every trial (short for `--set epochs=N`).
    #[arg(long, value_parser = parse::positive_usize)]
    pub epochs: Option<usize>,
    /// A sweep file (TOML: target, random, seed, metric, goal, jobs, [grid], [set]).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The metric that ranks trials: its last value in each run (default val/acc; train/loss
    /// for xor).
    #[arg(long)]
    pub metric: Option<String>,
    /// Whether a larger or smaller metric is better (default: min for a loss, else max).
    #[arg(long, value_parser = ["max", "min"])]
    pub goal: Option<String>,
    /// Trials trained at once; the matrix threads are split between them.
    #[arg(long, value_parser = parse::positive_usize)]
    pub jobs: Option<usize>,
    /// Threads in all (default: every core), split between the jobs.
    #[arg(long, value_parser = parse::positive_usize)]
    pub threads: Option<usize>,
    /// Run the trials of sweep ID that have not finished (after Ctrl-C or a crash), with the
    /// settings it was made with; `--jobs`, `--threads` and `--data` may change how they run.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with_all = ["grid", "random", "file", "set", "epochs", "out", "project", "metric", "goal", "seed"]
    )]
    pub resume: Option<String>,
    /// Where each trial's checkpoints go (default `runs/sweep-ID/trial-K`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where data sets are looked for (then `$NABLA_DATA`, then the user data directory); kept
    /// in the sweep for `--resume`.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The tracker project of the trials (default: the target).
    #[arg(long)]
    pub project: Option<String>,
    /// Where the tracker keeps its runs.
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn parse_fixed(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected KEY=VALUE, e.g. hidden=128"))?;
    Ok((k.trim().trim_start_matches("--").to_string(), v.trim().to_string()))
}

/// A fresh sweep id: 8 hex digits from the clock and the process.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut rng = nabla::Rng::new((nanos as u64) ^ (u64::from(std::process::id()) << 32));
    format!("{:08x}", rng.next_u64() as u32)
}

/// Runs `nabla sweep`.
pub fn run(args: &SweepArgs) -> Result<()> {
    let tracking = nabla_track::tracking_dir(args.tracking_dir.as_deref())?;
    let (def, resumed) = match &args.resume {
        Some(id) => (resumed_def(load_def(&tracking, id)?, args)?, true),
        None => (define(args)?, false),
    };
    // Every trial's settings are checked before the first one trains.
    let configs: Vec<TrialConfig> = def
        .trials
        .iter()
        .enumerate()
        .map(|(k, t)| trial_config(&def, t).with_context(|| format!("trial {k} ({})", describe(t))))
        .collect::<Result<_>>()?;
    if !resumed {
        sweeps::save_def(&tracking, &def)?;
    }

    let done: Vec<usize> = {
        // Opening read-write creates the store on a first sweep.
        let store = Store::open(&tracking)?;
        sweeps::results(&store, &def)?
            .into_iter()
            .filter(|r| r.status == "finished" || r.status == "diverged")
            .map(|r| r.trial)
            .collect()
    };
    let todo: Vec<usize> = (0..def.trials.len()).filter(|k| !done.contains(k)).collect();
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "sweep {}: {} trials on {} ({} to run{}), {} at once, ranked by {} ({})",
        def.id,
        def.trials.len(),
        def.target,
        todo.len(),
        if resumed { ", resumed" } else { "" },
        def.jobs,
        def.metric,
        def.goal
    )?;
    drop(err);

    let data = if def.target == "xor" { None } else { Some(load_data(&def.target, def.data.as_deref())?) };
    let per_job = (def.threads / def.jobs).max(1);
    nabla::gemm::set_threads(per_job);

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    let total = def.trials.len();
    std::thread::scope(|scope| {
        for _ in 0..def.jobs.min(todo.len()) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&k) = todo.get(i) else { break };
                let started = Instant::now();
                let outcome = run_trial(&def, k, &configs[k], data.as_ref(), &tracking, &stop, per_job);
                let line = match &outcome {
                    Ok(o) => format!(
                        "trial {:>3}/{total}  {}  {}: {}  ({}, run {}, {:.0} s)",
                        k + 1,
                        describe(&def.trials[k]),
                        def.metric,
                        o.metric.map_or_else(|| "—".to_string(), |v| format!("{v:.4}")),
                        o.status.as_str(),
                        o.run,
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => {
                        failures
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(format!("trial {k}: {e:#}"));
                        format!("trial {:>3}/{total}  {}  failed: {e:#}", k + 1, describe(&def.trials[k]))
                    }
                };
                let _ = writeln!(io::stderr().lock(), "{line}");
            });
        }
    });

    let store = Store::open_read_only(&tracking)?;
    let results = sweeps::results(&store, &def)?;
    print_results(&def, &results, args.json)?;
    let failures = failures.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if stop.load(Ordering::SeqCst) {
        let finished = results.iter().filter(|r| r.status == "finished" || r.status == "diverged").count();
        bail!("interrupted with {finished} of {total} trials done; finish it with: nabla sweep --resume {}", def.id);
    }
    if !failures.is_empty() {
        bail!("{} trial(s) failed: {}", failures.len(), failures.join("; "));
    }
    Ok(())
}

/// Builds a new sweep from the flags and the file (flags win).
fn define(args: &SweepArgs) -> Result<SweepDef> {
    let file = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            sweep::parse_file(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => sweep::SweepFile::default(),
    };
    let target = args
        .target
        .clone()
        .or(file.target.clone())
        .ok_or_else(|| anyhow!("what to train? give a target (mnist, fashion-mnist, digits, xor) or --file"))?;
    if target != "xor" {
        nabla_data::spec(&target)?;
    }
    let mut params = file.params.clone();
    for (k, spec) in &args.grid {
        params.retain(|(key, _)| key != k);
        params.push((k.clone(), spec.clone()));
    }
    if params.is_empty() {
        bail!("nothing to sweep: give --grid KEY=VALUES (e.g. --grid lr=0.001,0.01,0.1) or a --file with [grid]");
    }
    let mut fixed = file.fixed.clone();
    fixed.extend(args.set.iter().cloned());
    if let Some(e) = args.epochs {
        fixed.push(("epochs".into(), e.to_string()));
    }
    let trials = match args.random.or(file.random) {
        Some(n) => sweep::random(&params, n, args.seed.or(file.seed).unwrap_or(0)),
        None => sweep::grid(&params).map_err(anyhow::Error::msg)?,
    };
    let metric = args.metric.clone().or(file.metric.clone()).unwrap_or_else(|| {
        if target == "xor" {
            "train/loss".into()
        } else {
            "val/acc".into()
        }
    });
    let goal = args.goal.clone().or(file.goal.clone()).unwrap_or_else(|| {
        if metric.contains("loss") {
            "min".into()
        } else {
            "max".into()
        }
    });
    if goal != "max" && goal != "min" {
        bail!("goal = {goal}: expected max or min");
    }
    let jobs = args.jobs.or(file.jobs).unwrap_or(1).max(1);
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let id = new_id();
    // Kept absolute, so that `--resume` from another folder writes to the same place.
    let out = absolute(&args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("sweep-{id}"))))?;
    let data = args.data.as_deref().map(absolute).transpose()?;
    Ok(SweepDef {
        id,
        project: args.project.clone().unwrap_or_else(|| target.clone()),
        target,
        keys: params.iter().map(|(k, _)| k.clone()).collect(),
        fixed,
        trials,
        metric,
        goal,
        jobs,
        threads,
        out,
        data,
        // As a reader would type it: `nabla sweep …`, not the path of the binary that ran.
        command: nabla_track::command_line(std::iter::once("nabla".to_string()).chain(std::env::args().skip(1))),
    })
}

/// `path` from the current folder (not required to exist yet).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// A stored sweep with what `--resume` may change: how many trials at once, the threads, and
/// where the data is (when it moved). Everything else is as the sweep was made.
fn resumed_def(mut def: SweepDef, args: &SweepArgs) -> Result<SweepDef> {
    if let Some(jobs) = args.jobs {
        def.jobs = jobs;
    }
    if let Some(threads) = args.threads {
        def.threads = threads;
    }
    if let Some(data) = &args.data {
        def.data = Some(absolute(data)?);
    }
    Ok(def)
}

/// A trial's settings: a data-set recipe or the XOR net.
enum TrialConfig {
    Data(TrainConfig),
    Xor(XorConfig, u64),
}

fn trial_config(def: &SweepDef, trial: &[(String, String)]) -> Result<TrialConfig> {
    if def.target != "xor" {
        let mut c =
            sweep::apply(&TrainConfig::for_dataset(&def.target), &def.fixed, trial).map_err(anyhow::Error::msg)?;
        if !def.fixed.iter().chain(trial).any(|(k, _)| k == "threads") {
            c.threads = (def.threads / def.jobs).max(1);
        }
        return Ok(TrialConfig::Data(c));
    }
    let mut c = XorConfig::default();
    let mut seed = 1;
    for (key, value) in def.fixed.iter().chain(trial) {
        let bad = |e: String| anyhow!("{key}={value}: {e}");
        match key.as_str() {
            "epochs" => c.epochs = parse::non_negative_u64(value).map_err(bad)?,
            "lr" => c.lr = parse::positive_f32(value).map_err(bad)?,
            "hidden" => c.hidden = parse::positive_usize(value).map_err(bad)?,
            "hidden-activation" => c.hidden_activation = parse::activation(value).map_err(bad)?,
            "output-activation" => c.output_activation = parse::activation(value).map_err(bad)?,
            "init" => c.init = parse::init(value).map_err(bad)?,
            "seed" => seed = parse::non_negative_u64(value).map_err(bad)?,
            other => bail!(
                "unknown xor setting `{other}` (epochs, lr, hidden, hidden-activation, output-activation, init, seed)"
            ),
        }
    }
    Ok(TrialConfig::Xor(c, seed))
}

fn load_data(name: &str, data: Option<&Path>) -> Result<Split> {
    let mut reporter = FetchReporter::new(io::stderr().is_terminal());
    let located = nabla_data::find_or_fetch(name, data, None, &mut |p| reporter.report(p))?;
    reporter.finish();
    let split = located.load()?;
    located.verify()?;
    Ok(split)
}

/// What one trial gave.
struct TrialOutcome {
    run: String,
    status: EndStatus,
    metric: Option<f64>,
}

fn run_trial(
    def: &SweepDef,
    k: usize,
    config: &TrialConfig,
    data: Option<&Split>,
    tracking: &Path,
    stop: &AtomicBool,
    threads: usize,
) -> Result<TrialOutcome> {
    let swept: serde_json::Map<String, Value> =
        def.trials[k].iter().map(|(key, v)| (key.clone(), Value::String(v.clone()))).collect();
    let sweep_info = json!({"id": def.id, "trial": k, "values": swept});
    let mut tracked = match config {
        TrialConfig::Data(c) => {
            let mut j = c.to_json();
            j["dataset"] = json!(def.target);
            j
        }
        TrialConfig::Xor(c, seed) => json!({
            "experiment": "xor",
            "epochs": c.epochs,
            "lr": c.lr,
            "hidden": c.hidden,
            "hidden_activation": c.hidden_activation.to_string(),
            "output_activation": c.output_activation.to_string(),
            "init": c.init.to_string(),
            "seed": seed,
            "seeds": 1,
        }),
    };
    tracked["sweep"] = sweep_info;
    let options = RunOptions::new(def.project.clone())
        .name(format!("sweep-{}-{k}", def.id))
        .config(tracked)
        .tags([format!("sweep:{}", def.id)])
        .meta(RunMeta::detect().with_threads(threads));
    let mut run = nabla_track::Run::start(tracking, options)?;
    let id = run.id().to_string();

    let (status, metric) = match (config, data) {
        (TrialConfig::Xor(c, seed), _) => {
            let every = (c.epochs / 2000).max(1);
            let mut log_err = None;
            let outcome = xor::train_with(c, *seed, |epoch, loss| {
                if (epoch % every == 0 || epoch == c.epochs) && log_err.is_none() {
                    log_err = run.log(epoch, &[("train/loss", loss)]).err();
                }
            });
            if let Some(e) = log_err {
                return Err(e.into());
            }
            run.summary("final_loss", outcome.final_loss)?;
            run.summary("solved", outcome.solved)?;
            run.summary("predictions", json!(outcome.predictions))?;
            // The ranking metric is read back from the store like a data-set trial's.
            if outcome.final_loss.is_finite() {
                (EndStatus::Finished, None)
            } else {
                (EndStatus::Diverged, None)
            }
        }
        (TrialConfig::Data(c), Some(data)) => {
            let out_dir = def.out.join(format!("trial-{k}"));
            let mut observer = TrialObserver { run: &mut run, steps_per_epoch: 1, error: None };
            let trained = train::train(
                TrainRun { config: c, data, out_dir: Some(&out_dir), resume: None, stop: Some(stop) },
                &mut observer,
            );
            if let Some(e) = observer.error.take() {
                return Err(e.into());
            }
            match trained {
                Ok(o) => {
                    let step = (o.epochs_completed * observer.steps_per_epoch) as u64;
                    run.log(step, &[("test/acc", o.test_acc), ("test/loss", o.test_loss)])?;
                    run.summary("test_acc", o.test_acc)?;
                    run.summary("test_loss", o.test_loss)?;
                    run.summary("epochs", o.epochs_completed as u64)?;
                    if let Some(p) = &o.last_checkpoint {
                        run.summary("checkpoint", p.display().to_string())?;
                    }
                    if let Some(p) = &o.best_checkpoint {
                        run.summary("best_checkpoint", p.display().to_string())?;
                    }
                    let status = if o.interrupted { EndStatus::Interrupted } else { EndStatus::Finished };
                    (status, None)
                }
                Err(e @ TrainError::NonFinite { .. }) => {
                    run.summary("error", e.to_string())?;
                    (EndStatus::Diverged, None)
                }
                Err(e) => {
                    run.summary("error", e.to_string())?;
                    run.finish(EndStatus::Failed)?;
                    return Err(e.into());
                }
            }
        }
        (TrialConfig::Data(_), None) => bail!("no data loaded for {}", def.target),
    };
    run.flush()?;
    let metric = match metric {
        Some(m) => Some(m),
        None if status == EndStatus::Diverged => None,
        None => {
            let store = Store::open_read_only(tracking)?;
            sweeps::last_value(&store, &id, &def.metric)
        }
    };
    run.finish(status)?;
    Ok(TrialOutcome { run: id, status, metric })
}

/// Records a trial's steps and epochs, as `nabla train` does, and prints nothing.
struct TrialObserver<'a> {
    run: &'a mut nabla_track::Run,
    steps_per_epoch: usize,
    error: Option<nabla_track::TrackError>,
}

impl TrialObserver<'_> {
    fn log(&mut self, step: u64, metrics: &[(&str, f64)]) {
        if self.error.is_none() {
            self.error = self.run.log(step, metrics).err();
        }
    }
}

impl Observer for TrialObserver<'_> {
    fn on_start(&mut self, info: &StartInfo) {
        self.steps_per_epoch = info.steps_per_epoch;
        let _ = self.run.summary("params", info.params as u64);
        let _ = self.run.summary("architecture", info.spec.to_string());
    }

    fn on_step(&mut self, s: &StepInfo) {
        let global = ((s.epoch - 1) * self.steps_per_epoch + s.step) as u64;
        self.log(global, &[("train/batch_loss", s.loss), ("lr", f64::from(s.lr))]);
    }

    fn on_epoch(&mut self, m: &EpochMetrics) {
        let global = (m.epoch * self.steps_per_epoch) as u64;
        self.log(global, &m.tracked());
    }
}

fn print_results(def: &SweepDef, results: &[TrialResult], as_json: bool) -> Result<()> {
    let sorted = sweeps::ranked(def, results);
    let best = sorted.first().filter(|r| r.metric.is_some());
    let mut out = io::stdout().lock();
    if as_json {
        let value = json!({
            "sweep": def.id,
            "target": def.target,
            "metric": def.metric,
            "goal": def.goal,
            "trials": def.trials.len(),
            "results": sorted,
            "best": best,
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    let better = if def.goal == "max" { "higher is better" } else { "lower is better" };
    writeln!(
        out,
        "sweep {} on {}: {} trials, sorted by {} ({better})",
        def.id,
        def.target,
        def.trials.len(),
        def.metric
    )?;
    let mut header = vec!["rank".to_string(), "trial".into(), "run".into()];
    header.extend(def.keys.iter().cloned());
    header.extend([def.metric.clone(), "status".into()]);
    let mut rows = vec![header];
    for (i, r) in sorted.iter().enumerate() {
        let mut row = vec![(i + 1).to_string(), (r.trial + 1).to_string(), r.run.chars().take(8).collect()];
        row.extend(r.values.iter().map(|(_, v)| v.clone()));
        row.push(r.metric.map_or_else(|| "—".into(), |v| format!("{v:.4}")));
        row.push(r.status.clone());
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r.get(c).map_or(0, |s| s.chars().count())).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(s, w)| format!("{s:<w$}")).collect();
        writeln!(out, "  {}", cells.join("  ").trim_end())?;
    }
    if results.len() < def.trials.len() {
        writeln!(out, "({} of {} trials have no run yet)", def.trials.len() - results.len(), def.trials.len())?;
    }
    match best {
        Some(b) => {
            writeln!(
                out,
                "best: {} → {} {:.4} (run {})",
                describe(&b.values),
                def.metric,
                b.metric.unwrap_or(f64::NAN),
                b.run
            )?;
            writeln!(out, "again:  {}", nabla_track::command_line(again_args(def, &b.values)))?;
            if let Some(x) = def.keys.first() {
                writeln!(out, "plot:   nabla plot sweep {} --x {x} --y {} -o sweep.svg", def.id, def.metric)?;
            }
        }
        None => writeln!(out, "no trial has a value of {} yet", def.metric)?,
    }
    Ok(())
}

/// The command line that trains a trial's settings again, as words: `nabla train digits
/// --epochs 5 --lr 0.1 --standardize`. A `true` setting is a bare flag and a `false` one is
/// left out (every boolean flag of `nabla train` is off unless given).
fn again_args(def: &SweepDef, values: &[(String, String)]) -> Vec<String> {
    let mut words: Vec<String> = if def.target == "xor" {
        vec!["nabla".into(), "xor".into()]
    } else {
        vec!["nabla".into(), "train".into(), def.target.clone()]
    };
    for (key, value) in def.fixed.iter().chain(values) {
        match value.as_str() {
            "true" => words.push(format!("--{key}")),
            "false" => {}
            _ => words.extend([format!("--{key}"), value.clone()]),
        }
    }
    if let (Some(data), false) = (&def.data, def.target == "xor") {
        words.extend(["--data".into(), data.display().to_string()]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};
    use clap::Parser;

    fn def(target: &str, fixed: &[(&str, &str)], data: Option<&str>) -> SweepDef {
        SweepDef {
            id: "0123abcd".into(),
            target: target.into(),
            project: target.into(),
            keys: vec!["lr".into()],
            fixed: fixed.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            trials: Vec::new(),
            metric: "val/acc".into(),
            goal: "max".into(),
            jobs: 1,
            threads: 1,
            out: PathBuf::from("/runs"),
            data: data.map(PathBuf::from),
            command: String::new(),
        }
    }

    fn parse(words: &[String]) -> Command {
        Cli::try_parse_from(words).unwrap_or_else(|e| panic!("{words:?} does not parse: {e}")).command
    }

    // Regression: the best trial's command printed `--standardize true`, which clap refuses.
    #[test]
    fn the_again_command_parses_as_nabla_train_with_the_trial_settings() {
        let d = def("digits", &[("epochs", "2"), ("standardize", "true"), ("hidden", "16-8")], Some("/my data"));
        let values = vec![("lr".to_string(), "0.5".to_string()), ("optimizer".to_string(), "sgd".to_string())];
        let words = again_args(&d, &values);
        let Command::Train(args) = parse(&words) else { panic!("not nabla train: {words:?}") };
        assert_eq!(args.dataset, "digits");
        assert!(args.standardize);
        assert_eq!((args.epochs, args.lr), (Some(2), Some(0.5)));
        assert_eq!(args.hidden.map(|h| h.0), Some(vec![16, 8]));
        assert_eq!(args.optimizer.map(|o| o.to_string()), Some("sgd".into()));
        assert_eq!(args.data, Some(PathBuf::from("/my data")));

        let off = again_args(&def("digits", &[("standardize", "false")], None), &values);
        assert!(!off.iter().any(|w| w.contains("standardize") || w == "false"), "{off:?}");
        let Command::Train(args) = parse(&off) else { panic!("not nabla train: {off:?}") };
        assert!(!args.standardize);
    }

    #[test]
    fn the_again_command_of_an_xor_sweep_parses_as_nabla_xor() {
        let words = again_args(&def("xor", &[("epochs", "800")], None), &[("lr".into(), "1".into())]);
        assert_eq!(words.join(" "), "nabla xor --epochs 800 --lr 1");
        let Command::Xor(args) = parse(&words) else { panic!("not nabla xor") };
        assert_eq!((args.epochs, args.lr), (800, 1.0));
    }
}
