//! `nabla predict` (being written).

/// Flags of `nabla predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {}

/// Runs `nabla predict`.
pub fn run(_args: &PredictArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla predict` is not implemented yet")
}
