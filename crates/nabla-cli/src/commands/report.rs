//! `nabla report` (being built).

/// Arguments of `nabla report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

/// Runs `nabla report`.
pub fn run(_args: &ReportArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla report` is not built yet")
}
