//! `nabla-sweep`: hyperparameter sweeps, from what to vary to the ranked results.
//!
//! - [`record`]: the sweep as kept in the tracking directory (`sweeps/ID.json`), enough to
//!   resume it and to read its results;
//! - [`mod@results`]: each trial's run read back from the store, and their ranking;
//! - with the `runner` feature (on by default): [`params`] (how a setting varies, grid and
//!   random expansion into trials), [`mod@file`] (sweep files in TOML), [`mod@define`] (a new sweep
//!   from its settings, or a stored one resumed), [`table`] (a table sweep's data: read once,
//!   split once for every trial), [`trial`] (a trial's values as checked
//!   training settings) and [`runner`] (trials trained in parallel jobs, each a tracked run).
//!
//! Readers of sweep records (`nabla-report`, the dashboard) build it without `runner`, so they
//! never depend on the trainer. Nothing here prints: the runner reports each finished trial to
//! a callback, and the caller decides what a person sees.

#[cfg(feature = "runner")]
pub mod define;
#[cfg(feature = "runner")]
pub mod file;
#[cfg(feature = "runner")]
pub mod params;
pub mod record;
pub mod results;
#[cfg(feature = "runner")]
pub mod runner;
#[cfg(feature = "runner")]
pub mod table;
#[cfg(feature = "runner")]
pub mod trial;

use std::path::PathBuf;

#[cfg(feature = "runner")]
pub use define::{define, SweepSettings};
#[cfg(feature = "runner")]
pub use file::{parse_file, SweepFile};
#[cfg(feature = "runner")]
pub use params::{grid, parse_param, random, ParamSpec};
pub use record::{def_path, exists, is_sweep_id, load_def, save_def, SweepDef, TableSource, Trial};
pub use results::{describe, last_value, ranked, ranking_value, results, tie_breaker, TrialResult};
#[cfg(feature = "runner")]
pub use runner::{Plan, TrialOutcome};

/// What can go wrong reading, defining or running a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The run store could not be read or written.
    #[error(transparent)]
    Track(#[from] nabla_track::TrackError),
    /// A sweep definition could not be written.
    #[error(transparent)]
    Write(#[from] nabla_plot::PlotError),
    /// No sweep of this id in the tracking directory.
    #[error("no sweep `{id}` in {dir} (cannot read {path})", dir = dir.display(), path = path.display())]
    UnknownSweep {
        /// The id asked for.
        id: String,
        /// The tracking directory.
        dir: PathBuf,
        /// The definition file looked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A sweep file that does not hold a sweep definition.
    #[error("{path}: not a sweep definition", path = path.display())]
    BadSweep {
        /// The file.
        path: PathBuf,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// Settings that make no sweep (a malformed id, nothing to sweep, an unknown goal, a
    /// trial's value of the wrong type).
    #[error("{0}")]
    Input(String),
    /// One trial's settings cannot be trained.
    #[error("trial {trial} ({values})")]
    Trial {
        /// Index in the sweep's trial list.
        trial: usize,
        /// Its values, as [`describe`] writes them.
        values: String,
        /// What is wrong with them.
        #[source]
        source: Box<SweepError>,
    },
    /// A data set is unknown or could not be read.
    #[cfg(feature = "runner")]
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// A table could not be read, split or prepared.
    #[cfg(feature = "runner")]
    #[error(transparent)]
    Table(#[from] nabla_data::table::TableError),
    /// Training a trial failed (other than by diverging).
    #[cfg(feature = "runner")]
    #[error(transparent)]
    Train(#[from] nabla_train::train::TrainError),
    /// A path could not be made absolute.
    #[error("cannot resolve {path}", path = path.display())]
    Resolve {
        /// The path as given.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file-system operation failed.
    #[error("{context} {path}", path = path.display())]
    Io {
        /// What was being done ("creating", …).
        context: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
