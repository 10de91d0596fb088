//! `nabla grad` (being built).

/// Arguments of `nabla grad`.
#[derive(Debug, clap::Args)]
pub struct GradArgs {}

/// Runs `nabla grad`.
pub fn run(_args: &GradArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla grad` is not built yet")
}
