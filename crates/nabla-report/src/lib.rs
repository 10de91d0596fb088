//! `nabla-report`: what `nabla report`, `nabla plot curves|sweep` and the dashboard's report
//! button share. It reads the run store and the sweep records in the tracking directory and
//! turns them into figures (plain [`nabla_plot::LineFigure`]s) and self-contained HTML
//! reports with "expected", "observed" and "explanation" sections under each plot.
//!
//! It knows the tracker and the plots, not the trainer: a sweep is what
//! [`nabla_sweep::SweepDef`] records and what its runs logged, read through `nabla-sweep`.

mod figures;
mod html;
mod report;

use nabla_sweep::SweepError;

pub use figures::{curves_figure, sweep_figure};
pub use report::{report_for, runs_report, sweep_report, Report};

/// What can go wrong making a report or a figure.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run store could not be read, or a run is unknown or ambiguous.
    #[error(transparent)]
    Track(#[from] nabla_track::TrackError),
    /// A picture could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] nabla_plot::PlotError),
    /// A sweep record cannot be read (no sweep of this id, a malformed id or file).
    #[error(transparent)]
    Sweep(SweepError),
    /// Nothing to report yet: no runs given, or a sweep none of whose trials has run.
    #[error("{0}")]
    Empty(String),
    /// The request cannot make this report or figure (a key not swept, a value that is not a
    /// number, runs that logged no curves).
    #[error("{0}")]
    Input(String),
}

impl From<SweepError> for ReportError {
    /// A store error stays a [`ReportError::Track`], whoever read the store.
    fn from(err: SweepError) -> ReportError {
        match err {
            SweepError::Track(track) => ReportError::Track(track),
            other => ReportError::Sweep(other),
        }
    }
}
