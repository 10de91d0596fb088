//! Residual MLPs: a deep stack of blocks on a stream of constant width, where every block
//! adds its output to its input instead of replacing it (He et al. 2016).
//!
//! Shape letters: `B` batch, `n_0` input features, `W` the stream's width, `N` blocks.
//!
//! ```text
//! x [B, n_0] ─ input ─► s_0 ─► block 0 ─► s_1 ─► … ─► s_N ─ norm ─ output ─ f ─► y
//!
//! block i:   s_i ──────────────────────────────────(+)──► s_{i+1}
//!             └─ LN_i ─ fc1 (W₁, b₁) ─ g ─ fc2 (W₂, b₂) ─┘
//!
//!            s_{i+1} = s_i + W₂·g(W₁·LN_i(s_i) + b₁) + b₂
//! ```
//!
//! **Which form, and why.** This is the *pre-activation, pre-norm* block ("Identity Mappings
//! in Deep Residual Networks", He, Zhang, Ren & Sun 2016; the form of every GPT-style
//! transformer since), not the original post-activation one
//! `s_{i+1} = f(s_i + W₂·g(W₁·s_i + b₁) + b₂)`. With the activation and the normalisation
//! inside the branch, the path from `s_0` to `s_N` is a plain sum, `s_N = s_0 + Σ_i F_i(s_i)`,
//! and backwards `dL/ds_i = dL/ds_N + Σ_{j ≥ i} (the branches' terms)`: the loss's gradient
//! reaches the first block unchanged however deep the net, and each block learns only a
//! correction to the identity. The post-activation form puts `f` on that path
//! N times (a ReLU zeroes part of the gradient at every block), which He et al. show trains
//! worse as depth grows (their 1001-layer nets); and with the normalisation in the branch
//! (pre-norm) deep stacks train without learning-rate warm-up tricks (Xiong et al. 2020 show
//! it for transformers, whose post-norm form needs the warm-up).
//! The stream itself is never normalised, so its scale grows with the blocks: a final layer
//! normalisation brings it back before the output layer.
//!
//! `depth` counts hidden layers, as for a plain MLP: each block has one hidden layer
//! (`g(W₁·…)`, `W` units), so a residual net of depth `N` has `N` blocks, the same number of
//! nonlinearities as the plain net `n_0-W-…-W-out` with `N` hidden layers, and about twice its
//! `W × W` weights (`fc2` projects every hidden layer back onto the stream).
//!
//! All parameters live in one `Vec<f32>`, in this order and with these names (a PyTorch
//! module with attributes `input`, `blocks` — an `nn.ModuleList` of modules with `norm`,
//! `fc1`, `fc2` — `norm` and `output` has exactly these `state_dict` keys and shapes):
//!
//! | name | shape |
//! | --- | --- |
//! | `input.weight`, `input.bias` | `[W, n_0]`, `[W]` |
//! | `blocks.{i}.norm.weight`, `blocks.{i}.norm.bias` | `[W]`, `[W]` (`γ`, `β`) |
//! | `blocks.{i}.fc1.weight`, `blocks.{i}.fc1.bias` | `[W, W]`, `[W]` |
//! | `blocks.{i}.fc2.weight`, `blocks.{i}.fc2.bias` | `[W, W]`, `[W]` |
//! | `norm.weight`, `norm.bias` | `[W]`, `[W]` |
//! | `output.weight`, `output.bias` | `[outputs, W]`, `[outputs]` |
//!
//! The pieces are the engine's own: [`Dense`](crate::Dense) for every product,
//! [`LayerNorm`](crate::LayerNorm) for the normalisations, [`Activation`](crate::Activation)
//! for `g` and `f`. One idea a file: `spec` ([`ResidualSpec`], [`Layout`]), `network`
//! ([`ResidualMlp`]: forward and backward side by side), `workspace` ([`ResidualWorkspace`]).
//! A plain deep net needs nothing here: it is an [`Mlp`](crate::Mlp) of
//! [`MlpSpec::deep`](crate::MlpSpec::deep).

mod network;
mod spec;
mod workspace;

pub use network::ResidualMlp;
pub use spec::{BlockLayout, Layout, ResidualSpec};
pub use workspace::ResidualWorkspace;

#[cfg(test)]
mod tests;
