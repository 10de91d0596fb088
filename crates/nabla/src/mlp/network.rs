//! The network, [`Mlp`]: its parameters in one vector, the forward pass, the backward pass
//! written out layer by layer, and the loss and regularisation of one training step.

use std::ops::Range;

use super::dropout::{draw_mask, skip_draws, Dropout};
use super::spec::MlpSpec;
use super::workspace::Workspace;
use crate::dense::Dense;
use crate::error::{Error, Result};
use crate::gemm::Transpose;
use crate::init::Init;
use crate::loss::{Loss, Targets};
use crate::matrix::{MatMut, MatRef, Matrix};
use crate::regularizer::Regularizer;
use crate::rng::Rng;

/// A multi-layer perceptron with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub(super) spec: MlpSpec,
    pub(super) layers: Vec<Dense>,
    /// Start of each layer's window in `params`, plus the total at the end.
    offsets: Vec<usize>,
    params: Vec<f32>,
}

impl Mlp {
    /// A network with every layer initialised by `init`, drawing from `rng` layer by layer.
    pub fn new(spec: MlpSpec, init: Init, rng: &mut Rng) -> Self {
        let mut mlp = Self::zeros(spec);
        for l in 0..mlp.layers.len() {
            let d = mlp.layers[l];
            let (w, b) = mlp.layer_params_mut(l).split_at_mut(d.outputs * d.inputs);
            init.fill(w, b, d.inputs, d.outputs, rng);
        }
        mlp
    }

    /// A network with every parameter zero.
    pub fn zeros(spec: MlpSpec) -> Self {
        let layers: Vec<Dense> = spec.layers().collect();
        let mut offsets = vec![0];
        for d in &layers {
            offsets.push(offsets.last().unwrap() + d.param_count());
        }
        let params = vec![0.0; *offsets.last().unwrap()];
        Self { spec, layers, offsets, params }
    }

    /// A network with the given parameter vector (length must be `spec.param_count()`).
    pub fn from_params(spec: MlpSpec, params: Vec<f32>) -> Result<Self> {
        let mut mlp = Self::zeros(spec);
        if params.len() != mlp.params.len() {
            return Err(Error::Length { what: "MLP parameters", expected: mlp.params.len(), got: params.len() });
        }
        mlp.params = params;
        Ok(mlp)
    }

