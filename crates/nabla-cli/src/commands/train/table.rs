//! `nabla train TABLE --target COLUMN`: train on a CSV, Parquet or NumPy file.
//!
//! The table is read, the task chosen (and said), the rows split (or cut into `--folds K`),
//! the preprocessing fitted on the training rows, and the trainer run on the encoded rows;
//! with folds, every fold trains a fresh network and the final line holds each metric's mean
//! and standard deviation over the folds.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nabla_data::table::{Impute, PreprocessOptions, ReadOptions, Scale, Table, TableFormat, Task, TaskChoice, Unknown};
use nabla_train::config::TrainConfig;
use nabla_train::distributed::Reducer;
use nabla_train::quantize::Runner;
use nabla_train::table_model::{self, TableReport};
use nabla_train::tabular::{self, TableSettings};
use nabla_train::train::{self, Observer, TableSet, TrainError, TrainOutcome, TrainRun};
use serde_json::{json, Value};

use super::{finish_run, settings, summarize, Printer, TrainArgs};
use crate::commands::eval::per_class_json;
use crate::commands::{parse, tracking};

/// The flags that only a table takes.
#[derive(Debug, Default, clap::Args)]
pub struct TableArgs {
    /// The column to predict (a table; for .npy/.npz files the target is `y`).
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,
    /// classify, regress or auto (default: decided by the target column, and said).
    #[arg(long, value_parser = parse_task)]
    pub task: Option<TaskChoice>,
    /// Share of the rows held out for the test, stratified by class (default 0.2).
    #[arg(long, value_parser = parse::unit_interval_f64, allow_hyphen_values = true)]
    pub test_split: Option<f64>,
    /// A separate table (same columns) to test on, instead of --test-split.
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// K-fold cross-validation (stratified for classes): train K networks and report each
    /// metric's mean and standard deviation over the held-out folds. Writes no checkpoint.
    #[arg(long, value_name = "K", value_parser = parse::positive_usize)]
    pub folds: Option<usize>,
    /// Columns to leave out, e.g. `id,name`.
    #[arg(long, value_delimiter = ',', value_name = "COL,…")]
    pub drop: Vec<String>,
    /// Fill missing feature values with the training mean, median or zero (default: a missing
    /// value is an error naming its row and column).
    #[arg(long, value_parser = parse_impute)]
    pub impute: Option<Impute>,
    /// `ignore`: a category the training rows never had becomes all zeros (default: an error).
    #[arg(long, value_parser = parse_unknown)]
    pub unknown: Option<Unknown>,
    /// How numeric columns are scaled, on the training rows: `standard` (mean 0, deviation 1,
    /// clipped at ±5 deviations; the default), `minmax` (onto [0, 1]) or `none` (as written).
    /// The model keeps it, so `nabla predict` scales new rows the same way.
    #[arg(long, value_parser = parse_scale)]
    pub scale: Option<Scale>,
    /// The field delimiter of a CSV file (default: tab for .tsv, else comma).
    #[arg(long, value_parser = parse::delimiter, value_name = "CHAR")]
    pub delimiter: Option<u8>,
    /// The target of a .npy feature file: a .npy file with one value per row.
    #[arg(long, value_name = "FILE")]
    pub target_file: Option<PathBuf>,
}

fn parse_task(s: &str) -> Result<TaskChoice, String> {
    s.parse()
}

fn parse_impute(s: &str) -> Result<Impute, String> {
    s.parse()
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    s.parse()
}

fn parse_unknown(s: &str) -> Result<Unknown, String> {
    match s {
        "ignore" => Ok(Unknown::Ignore),
        "error" => Ok(Unknown::Error),
        other => Err(format!("unknown choice `{other}` (expected ignore or error)")),
    }
}

impl TableArgs {
    /// A data set is not a table: refuses the flags that only a table takes.
    pub fn check_unused(&self, loss: bool) -> Result<()> {
        match self.first_given().or(loss.then_some("--loss")) {
            Some(flag) => bail!("{flag} is for a table (a .csv, .parquet, .npy or .npz file), not a data set"),
            None => Ok(()),
        }
    }

