//! `nabla runs` (being written).

use clap::Subcommand;

/// `nabla runs …` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs.
    List,
}

/// Runs a `nabla runs` subcommand.
pub fn run(_cmd: RunsCommand) -> anyhow::Result<()> {
    anyhow::bail!("`nabla runs` is not implemented yet")
}
