//! `nabla train DATA`: train an MLP from the command line, on a built-in image set
//! (`mnist`, …) or on a table (a CSV, Parquet or NumPy file: [`table`]).
//!
//! Settings are merged in one place, in this order: the recipe's defaults (or, with
//! `--resume`, the checkpoint's own settings), then a `--config` TOML file, then the flags
//! given on the command line. The merged `TrainConfig` is what trains, what is printed and
//! what every checkpoint stores.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nabla::loss::Loss;
use nabla::optim::OptimizerKind;
use nabla::{Activation, Init};
use nabla_data::table::TableFormat;
use nabla_train::checkpoint;
use nabla_train::config::{parse_hidden, TrainConfig};
use nabla_train::distributed::{Reducer, SingleProcess};
use nabla_train::schedule::Schedule;
use nabla_train::train::{self, Observer, TrainError, TrainRun};
use serde_json::json;

use crate::commands::data::FetchReporter;
use crate::commands::parse;
use crate::commands::tracking::{self, TrackArgs};

mod printer;
mod table;

pub(crate) use table::{task_word, warn, TableArgs};

use printer::Printer;

/// Flags of `nabla train`. Every setting flag is optional: an unset flag keeps the value of
/// the layer below it (config file, checkpoint, defaults).
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// A data set (mnist, fashion-mnist or digits) or a table: a .csv/.tsv file (optionally
    /// .gz), .parquet, .npy (with --target-file) or .npz (arrays `x` and `y`).
    #[arg(value_name = "DATA")]
    pub dataset: String,
    /// A TOML file of settings (keys as the flags: `lr = 0.01`, `hidden = [128, 64]`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Hidden layer widths, e.g. `512,256` (default 512,256).
    #[arg(long, value_parser = parse_widths, value_name = "W1,W2,…")]
    pub hidden: Option<Widths>,
    /// A deep net of N hidden layers of --width units instead of --hidden (N residual blocks
    /// with --residual).
    #[arg(long, value_name = "N", value_parser = parse::positive_usize, allow_hyphen_values = true, conflicts_with = "hidden")]
    pub depth: Option<usize>,
    /// The width of every hidden layer of a --depth net.
    #[arg(long, value_name = "W", value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub width: Option<usize>,
    /// Pre-norm residual blocks (skip connections) instead of plain layers; needs --depth and
    /// --width, and turns dropout off unless --dropout is given.
    #[arg(long)]
    pub residual: bool,
    /// Hidden activation: relu, leaky-relu[:alpha], elu[:alpha], sigmoid, tanh (default relu).
    #[arg(long, value_parser = parse::activation)]
    pub activation: Option<Activation>,
    /// Initialiser: he, he-uniform, xavier, uniform[:limit] (default he).
    #[arg(long, value_parser = parse::init)]
    pub init: Option<Init>,
    /// Optimiser: sgd, momentum, nesterov, adam, adamw (default adam).
    #[arg(long, value_parser = parse_optimizer)]
    pub optimizer: Option<OptimizerKind>,
    /// Peak learning rate (default 0.001).
    #[arg(long, value_parser = parse::positive_f32, allow_hyphen_values = true)]
    pub lr: Option<f32>,
    /// Momentum for momentum/nesterov (default 0.9).
    #[arg(long, value_parser = parse::unit_interval_f32, allow_hyphen_values = true)]
    pub momentum: Option<f32>,
    /// Weight decay (default 0).
    #[arg(long, value_parser = parse::non_negative_f32, allow_hyphen_values = true)]
    pub weight_decay: Option<f32>,
    /// L1 penalty λ on the weights (default 0).
    #[arg(long, value_parser = parse::non_negative_f32, allow_hyphen_values = true)]
    pub l1: Option<f32>,
    /// L2 penalty λ on the weights (default 0).
    #[arg(long, value_parser = parse::non_negative_f32, allow_hyphen_values = true)]
    pub l2: Option<f32>,
    /// Dropout probability of hidden units (default 0.2).
    #[arg(long, value_parser = parse::unit_interval_f32, allow_hyphen_values = true)]
    pub dropout: Option<f32>,
    /// Dropout probability of input pixels (default 0).
    #[arg(long, value_parser = parse::unit_interval_f32, allow_hyphen_values = true)]
    pub input_dropout: Option<f32>,
    /// Examples per step (default 128; 32 for digits).
    #[arg(long, value_parser = parse::batch_size, allow_hyphen_values = true)]
    pub batch_size: Option<usize>,
    /// Passes over the training data (default 15; 25 for fashion-mnist, 60 for digits).
    #[arg(long, value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub epochs: Option<usize>,
    /// Learning-rate schedule: constant, step, cosine (default cosine).
    #[arg(long, value_parser = parse_schedule)]
    pub schedule: Option<Schedule>,
    /// Epochs of linear learning-rate warm-up (default 0).
    #[arg(long, value_parser = parse::non_negative_f32, allow_hyphen_values = true)]
    pub warmup_epochs: Option<f32>,
    /// Seed of every random draw (default 0).
    #[arg(long, value_parser = parse::non_negative_u64, allow_hyphen_values = true)]
    pub seed: Option<u64>,
    /// Threads for the matrix kernels (default 1).
    #[arg(long, value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Share of the training set held out for validation, 0 to validate on the test set
    /// (default 0.1).
    #[arg(long, value_parser = parse::unit_interval_f64, allow_hyphen_values = true)]
    pub val_split: Option<f64>,
    /// Standardise inputs with the training set's pixel mean and standard deviation.
    #[arg(long)]
    pub standardize: bool,
    /// A regression's loss: mse, mae or huber (default mse; on the standardised target).
    #[arg(long, value_parser = parse_loss)]
    pub loss: Option<Loss>,
    /// Early stopping: stop when the validation loss has not improved for this many epochs
    /// and keep the best epoch's weights; 0 trains every epoch (default 0 for data sets; on
    /// for tables).
    #[arg(long, value_parser = parse::non_negative_usize, allow_hyphen_values = true)]
    pub patience: Option<usize>,
    /// Arithmetic of the matrix products: f32, or bf16 (mixed precision: bf16 products with
    /// f32 sums, f32 weights and optimiser; needs AMX-BF16 or AVX512-BF16) (default f32).
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<nabla::MatmulPrecision>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub table: table::TableArgs,
    /// Where checkpoints go (default `runs/DATASET`, or `runs/STEM` for a table file).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also keep every N-th epoch's checkpoint as `epoch-K.safetensors` in --out, and the
    /// initial weights as `epoch-0.safetensors` (the training path that `nabla landscape
    /// --trajectory` draws, from its start).
    #[arg(long, value_name = "N", value_parser = parse::positive_usize)]
    pub save_every: Option<usize>,
    /// Continue from a checkpoint (its settings, weights and optimiser state).
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
    /// Where data sets are looked for (then `$NABLA_DATA`, then the user data directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Never download: fail if the data set is not on this machine.
    #[arg(long)]
    pub offline: bool,
    /// Download from this base URL instead of the official source.
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// One JSON object per epoch, and a last `{"final": true, …}` line.
    #[arg(long)]
    pub json: bool,
    /// At the end, print on stderr where the training steps' time went, per step: compute,
    /// waiting for the all-reduce (under mpirun), optimiser.
    #[arg(long)]
    pub profile: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub track: TrackArgs,
}

