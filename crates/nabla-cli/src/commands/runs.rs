//! `nabla runs`: list, show, export, import and clean up tracked runs.
//!
//! Every subcommand reads the store in `--tracking-dir DIR`, else `$NABLA_HOME/tracking`, else
//! the user data directory's `nabla/tracking`. Readers open the store read-only; `rm`, `gc`
//! and `import` open it for writing.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use nabla_track::{MetricSummary, RunQuery, RunRecord, RunStatus, Store, TrackError};
use serde_json::{json, Value};

/// `nabla runs …` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs as a table: id, name, status, start, duration, key config and summary values.
    List(ListArgs),
    /// Show one run: config, summary, metrics with their last values, artifacts, system.
    Show(ShowArgs),
    /// Print a run's full metric history as CSV or JSON.
    Metrics(MetricsArgs),
    /// Export runs (JSON + CSV + artifact files) into a folder.
    Export(ExportArgs),
    /// Import runs exported by `nabla runs export`.
    Import(ImportArgs),
    /// Delete runs (their artifact files stay until `nabla runs gc`).
    Rm(RmArgs),
    /// Delete artifact files that no run refers to, and report the bytes freed.
    Gc(GcArgs),
}

/// Where the run store is.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The tracking directory (default: $NABLA_HOME/tracking, else the user data directory's
    /// nabla/tracking).
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
}

/// Flags of `nabla runs list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Only runs of this project.
    #[arg(long, value_name = "P")]
    project: Option<String>,
    /// Only runs matching KEY OP VALUE, e.g. 'config.lr>0.01', 'summary.test_acc>=0.98',
    /// status=finished, 'tags~sweep' (repeatable: all must match).
    #[arg(long, value_name = "EXPR")]
    filter: Vec<String>,
    /// Sort by a field, '-' first for descending: -summary.test_acc, started, config.lr
    /// (default: newest first).
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    sort: Option<String>,
    /// Show at most N runs.
    #[arg(long, value_name = "N", value_parser = super::parse::positive_usize)]
    limit: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Flags of `nabla runs show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The run id (a unique prefix is enough).
    id: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The output formats of `nabla runs metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsFormat {
    /// `metric,step,value,wall_time`, one point per line.
    Csv,
    /// `{"run": ID, "metrics": [{"name": …, "points": [{"step", "value", "wall_time"}]}]}`.
    Json,
}

/// Flags of `nabla runs metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// The run id (a unique prefix is enough).
    id: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Only this metric (default: all of them).
    #[arg(long, value_name = "NAME")]
    metric: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: MetricsFormat,
}

/// Flags of `nabla runs export`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "project"])))]
pub struct ExportArgs {
    /// The run id (a unique prefix is enough).
    id: Option<String>,
    /// Export every run of this project instead.
    #[arg(long, value_name = "P")]
    project: Option<String>,
    /// The folder to write into (one subfolder per run).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

/// Flags of `nabla runs import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A folder written by `nabla runs export` (one run's folder, or a folder of them).
    dir: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

/// Flags of `nabla runs rm`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Run ids (unique prefixes are enough).
    #[arg(required = true)]
    ids: Vec<String>,
    /// Also delete runs that are still running.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Flags of `nabla runs gc`.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Spare files modified in the last SECS seconds (a run may be logging them right now).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = super::parse::non_negative_u64)]
    grace_secs: u64,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs a `nabla runs` subcommand.
pub fn run(cmd: RunsCommand) -> anyhow::Result<()> {
    match cmd {
        RunsCommand::List(args) => list(&args),
        RunsCommand::Show(args) => show(&args),
        RunsCommand::Metrics(args) => metrics(&args),
        RunsCommand::Export(args) => export(&args),
        RunsCommand::Import(args) => import(&args),
        RunsCommand::Rm(args) => rm(&args),
        RunsCommand::Gc(args) => gc(&args),
    }
}

impl StoreArgs {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        Ok(nabla_track::tracking_dir(self.tracking_dir.as_deref())?)
    }

