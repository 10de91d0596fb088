//! `nabla sweep TARGET`: a grid or random search over training settings, run by
//! `nabla-sweep` (definition, the `sweeps/ID.json` record, the runner with `--jobs` and
//! `--resume`). This file turns the flags into the sweep's settings, loads the data set with a
//! progress display (or a table's one split, its task said), stops the trials on Ctrl-C, and
//! prints each finished trial and the ranked results.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use nabla_data::table::TaskChoice;
use nabla_data::Split;
use nabla_sweep::table::OpenedTable;
use nabla_sweep::{describe, load_def, ParamSpec, Plan, SweepDef, SweepFile, SweepSettings, TableSource, TrialResult};
use nabla_track::Store;
use nabla_train::train::{TableSet, TrainData};
use serde_json::json;

use crate::commands::data::FetchReporter;
use crate::commands::train::{task_word, warn, TableArgs};
use crate::commands::{one_line, parse};

/// Flags of `nabla sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// What to train: mnist, fashion-mnist, digits, xor, or a table's file (.csv, .tsv,
    /// .parquet, .npy, .npz, with --target COLUMN); optional with --file or --resume.
    #[arg(value_name = "TARGET")]
    pub dataset: Option<String>,
    /// A swept setting and its values: `lr=0.001,0.01,0.1`; with --random also a range:
    /// `hidden=64..512`, `dropout=0.1..0.5`, `lr=log:1e-4..1`. Repeat for more settings.
    #[arg(long = "grid", value_name = "KEY=VALUES", value_parser = nabla_sweep::parse_param)]
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
    /// The metric that ranks trials: its value at the epoch each run kept (the last, or the
    /// best one early stopping went back to). Default val/acc; val/r2 for a regression;
    /// train/loss for xor.
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
        conflicts_with_all = ["grid", "random", "file", "set", "epochs", "out", "project", "metric", "goal", "seed",
            "target", "task", "test_split", "test", "drop", "impute", "unknown", "scale", "delimiter", "target_file"]
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
    /// A table's flags, as `nabla train TABLE` takes them (every trial shares one split).
    #[command(flatten)]
    #[allow(missing_docs)]
    pub table: TableArgs,
}

fn parse_fixed(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected KEY=VALUE, e.g. hidden=128"))?;
    Ok((k.trim().trim_start_matches("--").to_string(), v.trim().to_string()))
}

/// Runs `nabla sweep`.
pub fn run(args: &SweepArgs) -> Result<()> {
    let tracking = nabla_track::tracking_dir(args.tracking_dir.as_deref())?;
    let (def, opened, resumed) = match &args.resume {
        Some(id) => (load_def(&tracking, id)?.resumed(args.jobs, args.threads, args.data.as_deref())?, None, true),
        None => {
            let (def, opened) = define(args)?;
            (def, opened, false)
        }
    };
    let plan = Plan::new(&tracking, def, resumed)?;
    let def = plan.def();
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "sweep {}: {} trials on {} ({} to run{}), {} at once, ranked by {} ({})",
        def.id,
        def.trials.len(),
        match &def.table {
            Some(t) => format!("{} → {}", def.target, t.column),
            None => def.target.clone(),
        },
        plan.todo().len(),
        if resumed { ", resumed" } else { "" },
        def.jobs,
        def.metric,
        def.goal
    )?;
    if let (Some(t), Some(o)) = (&def.table, &opened) {
        let task = nabla_sweep::table::task(t)?;
        writeln!(err, "task: {} `{}` ({}; --task overrides)", task_word(task), t.column, o.why)?;
    }
    drop(err);

    let data = match (&def.table, plan.needs_data()) {
        (Some(_), _) => {
            let (set, warnings) = nabla_sweep::table::split(def, opened.map(|o| o.table))?;
            warn(&warnings);
            Some(Data::Table(set))
        }
        (None, true) => Some(Data::Images(load_data(&def.target, def.data.as_deref())?)),
        (None, false) => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let total = def.trials.len();
    let failures = plan.run(&tracking, data.as_ref().map(Data::train_data), &stop, |k, outcome, elapsed| {
        let line = match outcome {
            Ok(o) => format!(
                "trial {:>3}/{total}  {}  {}: {}  ({}, run {}, {:.0} s)",
                k + 1,
                describe(&def.trials[k]),
                def.metric,
                o.metric.map_or_else(|| "—".to_string(), |v| format!("{v:.4}")),
                o.status.as_str(),
                o.run,
                elapsed.as_secs_f64()
            ),
            Err(e) => format!("trial {:>3}/{total}  {}  failed: {}", k + 1, describe(&def.trials[k]), one_line(e)),
        };
        let _ = writeln!(io::stderr().lock(), "{line}");
    });

    let store = Store::open_read_only(&tracking)?;
    let results = nabla_sweep::results(&store, def)?;
    print_results(def, &results, args.json)?;
    if stop.load(Ordering::SeqCst) {
        let finished = results.iter().filter(|r| r.status == "finished" || r.status == "diverged").count();
        bail!("interrupted with {finished} of {total} trials done; finish it with: nabla sweep --resume {}", def.id);
    }
    if !failures.is_empty() {
        let each: Vec<String> = failures.iter().map(|(k, e)| format!("trial {k}: {}", one_line(e))).collect();
        bail!("{} trial(s) failed: {}", failures.len(), each.join("; "));
    }
    Ok(())
}

