//! Either kind of network the trainer builds: a plain [`Mlp`] or a [`ResidualMlp`]
//! ([`Network`]), with its architecture ([`NetworkSpec`]) and its per-batch buffers
//! ([`NetworkWorkspace`]).
//!
//! An enum rather than a trait object: each call is one `match` and then the network's own
//! code, so the plain path computes exactly what `Mlp` computes and allocates nothing more;
//! and the two kinds share only what a training loop needs (forward, loss, backward,
//! regularisation, one parameter vector), not their internals (dropout and the per-layer
//! backward callback are `Mlp`'s alone: reach them through [`Network::plain`]).

use std::fmt;

use crate::error::{Error, Result};
use crate::init::Init;
use crate::loss::{Loss, Targets};
use crate::matrix::{MatRef, Matrix};
use crate::mlp::{Mlp, MlpSpec, TensorInfo, Workspace};
use crate::regularizer::Regularizer;
use crate::residual::{ResidualMlp, ResidualSpec, ResidualWorkspace};
use crate::rng::Rng;

/// The architecture of a [`Network`].
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkSpec {
    /// Dense layers one after the other.
    Plain(MlpSpec),
    /// Pre-norm residual blocks on a stream of one width.
    Residual(ResidualSpec),
}

impl NetworkSpec {
    /// Input width.
    pub fn inputs(&self) -> usize {
        match self {
            NetworkSpec::Plain(s) => s.inputs(),
            NetworkSpec::Residual(s) => s.inputs,
        }
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        match self {
            NetworkSpec::Plain(s) => s.outputs(),
            NetworkSpec::Residual(s) => s.outputs,
        }
    }

    /// Total number of parameters.
    pub fn param_count(&self) -> usize {
        match self {
            NetworkSpec::Plain(s) => s.param_count(),
            NetworkSpec::Residual(s) => s.param_count(),
        }
    }

    /// The named tensors of the parameter vector, in storage order.
    pub fn tensors(&self) -> Vec<TensorInfo> {
        match self {
            NetworkSpec::Plain(s) => s.tensors(),
            NetworkSpec::Residual(s) => s.tensors(),
        }
    }

    /// The plain architecture, if this is one.
    pub fn plain(&self) -> Option<&MlpSpec> {
        match self {
            NetworkSpec::Plain(s) => Some(s),
            NetworkSpec::Residual(_) => None,
        }
    }

    /// Why this network is too large for [`crate::limits`], if it is. A residual net's dense
    /// layers are counted as the plain net `inputs-W-W-…-W-outputs` with `2·blocks + 1`
    /// widths `W` (its layer norms' `2W` per norm are left out: they are a small share).
    pub fn too_large(&self) -> Option<String> {
        match self {
            NetworkSpec::Plain(s) => crate::limits::network_too_large(&s.sizes),
            NetworkSpec::Residual(s) => crate::limits::network_too_large(&residual_widths(s, 2 * s.blocks + 1)),
        }
    }

    /// Why a batch of `rows` through this network holds too many values, if it does. A
    /// residual block keeps five `[B, W]` buffers (stream, normalised, `x̂`, `z`, `h`).
    pub fn batch_too_large(&self, rows: usize) -> Option<String> {
        match self {
            NetworkSpec::Plain(s) => crate::limits::batch_too_large(rows, &s.sizes),
            NetworkSpec::Residual(s) => {
                crate::limits::batch_too_large(rows, &residual_widths(s, 5 * s.blocks.saturating_add(1)))
            }
        }
    }
}

/// `inputs, W × count, outputs` (a count past memory is capped: the limit refuses it anyway).
fn residual_widths(s: &ResidualSpec, count: usize) -> Vec<usize> {
    let mut sizes = vec![s.inputs];
    sizes.extend(std::iter::repeat_n(s.width, count.min(1 << 20)));
    sizes.push(s.outputs);
    sizes
}

/// The plain one as [`MlpSpec`] shows it; the residual one as [`ResidualSpec`] does.
impl fmt::Display for NetworkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkSpec::Plain(s) => s.fmt(f),
            NetworkSpec::Residual(s) => s.fmt(f),
        }
    }
}

