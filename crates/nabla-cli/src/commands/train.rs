//! `nabla train` (being written).

/// Flags of `nabla train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

/// Runs `nabla train`.
pub fn run(_args: &TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla train` is not implemented yet")
}
