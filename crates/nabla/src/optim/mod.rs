//! Optimisers: how a gradient becomes a parameter update.
//!
//! Each works on the model's single parameter slice and the gradient slice of the same
//! layout, keeps its own state (velocity, moment estimates) in slices of that layout too, and
//! takes the learning rate per step so that schedules live outside. Update rules follow
//! PyTorch's `torch.optim` definitions, so settings carry over, with two differences, both
//! about values too small to matter: a velocity or moment that decays below the smallest
//! normal `f32` is kept as zero, not as a subnormal (see `rule::flushed`), and an update so
//! small that the learning rate times it would be subnormal moves its parameter by zero
//! (`rule::least_moving`), where the full arithmetic moves it by less than half a unit in
//! its last place unless the parameter itself is below about 10⁻²² (10⁻³⁰ for momentum and
//! SGD).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

mod rule;

pub use rule::StepRule;
pub(crate) use rule::WeightUpdate;
use rule::{AdamStep, Rule};

/// An optimiser: updates `params` in place from `grads` with step size `lr`.
pub trait Optimizer: fmt::Debug + Send {
    /// One update. `params` and `grads` have the same length on every call.
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        self.begin_step(lr).apply_all(params, grads);
    }

    /// Begins one update and returns its rule, to be applied to every parameter once
    /// ([`StepRule::apply_all`], or a layer's weights as their gradient is computed: see
    /// [`crate::Mlp::backward_update`]); counts the step.
    fn begin_step(&mut self, lr: f32) -> StepRule<'_>;

    /// Its state as named buffers (for checkpoints); empty for plain SGD.
    fn state(&self) -> Vec<(&'static str, &[f32])>;

    /// Restores a buffer saved by [`Optimizer::state`].
    fn load_state(&mut self, name: &str, data: &[f32]) -> Result<()>;

    /// Number of steps taken so far.
    fn steps(&self) -> u64;

    /// Sets the number of steps taken (on resume).
    fn set_steps(&mut self, steps: u64);
}

/// Which optimiser, with its hyperparameters: the one typed setting that the CLI, the config
/// file and the tracker share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// `θ ← θ − lr·(g + wd·θ)`.
    Sgd,
    /// Heavy ball: `v ← μ·v + g`, `θ ← θ − lr·v`.
    Momentum,
    /// Nesterov: `v ← μ·v + g`, `θ ← θ − lr·(g + μ·v)`.
    Nesterov,
    /// Adam (Kingma & Ba 2015) with bias correction; weight decay added to the gradient.
    Adam,
    /// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay `θ ← θ − lr·wd·θ`.
    AdamW,
}

impl OptimizerKind {
    /// The names accepted by [`FromStr`].
    pub const NAMES: &'static str = "sgd, momentum, nesterov, adam, adamw";
}

impl FromStr for OptimizerKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "sgd" => OptimizerKind::Sgd,
            "momentum" => OptimizerKind::Momentum,
            "nesterov" => OptimizerKind::Nesterov,
            "adam" => OptimizerKind::Adam,
            "adamw" => OptimizerKind::AdamW,
            _ => {
                return Err(Error::Parse {
                    what: "optimizer",
                    input: s.into(),
                    reason: format!("expected one of {}", Self::NAMES),
                })
            }
        })
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        })
    }
}