    /// The first of these flags that was given, if any.
    pub fn first_given(&self) -> Option<&'static str> {
        let given = [
            ("--target", self.target.is_some()),
            ("--task", self.task.is_some()),
            ("--test-split", self.test_split.is_some()),
            ("--test", self.test.is_some()),
            ("--folds", self.folds.is_some()),
            ("--drop", !self.drop.is_empty()),
            ("--impute", self.impute.is_some()),
            ("--unknown", self.unknown.is_some()),
            ("--scale", self.scale.is_some()),
            ("--delimiter", self.delimiter.is_some()),
            ("--target-file", self.target_file.is_some()),
        ];
        given.iter().find(|(_, set)| *set).map(|(flag, _)| *flag)
    }

    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            delimiter: self.delimiter,
            target_file: self.target_file.clone(),
            drop: self.drop.clone(),
            threads: None,
        }
    }
}

/// `nabla train TABLE` as rank `reducer.rank()`.
pub(super) fn run(args: &TrainArgs, path: &Path, reducer: &mut dyn Reducer, trained: &mut bool) -> Result<()> {
    let t = &args.table;
    if args.resume.is_some() {
        bail!("--resume continues a data set's run; a table's run starts afresh (its checkpoints hold the preprocessing, not a resumable split)");
    }
    if t.test.is_some() && t.test_split.is_some() {
        bail!("--test FILE and --test-split both say what to test on: give one");
    }
    if t.folds.is_some() && t.test.is_some() {
        bail!("--folds K tests on each fold in turn: --test FILE does not go with it");
    }
    let options = t.read_options();
    let table = Table::read(path, &options)?;
    let test = t.test.as_deref().map(|p| Table::read(p, &options)).transpose()?;
    let target = match (&t.target, TableFormat::of(path)) {
        (Some(target), _) => target.clone(),
        (None, Some(TableFormat::Npy | TableFormat::Npz)) => "y".to_string(),
        (None, _) => bail!(
            "{}: --target COLUMN says which column to predict (the columns are: {})",
            path.display(),
            listed(&table.names())
        ),
    };
    let (task, why) = tabular::choose_task(&table, &target, t.task.unwrap_or_default())?;
    if task == Task::Classify && args.loss.is_some() {
        bail!("--loss is a regression's loss; `{target}` is learnt as classes (--task regress to regress it)");
    }
    let config = settings(args, TrainConfig::for_table(table.rows, task))?;
    nabla::pool::set_threads(config.threads);
    let lead = reducer.rank() == 0;
    let say = |text: String| {
        if lead {
            // With --json, stdout holds JSON lines alone.
            let _ = if args.json { writeln!(io::stderr(), "{text}") } else { writeln!(io::stdout(), "{text}") };
        }
    };
    say(format!("task: {} `{target}` ({why}; --task overrides)", task_word(task)));
    let s = TableSettings {
        target: target.clone(),
        task,
        preprocess: PreprocessOptions {
            impute: t.impute,
            unknown: t.unknown.unwrap_or_default(),
            scale: t.scale.unwrap_or_default(),
        },
        test_split: t.test_split.unwrap_or(0.2),
        val_split: config.val_split,
        seed: config.seed,
    };
    let sets = match t.folds {
        Some(k) => tabular::folds(&table, k, &s)?,
        None => vec![tabular::prepare(&table, test.as_ref(), &s)?],
    };
    if lead {
        warn(&sets[0].1);
    }

    let stem = sets[0].0.name.clone();
    let name = path.file_stem().map_or_else(|| stem.clone(), |s| s.to_string_lossy().into_owned());
    let mut tracked_config = config.to_json();
    tracked_config["dataset"] = json!(path.display().to_string());
    tracked_config["target"] = json!(target);
    tracked_config["task"] = json!(task.name());
    if let Some(k) = t.folds {
        tracked_config["folds"] = json!(k);
    }
    let checksum = nabla_data::hash_file(path).map(|h| h.file[..12].to_string()).unwrap_or_default();
    let meta =
        nabla_track::RunMeta::detect().with_data_checksum(format!("{name}:{checksum}")).with_threads(config.threads);
    let run = if lead { tracking::start(&args.track, &name, tracked_config, meta, false) } else { None };
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(&name));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }

    let mut printer = Printer::new(args.json, &config);
    printer.run = run;
    let folds = t.folds.is_some();
    let mut outcomes: Vec<TrainOutcome> = Vec::with_capacity(sets.len());
    for (k, (set, _)) in sets.iter().enumerate() {
        if folds {
            printer.fold = Some(k + 1);
            printer.step_offset = printer.last_step;
        }
        // Cross-validation estimates how well the recipe does; it keeps no model.
        let out = if folds { None } else { Some(out_dir.as_path()) };
        let result = train_one(&config, set, out, &stop, reducer, lead, &mut printer);
        printer.finish_bar();
        match result {
            Ok(o) => {
                if folds && lead && !args.json {
                    printer.line(&format!(
                        "fold {} of {}: test loss {:.4}{}",
                        k + 1,
                        sets.len(),
                        o.test_loss,
                        super::printer::scores_text(&o.test)
                    ));
                }
                let interrupted = o.interrupted;
                outcomes.push(o);
                if interrupted {
                    break;
                }
            }
            Err(e) => {
                let mut run = printer.run.take();
                tracking::with_run(&mut run, |r| r.summary("error", e.to_string()));
                if let Some(r) = run {
                    let _ = r.finish(nabla_track::EndStatus::Failed);
                }
                return Err(match e {
                    e @ TrainError::NonFinite { .. } => e.into(),
                    e => anyhow::Error::new(e).context(format!("training on {}", path.display())),
                });
            }
        }
    }
    *trained = true;
    let mut run = printer.run.take();
    let interrupted = outcomes.iter().any(|o| o.interrupted);
    let last = outcomes.last().expect("at least one run");
    // The test rows' per-class scores and, for two classes, ROC AUC (the headline numbers above
    // come from the trainer).
    let reports: Vec<TableReport> =
        outcomes.iter().zip(&sets).map(|(o, (set, _))| test_report(o, set)).collect::<Result<_>>()?;
    let mut cv = folds.then(|| cross_validation(&outcomes));
    if let Some(cv) = &mut cv {
        let aucs: Vec<f64> = reports.iter().filter_map(auc_of).collect();
        if aucs.len() == reports.len() {
            cv.push(("auc".into(), mean_std(&aucs)));
        }
    }
    if folds {
        tracking::with_run(&mut run, |r| {
            for (metric, (mean, std)) in cv.iter().flatten() {
                r.summary(&format!("cv/{metric}_mean"), *mean)?;
                r.summary(&format!("cv/{metric}_std"), *std)?;
            }
            Ok(())
        });
    } else {
        summarize(&mut run, last);
    }
    finish_run(run, interrupted);
    if !lead {
        return Ok(());
    }

    let mut out = io::stdout().lock();
    // The test numbers: the one run's, or with folds the means over the folds.
    let test: Vec<(String, f64)> = match &cv {
        Some(cv) => cv.iter().map(|(m, (mean, _))| (format!("test_{m}"), *mean)).collect(),
        None => {
            let mut v: Vec<(String, f64)> =
                last.test.named("test").into_iter().map(|(k, v)| (k.replace('/', "_"), v)).collect();
            v.push(("test_loss".into(), last.test_loss));
            v
        }
    };
    if args.json {
        let mut line = json!({
            "final": true,
            "task": task.name(),
            "target": target,
            "epochs": last.epochs_completed,
            "interrupted": interrupted,
        });
        for (key, value) in &test {
            line[key] = json!(value);
        }
        if let Some(cv) = &cv {
            let mut object = serde_json::Map::new();
            for (metric, (mean, std)) in cv {
                object.insert(metric.clone(), json!({ "mean": mean, "std": std }));
            }
            line["cv"] = Value::Object(object);
            line["folds"] = json!(outcomes.len());
        } else {
            if let TableReport::Classification(r) = &reports[reports.len() - 1] {
                line["test_per_class"] =
                    json!(per_class_json(sets[0].0.preprocessor.classes().unwrap_or_default(), &r.confusion));
                if let Some(auc) = r.auc {
                    line["test_auc"] = json!(auc);
                }
            }
            line["best_epoch"] = json!(last.best_epoch);
            line["stopped_early"] = json!(last.stopped_early);
            line["checkpoint"] = json!(last.last_checkpoint.as_ref().map(|p| p.display().to_string()));
        }
        writeln!(out, "{line}")?;
    } else if let Some(cv) = &cv {
        let parts: Vec<String> = cv.iter().map(|(m, (mean, std))| format!("{m} {mean:.4} ± {std:.4}")).collect();
        writeln!(out, "{}-fold cross-validation: {}", outcomes.len(), parts.join(", "))?;
    } else {
        let parts: Vec<String> =
            test.iter().map(|(k, v)| format!("{} {v:.4}", k.trim_start_matches("test_"))).collect();
        let stopped = if last.stopped_early {
            format!(" (stopped early; the weights are epoch {}'s, the lowest validation loss)", last.best_epoch)
        } else {
            String::new()
        };
        writeln!(out, "test {} after {} epochs{stopped}", parts.join(", "), last.epochs_completed)?;
        if let TableReport::Classification(r) = &reports[reports.len() - 1] {
            let classes = sets[0].0.preprocessor.classes().unwrap_or_default();
            for (class, s) in classes.iter().zip(r.confusion.per_class()) {
                writeln!(
                    out,
                    "  class {class}: precision {:.4} recall {:.4} f1 {:.4} ({} rows)",
                    s.precision, s.recall, s.f1, s.support
                )?;
            }
            if let Some(auc) = r.auc {
                writeln!(out, "  ROC AUC {auc:.4} (`{}` the positive class)", classes[1])?;
            }
        }
        if let Some(p) = &last.last_checkpoint {
            writeln!(out, "checkpoint: {}", p.display())?;
            if let Some(best) = &last.best_checkpoint {
                writeln!(out, "best:       {}", best.display())?;
            }
        }
    }
    if interrupted {
        bail!("interrupted after epoch {}", last.epochs_completed);
    }
    Ok(())
}