/// Hidden-layer widths as one flag value (`512,256`).
#[derive(Debug, Clone)]
pub struct Widths(pub Vec<usize>);

fn parse_widths(s: &str) -> Result<Widths, String> {
    parse_hidden(s).map(Widths)
}

fn parse_optimizer(s: &str) -> Result<OptimizerKind, String> {
    s.parse().map_err(|e: nabla::Error| e.to_string())
}

fn parse_precision(s: &str) -> Result<nabla::MatmulPrecision, String> {
    s.parse().map_err(|e: nabla::Error| e.to_string())
}

fn parse_schedule(s: &str) -> Result<Schedule, String> {
    s.parse()
}

fn parse_loss(s: &str) -> Result<Loss, String> {
    match s.parse::<Loss>() {
        Ok(Loss::SoftmaxCrossEntropy) => {
            Err("cross-entropy is what classes always train on; --loss picks a regression's: mse, mae or huber".into())
        }
        Ok(loss) => Ok(loss),
        Err(e) => Err(e.to_string()),
    }
}

/// Builds the run's settings: base (defaults or the checkpoint's), then the file, then flags.
fn settings(args: &TrainArgs, base: TrainConfig) -> Result<TrainConfig> {
    let mut c = match &args.config {
        Some(path) => base.merge_toml_file(path).map_err(anyhow::Error::msg)?,
        None => base,
    };
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = args.$field.clone() { c.$field = v; } )* };
    }
    // The flags are the last layer: their architecture replaces the file's or checkpoint's.
    let given = |key: &str| match key {
        "hidden" => args.hidden.is_some(),
        "depth" => args.depth.is_some(),
        "residual" => args.residual,
        "dropout" => args.dropout.is_some(),
        "input-dropout" => args.input_dropout.is_some(),
        _ => false,
    };
    c.before_layer(given).map_err(|_| anyhow::anyhow!("--hidden and --depth together: give one (--hidden lists every width; --depth N --width W is N layers of W)"))?;
    if let Some(Widths(h)) = &args.hidden {
        c.hidden.clone_from(h);
    }
    if args.depth.is_some() {
        c.depth = args.depth;
    }
    if args.width.is_some() {
        c.width = args.width;
    }
    if args.residual {
        c.residual = true;
    }
    set!(activation, init, optimizer, lr, momentum, weight_decay, l1, l2, dropout, input_dropout);
    set!(batch_size, epochs, schedule, warmup_epochs, seed, threads, val_split, loss, patience, precision);
    if args.standardize {
        c.standardize = true;
    }
    c.after_layer(given);
    c.validate()?;
    // Before any data is loaded or downloaded: a CPU without bf16 instructions is refused.
    train::check_precision(&c)?;
    Ok(c)
}

