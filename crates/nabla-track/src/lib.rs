//! nabla's experiment tracker: every run recorded locally, queryable, never lost.
//!
//! The recording API has the shape of Weights & Biases: [`Run::init`] (project, name, config,
//! tags), [`Run::log`] (a step and any number of named scalars), [`Run::summary`],
//! [`Run::log_artifact_path`] / [`Run::log_artifact_bytes`] and [`Run::finish`]. Points go
//! through a bounded channel to a writer thread that commits them in batches (at least every
//! 100 ms), so logging costs the training loop a hash lookup and a channel send per point; a
//! sampler thread adds `sys/*` metrics (CPU, memory, GPU) and the writer keeps a heartbeat,
//! from which readers tell a crashed run from a running one.
//!
//! The store ([`Store`]) is a directory: `tracking.db` (SQLite in WAL mode, schema versioned
//! with migrations) and `artifacts/` (files named by their sha256). It lives in
//! [`tracking_dir`]: `--tracking-dir`, else `$NABLA_HOME/tracking`, else the user data
//! directory's `nabla/tracking`. Several processes can record into one store at once.
//!
//! A run that is dropped without `finish` (an early return, a panic) commits what it was given
//! and is marked `failed`; a trainer stopped by Ctrl-C calls `finish(EndStatus::Interrupted)`;
//! a process killed outright leaves its run `running`, and readers show it as `crashed` once
//! its heartbeat is older than [`crash_threshold`] (decided when reading; nothing is written).
//!
//! The reading API ([`Store::runs`], [`Store::run`], [`Store::metrics`], [`Store::history`],
//! [`Store::history_after`], [`Store::point_blocks`], [`Store::artifacts`]) serves `nabla runs`
//! and the dashboard (the writer keeps 64-point block summaries of every metric beside its
//! points, so a long metric is downsampled without reading it);
//! [`Store::export_run`], [`Store::import_runs`], [`Store::delete_run`] and [`Store::gc`]
//! maintain the store. The library never prints.

mod artifacts;
mod blocks;
mod error;
mod export;
mod filter;
mod id;
mod ingest;
mod meta;
mod query;
mod queue;
mod remote;
mod run;
mod sampler;
mod status;
mod store;
mod upload;
mod users;
pub mod wire;
mod writer;

pub use artifacts::GcReport;
pub use blocks::{PointBlock, BLOCK_POINTS};
pub use error::{Result, TrackError};
pub use filter::{CompareOp, Filter, SortKey};
pub use id::{new_run_id, RUN_ID_LEN};
pub use ingest::{IngestPoint, Ingested, OldSteps, RunInit, RunUpdate, MAX_BATCH_POINTS};
pub use meta::{command_line, crash_threshold, git_commit, RunMeta, RunOptions};
pub use query::{ArtifactRecord, MetricSummary, Point, RunDetail, RunQuery, RunRecord, RUN_FIELDS};
pub use remote::{ca_from_env, RefusedArtifact, Remote, SyncReport, TLS_CA_ENV, TOKEN_ENV, URI_ENV};
pub use run::{MetricHandle, Run, SYSTEM_METRIC_PREFIX};
pub use status::{EndStatus, RunStatus};
pub use store::{now_secs, tracking_dir, tracking_dir_from, Store, DB_FILE, HOME_ENV, SCHEMA_VERSION};
pub use upload::is_sha256;
pub use users::{check_user_name, constant_time_eq, Access, Principal, ProjectSharing, User, MAX_USER_NAME};
