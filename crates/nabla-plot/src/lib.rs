//! `nabla-plot`: the pictures nabla draws, as SVG and PNG files.
//!
//! Every plot takes plain numbers (series, grids, images) and a path; it knows nothing about
//! the tracker or the trainer, so the CLI decides where the numbers come from. The file's
//! extension picks the format (`.svg`, `.png`; `.gif` for animations), files are written
//! atomically, and text needs one TrueType font found on the system (see [`FONT_ENV`]).

mod boundary;
mod confusion;
pub mod graph;
mod grid;
mod heatmap;
pub mod landscape;
pub mod landscape3d;
mod lines;
mod output;
pub mod perceptron;
mod surfaces;

pub use boundary::{boundary, boundary_animation, Boundary, LabeledPoint};
pub use confusion::{confusion, Confusion};
pub use grid::{image_grid, ImageGrid, Tone};
pub use lines::{line_animation, line_figure, line_figure_svg, LineFigure, Panel, Series};
pub use output::{write_atomic, Format, FONT_ENV};
pub use surfaces::{surfaces, surfaces_animation, SurfacePanel, Surfaces};

use std::path::PathBuf;

/// What can go wrong drawing a picture.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The file's extension names no format nabla writes.
    #[error("{path}: unknown picture format (name the file .svg or .png)", path = path.display())]
    Format {
        /// The path given.
        path: PathBuf,
    },
    /// No font for the plot's text was found.
    #[error(
        "no TrueType font for the plot's text (looked at {searched}); install one \
         (Debian/Ubuntu: apt-get install fonts-dejavu-core) or set NABLA_FONT=/path/to/font.ttf"
    )]
    NoFont {
        /// Where it looked.
        searched: String,
    },
    /// The numbers cannot make this picture (empty, mismatched sizes).
    #[error("{0}")]
    Input(String),
    /// The drawing library failed.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The file could not be written.
    #[error("cannot write {path}: {source}", path = path.display())]
    Io {
        /// The target file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