/// What the trials train on: a data set, or a table's one split.
enum Data {
    Images(Split),
    Table(TableSet),
}

impl Data {
    fn train_data(&self) -> TrainData<'_> {
        match self {
            Data::Images(split) => split.into(),
            Data::Table(set) => set.into(),
        }
    }
}

/// A new sweep from the flags over the `--file` (flags win); a table comes back read.
fn define(args: &SweepArgs) -> Result<(SweepDef, Option<OpenedTable>)> {
    let file = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            nabla_sweep::parse_file(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => SweepFile::default(),
    };
    if args.dataset.as_deref().is_some_and(|d| !nabla_sweep::table::is_table_path(d)) {
        args.table.check_unused(false)?;
    }
    let settings = SweepSettings {
        target: args.dataset.clone(),
        table: table_source(&args.table)?,
        grid: args.grid.clone(),
        random: args.random,
        seed: args.seed,
        set: args.set.clone(),
        epochs: args.epochs,
        metric: args.metric.clone(),
        goal: args.goal.clone(),
        jobs: args.jobs,
        threads: args.threads,
        out: args.out.clone(),
        data: args.data.clone(),
        project: args.project.clone(),
        // As a reader would type it: `nabla sweep …`, not the path of the binary that ran.
        command: nabla_track::command_line(std::iter::once("nabla".to_string()).chain(std::env::args().skip(1))),
    };
    Ok(nabla_sweep::define(&settings, &file)?)
}

/// A table's flags as the sweep keeps them; `None` when none was given.
fn table_source(t: &TableArgs) -> Result<Option<TableSource>> {
    if t.folds.is_some() {
        bail!("--folds K is not for a sweep: every trial trains on one split, ranked on its validation rows (cross-validate the best trial with nabla train TABLE --folds K)");
    }
    if t.test.is_some() && t.test_split.is_some() {
        bail!("--test FILE and --test-split both say what to test on: give one");
    }
    if t.first_given().is_none() {
        return Ok(None);
    }
    Ok(Some(TableSource {
        column: t.target.clone().unwrap_or_default(),
        task: match t.task {
            Some(TaskChoice::Fixed(task)) => task.name().to_string(),
            Some(TaskChoice::Auto) | None => String::new(),
        },
        rows: 0,
        test_split: t.test_split,
        test: t.test.clone(),
        drop: t.drop.clone(),
        impute: t.impute.map(|i| i.name().to_string()),
        unknown: t.unknown.map(|u| u.name().to_string()),
        scale: t.scale.map(|s| s.name().to_string()),
        delimiter: t.delimiter.map(char::from),
        target_file: t.target_file.clone(),
    }))
}

fn load_data(name: &str, data: Option<&Path>) -> Result<Split> {
    let mut reporter = FetchReporter::new(io::stderr().is_terminal());
    let located = nabla_data::find_or_fetch(name, data, None, &mut |p| reporter.report(p))?;
    reporter.finish();
    let split = located.load()?;
    located.verify()?;
    Ok(split)
}