impl From<MlpSpec> for NetworkSpec {
    fn from(spec: MlpSpec) -> Self {
        NetworkSpec::Plain(spec)
    }
}

impl From<ResidualSpec> for NetworkSpec {
    fn from(spec: ResidualSpec) -> Self {
        NetworkSpec::Residual(spec)
    }
}

/// A plain or a residual MLP with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Network {
    /// An [`Mlp`].
    Plain(Mlp),
    /// A [`ResidualMlp`].
    Residual(ResidualMlp),
}

/// The buffers of a [`Network`]'s forward and backward passes.
#[derive(Debug, Clone)]
pub enum NetworkWorkspace {
    /// An [`Mlp`]'s.
    Plain(Workspace),
    /// A [`ResidualMlp`]'s.
    Residual(ResidualWorkspace),
}

impl NetworkWorkspace {
    /// Buffers for `spec` and batches of up to `batch` rows.
    pub fn new(spec: &NetworkSpec, batch: usize) -> Self {
        match spec {
            NetworkSpec::Plain(s) => NetworkWorkspace::Plain(Workspace::new(s, batch)),
            NetworkSpec::Residual(s) => NetworkWorkspace::Residual(ResidualWorkspace::new(s, batch)),
        }
    }

    /// Runs the network's matrix products in `precision` ([`Workspace::set_precision`]).
    /// Errors for bf16 on a residual network (its products are `f32` only, for now) and on a
    /// CPU without bf16 matrix instructions.
    pub fn set_precision(&mut self, precision: crate::gemm::MatmulPrecision) -> Result<()> {
        match (self, precision) {
            (NetworkWorkspace::Plain(ws), _) => ws.set_precision(precision),
            (NetworkWorkspace::Residual(_), crate::gemm::MatmulPrecision::F32) => Ok(()),
            (NetworkWorkspace::Residual(_), crate::gemm::MatmulPrecision::Bf16) => Err(Error::Invalid {
                name: "precision",
                value: precision.to_string(),
                reason: "bf16 training is only implemented for plain MLPs, not residual ones (yet)".into(),
            }),
        }
    }
}

impl Network {
    /// A network initialised by `init` from `rng` (as [`Mlp::new`] or [`ResidualMlp::new`]).
    pub fn new(spec: NetworkSpec, init: Init, rng: &mut Rng) -> Self {
        match spec {
            NetworkSpec::Plain(s) => Network::Plain(Mlp::new(s, init, rng)),
            NetworkSpec::Residual(s) => Network::Residual(ResidualMlp::new(s, init, rng)),
        }
    }

    /// A network with the given parameter vector (length must be `spec.param_count()`).
    pub fn from_params(spec: NetworkSpec, params: Vec<f32>) -> Result<Self> {
        Ok(match spec {
            NetworkSpec::Plain(s) => Network::Plain(Mlp::from_params(s, params)?),
            NetworkSpec::Residual(s) => Network::Residual(ResidualMlp::from_params(s, params)?),
        })
    }

    /// The architecture (a copy).
    pub fn spec(&self) -> NetworkSpec {
        match self {
            Network::Plain(n) => NetworkSpec::Plain(n.spec().clone()),
            Network::Residual(n) => NetworkSpec::Residual(n.spec().clone()),
        }
    }

    /// The plain MLP, if this is one.
    pub fn plain(&self) -> Option<&Mlp> {
        match self {
            Network::Plain(n) => Some(n),
            Network::Residual(_) => None,
        }
    }

    /// The plain MLP, or an error saying that `what` needs one.
    pub fn require_plain(&self, what: &'static str) -> Result<&Mlp> {
        self.plain().ok_or_else(|| Error::Invalid {
            name: what,
            value: self.spec().to_string(),
            reason: "is only implemented for plain MLPs, not residual ones (yet)".into(),
        })
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        match self {
            Network::Plain(n) => n.spec().inputs(),
            Network::Residual(n) => n.spec().inputs,
        }
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        match self {
            Network::Plain(n) => n.spec().outputs(),
            Network::Residual(n) => n.spec().outputs,
        }
    }

