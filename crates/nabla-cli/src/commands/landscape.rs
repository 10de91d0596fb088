//! `nabla landscape` (being built).

/// Arguments of `nabla landscape`.
#[derive(Debug, clap::Args)]
pub struct LandscapeArgs {}

/// Runs `nabla landscape`.
pub fn run(_args: &LandscapeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla landscape` is not built yet")
}
