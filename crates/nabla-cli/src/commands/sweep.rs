//! `nabla sweep` (being built).

/// Arguments of `nabla sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {}

/// Runs `nabla sweep`.
pub fn run(_args: &SweepArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla sweep` is not built yet")
}
