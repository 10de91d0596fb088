//! `nabla-report`: what `nabla report`, `nabla plot curves|sweep` and the dashboard's report
//! button share. It reads the run store and the sweep records in the tracking directory and
//! turns them into figures (plain [`nabla_plot::LineFigure`]s) and self-contained HTML
//! reports with "expected", "observed" and "explanation" sections under each plot.
//!
//! It knows the tracker and the plots, not the trainer: a sweep is what [`SweepDef`] records
//! and what its runs logged.

mod figures;
mod html;
mod report;
pub mod sweeps;

use std::path::PathBuf;

pub use figures::{curves_figure, sweep_figure};
pub use report::{report_for, runs_report, sweep_report, Report};
pub use sweeps::{describe, SweepDef, TrialResult};

/// What can go wrong making a report or a figure.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run store could not be read, or a run is unknown or ambiguous.
    #[error(transparent)]
    Track(#[from] nabla_track::TrackError),
    /// A picture could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] nabla_plot::PlotError),
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
    /// Nothing to report yet: no runs given, or a sweep none of whose trials has run.
    #[error("{0}")]
    Empty(String),
    /// The request cannot make this report or figure (a key not swept, a value that is not a
    /// number, runs that logged no curves, a malformed sweep id).
    #[error("{0}")]
    Input(String),
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
