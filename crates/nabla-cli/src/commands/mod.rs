//! One module per subcommand, plus the flag value parsers they share.

pub mod data;
pub mod parse;
pub mod xor;
