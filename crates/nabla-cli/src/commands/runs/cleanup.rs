//! `nabla runs rm` and `nabla runs gc`: deleting runs, then the artifact files no run refers to.

use std::io::{self, Write};
use std::time::Duration;

use nabla_track::{RunStatus, Store};

use super::format::plural;
use super::{run_hint, StoreArgs};

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
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = crate::commands::parse::non_negative_u64)]
    grace_secs: u64,
    #[command(flatten)]
    store: StoreArgs,
}

pub(super) fn rm(args: &RmArgs) -> anyhow::Result<()> {
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

pub(super) fn gc(args: &GcArgs) -> anyhow::Result<()> {
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
