//! The network, [`ResidualMlp`]: its parameters in one vector, the forward pass and, beside
//! it, the backward pass written out block by block.

use super::spec::{Layout, ResidualSpec};
use super::workspace::ResidualWorkspace;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::loss::{Loss, Targets};
use crate::matrix::{MatMut, MatRef, Matrix};
use crate::regularizer::Regularizer;
use crate::rng::Rng;

/// A residual MLP with its parameters (see the [module](super) for the maths).
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualMlp {
    spec: ResidualSpec,
    layout: Layout,
    params: Vec<f32>,
}

/// `[rows, cols]` over the leading `rows · cols` values of a workspace buffer.
fn view(buf: &[f32], rows: usize, cols: usize) -> Result<MatRef<'_>> {
    MatRef::new(&buf[..rows * cols], rows, cols)
}

/// [`view`], mutable.
fn view_mut(buf: &mut [f32], rows: usize, cols: usize) -> Result<MatMut<'_>> {
    MatMut::new(&mut buf[..rows * cols], rows, cols)
}

impl ResidualMlp {
    /// A network with every dense layer initialised by `init` (drawing from `rng` in storage
    /// order) and every layer normalisation at `γ = 1`, `β = 0`, as PyTorch starts them.
    pub fn new(spec: ResidualSpec, init: Init, rng: &mut Rng) -> Self {
        let mut net = Self::zeros(spec);
        let norms: Vec<_> = net.layout.blocks.iter().map(|b| b.norm.clone()).chain([net.layout.norm.clone()]).collect();
        for r in norms {
            net.spec.norm().init(&mut net.params[r]);
        }
        let dense: Vec<_> = net.layout.dense_layers(&net.spec).collect();
        for (d, r) in dense {
            let (w, b) = net.params[r].split_at_mut(d.outputs * d.inputs);
            init.fill(w, b, d.inputs, d.outputs, rng);
        }
        net
    }

    /// A network with every parameter zero (layer norm gains too).
    pub fn zeros(spec: ResidualSpec) -> Self {
        let layout = spec.layout();
        let params = vec![0.0; layout.output.end];
        Self { spec, layout, params }
    }

    /// A network with the given parameter vector (length must be `spec.param_count()`).
    pub fn from_params(spec: ResidualSpec, params: Vec<f32>) -> Result<Self> {
        let mut net = Self::zeros(spec);
        if params.len() != net.params.len() {
            return Err(Error::Length {
                what: "residual MLP parameters",
                expected: net.params.len(),
                got: params.len(),
            });
        }
        net.params = params;
        Ok(net)
    }

    /// The architecture.
    pub fn spec(&self) -> &ResidualSpec {
        &self.spec
    }

    /// Where each part lives in the parameter vector.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// All parameters in one slice.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// All parameters in one slice, mutable (for optimisers and gradient checks).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// The forward pass. `x: [B, n_0]`; returns the output `[B, outputs]`, a view into `ws`,
    /// which also keeps what the backward pass needs.
    ///
    /// ```text
    /// s_0     = x·W_inᵀ + b_in                       input projection (no activation)
    /// u_i     = LN_i(s_i)                            block i = 0 … N−1
    /// h_i     = g(u_i·W₁ᵀ + b₁)
    /// s_{i+1} = s_i + h_i·W₂ᵀ + b₂                   the skip: the block adds to the stream
    /// y       = f(LN(s_N)·W_outᵀ + b_out)
    /// ```
    pub fn forward<'w>(&self, x: MatRef<'_>, ws: &'w mut ResidualWorkspace) -> Result<MatRef<'w>> {
        let spec = &self.spec;
        if x.cols() != spec.inputs {
            return Err(Error::Shape {
                op: "residual MLP forward",
                left: format!("input {}×{}", x.rows(), x.cols()),
                right: format!("network {spec}"),
            });
        }
        let (b, w, out) = (x.rows(), spec.width, spec.outputs);
        ws.prepare(spec, b);
        ws.batch = b;
        let (p, norm, fc) = (&self.params, spec.norm(), spec.block_layer());
        spec.input_layer().forward(&p[self.layout.input.clone()], x, view_mut(&mut ws.stream[0], b, w)?)?;
        for (i, block) in self.layout.blocks.iter().enumerate() {
            // Block i reads s_i and writes s_{i+1}.
            let (before, after) = ws.stream.split_at_mut(i + 1);
            let (s_in, s_out) = (&before[i][..b * w], &mut after[0][..b * w]);
            let (xhat, rstd) = (&mut ws.xhat[i][..b * w], &mut ws.rstd[i][..b]);
            norm.forward(&p[block.norm.clone()], view(s_in, b, w)?, view_mut(&mut ws.normed[i], b, w)?, xhat, rstd)?;
            fc.forward(&p[block.fc1.clone()], view(&ws.normed[i], b, w)?, view_mut(&mut ws.z[i], b, w)?)?;
            spec.hidden.forward(&ws.z[i][..b * w], &mut ws.h[i][..b * w]);
            // The branch's output first, then the skip added onto it.
            fc.forward(&p[block.fc2.clone()], view(&ws.h[i], b, w)?, MatMut::new(s_out, b, w)?)?;
            for (o, &s) in s_out.iter_mut().zip(s_in) {
                *o += s;
            }
        }
        let n = spec.blocks;
        let (xhat, rstd) = (&mut ws.xhat[n][..b * w], &mut ws.rstd[n][..b]);
        norm.forward(
            &p[self.layout.norm.clone()],
            view(&ws.stream[n], b, w)?,
            view_mut(&mut ws.normed[n], b, w)?,
            xhat,
            rstd,
        )?;
        let (normed, z_out) = (view(&ws.normed[n], b, w)?, view_mut(&mut ws.z_out, b, out)?);
        spec.output_layer().forward(&p[self.layout.output.clone()], normed, z_out)?;
        spec.output.forward(&ws.z_out[..b * out], &mut ws.y[..b * out]);
        view(&ws.y, b, out)
    }

