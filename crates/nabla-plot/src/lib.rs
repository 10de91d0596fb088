//! `nabla-plot`: the pictures nabla draws, as SVG and PNG files.
//!
//! Every plot takes plain numbers (series, grids, images) and a path; it knows nothing about
//! the tracker or the trainer, so the CLI decides where the numbers come from.

pub mod graph;
pub mod landscape;
pub mod perceptron;
