//! `nabla runs show`: one run's record, metrics, artifacts and system in text or JSON.

use std::io::{self, Write};

use nabla_track::{now_secs, MetricSummary, RunStatus};
use serde_json::{json, Value};

use super::format::{flatten, format_duration, format_six_significant, format_time, write_table};
use super::source::SourceArgs;

/// Flags of `nabla runs show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The run id (a unique prefix is enough).
    id: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) fn show(args: &ShowArgs) -> anyhow::Result<()> {
    let nabla_track::RunDetail { run, metrics, artifacts } = args.source.open()?.run(&args.id)?;
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
    let num = |v: Option<f64>| v.map_or("-".into(), format_six_significant);
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