    /// All parameters in one slice.
    pub fn params(&self) -> &[f32] {
        match self {
            Network::Plain(n) => n.params(),
            Network::Residual(n) => n.params(),
        }
    }

    /// All parameters in one slice, mutable.
    pub fn params_mut(&mut self) -> &mut [f32] {
        match self {
            Network::Plain(n) => n.params_mut(),
            Network::Residual(n) => n.params_mut(),
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.params().len()
    }

    /// Makes `ws` this network's kind of workspace; allocates only when it was the other kind.
    fn fit<'w>(&self, ws: &'w mut NetworkWorkspace, rows: usize) -> &'w mut NetworkWorkspace {
        let fits = matches!((self, &*ws), (Network::Plain(_), NetworkWorkspace::Plain(_)))
            || matches!((self, &*ws), (Network::Residual(_), NetworkWorkspace::Residual(_)));
        if !fits {
            *ws = NetworkWorkspace::new(&self.spec(), rows);
        }
        ws
    }

    /// The forward pass, `x: [B, inputs]` → `[B, outputs]` (a view into `ws`).
    pub fn forward<'w>(&self, x: MatRef<'_>, ws: &'w mut NetworkWorkspace) -> Result<MatRef<'w>> {
        match (self, self.fit(ws, x.rows())) {
            (Network::Plain(n), NetworkWorkspace::Plain(ws)) => n.forward(x, ws),
            (Network::Residual(n), NetworkWorkspace::Residual(ws)) => n.forward(x, ws),
            _ => unreachable!("fit matched the workspace to the network"),
        }
    }

    /// After a forward pass: the loss of the output in `ws` against `targets`, with `dL/dy`
    /// written into `ws` for [`Network::backward`].
    pub fn output_loss(&self, targets: Targets<'_>, loss: Loss, ws: &mut NetworkWorkspace) -> Result<f64> {
        match (self, ws) {
            (Network::Plain(n), NetworkWorkspace::Plain(ws)) => n.output_loss(targets, loss, ws),
            (Network::Residual(n), NetworkWorkspace::Residual(ws)) => n.output_loss(targets, loss, ws),
            _ => Err(mismatch()),
        }
    }

    /// The backward pass after [`Network::forward`] on the same `x` and `ws`: `dL/dθ` into
    /// `grads` (overwritten).
    pub fn backward(&self, x: MatRef<'_>, ws: &mut NetworkWorkspace, grads: &mut [f32]) -> Result<()> {
        match (self, ws) {
            (Network::Plain(n), NetworkWorkspace::Plain(ws)) => n.backward(x, ws, grads),
            (Network::Residual(n), NetworkWorkspace::Residual(ws)) => n.backward(x, ws, grads),
            _ => Err(mismatch()),
        }
    }

    /// Forward, loss, backward and regularisation; returns the loss with the penalty.
    pub fn loss_and_gradient(
        &self,
        x: MatRef<'_>,
        targets: Targets<'_>,
        loss: Loss,
        reg: Regularizer,
        ws: &mut NetworkWorkspace,
        grads: &mut [f32],
    ) -> Result<f64> {
        self.forward(x, ws)?;
        let value = self.output_loss(targets, loss, ws)?;
        self.backward(x, ws, grads)?;
        Ok(value + self.add_regularization(reg, grads))
    }

    /// The regularisation penalty of the current weights.
    pub fn penalty(&self, reg: Regularizer) -> f64 {
        match self {
            Network::Plain(n) => n.penalty(reg),
            Network::Residual(n) => n.penalty(reg),
        }
    }

    /// Adds the penalty's gradient to `grads`; returns the penalty.
    pub fn add_regularization(&self, reg: Regularizer, grads: &mut [f32]) -> f64 {
        match self {
            Network::Plain(n) => n.add_regularization(reg, grads),
            Network::Residual(n) => n.add_regularization(reg, grads),
        }
    }

    /// The network's output for `x`, as a new matrix (allocates).
    pub fn predict(&self, x: MatRef<'_>) -> Result<Matrix> {
        match self {
            Network::Plain(n) => n.predict(x),
            Network::Residual(n) => n.predict(x),
        }
    }
}