    /// The architecture.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// The dense layers.
    pub fn layers(&self) -> &[Dense] {
        &self.layers
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

    /// Where layer `l`'s parameters (`[W | b]`) live in the parameter vector.
    pub fn layer_range(&self, l: usize) -> Range<usize> {
        self.offsets[l]..self.offsets[l + 1]
    }

    /// Layer `l`'s parameters `[W | b]`.
    pub fn layer_params(&self, l: usize) -> &[f32] {
        &self.params[self.layer_range(l)]
    }

    /// Layer `l`'s parameters, mutable.
    pub fn layer_params_mut(&mut self, l: usize) -> &mut [f32] {
        let r = self.layer_range(l);
        &mut self.params[r]
    }

    /// Layer `l`'s weight `[out, in]` and bias `[out]`.
    pub fn layer(&self, l: usize) -> (MatRef<'_>, &[f32]) {
        self.layers[l].split(self.layer_params(l))
    }

    /// The forward pass. `x: [B, n_0]`; returns the output `[B, n_L]`, a view into `ws`,
    /// which also keeps every `z_l` and `a_l` for the backward pass.
    pub fn forward<'w>(&self, x: MatRef<'_>, ws: &'w mut Workspace) -> Result<MatRef<'w>> {
        self.forward_impl(x, ws, None)
    }

    /// The forward pass; with `dropout = (p, rng, rows, batch)` the input holds rows `rows` of
    /// a `batch`-row batch and the masks are those rows of the whole batch's.
    pub(super) fn forward_impl<'w>(
        &self,
        x: MatRef<'_>,
        ws: &'w mut Workspace,
        mut dropout: Option<(Dropout, &mut Rng, Range<usize>, usize)>,
    ) -> Result<MatRef<'w>> {
        if x.cols() != self.spec.inputs() {
            return Err(Error::Shape {
                op: "mlp forward",
                left: format!("input {}×{}", x.rows(), x.cols()),
                right: format!("network {}", self.spec),
            });
        }
        let batch = x.rows();
        let (p_in, p_hidden) = dropout.as_ref().map_or((0.0, 0.0), |(d, ..)| (d.input, d.hidden));
        // Draws before and after this input's rows, per mask column (both 0 for a whole batch).
        let (skip_before, skip_after) =
            dropout.as_ref().map_or((0, 0), |(_, _, rows, whole)| (rows.start, whole - rows.end));
        ws.prepare(&self.spec, batch);
        ws.batch = batch;
        ws.input_dropped = p_in > 0.0;
        ws.hidden_dropped = p_hidden > 0.0 && self.layers.len() > 1;
        if let (true, Some((_, rng, ..))) = (ws.input_dropped, dropout.as_mut()) {
            let n = self.spec.inputs();
            ws.x_drop.resize(batch * n, 0.0);
            ws.x_mask.resize(batch * n, 0.0);
            skip_draws(rng, skip_before * n);
            draw_mask(&mut ws.x_mask, p_in, rng);
            skip_draws(rng, skip_after * n);
            for i in 0..batch {
                let row = x.row(i);
                for j in 0..n {
                    ws.x_drop[i * n + j] = row[j] * ws.x_mask[i * n + j];
                }
            }
        }
        let last = self.layers.len() - 1;
        let (input_dropped, hidden_dropped, kernel) = (ws.input_dropped, ws.hidden_dropped, ws.kernel);
        for (l, layer) in self.layers.iter().enumerate() {
            let (n, n_in) = (layer.outputs, layer.inputs);
            // Split the buffers so that layer l reads a_{l-1} while writing z_l and a_l.
            let (a_before, a_rest) = ws.a.split_at_mut(l);
            let hidden_count = ws.a_drop.len();
            let (drop_before, drop_rest) = ws.a_drop.split_at_mut(l.min(hidden_count));
            let input = match (l, input_dropped, hidden_dropped) {
                (0, false, _) => x,
                (0, true, _) => MatRef::new(&ws.x_drop[..batch * n_in], batch, n_in)?,
                (_, _, false) => MatRef::new(&a_before[l - 1][..batch * n_in], batch, n_in)?,
                (_, _, true) => MatRef::new(&drop_before[l - 1][..batch * n_in], batch, n_in)?,
            };
            let z = &mut ws.z[l][..batch * n];
            // z = x·Wᵀ by the GEMM (in the workspace's precision), then the bias and the
            // activation in one pass, in f32.
            let (w, b) = layer.split(self.layer_params(l));
            kernel.gemm(1.0, input, Transpose::No, w, Transpose::Yes, 0.0, MatMut::new(z, batch, n)?)?;
            let a = &mut a_rest[0][..batch * n];
            self.spec.activation(l).forward_with_bias(b, z, a);
            if let (true, true, Some((_, rng, ..))) = (hidden_dropped, l < last, dropout.as_mut()) {
                let mask = &mut ws.masks[l][..batch * n];
                skip_draws(rng, skip_before * n);
                draw_mask(mask, p_hidden, rng);
                skip_draws(rng, skip_after * n);
                for ((d, &a), &m) in drop_rest[0][..batch * n].iter_mut().zip(a.iter()).zip(mask.iter()) {
                    *d = a * m;
                }
            }
        }
        MatRef::new(&ws.a[last][..batch * self.spec.outputs()], batch, self.spec.outputs())
    }

    /// The backward pass, after [`Mlp::forward`] on the same `x` and `ws`, with the loss
    /// gradient `dL/da_L` already in `ws.output_grad_mut()`. Writes `dL/dθ` for every
    /// parameter into `grads` (overwritten).
    ///
    /// From the last layer to the first: `dz_l = da_l ⊙ f_l'(z_l)`, `dW_l = dz_lᵀ · a_{l−1}`,
    /// `db_l = Σ_B dz_l`, and `da_{l−1} = dz_l · W_l` (not needed for the first layer).
    pub fn backward(&self, x: MatRef<'_>, ws: &mut Workspace, grads: &mut [f32]) -> Result<()> {
        self.backward_with(x, ws, grads, &mut |_, _| {})
    }

    /// [`Mlp::backward`], handing each layer's finished gradient `[dW | db]` (the
    /// [`Mlp::layer_range`] of `grads`) to `on_layer` as soon as it is computed, last layer
    /// first. The backward pass never touches that part of `grads` again, so `on_layer` may
    /// keep it, for instance as the buffer of a non-blocking all-reduce that runs while the
    /// earlier layers' gradients are computed.
    pub fn backward_with<'g>(
        &self,
        x: MatRef<'_>,
        ws: &mut Workspace,
        grads: &'g mut [f32],
        on_layer: &mut dyn FnMut(usize, &'g mut [f32]),
    ) -> Result<()> {
        self.check_backward(x, ws, grads)?;
        let batch = ws.batch;
        let kernel = ws.kernel;
        // The layers' gradients not yet computed: layer l's is cut off the end of it in turn.
        let mut pending = grads;
        for l in (0..self.layers.len()).rev() {
            let layer = self.layers[l];
            let (n, n_in) = (layer.outputs, layer.inputs);
            let (earlier, layer_grads) = std::mem::take(&mut pending).split_at_mut(self.offsets[l]);
            pending = earlier;
            let (dw, db) = layer_grads.split_at_mut(n * n_in);
            self.layer_dz(l, ws, db);
            let input = Self::layer_input(l, n_in, x, ws)?;
            let dz = MatRef::new(&ws.grad_z[..batch * n], batch, n)?;
            // dW = dzᵀ · a_{l−1}: dz is read transposed, no copy made.
            kernel.gemm(1.0, dz, Transpose::Yes, input, Transpose::No, 0.0, MatMut::new(dw, n, n_in)?)?;
            // Layer l's gradient is final: hand it over before computing da_{l−1}.
            on_layer(l, layer_grads);
            if l > 0 {
                // dz_l is consumed here; grad_a is free again and receives da_{l−1} = dz · W,
                // split between threads along the outputs: each reads the rows of W it reads
                // in the forward pass and updates in the step.
                let (w, _) = layer.split(self.layer_params(l));
                kernel.gemm_by_depth(
                    1.0,
                    dz,
                    Transpose::No,
                    w,
                    Transpose::No,
                    0.0,
                    MatMut::new(&mut ws.grad_a[..batch * n_in], batch, n_in)?,
                )?;
            }
        }
        Ok(())
    }

    /// A backward pass's arguments: `grads` as long as the parameters, `x` the forward pass's
    /// batch.
    pub(super) fn check_backward(&self, x: MatRef<'_>, ws: &Workspace, grads: &[f32]) -> Result<()> {
        if grads.len() != self.params.len() {
            return Err(Error::Length { what: "MLP gradients", expected: self.params.len(), got: grads.len() });
        }
        if x.rows() != ws.batch {
            return Err(Error::Invalid {
                name: "batch",
                value: x.rows().to_string(),
                reason: format!("backward must see the same input as the forward pass ({} rows)", ws.batch),
            });
        }
        Ok(())
    }

    /// Layer `l`'s `dz = da ⊙ f'(z)` into `ws.grad_z` and `db = Σ_B dz` into `db`, from the
    /// `da` in `ws.grad_a` (masked first when the next layer saw dropped activations).
    pub(super) fn layer_dz(&self, l: usize, ws: &mut Workspace, db: &mut [f32]) {
        let (batch, n) = (ws.batch, self.layers[l].outputs);
        if ws.hidden_dropped && l < self.layers.len() - 1 {
            // The next layer saw a ⊙ mask, so dL/da = dL/d(a ⊙ mask) ⊙ mask.
            for (g, &m) in ws.grad_a[..batch * n].iter_mut().zip(&ws.masks[l][..batch * n]) {
                *g *= m;
            }
        }
        // dz = da ⊙ f'(z) and db = Σ_B dz in one pass.
        let (da, dz) = (&ws.grad_a[..batch * n], &mut ws.grad_z[..batch * n]);
        self.spec.activation(l).backward_with_bias_grad(&ws.z[l][..batch * n], &ws.a[l][..batch * n], da, dz, db);
    }

    /// What layer `l` (`n_in` inputs) saw in the forward pass: `x` or the previous layer's
    /// activations, with dropout's masks applied where they were.
    pub(super) fn layer_input<'w>(l: usize, n_in: usize, x: MatRef<'w>, ws: &'w Workspace) -> Result<MatRef<'w>> {
        let batch = ws.batch;
        match (l, ws.input_dropped, ws.hidden_dropped) {
            (0, false, _) => Ok(x),
            (0, true, _) => MatRef::new(&ws.x_drop[..batch * n_in], batch, n_in),
            (_, _, false) => MatRef::new(&ws.a[l - 1][..batch * n_in], batch, n_in),
            (_, _, true) => MatRef::new(&ws.a_drop[l - 1][..batch * n_in], batch, n_in),
        }
    }

    /// One step's maths: forward, loss, backward, regularisation. Returns the loss (with the
    /// penalty) and leaves `dL/dθ` in `grads`.
    pub fn loss_and_gradient(
        &self,
        x: MatRef<'_>,
        targets: Targets<'_>,
        loss: Loss,
        reg: Regularizer,
        ws: &mut Workspace,
        grads: &mut [f32],
    ) -> Result<f64> {
        self.forward(x, ws)?;
        let value = self.output_loss(targets, loss, ws)?;
        self.backward(x, ws, grads)?;
        Ok(value + self.add_regularization(reg, grads))
    }

    /// After a forward pass: the loss of the output kept in `ws` against `targets`, with
    /// `dL/da_L` written into `ws` for [`Mlp::backward`].
    pub fn output_loss(&self, targets: Targets<'_>, loss: Loss, ws: &mut Workspace) -> Result<f64> {
        let (batch, out) = (ws.batch, self.spec.outputs());
        let last = self.layers.len() - 1;
        loss.forward_backward(
            MatRef::new(&ws.a[last][..batch * out], batch, out)?,
            targets,
            Some(MatMut::new(&mut ws.grad_a[..batch * out], batch, out)?),
        )
    }

    /// The loss without gradients (evaluation).
    pub fn loss(
        &self,
        x: MatRef<'_>,
        targets: Targets<'_>,
        loss: Loss,
        reg: Regularizer,
        ws: &mut Workspace,
    ) -> Result<f64> {
        let out = self.forward(x, ws)?;
        let value = loss.forward_backward(out, targets, None)?;
        Ok(value + self.penalty(reg))
    }

    /// The regularisation penalty of the current weights (biases are not penalised).
    pub fn penalty(&self, reg: Regularizer) -> f64 {
        if reg.is_none() {
            return 0.0;
        }
        (0..self.layers.len()).map(|l| reg.penalty(self.weight_slice(l))).sum()
    }

    /// Adds the penalty's gradient to `grads`; returns the penalty.
    pub fn add_regularization(&self, reg: Regularizer, grads: &mut [f32]) -> f64 {
        if reg.is_none() {
            return 0.0;
        }
        for l in 0..self.layers.len() {
            let r = self.layer_range(l);
            let nw = self.layers[l].outputs * self.layers[l].inputs;
            reg.add_gradient(self.weight_slice(l), &mut grads[r.start..r.start + nw]);
        }
        self.penalty(reg)
    }

    fn weight_slice(&self, l: usize) -> &[f32] {
        let d = self.layers[l];
        &self.layer_params(l)[..d.outputs * d.inputs]
    }

    /// The network's output for `x`, as a new matrix (convenient, allocates).
    pub fn predict(&self, x: MatRef<'_>) -> Result<Matrix> {
        let mut ws = Workspace::new(&self.spec, x.rows());
        Ok(self.forward(x, &mut ws)?.to_matrix())
    }
}
