//! `nabla runs export` and `nabla runs import`: runs moved between stores through a folder.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use nabla_track::{RunQuery, Store};

use super::format::plural;
use super::{run_hint, StoreArgs};

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

pub(super) fn export(args: &ExportArgs) -> anyhow::Result<()> {
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

pub(super) fn import(args: &ImportArgs) -> anyhow::Result<()> {
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
