//! `nabla perceptron` (being built).

/// Arguments of `nabla perceptron`.
#[derive(Debug, clap::Args)]
pub struct PerceptronArgs {}

/// Runs `nabla perceptron`.
pub fn run(_args: &PerceptronArgs) -> anyhow::Result<()> {
    anyhow::bail!("`nabla perceptron` is not built yet")
}
