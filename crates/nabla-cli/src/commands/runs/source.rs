//! Where `nabla runs list`, `show` and `metrics` read runs: the local store, or a `nabla server`
//! (`--tracking-uri URL`, else `$NABLA_TRACKING_URI` unless `--tracking-dir` names a store).
//! Both give the tracker's own values ([`RunRecord`], [`RunDetail`], [`Point`]), which the
//! commands print with the same code.

use nabla_track::{Point, Remote, RunDetail, RunQuery, RunRecord, Store};

use super::{run_hint, StoreArgs};
use crate::commands::tracking::TlsCaArg;

/// Flags naming where runs are read from.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Read the runs on this `nabla server` instead of the local store (default
    /// `$NABLA_TRACKING_URI`, unless --tracking-dir is given): the runs the token's user may
    /// read, their own and those of the projects shared with them.
    #[arg(long, value_name = "URL", conflicts_with = "tracking_dir")]
    tracking_uri: Option<String>,
    /// The user's token for the server (default `$NABLA_TOKEN`; none reads a `--public-read` server).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    #[command(flatten)]
    tls_ca: TlsCaArg,
}

/// An open place to read runs from.
pub(super) enum RunSource {
    /// The local store; `None` when nothing was ever recorded in its directory.
    Local { store: Option<Store>, dir: std::path::PathBuf },
    /// A server.
    Remote(Remote),
}

impl SourceArgs {
    /// The server's URL, if the runs are read from one.
    fn server(&self) -> Option<String> {
        if self.tracking_uri.is_some() {
            return self.tracking_uri.clone();
        }
        if self.store.tracking_dir.is_some() {
            return None;
        }
        std::env::var(nabla_track::URI_ENV).ok().filter(|u| !u.trim().is_empty())
    }

    /// Opens the store (read-only) or names the server.
    pub(super) fn open(&self) -> anyhow::Result<RunSource> {
        match self.server() {
            Some(uri) => {
                // No token reads a `--public-read` server; any other answers that one is needed.
                let token = self.token.clone().or_else(|| std::env::var(nabla_track::TOKEN_ENV).ok());
                Ok(RunSource::Remote(Remote::reader(&uri, token.as_deref(), self.tls_ca.path().as_deref())?))
            }
            None => Ok(RunSource::Local { store: self.store.read()?, dir: self.store.dir()? }),
        }
    }
}

impl RunSource {
    /// Where the runs are, for messages: the directory or the server's URL.
    pub(super) fn place(&self) -> String {
        match self {
            RunSource::Local { dir, .. } => dir.display().to_string(),
            RunSource::Remote(remote) => remote.uri().to_string(),
        }
    }

    /// The runs `query` selects; on a server, `query` is also sent as text (`project`,
    /// `filters`, `sort`) for the server to apply, and only the runs the user may read come back.
    pub(super) fn runs(
        &self,
        query: &RunQuery,
        project: Option<&str>,
        filters: &[String],
        sort: Option<&str>,
    ) -> anyhow::Result<Vec<RunRecord>> {
        match self {
            RunSource::Local { store: Some(store), .. } => Ok(store.runs(query)?),
            RunSource::Local { store: None, .. } => Ok(Vec::new()),
            RunSource::Remote(remote) => Ok(remote.runs(project, filters, sort, query.limit)?),
        }
    }

    /// One run (an id or a unique prefix) with its metrics and artifacts.
    pub(super) fn run(&self, id: &str) -> anyhow::Result<RunDetail> {
        match self {
            RunSource::Local { store: Some(store), .. } => store.run_detail(id).map_err(run_hint),
            RunSource::Local { store: None, dir } => {
                anyhow::bail!("unknown run `{id}`: no runs recorded in {} yet", dir.display())
            }
            RunSource::Remote(remote) => Ok(remote.run(id)?),
        }
    }

    /// Every point of a run's metric, in step order.
    pub(super) fn history(&self, run_id: &str, metric: &str) -> anyhow::Result<Vec<Point>> {
        match self {
            RunSource::Local { store: Some(store), .. } => Ok(store.history(run_id, metric, ..)?),
            RunSource::Local { store: None, .. } => Ok(Vec::new()),
            RunSource::Remote(remote) => Ok(remote.history(run_id, metric)?),
        }
    }
}
