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
    /// Also send the run to this `nabla server` (default `$NABLA_TRACKING_URI`), with the token
    /// in `$NABLA_TOKEN`. The run is recorded locally first and sent in the background: training
    /// never waits for the server, and what it missed is sent by `nabla runs sync`.
    #[arg(long, value_name = "URL")]
    pub tracking_uri: Option<String>,
    #[command(flatten)]
    pub tls_ca: TlsCaArg,
}

/// `--tls-ca FILE`, for every command that talks to a server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsCaArg {
    /// Also trust the CA certificates in this PEM file for an https:// server (a server with
    /// its own, self-signed certificate; default `$NABLA_TLS_CA`). The system's roots are
    /// always trusted.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl TlsCaArg {
    /// The flag, else `$NABLA_TLS_CA`.
    pub fn path(&self) -> Option<PathBuf> {
        self.tls_ca.clone().or_else(nabla_track::ca_from_env)
    }
}

/// A server at `uri` with the token in `$NABLA_TOKEN` and the CA from `--tls-ca`/`$NABLA_TLS_CA`.
pub fn connect(uri: &str, ca: &TlsCaArg) -> nabla_track::Result<nabla_track::Remote> {
    let token = std::env::var(nabla_track::TOKEN_ENV).unwrap_or_default();
    nabla_track::Remote::with_ca(uri, &token, ca.path().as_deref())
}

/// The server a run is sent to: `--tracking-uri`, else `$NABLA_TRACKING_URI`; the token from
/// `$NABLA_TOKEN`.
pub fn remote(uri: Option<&str>, ca: &TlsCaArg) -> Option<nabla_track::Result<nabla_track::Remote>> {
    let uri = uri.map(str::to_string).or_else(|| std::env::var(nabla_track::URI_ENV).ok())?;
    if uri.trim().is_empty() {
        return None;
    }
    Some(connect(&uri, ca))
}

/// Starts a tracked run unless `--no-track`. A run that cannot be started does not stop the
/// training: it prints one note saying why (and how to silence it) and returns `None`.
pub fn start(args: &TrackArgs, default_project: &str, config: Value, meta: RunMeta, quiet: bool) -> Option<Run> {
    if args.no_track {
        return None;
    }
    let project = args.project.clone().unwrap_or_else(|| default_project.to_string());
    let remote = remote(args.tracking_uri.as_deref(), &args.tls_ca).transpose();
    let started = remote.and_then(|remote| {
        let dir = nabla_track::tracking_dir(args.tracking_dir.as_deref())?;
        let mut options = RunOptions::new(project).config(config).meta(meta);
        if let Some(name) = &args.name {
            options = options.name(name.clone());
        }
        options.remote = remote;
        Run::start(dir, options)
    });
    let mut err = std::io::stderr().lock();
    match started {
        Ok(run) => {
            if !quiet {
                let _ = writeln!(err, "tracking run {} (see it with: {})", run.id(), run.show_command());
                if let Some(remote) = remote_uri(args) {
                    let _ = writeln!(err, "sending it to {remote} as it trains");
                }
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

/// The server's URL a run started with these flags is sent to, if any.
fn remote_uri(args: &TrackArgs) -> Option<String> {
    args.tracking_uri.clone().or_else(|| std::env::var(nabla_track::URI_ENV).ok().filter(|u| !u.trim().is_empty()))
}

/// Ends the run (if tracked) with `status`. Nothing here fails the command: a run the server
/// has not received whole says so in a note (its points wait in the local store for `nabla
/// runs sync`), and any other tracking error is a note too.
pub fn finish(run: Option<Run>, status: nabla_track::EndStatus) {
    let Some(run) = run else { return };
    let mut err = std::io::stderr().lock();
    match run.finish(status) {
        Ok(()) => {}
        Err(e @ nabla_track::TrackError::NotDelivered { .. }) => {
            let _ = writeln!(err, "note: {e}");
        }
        Err(e) => {
            let _ = writeln!(err, "note: the tracker could not close the run: {e}");
        }
    }
}
