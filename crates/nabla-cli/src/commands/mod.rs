//! One module per subcommand, plus the flag value parsers they share.

pub mod bench;
pub mod data;
pub mod eval;
pub mod fit;
pub mod grad;
pub mod landscape;
pub mod parse;
pub mod perceptron;
pub mod plot;
pub mod predict;
pub mod quantize;
pub mod report;
pub mod runs;
pub mod sweep;
pub mod tracking;
pub mod train;
pub mod ui;
pub mod xor;
