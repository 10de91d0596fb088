//! What `nabla train` and `nabla xor` share to record a run in the tracker: the flags, and
//! starting a run without ever failing the training for it.

use std::io::Write;
use std::path::PathBuf;

use nabla_track::{Run, RunMeta, RunOptions};
use serde_json::Value;

/// The tracking flags.
#[derive(Debug, Clone, clap::Args)]
pub struct TrackArgs {
    /// Do not record this run in the tracker.
    #[arg(long)]
    pub no_track: bool,
    /// The tracker project this run belongs to (default: the data set, or `xor`).
    #[arg(long)]
    pub project: Option<String>,
    /// A name for this run (default: none; runs are known by their id).
    #[arg(long)]
    pub name: Option<String>,
    /// Where the tracker keeps its runs (default `$NABLA_HOME/tracking`, else the user data
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
}

/// Starts a tracked run unless `--no-track`. A run that cannot be started does not stop the
/// training: it prints one note saying why (and how to silence it) and returns `None`.
pub fn start(args: &TrackArgs, default_project: &str, config: Value, meta: RunMeta, quiet: bool) -> Option<Run> {
    if args.no_track {
        return None;
    }
    let project = args.project.clone().unwrap_or_else(|| default_project.to_string());
    let started = nabla_track::tracking_dir(args.tracking_dir.as_deref()).and_then(|dir| {
        let mut options = RunOptions::new(project).config(config).meta(meta);
        if let Some(name) = &args.name {
            options = options.name(name.clone());
        }
        Run::start(dir, options)
    });
    let mut err = std::io::stderr().lock();
    match started {
        Ok(run) => {
            if !quiet {
                let _ = writeln!(err, "tracking run {} (see it with: {})", run.id(), run.show_command());
            }
            Some(run)
        }
        Err(e) => {
            let _ = writeln!(err, "note: this run is not tracked ({e}); pass --no-track to skip tracking");
            None
        }
    }
}

/// Runs `f` on the run if there is one; a tracking error turns tracking off for the rest of
/// the run with one note, and never fails the training.
pub fn with_run(run: &mut Option<Run>, f: impl FnOnce(&mut Run) -> nabla_track::Result<()>) {
    if let Some(r) = run.as_mut() {
        if let Err(e) = f(r) {
            let _ = writeln!(std::io::stderr().lock(), "note: tracking stopped ({e}); training goes on");
            *run = None;
        }
    }
}
