//! `nabla runs`: list, show, export, import and clean up tracked runs.
//!
//! Every subcommand reads the store in `--tracking-dir DIR`, else `$NABLA_HOME/tracking`, else
//! the user data directory's `nabla/tracking`. Readers open the store read-only; `rm`, `gc`
//! and `import` open it for writing. `list`, `show` and `metrics` read a `nabla server`'s runs
//! instead with `--tracking-uri URL` (or `$NABLA_TRACKING_URI`), see [`source`].

mod cleanup;
mod format;
mod list;
mod metrics;
mod show;
mod source;
mod sync;
mod transfer;

use std::path::PathBuf;

use clap::Subcommand;
use nabla_track::{Store, TrackError};

pub use cleanup::{GcArgs, RmArgs};
pub(crate) use format::format_time;
pub use list::ListArgs;
pub use metrics::MetricsArgs;
pub use show::ShowArgs;
pub use sync::SyncArgs;
pub use transfer::{ExportArgs, ImportArgs};

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
    /// Send a `nabla server` the runs it does not hold whole yet (`$NABLA_TOKEN` is the token).
    Sync(SyncArgs),
}

/// Where the run store is.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// The tracking directory (default: $NABLA_HOME/tracking, else the user data directory's
    /// nabla/tracking).
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
}

/// Runs a `nabla runs` subcommand.
pub fn run(cmd: RunsCommand) -> anyhow::Result<()> {
    match cmd {
        RunsCommand::List(args) => list::list(&args),
        RunsCommand::Show(args) => show::show(&args),
        RunsCommand::Metrics(args) => metrics::metrics(&args),
        RunsCommand::Export(args) => transfer::export(&args),
        RunsCommand::Import(args) => transfer::import(&args),
        RunsCommand::Rm(args) => cleanup::rm(&args),
        RunsCommand::Gc(args) => cleanup::gc(&args),
        RunsCommand::Sync(args) => sync::sync(&args),
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
