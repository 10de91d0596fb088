//! `nabla xor` (being written).

/// Flags of `nabla xor`.
#[derive(Debug, clap::Args)]
pub struct XorArgs {}

/// Runs `nabla xor`.
pub fn run(_args: &XorArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