    /// The backward pass, after [`ResidualMlp::forward`] on the same `x` and `ws`, with the
    /// loss gradient `dL/dy` already in `ws.output_grad_mut()`. Writes `dL/dθ` for every
    /// parameter into `grads` (overwritten).
    ///
    /// The forward pass read backwards, each line the local rule of one line above:
    ///
    /// ```text
    /// dz_out = dy ⊙ f'(z_out);  dW_out = dz_outᵀ·LN(s_N), db_out = Σ_B dz_out,  dv = dz_out·W_out
    /// ds_N   = LN'(dv)                                        (and dγ, dβ of the final norm)
    /// block i = N−1 … 0, with ds = dL/ds_{i+1}:
    ///   dW₂ = dsᵀ·h_i, db₂ = Σ_B ds, dh = ds·W₂
    ///   dz  = dh ⊙ g'(z_i);  dW₁ = dzᵀ·u_i, db₁ = Σ_B dz, du = dz·W₁
    ///   ds ← ds + LN_i'(du)                                   (and dγ_i, dβ_i)
    /// dW_in = ds_0ᵀ·x, db_in = Σ_B ds_0
    /// ```
    ///
    /// The `ds +` is the point of the skip: `∂s_{i+1}/∂s_i = I + ∂branch/∂s_i`, so the
    /// gradient from the loss reaches every block through the identity, however many blocks
    /// lie between, instead of through a product of N Jacobians that may shrink or blow up.
    pub fn backward(&self, x: MatRef<'_>, ws: &mut ResidualWorkspace, grads: &mut [f32]) -> Result<()> {
        if grads.len() != self.params.len() {
            return Err(Error::Length {
                what: "residual MLP gradients",
                expected: self.params.len(),
                got: grads.len(),
            });
        }
        let (spec, p, layout) = (&self.spec, &self.params, &self.layout);
        let (b, w, out, n) = (ws.batch, spec.width, spec.outputs, spec.blocks);
        if x.rows() != b || x.cols() != spec.inputs {
            return Err(Error::Invalid {
                name: "batch",
                value: format!("{}×{}", x.rows(), x.cols()),
                reason: format!("backward must see the same input as the forward pass ({b} rows)"),
            });
        }
        let (norm, fc) = (spec.norm(), spec.block_layer());
        spec.output.backward(
            &ws.z_out[..b * out],
            &ws.y[..b * out],
            &ws.grad_y[..b * out],
            &mut ws.grad_z_out[..b * out],
        );
        spec.output_layer().backward(
            &p[layout.output.clone()],
            view(&ws.normed[n], b, w)?,
            view(&ws.grad_z_out, b, out)?,
            &mut grads[layout.output.clone()],
            Some(view_mut(&mut ws.grad_a, b, w)?),
        )?;
        norm.backward(
            &p[layout.norm.clone()],
            &ws.xhat[n][..b * w],
            &ws.rstd[n][..b],
            view(&ws.grad_a, b, w)?,
            &mut grads[layout.norm.clone()],
            view_mut(&mut ws.grad_stream, b, w)?,
        )?;
        for (i, block) in layout.blocks.iter().enumerate().rev() {
            // fc2: dh = ds·W₂ into grad_a.
            let ds = view(&ws.grad_stream, b, w)?;
            fc.backward(
                &p[block.fc2.clone()],
                view(&ws.h[i], b, w)?,
                ds,
                &mut grads[block.fc2.clone()],
                Some(view_mut(&mut ws.grad_a, b, w)?),
            )?;
            // g: dz = dh ⊙ g'(z) into grad_b.
            spec.hidden.backward(&ws.z[i][..b * w], &ws.h[i][..b * w], &ws.grad_a[..b * w], &mut ws.grad_b[..b * w]);
            // fc1: du = dz·W₁ into grad_a (dh is spent).
            fc.backward(
                &p[block.fc1.clone()],
                view(&ws.normed[i], b, w)?,
                view(&ws.grad_b, b, w)?,
                &mut grads[block.fc1.clone()],
                Some(view_mut(&mut ws.grad_a, b, w)?),
            )?;
            // LN_i: the branch's share of ds_i into grad_b (dz is spent).
            norm.backward(
                &p[block.norm.clone()],
                &ws.xhat[i][..b * w],
                &ws.rstd[i][..b],
                view(&ws.grad_a, b, w)?,
                &mut grads[block.norm.clone()],
                view_mut(&mut ws.grad_b, b, w)?,
            )?;
            // The skip: ds_i = ds_{i+1} (through the identity) + the branch's share.
            for (s, &g) in ws.grad_stream[..b * w].iter_mut().zip(&ws.grad_b[..b * w]) {
                *s += g;
            }
        }
        // The input projection; x itself needs no gradient.
        let ds = view(&ws.grad_stream, b, w)?;
        spec.input_layer().backward(&p[layout.input.clone()], x, ds, &mut grads[layout.input.clone()], None)
    }

