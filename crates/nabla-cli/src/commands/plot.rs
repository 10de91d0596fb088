//! `nabla plot` (being built).

/// Arguments of `nabla plot`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {}

/// Runs `nabla plot`.
pub fn run(_args: &PlotArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla plot` is not built yet")
}