/// Hyperparameters shared by the optimisers (each uses the ones it needs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerConfig {
    /// Which rule.
    pub kind: OptimizerKind,
    /// μ of momentum and Nesterov.
    pub momentum: f32,
    /// β₁ of Adam.
    pub beta1: f32,
    /// β₂ of Adam.
    pub beta2: f32,
    /// ε of Adam.
    pub eps: f32,
    /// Weight decay (L2 added to the gradient; decoupled for AdamW).
    pub weight_decay: f32,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self { kind: OptimizerKind::Sgd, momentum: 0.9, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

impl OptimizerConfig {
    /// Builds the optimiser for a model of `n` parameters.
    pub fn build(&self, n: usize) -> Box<dyn Optimizer> {
        match self.kind {
            OptimizerKind::Sgd => Box::new(Sgd { weight_decay: self.weight_decay, steps: 0 }),
            OptimizerKind::Momentum | OptimizerKind::Nesterov => Box::new(Momentum {
                momentum: self.momentum,
                nesterov: self.kind == OptimizerKind::Nesterov,
                weight_decay: self.weight_decay,
                velocity: vec![0.0; n],
                steps: 0,
            }),
            OptimizerKind::Adam | OptimizerKind::AdamW => Box::new(Adam {
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
                weight_decay: self.weight_decay,
                decoupled: self.kind == OptimizerKind::AdamW,
                m: vec![0.0; n],
                v: vec![0.0; n],
                steps: 0,
            }),
        }
    }
}

/// Plain stochastic gradient descent: `θ ← θ − lr·(g + wd·θ)`.
#[derive(Debug, Clone, Default)]
pub struct Sgd {
    /// Weight decay (L2 coefficient added to the gradient).
    pub weight_decay: f32,
    steps: u64,
}

impl Sgd {
    /// SGD without weight decay.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Optimizer for Sgd {
    fn begin_step(&mut self, lr: f32) -> StepRule<'_> {
        self.steps += 1;
        StepRule::new(Rule::Sgd { lr, wd: self.weight_decay }, None, None, None)
    }

    fn state(&self) -> Vec<(&'static str, &[f32])> {
        Vec::new()
    }

    fn load_state(&mut self, name: &str, _data: &[f32]) -> Result<()> {
        Err(unknown_state("sgd", name))
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }
}

/// SGD with (optionally Nesterov) momentum, as `torch.optim.SGD` defines it.
#[derive(Debug, Clone)]
pub struct Momentum {
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
    velocity: Vec<f32>,
    steps: u64,
}

impl Optimizer for Momentum {
    fn begin_step(&mut self, lr: f32) -> StepRule<'_> {
        // The first step starts the velocity at the gradient itself, as PyTorch does.
        let rule = Rule::Momentum {
            lr,
            mu: self.momentum,
            wd: self.weight_decay,
            first: self.steps == 0,
            nesterov: self.nesterov,
        };
        self.steps += 1;
        let len = self.velocity.len();
        StepRule::new(rule, Some(&mut self.velocity), None, Some(len))
    }

    fn state(&self) -> Vec<(&'static str, &[f32])> {
        vec![("velocity", &self.velocity)]
    }

    fn load_state(&mut self, name: &str, data: &[f32]) -> Result<()> {
        match name {
            "velocity" => copy_state(&mut self.velocity, data, "velocity"),
            _ => Err(unknown_state("momentum", name)),
        }
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }
}

/// Adam and AdamW, as `torch.optim.Adam` / `AdamW` define them.
#[derive(Debug, Clone)]
pub struct Adam {
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decoupled: bool,
    m: Vec<f32>,
    v: Vec<f32>,
    steps: u64,
}

impl Optimizer for Adam {
    fn begin_step(&mut self, lr: f32) -> StepRule<'_> {
        self.steps += 1;
        let t = self.steps as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        // Bias corrections: m and v start at zero and would underestimate early on.
        let c1 = 1.0 - f64::from(b1).powi(t);
        let c2 = 1.0 - f64::from(b2).powi(t);
        let coeffs = AdamStep {
            b1,
            b2,
            step_size: (f64::from(lr) / c1) as f32,
            inv_sqrt_c2: (1.0 / c2.sqrt()) as f32,
            eps: self.eps,
            wd: self.weight_decay,
            decay: 1.0 - lr * self.weight_decay,
            decoupled: self.decoupled,
        };
        let len = self.m.len();
        StepRule::new(Rule::Adam(coeffs), Some(&mut self.m), Some(&mut self.v), Some(len))
    }

    fn state(&self) -> Vec<(&'static str, &[f32])> {
        vec![("m", &self.m), ("v", &self.v)]
    }

    fn load_state(&mut self, name: &str, data: &[f32]) -> Result<()> {
        match name {
            "m" => copy_state(&mut self.m, data, "m"),
            "v" => copy_state(&mut self.v, data, "v"),
            _ => Err(unknown_state("adam", name)),
        }
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }
}

fn copy_state(dst: &mut [f32], src: &[f32], what: &'static str) -> Result<()> {
    if dst.len() != src.len() {
        return Err(Error::Length { what, expected: dst.len(), got: src.len() });
    }
    dst.copy_from_slice(src);
    Ok(())
}

fn unknown_state(opt: &str, name: &str) -> Error {
    Error::Invalid { name: "optimizer state", value: name.into(), reason: format!("{opt} has no such buffer") }
}

#[cfg(test)]
mod tests;