    /// One step's maths: forward, loss, backward, regularisation. Returns the loss (with the
    /// penalty) and leaves `dL/dθ` in `grads`.
    pub fn loss_and_gradient(
        &self,
        x: MatRef<'_>,
        targets: Targets<'_>,
        loss: Loss,
        reg: Regularizer,
        ws: &mut ResidualWorkspace,
        grads: &mut [f32],
    ) -> Result<f64> {
        self.forward(x, ws)?;
        let value = self.output_loss(targets, loss, ws)?;
        self.backward(x, ws, grads)?;
        Ok(value + self.add_regularization(reg, grads))
    }

    /// After a forward pass: the loss of the output kept in `ws` against `targets`, with
    /// `dL/dy` written into `ws` for [`ResidualMlp::backward`].
    pub fn output_loss(&self, targets: Targets<'_>, loss: Loss, ws: &mut ResidualWorkspace) -> Result<f64> {
        let (b, out) = (ws.batch, self.spec.outputs);
        loss.forward_backward(view(&ws.y, b, out)?, targets, Some(view_mut(&mut ws.grad_y, b, out)?))
    }

    /// The loss without gradients (evaluation).
    pub fn loss(
        &self,
        x: MatRef<'_>,
        targets: Targets<'_>,
        loss: Loss,
        reg: Regularizer,
        ws: &mut ResidualWorkspace,
    ) -> Result<f64> {
        let out = self.forward(x, ws)?;
        let value = loss.forward_backward(out, targets, None)?;
        Ok(value + self.penalty(reg))
    }

    /// The dense layers' weights, each a window of the parameter vector: what the
    /// regulariser penalises (biases and layer norm gains are not penalised).
    fn weight_ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.layout.dense_layers(&self.spec).map(|(d, r)| r.start..r.start + d.outputs * d.inputs)
    }

    /// The regularisation penalty of the current weights.
    pub fn penalty(&self, reg: Regularizer) -> f64 {
        if reg.is_none() {
            return 0.0;
        }
        self.weight_ranges().map(|r| reg.penalty(&self.params[r])).sum()
    }

    /// Adds the penalty's gradient to `grads`; returns the penalty.
    pub fn add_regularization(&self, reg: Regularizer, grads: &mut [f32]) -> f64 {
        if reg.is_none() {
            return 0.0;
        }
        for r in self.weight_ranges() {
            reg.add_gradient(&self.params[r.clone()], &mut grads[r]);
        }
        self.penalty(reg)
    }

    /// The network's output for `x`, as a new matrix (convenient, allocates).
    pub fn predict(&self, x: MatRef<'_>) -> Result<Matrix> {
        let mut ws = ResidualWorkspace::new(&self.spec, x.rows());
        Ok(self.forward(x, &mut ws)?.to_matrix())
    }
}
