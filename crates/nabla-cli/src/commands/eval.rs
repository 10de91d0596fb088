//! `nabla eval` (being written).

/// Flags of `nabla eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {}

/// Runs `nabla eval`.
pub fn run(_args: &EvalArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla eval` is not implemented yet")
}
