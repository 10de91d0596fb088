//! The multi-layer perceptron: dense layers with an activation after each, trained by
//! backpropagation written out by hand.
//!
//! Shape letters: `B` batch, `n_l` the width of layer `l` (`n_0` the input). Layer `l`
//! computes `z_l = a_{l−1} · W_lᵀ + b_l` and `a_l = f_l(z_l)`, with `a_{−1} = x`.
//!
//! All parameters live in one `Vec<f32>`: layer 0's weight `[n_1, n_0]` row by row, its bias
//! `[n_1]`, then layer 1's, and so on (names `layers.{l}.weight`, `layers.{l}.bias`, as in
//! PyTorch). Gradients and optimiser state use the same layout, so an optimiser is one loop
//! over one slice.
//!
//! One idea a file: `spec` ([`MlpSpec`], [`TensorInfo`]: the architecture and the parameter
//! layout), `network` ([`Mlp`]: the parameters, forward and backward), `dropout`
//! ([`Dropout`]: the masks and the training forward passes that draw them) and `workspace`
//! ([`Workspace`]: the per-batch buffers).

mod dropout;
mod network;
mod packed;
mod spec;
mod update;
mod workspace;

pub use dropout::Dropout;
pub use network::Mlp;
pub use packed::PackedMlp;
pub use spec::{MlpSpec, TensorInfo};
pub use workspace::Workspace;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bf16;
