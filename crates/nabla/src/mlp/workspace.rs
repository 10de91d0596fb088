//! The per-batch buffers of an [`MlpSpec`]'s forward and backward passes ([`Workspace`]),
//! sized once for a batch size and reused by every step.

use super::spec::MlpSpec;
use crate::error::Result;
use crate::gemm::{MatmulKernel, MatmulPrecision};
use crate::matrix::{MatMut, MatRef};

/// The per-batch buffers of forward and backward: `z_l` and `a_l` for every layer and two
/// gradient buffers as wide as the widest layer. Allocated once for a batch size and
/// reused; a smaller batch (the last one of an epoch) uses the leading rows.
///
/// It also says in which precision the passes that use it run their matrix products
/// ([`Workspace::set_precision`]): `f32` unless told otherwise.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// The GEMM of the forward and backward passes (the three products of every layer).
    pub(super) kernel: MatmulKernel,
    pub(super) z: Vec<Vec<f32>>,
    pub(super) a: Vec<Vec<f32>>,
    pub(super) grad_a: Vec<f32>,
    pub(super) grad_z: Vec<f32>,
    /// Dropout: the masked hidden outputs, their masks (0 or 1/(1−p)), the masked input.
    pub(super) a_drop: Vec<Vec<f32>>,
    pub(super) masks: Vec<Vec<f32>>,
    pub(super) x_drop: Vec<f32>,
    pub(super) x_mask: Vec<f32>,
    pub(super) input_dropped: bool,
    pub(super) hidden_dropped: bool,
    pub(super) capacity: usize,
    pub(super) batch: usize,
    pub(super) sizes: Vec<usize>,
}

impl Workspace {
    /// Buffers for `spec` and batches of up to `batch` rows.
    pub fn new(spec: &MlpSpec, batch: usize) -> Self {
        let mut ws = Workspace::default();
        ws.prepare(spec, batch);
        ws
    }

    /// Runs the matrix products of the passes that use this workspace in `precision`: for
    /// bf16, on the fastest bf16 kernel of this CPU, or an error naming what the CPU lacks
    /// (no slow fallback). Biases, activations and the loss stay `f32`.
    pub fn set_precision(&mut self, precision: MatmulPrecision) -> Result<()> {
        self.kernel = MatmulKernel::for_precision(precision)?;
        Ok(())
    }

    /// Runs the matrix products on `kernel` (tests and benchmarks: a bf16 step on the
    /// reference kernel is the plain-loop truth the fast one is held to).
    pub fn set_kernel(&mut self, kernel: MatmulKernel) {
        self.kernel = kernel;
    }

    /// The precision of the matrix products.
    pub fn precision(&self) -> MatmulPrecision {
        self.kernel.precision()
    }

    /// Makes sure the buffers fit `spec` and `batch`; allocates only when they do not.
    pub(super) fn prepare(&mut self, spec: &MlpSpec, batch: usize) {
        if self.sizes == spec.sizes && batch <= self.capacity {
            return;
        }
        let widest = spec.sizes.iter().copied().max().unwrap_or(0);
        let cap = batch.max(self.capacity);
        self.z = spec.sizes[1..].iter().map(|&n| vec![0.0; cap * n]).collect();
        self.a = spec.sizes[1..].iter().map(|&n| vec![0.0; cap * n]).collect();
        self.grad_a = vec![0.0; cap * widest];
        self.grad_z = vec![0.0; cap * widest];
        let hidden = &spec.sizes[1..spec.sizes.len() - 1];
        self.a_drop = hidden.iter().map(|&n| vec![0.0; cap * n]).collect();
        self.masks = hidden.iter().map(|&n| vec![0.0; cap * n]).collect();
        self.x_drop = Vec::with_capacity(cap * spec.sizes[0]);
        self.x_mask = Vec::with_capacity(cap * spec.sizes[0]);
        self.capacity = cap;
        self.sizes = spec.sizes.clone();
    }

    /// `dL/da_L` for the last forward pass, `[B, n_L]`: where a custom loss writes its
    /// gradient before [`Mlp::backward`](super::Mlp::backward).
    pub fn output_grad_mut(&mut self) -> MatMut<'_> {
        let out = *self.sizes.last().unwrap_or(&0);
        MatMut::new(&mut self.grad_a[..self.batch * out], self.batch, out).expect("sized by prepare")
    }

    /// `a_l` of the last forward pass, `[B, n_{l+1}]` (`l` counts dense layers from 0).
    pub fn activations(&self, l: usize) -> MatRef<'_> {
        let n = self.sizes[l + 1];
        MatRef::new(&self.a[l][..self.batch * n], self.batch, n).expect("sized by prepare")
    }
}
