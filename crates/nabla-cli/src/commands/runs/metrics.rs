//! `nabla runs metrics`: a run's full metric history as CSV or JSON.

use std::io::{self, Write};

use serde_json::json;

use super::source::SourceArgs;

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
    source: SourceArgs,
    /// Only this metric (default: all of them).
    #[arg(long, value_name = "NAME")]
    metric: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: MetricsFormat,
}

pub(super) fn metrics(args: &MetricsArgs) -> anyhow::Result<()> {
    let source = args.source.open()?;
    let detail = source.run(&args.id)?;
    let run = detail.run;
    let names: Vec<String> = match &args.metric {
        Some(name) => vec![name.clone()],
        None => detail.metrics.into_iter().map(|m| m.name).collect(),
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        MetricsFormat::Csv => {
            writeln!(out, "metric,step,value,wall_time")?;
            for name in &names {
                let field = csv_field(name);
                for p in source.history(&run.id, name)? {
                    writeln!(out, "{field},{},{},{}", p.step, p.value, p.wall_time)?;
                }
            }
        }
        MetricsFormat::Json => {
            let mut list = Vec::new();
            for name in &names {
                list.push(json!({"name": name, "points": source.history(&run.id, name)?}));
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
