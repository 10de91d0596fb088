//! One module per subcommand, plus the flag value parsers they share.

pub mod bench;
pub mod data;
pub mod eval;
pub mod parse;
pub mod predict;
pub mod runs;
pub mod tracking;
pub mod train;
pub mod ui;
pub mod xor;
