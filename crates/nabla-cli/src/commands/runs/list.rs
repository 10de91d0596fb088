//! `nabla runs list`: the runs as a table, with the config and summary keys worth a column.

use std::collections::BTreeMap;
use std::io::{self, Write};

use nabla_track::{now_secs, RunQuery, RunRecord};
use serde_json::Value;

use super::format::{flatten, format_duration, format_time, write_table};
use super::source::SourceArgs;

/// Flags of `nabla runs list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    source: SourceArgs,
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
    #[arg(long, value_name = "N", value_parser = crate::commands::parse::positive_usize)]
    limit: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn list(args: &ListArgs) -> anyhow::Result<()> {
    let query = RunQuery::parse(args.project.as_deref(), &args.filter, args.sort.as_deref(), args.limit)?;
    let source = args.source.open()?;
    let runs = source.runs(&query, args.project.as_deref(), &args.filter, args.sort.as_deref())?;
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
        return Ok(());
    }
    if runs.is_empty() {
        writeln!(out, "no runs in {}", source.place())?;
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