/// Trains one network on `set`.
fn train_one(
    config: &TrainConfig,
    set: &TableSet,
    out_dir: Option<&Path>,
    stop: &AtomicBool,
    reducer: &mut dyn Reducer,
    lead: bool,
    printer: &mut Printer,
) -> Result<TrainOutcome, TrainError> {
    let mut silent = train::Silent;
    let observer: &mut dyn Observer = if lead { printer } else { &mut silent };
    train::train_with(TrainRun { config, data: set.into(), out_dir, resume: None, stop: Some(stop) }, reducer, observer)
}

/// Each metric's mean and (population) standard deviation over the folds' test scores, in a
/// fixed order: `acc` or `rmse`, `mae`, `r2`; then `loss`.
fn cross_validation(outcomes: &[TrainOutcome]) -> Vec<(String, (f64, f64))> {
    let mut names: Vec<String> =
        outcomes[0].test.named("test").iter().map(|(k, _)| k["test/".len()..].to_string()).collect();
    names.push("loss".into());
    names
        .into_iter()
        .map(|metric| {
            let values: Vec<f64> = outcomes
                .iter()
                .map(|o| {
                    if metric == "loss" {
                        o.test_loss
                    } else {
                        o.test
                            .named("test")
                            .into_iter()
                            .find(|(k, _)| k.ends_with(&format!("/{metric}")))
                            .map_or(f64::NAN, |(_, v)| v)
                    }
                })
                .collect();
            (metric, mean_std(&values))
        })
        .collect()
}

