//! The per-batch buffers of a [`ResidualSpec`]'s forward and backward passes
//! ([`ResidualWorkspace`]), sized once for a batch size and reused by every step.

use super::spec::ResidualSpec;
use crate::matrix::{MatMut, MatRef};

/// The per-batch buffers of a residual MLP: what the forward pass keeps for the backward pass
/// (the stream before every block, the normalised inputs and their statistics, the hidden
/// layers' `z` and `h`, the output) and four gradient buffers. Allocated once for a batch
/// size and reused; a smaller batch (the last one of an epoch) uses the leading rows.
///
/// With `N` blocks, index `i < N` of `normed`, `xhat` and `rstd` is block `i`'s layer
/// normalisation and index `N` the final one.
#[derive(Debug, Clone, Default)]
pub struct ResidualWorkspace {
    /// `s_0 … s_N`, `[B, W]`: the stream before block `i`, and after the last block.
    pub(super) stream: Vec<Vec<f32>>,
    /// `LN(s_i)`, `[B, W]`: the input of block `i`'s `fc1`, and of the output layer.
    pub(super) normed: Vec<Vec<f32>>,
    /// The layer norms' `x̂` (`[B, W]`) and `r = 1/√(σ² + ε)` (`[B]`).
    pub(super) xhat: Vec<Vec<f32>>,
    pub(super) rstd: Vec<Vec<f32>>,
    /// Block `i`'s hidden layer: `z = LN(s_i)·W₁ᵀ + b₁` and `h = g(z)`, `[B, W]`.
    pub(super) z: Vec<Vec<f32>>,
    pub(super) h: Vec<Vec<f32>>,
    /// The output layer's `z` and `y = f(z)`, `[B, outputs]`.
    pub(super) z_out: Vec<f32>,
    pub(super) y: Vec<f32>,
    /// `dL/dy` and `dL/dz` of the output layer, `[B, outputs]`.
    pub(super) grad_y: Vec<f32>,
    pub(super) grad_z_out: Vec<f32>,
    /// `dL/ds` for the stream, accumulated through the skips, `[B, W]`.
    pub(super) grad_stream: Vec<f32>,
    /// Two scratch gradients `[B, W]` inside a block (`dh` then `du`; `dz` then the branch's
    /// `ds`).
    pub(super) grad_a: Vec<f32>,
    pub(super) grad_b: Vec<f32>,
    pub(super) capacity: usize,
    pub(super) batch: usize,
    pub(super) spec: Option<ResidualSpec>,
}

impl ResidualWorkspace {
    /// Buffers for `spec` and batches of up to `batch` rows.
    pub fn new(spec: &ResidualSpec, batch: usize) -> Self {
        let mut ws = Self::default();
        ws.prepare(spec, batch);
        ws
    }

    /// Makes sure the buffers fit `spec` and `batch`; allocates only when they do not.
    pub(super) fn prepare(&mut self, spec: &ResidualSpec, batch: usize) {
        if self.spec.as_ref() == Some(spec) && batch <= self.capacity {
            return;
        }
        let cap = batch.max(self.capacity);
        let (n, w, out) = (spec.blocks, spec.width, spec.outputs);
        let buffers = |count: usize, len: usize| vec![vec![0.0; len]; count];
        self.stream = buffers(n + 1, cap * w);
        self.normed = buffers(n + 1, cap * w);
        self.xhat = buffers(n + 1, cap * w);
        self.rstd = buffers(n + 1, cap);
        self.z = buffers(n, cap * w);
        self.h = buffers(n, cap * w);
        self.z_out = vec![0.0; cap * out];
        self.y = vec![0.0; cap * out];
        self.grad_y = vec![0.0; cap * out];
        self.grad_z_out = vec![0.0; cap * out];
        self.grad_stream = vec![0.0; cap * w];
        self.grad_a = vec![0.0; cap * w];
        self.grad_b = vec![0.0; cap * w];
        self.capacity = cap;
        self.spec = Some(spec.clone());
    }

    fn outputs(&self) -> usize {
        self.spec.as_ref().map_or(0, |s| s.outputs)
    }

    /// `dL/dy` for the last forward pass, `[B, outputs]`: where a custom loss writes its
    /// gradient before [`ResidualMlp::backward`](super::ResidualMlp::backward).
    pub fn output_grad_mut(&mut self) -> MatMut<'_> {
        let out = self.outputs();
        MatMut::new(&mut self.grad_y[..self.batch * out], self.batch, out).expect("sized by prepare")
    }

    /// The output `y` of the last forward pass, `[B, outputs]`.
    pub fn output(&self) -> MatRef<'_> {
        let out = self.outputs();
        MatRef::new(&self.y[..self.batch * out], self.batch, out).expect("sized by prepare")
    }

    /// The stream `s_i` of the last forward pass, `[B, W]`: before block `i`, or after the
    /// last block for `i = N`.
    pub fn stream(&self, i: usize) -> MatRef<'_> {
        let w = self.spec.as_ref().map_or(0, |s| s.width);
        MatRef::new(&self.stream[i][..self.batch * w], self.batch, w).expect("sized by prepare")
    }
}