fn print_results(def: &SweepDef, results: &[TrialResult], as_json: bool) -> Result<()> {
    let sorted = nabla_sweep::ranked(def, results);
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
    let ties = nabla_sweep::tie_breaker(&def.metric).map(|m| format!("; ties by the lower {m}")).unwrap_or_default();
    writeln!(
        out,
        "sweep {} on {}: {} trials, sorted by {} ({better}{ties})",
        def.id,
        def.target,
        def.trials.len(),
        def.metric
    )?;
    let mut header = vec!["rank".to_string(), "trial".into(), "run".into()];
    header.extend(def.keys.iter().cloned());
    // The loss that breaks ties is shown beside the metric, so that equal scores read right.
    let tie = nabla_sweep::tie_breaker(&def.metric);
    header.push(def.metric.clone());
    header.extend(tie.clone());
    header.push("status".into());
    let mut rows = vec![header];
    let shown = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{v:.4}"));
    for (i, r) in sorted.iter().enumerate() {
        let mut row = vec![(i + 1).to_string(), (r.trial + 1).to_string(), r.run.chars().take(8).collect()];
        row.extend(r.values.iter().map(|(_, v)| v.clone()));
        row.push(shown(r.metric));
        if tie.is_some() {
            row.push(shown(r.loss));
        }
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
/// --epochs 5 --lr 0.1 --standardize`, or `nabla train /data/wine.csv --target class --task
/// classify --lr 0.01` for a table. A `true` setting is a bare flag and a `false` one is
/// left out (every boolean flag of `nabla train` is off unless given).
fn again_args(def: &SweepDef, values: &[(String, String)]) -> Vec<String> {
    let mut words: Vec<String> = if def.target == "xor" {
        vec!["nabla".into(), "xor".into()]
    } else {
        vec!["nabla".into(), "train".into(), def.target.clone()]
    };
    if let Some(t) = &def.table {
        words.extend(["--target".into(), t.column.clone(), "--task".into(), t.task.clone()]);
        let flags = [
            ("--test-split", t.test_split.map(|v| v.to_string())),
            ("--test", t.test.as_ref().map(|p| p.display().to_string())),
            ("--drop", (!t.drop.is_empty()).then(|| t.drop.join(","))),
            ("--impute", t.impute.clone()),
            ("--unknown", t.unknown.clone()),
            ("--scale", t.scale.clone()),
            ("--delimiter", t.delimiter.map(|c| if c == '\t' { "tab".into() } else { String::from(c) })),
            ("--target-file", t.target_file.as_ref().map(|p| p.display().to_string())),
        ];
        for (flag, value) in flags {
            if let Some(v) = value {
                words.extend([flag.to_string(), v]);
            }
        }
    }
    for (key, value) in def.fixed.iter().chain(values) {
        match value.as_str() {
            "true" => words.push(format!("--{key}")),
            "false" => {}
            _ => words.extend([format!("--{key}"), value.clone()]),
        }
    }
    if let (Some(data), false) = (&def.data, def.target == "xor" || def.is_table()) {
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
            table: None,
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
    fn the_again_command_of_a_table_sweep_parses_as_nabla_train_on_the_table() {
        let mut d = def("/data/my wine.csv", &[("epochs", "40")], Some("/ignored"));
        d.table = Some(TableSource {
            column: "class".into(),
            task: "classify".into(),
            rows: 178,
            drop: vec!["id".into(), "name".into()],
            impute: Some("median".into()),
            scale: Some("minmax".into()),
            delimiter: Some('\t'),
            ..TableSource::default()
        });
        let words = again_args(&d, &[("lr".into(), "0.01".into())]);
        let Command::Train(args) = parse(&words) else { panic!("not nabla train: {words:?}") };
        assert_eq!(args.dataset, "/data/my wine.csv");
        assert_eq!(args.table.target.as_deref(), Some("class"));
        assert!(matches!(args.table.task, Some(TaskChoice::Fixed(nabla_data::table::Task::Classify))));
        assert_eq!(args.table.drop, ["id", "name"]);
        assert_eq!(args.table.scale, Some(nabla_data::table::Scale::MinMax));
        assert_eq!(args.table.impute.map(|i| i.name()), Some("median"));
        assert_eq!(args.table.delimiter, Some(b'\t'));
        assert_eq!((args.epochs, args.lr, args.data), (Some(40), Some(0.01), None));
    }

    #[test]
    fn the_again_command_of_an_xor_sweep_parses_as_nabla_xor() {
        let words = again_args(&def("xor", &[("epochs", "800")], None), &[("lr".into(), "1".into())]);
        assert_eq!(words.join(" "), "nabla xor --epochs 800 --lr 1");
        let Command::Xor(args) = parse(&words) else { panic!("not nabla xor") };
        assert_eq!((args.epochs, args.lr), (800, 1.0));
    }
}