/// Mean and population standard deviation (as numpy's `std()`).
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    (mean, (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt())
}

/// The test rows of `set` scored by the trained network: per-class scores, ROC AUC.
fn test_report(outcome: &TrainOutcome, set: &TableSet) -> Result<TableReport> {
    const BATCH: usize = 1000;
    let mut runner = Runner::f32(&outcome.network, BATCH);
    let outputs = table_model::forward_rows(&mut runner, BATCH, &set.test.x, set.test.features)?;
    let targets = set.test.targets.as_ref().context("the test rows have no targets")?;
    Ok(table_model::score(&set.preprocessor, &outputs, targets)?)
}

fn auc_of(report: &TableReport) -> Option<f64> {
    match report {
        TableReport::Classification(r) => r.auc,
        TableReport::Regression(_) => None,
    }
}

pub(crate) fn task_word(task: Task) -> &'static str {
    match task {
        Task::Classify => "classifying",
        Task::Regress => "regressing",
    }
}

/// The preprocessing's warnings on stderr: a few in full, then how many more.
pub(crate) fn warn(warnings: &[String]) {
    const SHOWN: usize = 5;
    let mut err = io::stderr().lock();
    for w in warnings.iter().take(SHOWN) {
        let _ = writeln!(err, "warning: {w}");
    }
    if warnings.len() > SHOWN {
        let _ = writeln!(err, "warning: … and {} more like these", warnings.len() - SHOWN);
    }
}

fn listed(names: &[&str]) -> String {
    let shown: Vec<&str> = names.iter().take(20).copied().collect();
    if names.len() > 20 {
        format!("{}, … ({} in all)", shown.join(", "), names.len())
    } else {
        shown.join(", ")
    }
}
