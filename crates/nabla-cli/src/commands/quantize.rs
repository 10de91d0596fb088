//! `nabla quantize` (being built).

/// Arguments of `nabla quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {}

/// Runs `nabla quantize`.
pub fn run(_args: &QuantizeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla quantize` is not built yet")
}