fn mismatch() -> Error {
    Error::Invalid {
        name: "workspace",
        value: "the other kind of network's".into(),
        reason: "run Network::forward with this workspace first".into(),
    }
}

impl From<Mlp> for Network {
    fn from(mlp: Mlp) -> Self {
        Network::Plain(mlp)
    }
}

impl From<ResidualMlp> for Network {
    fn from(net: ResidualMlp) -> Self {
        Network::Residual(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;

    fn x() -> Matrix {
        let mut rng = Rng::new(3);
        let data = (0..5 * 4).map(|_| rng.normal() as f32).collect();
        Matrix::from_vec(5, 4, data).unwrap()
    }

    /// The enum adds nothing to the numbers: the same bits as each network on its own.
    #[test]
    fn both_kinds_compute_what_their_network_computes() {
        let (relu, id) = (Activation::Relu, Activation::Identity);
        let plain = Mlp::new(MlpSpec::deep(4, 2, 6, 3, relu, id).unwrap(), Init::HeNormal, &mut Rng::new(1));
        let residual =
            ResidualMlp::new(ResidualSpec::new(4, 6, 2, 3, relu, id).unwrap(), Init::HeNormal, &mut Rng::new(1));
        let labels = [0u32, 2, 1, 1, 0];
        let x = x();
        let (loss, reg) = (Loss::SoftmaxCrossEntropy, Regularizer { l1: 0.0, l2: 1e-3 });

        let mut g_plain = vec![0.0; plain.num_params()];
        let mut ws = Workspace::new(plain.spec(), 5);
        let l_plain = plain.loss_and_gradient(x.view(), Targets::Classes(&labels), loss, reg, &mut ws, &mut g_plain);
        let net = Network::from(plain.clone());
        let mut g = vec![0.0; net.num_params()];
        let mut nws = NetworkWorkspace::new(&net.spec(), 5);
        let l = net.loss_and_gradient(x.view(), Targets::Classes(&labels), loss, reg, &mut nws, &mut g);
        assert_eq!(l.unwrap().to_bits(), l_plain.unwrap().to_bits());
        assert_eq!(g, g_plain);

        let mut g_res = vec![0.0; residual.num_params()];
        let mut rws = ResidualWorkspace::new(residual.spec(), 5);
        let l_res = residual.loss_and_gradient(x.view(), Targets::Classes(&labels), loss, reg, &mut rws, &mut g_res);
        let net = Network::from(residual.clone());
        let mut g = vec![0.0; net.num_params()];
        // A plain workspace handed to a residual net is replaced, not misread.
        let l = net.loss_and_gradient(x.view(), Targets::Classes(&labels), loss, reg, &mut nws, &mut g);
        assert_eq!(l.unwrap().to_bits(), l_res.unwrap().to_bits());
        assert_eq!(g, g_res);
        assert!(matches!(nws, NetworkWorkspace::Residual(_)));
        assert_eq!(net.spec().tensors(), residual.spec().tensors());
        assert!(net.plain().is_none() && net.require_plain("quantising").is_err());
    }

    #[test]
    fn limits_count_a_residual_net_s_layers() {
        let (relu, id) = (Activation::Relu, Activation::Identity);
        let small = NetworkSpec::from(ResidualSpec::new(784, 64, 20, 10, relu, id).unwrap());
        assert_eq!(small.too_large(), None);
        assert_eq!(small.batch_too_large(1024), None);
        // 200 blocks of 4096² weights: 6.7 billion parameters.
        let huge = NetworkSpec::from(ResidualSpec::new(784, 4096, 200, 10, relu, id).unwrap());
        assert!(huge.too_large().unwrap().contains("parameters"), "{:?}", huge.too_large());
        assert!(small.batch_too_large(1 << 19).is_some());
    }
}