/// Runs `nabla train`.
///
/// Under `mpirun` (built with `--features mpi`) this process is one rank of a data-parallel
/// job. A rank that fails before training is over ends the whole job (`MPI_Abort`): the
/// other ranks would otherwise wait for it in a collective for ever.
pub fn run(args: &TrainArgs) -> Result<()> {
    let mut reducer = reducer();
    let mut trained = false;
    let result = run_rank(args, reducer.as_mut(), &mut trained);
    if let (Err(e), true, false) = (&result, reducer.size() > 1, trained) {
        let _ = writeln!(
            io::stderr(),
            "error: rank {} of {}: {}; ending the job",
            reducer.rank(),
            reducer.size(),
            crate::commands::one_line(e.as_ref())
        );
        reducer.abort(1);
    }
    result
}

/// `nabla train` as rank `reducer.rank()`; sets `trained` once training has ended well on
/// every rank.
fn run_rank(args: &TrainArgs, reducer: &mut dyn Reducer, trained: &mut bool) -> Result<()> {
    let spec = match nabla_data::spec(&args.dataset) {
        Ok(spec) => {
            args.table.check_unused(args.loss.is_some())?;
            spec
        }
        Err(unknown) => {
            let path = Path::new(&args.dataset);
            if TableFormat::of(path).is_some() {
                return table::run(args, path, reducer, trained);
            }
            if path.extension().is_some() || path.components().count() > 1 || path.exists() {
                bail!(
                    "{}: not a table nabla reads (a .csv, .tsv, .csv.gz, .tsv.gz, .parquet, .npy or .npz file) \
                     nor a data set ({})",
                    path.display(),
                    nabla_data::DATASETS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                );
            }
            return Err(anyhow::Error::new(unknown)
                .context("DATA is a data set name or a table file (.csv, .tsv, .parquet, .npy, .npz)"));
        }
    };
    let resume = match &args.resume {
        Some(path) => Some(checkpoint::load(path)?),
        None => None,
    };
    let base = match &resume {
        Some(ckpt) => {
            if ckpt.dataset != spec.name {
                bail!(
                    "{}: the checkpoint was trained on {}, not {}",
                    args.resume.as_deref().unwrap_or_else(|| "".as_ref()).display(),
                    ckpt.dataset,
                    spec.name
                );
            }
            serde_json::from_value::<TrainConfig>(ckpt.config.clone())
                .with_context(|| "the checkpoint's stored settings do not parse".to_string())?
        }
        None => TrainConfig::for_dataset(spec.name),
    };
    let config = settings(args, base)?;
    nabla::pool::set_threads(config.threads);
    // Rank 0 alone prints, tracks and writes checkpoints.
    let lead = reducer.rank() == 0;

    let located = if args.offline {
        nabla_data::find(spec.name, args.data.as_deref()).map_err(|e| {
            anyhow::anyhow!("{e} (--offline: run `nabla data fetch {}` first, or pass --data DIR)", spec.name)
        })?
    } else {
        let mut reporter = FetchReporter::new(io::stderr().is_terminal());
        let located = nabla_data::find_or_fetch(spec.name, args.data.as_deref(), args.mirror.as_deref(), &mut |p| {
            reporter.report(p)
        })?;
        reporter.finish();
        located
    };
    let data = located.load()?;
    // The files parsed; now make sure they are the official ones, and record which.
    located.verify()?;
    let checksum = spec.files.iter().map(|f| &f.sha256[..12]).collect::<Vec<_>>().join("-");

    let mut tracked_config = config.to_json();
    tracked_config["dataset"] = json!(spec.name);
    let meta = nabla_track::RunMeta::detect()
        .with_data_checksum(format!("{}:{checksum}", spec.name))
        .with_threads(config.threads);
    let run = if lead { tracking::start(&args.track, spec.name, tracked_config, meta, false) } else { None };

    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(spec.name));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // A second Ctrl-C while we wind down is left to the default handler's successor: ignore errors
        // (a handler may already be installed in tests).
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }

    let mut printer = Printer::new(args.json, &config);
    printer.run = run;
    printer.save_every = args.save_every;
    let mut silent = train::Silent;
    let observer: &mut dyn Observer = if lead { &mut printer } else { &mut silent };
    let outcome = train::train_with(
        TrainRun { config: &config, data: (&data).into(), out_dir: Some(&out_dir), resume, stop: Some(&stop) },
        reducer,
        observer,
    );
    printer.finish_bar();
    let mut run = printer.run.take();
    let outcome = match outcome {
        Ok(o) => {
            *trained = true;
            o
        }
        Err(e) => {
            tracking::with_run(&mut run, |r| r.summary("error", e.to_string()));
            if let Some(r) = run {
                let _ = r.finish(nabla_track::EndStatus::Failed);
            }
            return Err(match e {
                e @ TrainError::NonFinite { .. } => e.into(),
                e => anyhow::Error::new(e).context(format!("training on {}", spec.name)),
            });
        }
    };
    let test_acc = outcome.test.headline();
    summarize(&mut run, &outcome);
    finish_run(run, outcome.interrupted);
    if !lead {
        return Ok(());
    }
    if args.profile {
        let p = outcome.profile;
        let per_step = |seconds: f64| 1e3 * seconds / p.steps.max(1) as f64;
        writeln!(
            io::stderr(),
            "profile: {} steps on {} rank(s); per step {:.3} ms compute, {:.3} ms waiting for the all-reduce, \
             {:.3} ms optimiser (rank 0)",
            p.steps,
            reducer.size(),
            per_step(p.compute),
            per_step(p.reduce),
            per_step(p.update)
        )?;
    }
    let mut out = io::stdout().lock();
    let checkpoint = outcome.last_checkpoint.as_ref().map(|p| p.display().to_string());
    if args.json {
        let line = json!({
            "final": true,
            "test_acc": test_acc,
            "test_loss": outcome.test_loss,
            "checkpoint": checkpoint,
            "best_checkpoint": outcome.best_checkpoint.as_ref().map(|p| p.display().to_string()),
            "epochs": outcome.epochs_completed,
            "interrupted": outcome.interrupted,
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(
            out,
            "test accuracy {:.2}% (loss {:.4}) after {} epochs",
            100.0 * test_acc,
            outcome.test_loss,
            outcome.epochs_completed
        )?;
        if let Some(p) = &checkpoint {
            writeln!(out, "checkpoint: {p}")?;
            if let Some(best) = &outcome.best_checkpoint {
                writeln!(out, "best:       {}", best.display())?;
            }
            writeln!(out, "evaluate it with: nabla eval {p} {}", spec.name)?;
        }
    }
    if outcome.interrupted {
        bail!(
            "interrupted after epoch {}; resume with: nabla train {} --resume {}",
            outcome.epochs_completed,
            spec.name,
            checkpoint.unwrap_or_else(|| "(no checkpoint yet)".into())
        );
    }
    Ok(())
}

/// The ranks of this job: MPI's world when built with the `mpi` feature and started by
/// `mpirun` with more than one process, else this process alone (exactly as without MPI).
#[cfg(feature = "mpi")]
fn reducer() -> Box<dyn Reducer> {
    match nabla_train::distributed::MpiReducer::init() {
        // NABLA_MPI_OVERLAP=0 sums the whole gradient after the backward pass, to measure
        // the all-reduce on its own.
        Some(world) if world.size() > 1 => {
            Box::new(world.with_overlap(std::env::var("NABLA_MPI_OVERLAP").map_or(true, |v| v != "0")))
        }
        _ => Box::new(SingleProcess),
    }
}

/// This process alone: built without the `mpi` feature.
#[cfg(not(feature = "mpi"))]
fn reducer() -> Box<dyn Reducer> {
    Box::new(SingleProcess)
}

/// Records a finished run's test scores, epochs and checkpoints in the tracker.
fn summarize(run: &mut Option<nabla_track::Run>, outcome: &train::TrainOutcome) {
    tracking::with_run(run, |r| {
        for (key, value) in outcome.test.named("test") {
            r.summary(&key.replace('/', "_"), value)?;
        }
        r.summary("test_loss", outcome.test_loss)?;
        r.summary("epochs", outcome.epochs_completed as u64)?;
        if let Some(best) = outcome.history.iter().filter_map(train::EpochMetrics::val_acc).reduce(f64::max) {
            r.summary("best_val_acc", best)?;
        }
        // Early stopping restores the best epoch's weights even when every epoch ran.
        if outcome.best_epoch != outcome.epochs_completed {
            r.summary("best_epoch", outcome.best_epoch as u64)?;
        }
        for path in [&outcome.last_checkpoint, &outcome.best_checkpoint].into_iter().flatten() {
            r.log_artifact_path(path, "checkpoint")?;
        }
        Ok(())
    });
}

/// Closes the tracked run as finished or interrupted.
fn finish_run(run: Option<nabla_track::Run>, interrupted: bool) {
    if let Some(r) = run {
        let status = if interrupted { nabla_track::EndStatus::Interrupted } else { nabla_track::EndStatus::Finished };
        tracking::finish(Some(r), status);
    }
}