    /// The store opened read-only; `None` when nothing was ever recorded there.
    fn read(&self) -> anyhow::Result<Option<Store>> {
        match Store::open_read_only(self.dir()?) {
            Ok(store) => Ok(Some(store)),
            Err(TrackError::NoStore { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The store opened read-only, for a command about one run: no store is an unknown run.
    fn read_for(&self, id: &str) -> anyhow::Result<Store> {
        let dir = self.dir()?;
        match Store::open_read_only(&dir) {
            Ok(store) => Ok(store),
            Err(TrackError::NoStore { .. }) => {
                anyhow::bail!("unknown run `{id}`: no runs recorded in {} yet", dir.display())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Adds the hint to an unknown-run error.
fn run_hint(err: TrackError) -> anyhow::Error {
    match err {
        TrackError::UnknownRun(_) | TrackError::AmbiguousRun { .. } => {
            anyhow::anyhow!("{err} (see `nabla runs list`)")
        }
        other => other.into(),
    }
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let query = RunQuery::parse(args.project.as_deref(), &args.filter, args.sort.as_deref(), args.limit)?;
    let runs = match args.store.read()? {
        Some(store) => store.runs(&query)?,
        None => Vec::new(),
    };
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
        return Ok(());
    }
    if runs.is_empty() {
        writeln!(out, "no runs in {}", args.store.dir()?.display())?;
        return Ok(());
    }
    let now = now_secs();
    let config_keys = key_columns(&runs, |r| &r.config, 4, true);
    let summary_keys = key_columns(&runs, |r| &r.summary, 4, false);
    let show_project = args.project.is_none() && runs.iter().any(|r| r.project != runs[0].project);
    let mut header = vec!["id".to_string()];
    if show_project {
        header.push("project".into());
    }
    header.extend(["name", "status", "started (UTC)", "duration"].map(String::from));
    header.extend(config_keys.iter().cloned());
    header.extend(summary_keys.iter().cloned());
    let mut rows = vec![header];
    for r in &runs {
        let mut row = vec![r.id.clone()];
        if show_project {
            row.push(r.project.clone());
        }
        row.push(r.name.clone().unwrap_or_else(|| "-".into()));
        row.push(r.status.to_string());
        row.push(format_time(r.started));
        row.push(format_duration(r.duration(now)));
        let config = flatten(&r.config);
        let summary = flatten(&r.summary);
        row.extend(
            config_keys.iter().map(|k| config.get(k.trim_start_matches("config.")).cloned().unwrap_or("-".into())),
        );
        row.extend(
            summary_keys.iter().map(|k| summary.get(k.trim_start_matches("summary.")).cloned().unwrap_or("-".into())),
        );
        rows.push(row);
    }
    write_table(&mut out, &rows, "")?;
    Ok(())
}

/// The config (or summary) keys worth a column: for configs, those whose values differ
/// between the runs listed (all of them when only one run is listed); for summaries, every
/// key. At most `max`, in first-seen order, as `config.KEY` / `summary.KEY`.
fn key_columns(runs: &[RunRecord], pick: impl Fn(&RunRecord) -> &Value, max: usize, only_varying: bool) -> Vec<String> {
    let flats: Vec<BTreeMap<String, String>> = runs.iter().map(|r| flatten(pick(r))).collect();
    let mut keys: Vec<String> = Vec::new();
    for flat in &flats {
        for key in flat.keys() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    if only_varying && runs.len() > 1 {
        keys.retain(|k| {
            let first = flats[0].get(k);
            flats.iter().any(|f| f.get(k) != first)
        });
    }
    // The keys people look for first lead; the rest keep their first-seen order.
    let preferred: &[&str] = if only_varying { PREFERRED_CONFIG } else { PREFERRED_SUMMARY };
    let rank = |k: &String| preferred.iter().position(|p| p == k).unwrap_or(preferred.len());
    keys.sort_by_key(rank);
    let prefix = if only_varying { "config." } else { "summary." };
    keys.into_iter().take(max).map(|k| format!("{prefix}{k}")).collect()
}

/// Config keys shown first in `nabla runs list`, when present.
const PREFERRED_CONFIG: &[&str] = &["dataset", "experiment", "optimizer", "lr", "hidden", "epochs", "batch-size"];
/// Summary keys shown first in `nabla runs list`, when present.
const PREFERRED_SUMMARY: &[&str] = &["test_acc", "success_rate", "best_val_acc", "test_loss", "final_loss", "solved"];

/// A JSON object's scalar leaves as `a.b.c` -> display text.
fn flatten(value: &Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            other if !prefix.is_empty() => {
                out.insert(prefix.to_string(), format_value(other));
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

fn format_value(value: &Value) -> String {
    match value {
        Value::Number(n) => n.as_i64().map_or_else(|| format_number(n.as_f64().unwrap_or(f64::NAN)), |i| i.to_string()),
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A number in at most about 6 significant digits.
fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    if x.abs() >= 1e-3 && x.abs() < 1e6 {
        let text = format!("{x:.6}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        // Keep about 6 significant digits.
        let digits = text.chars().filter(char::is_ascii_digit).skip_while(|&c| c == '0').count();
        if digits <= 6 {
            return text.to_string();
        }
        let decimals = 6usize.saturating_sub(x.abs().log10().floor().max(0.0) as usize + 1);
        return format!("{x:.decimals$}").trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{x:.4e}")
}

/// Writes `rows` as left-aligned columns, each line after `indent`.
fn write_table(out: &mut impl Write, rows: &[Vec<String>], indent: &str) -> io::Result<()> {
    const MAX_CELL: usize = 28;
    let clip = |s: &str| -> String {
        if s.chars().count() > MAX_CELL {
            let mut t: String = s.chars().take(MAX_CELL - 1).collect();
            t.push('…');
            t
        } else {
            s.to_string()
        }
    };
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| clip(c)).collect()).collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| cells.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    for row in &cells {
        let line: Vec<String> = row.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        writeln!(out, "{indent}{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` UTC.
fn format_time(secs: f64) -> String {
    let secs = secs.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Seconds as `850ms`, `12.3s`, `4m05s` or `2h03m`.
fn format_duration(secs: f64) -> String {
    if secs < 1.0 {
        return format!("{:.0}ms", secs * 1000.0);
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let whole = secs.round() as u64;
    if whole < 3600 {
        return format!("{}m{:02}s", whole / 60, whole % 60);
    }
    format!("{}h{:02}m", whole / 3600, whole % 3600 / 60)
}

fn show(args: &ShowArgs) -> anyhow::Result<()> {
    let store = args.store.read_for(&args.id)?;
    let run = store.run(&args.id).map_err(run_hint)?;
    let metrics = store.metrics(&run.id)?;
    let artifacts = store.artifacts(&run.id)?;
    let mut out = io::stdout().lock();
    if args.json {
        let doc = json!({"run": run, "metrics": metrics, "artifacts": artifacts});
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    let now = now_secs();
    writeln!(
        out,
        "run {}{}  (project {})",
        run.id,
        run.name.as_deref().map(|n| format!("  {n}")).unwrap_or_default(),
        run.project
    )?;
    let ended = run.ended.map(|e| format!(", ended {} UTC", format_time(e))).unwrap_or_default();
    writeln!(out, "status:    {}", run.status)?;
    writeln!(
        out,
        "time:      started {} UTC{ended}, ran {}",
        format_time(run.started),
        format_duration(run.duration(now))
    )?;
    if run.status == RunStatus::Crashed || run.status == RunStatus::Running {
        writeln!(out, "heartbeat: {} ago", format_duration((now - run.heartbeat).max(0.0)))?;
    }
    if !run.tags.is_empty() {
        writeln!(out, "tags:      {}", run.tags.join(", "))?;
    }
    let meta = &run.meta;
    let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    writeln!(out, "host:      {} (pid {})", field(&meta.host), run.pid.map_or("-".into(), |p| p.to_string()))?;
    writeln!(out, "command:   {}", field(&meta.command))?;
    writeln!(out, "git:       {}", field(&meta.git_commit))?;
    writeln!(out, "nabla:     {}", field(&meta.nabla_version))?;
    writeln!(out, "threads:   {}", meta.threads.map_or("-".into(), |t| t.to_string()))?;
    if let Some(sum) = &meta.data_checksum {
        writeln!(out, "data:      {sum}")?;
    }
    write_section(&mut out, "config", &run.config)?;
    write_section(&mut out, "summary", &run.summary)?;
    writeln!(out, "metrics ({}):", metrics.len())?;
    if !metrics.is_empty() {
        let mut rows = vec![["name", "points", "last step", "last value", "min", "max"].map(String::from).to_vec()];
        for m in &metrics {
            rows.push(metric_row(m));
        }
        write_table(&mut out, &rows, "  ")?;
    }
    writeln!(out, "artifacts ({}):", artifacts.len())?;
    for a in &artifacts {
        writeln!(
            out,
            "  {} {} ({} bytes, sha256 {})  {}",
            a.kind,
            a.name,
            a.bytes,
            &a.sha256[..12.min(a.sha256.len())],
            a.path.display()
        )?;
    }
    write_section(&mut out, "system", &run.system)?;
    Ok(())
}

fn metric_row(m: &MetricSummary) -> Vec<String> {
    let num = |v: Option<f64>| v.map_or("-".into(), format_number);
    vec![
        m.name.clone(),
        m.points.to_string(),
        m.last_step.map_or("-".into(), |s| s.to_string()),
        num(m.last_value),
        num(m.min),
        num(m.max),
    ]
}

/// Writes `title:` and the object's leaves, one `  key = value` per line.
fn write_section(out: &mut impl Write, title: &str, value: &Value) -> io::Result<()> {
    let flat = flatten(value);
    if flat.is_empty() {
        return writeln!(out, "{title}: (empty)");
    }
    writeln!(out, "{title}:")?;
    for (k, v) in flat {
        writeln!(out, "  {k} = {v}")?;
    }
    Ok(())
}

fn metrics(args: &MetricsArgs) -> anyhow::Result<()> {
    let store = args.store.read_for(&args.id)?;
    let run = store.run(&args.id).map_err(run_hint)?;
    let names: Vec<String> = match &args.metric {
        Some(name) => vec![name.clone()],
        None => store.metrics(&run.id)?.into_iter().map(|m| m.name).collect(),
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        MetricsFormat::Csv => {
            writeln!(out, "metric,step,value,wall_time")?;
            for name in &names {
                let field = csv_field(name);
                for p in store.history(&run.id, name, ..)? {
                    writeln!(out, "{field},{},{},{}", p.step, p.value, p.wall_time)?;
                }
            }
        }
        MetricsFormat::Json => {
            let mut list = Vec::new();
            for name in &names {
                list.push(json!({"name": name, "points": store.history(&run.id, name, ..)?}));
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&json!({"run": run.id, "metrics": list}))?)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"']) || text.trim() != text {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let label = args.id.clone().or_else(|| args.project.as_ref().map(|p| format!("project {p}"))).unwrap_or_default();
    let store = args.store.read_for(&label)?;
    let ids: Vec<String> = match (&args.id, &args.project) {
        (Some(id), _) => vec![store.resolve_run_id(id).map_err(run_hint)?],
        (None, Some(project)) => {
            let runs = store.runs(&RunQuery { project: Some(project.clone()), ..RunQuery::default() })?;
            anyhow::ensure!(!runs.is_empty(), "no runs in project `{project}` (see `nabla runs list`)");
            runs.into_iter().map(|r| r.id).collect()
        }
        (None, None) => anyhow::bail!("name a run or pass --project"),
    };
    let mut out = io::stdout().lock();
    for id in &ids {
        let dir = store.export_run(id, &args.to).with_context(|| format!("exporting run {id}"))?;
        writeln!(out, "exported run {id} to {}", dir.display())?;
    }
    Ok(())
}

fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let mut store = Store::open(args.store.dir()?)?;
    let ids = store.import_runs(&args.dir)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "imported {} run{} into {}: {}",
        ids.len(),
        plural(ids.len()),
        store.dir().display(),
        ids.join(", ")
    )?;
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn rm(args: &RmArgs) -> anyhow::Result<()> {
    let dir = args.store.dir()?;
    if !dir.join(nabla_track::DB_FILE).is_file() {
        anyhow::bail!("unknown run `{}`: no runs recorded in {} yet", args.ids[0], dir.display());
    }
    let mut store = Store::open(&dir)?;
    // Resolve every id first, so that a typo in the third deletes nothing.
    let mut runs = Vec::new();
    for id in &args.ids {
        let run = store.run(id).map_err(run_hint)?;
        if run.status == RunStatus::Running && !args.force {
            anyhow::bail!(
                "run {} is still running (its heartbeat is recent); pass --force to delete it anyway",
                run.id
            );
        }
        runs.push(run);
    }
    let mut out = io::stdout().lock();
    for run in &runs {
        let points = store.delete_run(&run.id)?;
        writeln!(out, "removed run {} ({points} points)", run.id)?;
    }
    writeln!(out, "artifact files stay until `nabla runs gc`")?;
    Ok(())
}

fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let dir = args.store.dir()?;
    let mut out = io::stdout().lock();
    if !dir.join(nabla_track::DB_FILE).is_file() {
        writeln!(out, "nothing to collect: no runs recorded in {}", dir.display())?;
        return Ok(());
    }
    let store = Store::open(&dir)?;
    let report = store.gc(Duration::from_secs(args.grace_secs))?;
    writeln!(
        out,
        "removed {} unreferenced file{}, freed {} bytes ({}); kept {} artifact file{}",
        report.files,
        plural(report.files as usize),
        report.bytes,
        human_bytes(report.bytes),
        report.kept,
        plural(report.kept as usize),
    )?;
    Ok(())
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0.0), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(format_time(1_798_761_599.5), "2026-12-31 23:59:59");
    }

    #[test]
    fn durations_and_numbers_read_well() {
        assert_eq!(format_duration(0.25), "250ms");
        assert_eq!(format_duration(12.34), "12.3s");
        assert_eq!(format_duration(245.0), "4m05s");
        assert_eq!(format_duration(7380.0), "2h03m");
        assert_eq!(format_number(0.1), "0.1");
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(0.123_456_789), "0.123457");
        assert_eq!(format_number(1_234.567_89), "1234.57");
        assert_eq!(format_number(1e-5), "1.0000e-5");
    }
}
