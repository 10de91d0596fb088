//! `nabla data`: list, verify and download data sets (being written).

use clap::Subcommand;

/// `nabla data …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Show each data set, where it was looked for, and whether it is present.
    List,
}

/// Runs a `nabla data` subcommand.
pub fn run(_cmd: DataCommand) -> anyhow::Result<()> {
    anyhow::bail!("`nabla data` is not implemented yet")
}
