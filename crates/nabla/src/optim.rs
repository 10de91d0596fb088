//! Optimisers: how a gradient becomes a parameter update.
//!
//! Each works on the model's single parameter slice and the gradient slice of the same
//! layout, keeps its own state (velocity, moment estimates) in slices of that layout too, and
//! takes the learning rate per step so that schedules live outside. Update rules follow
//! PyTorch's `torch.optim` definitions, so settings carry over.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::pool::{for_dealt_ranges, SharedMut};
use crate::widest_simd;

/// Runs an element-wise update of `len` values on the threads [`crate::pool::set_threads`]
/// allows (one pass, in ranges of [`STEP_CHUNK`] values dealt out to the threads in turn; the
/// same bits for any thread count). The step follows the backward pass, which wrote the first
/// layer's gradients last: in contiguous halves one thread found its part in cache and
/// waited for the other (W3's Adam at two threads on Zen 4: halves of 1.06 and 1.65 ms a
/// step; dealt, about 1.1 ms each).
fn split(len: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    for_dealt_ranges(crate::pool::threads(), len, STEP_CHUNK, f);
}

/// Values per range of an optimiser step (64 KiB of each buffer).
const STEP_CHUNK: usize = 1 << 14;

/// An optimiser: updates `params` in place from `grads` with step size `lr`.
pub trait Optimizer: fmt::Debug + Send {
    /// One update. `params` and `grads` have the same length on every call.
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32);

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
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        assert_eq!(params.len(), grads.len(), "sgd: params and grads differ in length");
        let wd = self.weight_decay;
        let shared = SharedMut::new(params);
        split(grads.len(), &|r| {
            // SAFETY: `split` gives each task its own range.
            let params = unsafe { shared.range(r.clone()) };
            widest_simd!(sgd_range(lr, wd, params, &grads[r]));
        });
        self.steps += 1;
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
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        assert!(params.len() == grads.len() && grads.len() == self.velocity.len(), "momentum: lengths differ");
        let (mu, wd) = (self.momentum, self.weight_decay);
        // The first step starts the velocity at the gradient itself, as PyTorch does.
        let (first, nesterov) = (self.steps == 0, self.nesterov);
        let (params, velocity) = (SharedMut::new(params), SharedMut::new(&mut self.velocity));
        split(grads.len(), &|r| {
            // SAFETY: `split` gives each task its own range.
            let (params, velocity) = unsafe { (params.range(r.clone()), velocity.range(r.clone())) };
            widest_simd!(momentum_range(lr, mu, wd, first, nesterov, params, &grads[r], velocity));
        });
        self.steps += 1;
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
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        assert!(params.len() == grads.len() && grads.len() == self.m.len(), "adam: lengths differ");
        self.steps += 1;
        let t = self.steps as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        // Bias corrections: m and v start at zero and would underestimate early on.
        let c1 = 1.0 - f64::from(b1).powi(t);
        let c2 = 1.0 - f64::from(b2).powi(t);
        let step_size = (f64::from(lr) / c1) as f32;
        let inv_sqrt_c2 = (1.0 / c2.sqrt()) as f32;
        let coeffs = AdamStep {
            b1,
            b2,
            step_size,
            inv_sqrt_c2,
            eps: self.eps,
            wd: self.weight_decay,
            decay: 1.0 - lr * self.weight_decay,
            decoupled: self.decoupled,
        };
        let (params, m, v) = (SharedMut::new(params), SharedMut::new(&mut self.m), SharedMut::new(&mut self.v));
        split(grads.len(), &|r| {
            // SAFETY: `split` gives each task its own range.
            let (params, m, v) = unsafe { (params.range(r.clone()), m.range(r.clone()), v.range(r.clone())) };
            widest_simd!(adam_range(coeffs, params, &grads[r], m, v));
        });
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

/// Plain SGD on one range: `θ ← θ − lr·(g + wd·θ)`.
#[inline(always)]
fn sgd_range(lr: f32, wd: f32, params: &mut [f32], grads: &[f32]) {
    for (p, &g) in params.iter_mut().zip(grads) {
        *p -= lr * (g + wd * *p);
    }
}

/// Momentum (or Nesterov) SGD on one range. The two flags are the same for every element,
/// so each combination gets its own branch-free (vectorised) loop.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn momentum_range(
    lr: f32,
    mu: f32,
    wd: f32,
    first: bool,
    nesterov: bool,
    params: &mut [f32],
    grads: &[f32],
    velocity: &mut [f32],
) {
    let step = |p: &mut f32, g: f32, v: &mut f32, first: bool, nesterov: bool| {
        let g = g + wd * *p;
        *v = if first { g } else { mu * *v + g };
        let update = if nesterov { g + mu * *v } else { *v };
        *p -= lr * update;
    };
    let all = params.iter_mut().zip(grads).zip(velocity.iter_mut());
    match (first, nesterov) {
        (true, true) => all.for_each(|((p, &g), v)| step(p, g, v, true, true)),
        (true, false) => all.for_each(|((p, &g), v)| step(p, g, v, true, false)),
        (false, true) => all.for_each(|((p, &g), v)| step(p, g, v, false, true)),
        (false, false) => all.for_each(|((p, &g), v)| step(p, g, v, false, false)),
    }
}

/// One Adam step's numbers, copied by value into the update loop (captured by reference,
/// they were reloaded for every element and kept the loop scalar).
#[derive(Clone, Copy)]
struct AdamStep {
    b1: f32,
    b2: f32,
    /// `lr / (1 − β₁ᵗ)`.
    step_size: f32,
    /// `1 / √(1 − β₂ᵗ)`.
    inv_sqrt_c2: f32,
    eps: f32,
    wd: f32,
    /// `1 − lr·wd` (AdamW).
    decay: f32,
    decoupled: bool,
}

/// Adam on one range: one pass over the four arrays, the same arithmetic for every element
/// (zipped slices: no bounds checks, so the loop vectorises; the AdamW branch is hoisted).
#[inline(always)]
fn adam_range(c: AdamStep, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
    let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
        *m = c.b1 * *m + (1.0 - c.b1) * g;
        *v = c.b2 * *v + (1.0 - c.b2) * g * g;
        *p -= c.step_size * *m / (v.sqrt() * c.inv_sqrt_c2 + c.eps);
    };
    let all = params.iter_mut().zip(grads).zip(m.iter_mut().zip(v.iter_mut()));
    if c.decoupled {
        for ((p, &g), (m, v)) in all {
            *p *= c.decay;
            update(p, g, m, v);
        }
    } else {
        for ((p, &g), (m, v)) in all {
            let g = g + c.wd * *p;
            update(p, g, m, v);
        }
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
mod tests {
    use super::*;

    const ALL_KINDS: [OptimizerKind; 5] = [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Nesterov,
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
    ];

    fn run(kind: OptimizerKind, wd: f32, steps: usize) -> Vec<f32> {
        // Minimise f(θ) = ½‖θ − c‖² from θ = 0; the gradient is θ − c.
        let c = [1.0f32, -2.0];
        let mut p = vec![0.0f32; 2];
        let mut opt = OptimizerConfig { kind, weight_decay: wd, ..OptimizerConfig::default() }.build(2);
        for _ in 0..steps {
            let g: Vec<f32> = p.iter().zip(c).map(|(p, c)| p - c).collect();
            opt.step(&mut p, &g, 0.1);
        }
        assert_eq!(opt.steps(), steps as u64);
        p
    }

    #[test]
    fn first_steps_by_hand() {
        // SGD: θ = 0 − 0.1·(0 − 1) = 0.1
        assert_eq!(run(OptimizerKind::Sgd, 0.0, 1), vec![0.1, -0.2]);
        // Momentum: v1 = g1, θ1 = 0.1; g2 = 0.1 − 1 = −0.9, v2 = 0.9·(−1) − 0.9 = −1.8, θ2 = 0.1 + 0.18
        let p = run(OptimizerKind::Momentum, 0.0, 2);
        assert!((p[0] - 0.28).abs() < 1e-6, "{p:?}");
        // Nesterov: θ1 = 0 − 0.1·(g + 0.9·g) = 0.19
        let p = run(OptimizerKind::Nesterov, 0.0, 1);
        assert!((p[0] - 0.19).abs() < 1e-6, "{p:?}");
        // Adam's first step is lr·sign(g) (bias-corrected m/√v = ±1).
        let p = run(OptimizerKind::Adam, 0.0, 1);
        assert!((p[0] - 0.1).abs() < 1e-6 && (p[1] + 0.1).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn split_across_threads_gives_the_same_bits() {
        // Long enough that `split` uses several threads; an odd length leaves a short last range.
        let n = 100_003;
        let run = |kind: OptimizerKind, threads: usize| {
            let (p, parallel) = crate::pool::with_threads(threads, || {
                let mut rng = crate::rng::Rng::new(7);
                let mut p: Vec<f32> = (0..n).map(|_| rng.uniform_f32(-1.0, 1.0)).collect();
                let mut opt = OptimizerConfig { kind, weight_decay: 0.01, ..OptimizerConfig::default() }.build(n);
                for step in 0..3 {
                    let g: Vec<f32> =
                        p.iter().enumerate().map(|(i, &x)| x * 0.5 - (i % 7) as f32 * 0.1 + step as f32).collect();
                    opt.step(&mut p, &g, 0.05);
                }
                p
            });
            assert!(threads == 1 || parallel == 3, "{kind:?}: {parallel} of 3 steps split across threads");
            p
        };
        for kind in ALL_KINDS {
            let one = run(kind, 1);
            let three = run(kind, 3);
            assert!(one.iter().zip(&three).all(|(a, b)| a.to_bits() == b.to_bits()), "{kind:?}");
            // Every element moved, the last range's included.
            let mut rng = crate::rng::Rng::new(7);
            let start: Vec<f32> = (0..n).map(|_| rng.uniform_f32(-1.0, 1.0)).collect();
            assert!(one.iter().zip(&start).all(|(a, b)| a != b), "{kind:?}");
        }
    }

    /// The update loops compiled for AVX-512 / AVX2 (whichever this CPU has) give the same
    /// bits as the same loops compiled for the baseline target, on a length that leaves a
    /// partial vector, for every flag combination.
    #[test]
    fn vector_update_loops_match_the_baseline_bits() {
        let n = 1_003;
        let mut rng = crate::rng::Rng::new(11);
        let mut draw = |scale: f32| -> Vec<f32> { (0..n).map(|_| rng.uniform_f32(-scale, scale)).collect() };
        let (p0, g, m0, v0) = (draw(1.0), draw(2.0), draw(0.1), draw(1.0).iter().map(|x| x * x).collect::<Vec<_>>());
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        for decoupled in [false, true] {
            let c = AdamStep {
                b1: 0.9,
                b2: 0.999,
                step_size: 1e-3 / 0.19,
                inv_sqrt_c2: 1.0 / 0.05f32.sqrt(),
                eps: 1e-8,
                wd: 0.01,
                decay: 1.0 - 1e-5,
                decoupled,
            };
            let (mut p1, mut m1, mut v1) = (p0.clone(), m0.clone(), v0.clone());
            adam_range(c, &mut p1, &g, &mut m1, &mut v1);
            let (mut p2, mut m2, mut v2) = (p0.clone(), m0.clone(), v0.clone());
            widest_simd!(adam_range(c, &mut p2, &g, &mut m2, &mut v2));
            assert!(same(&p1, &p2) && same(&m1, &m2) && same(&v1, &v2), "adam, decoupled {decoupled}");
            assert!(!same(&p1, &p0), "adam moved nothing");
        }
        for (first, nesterov) in [(true, true), (true, false), (false, true), (false, false)] {
            let (mut p1, mut v1) = (p0.clone(), m0.clone());
            momentum_range(0.05, 0.9, 0.01, first, nesterov, &mut p1, &g, &mut v1);
            let (mut p2, mut v2) = (p0.clone(), m0.clone());
            widest_simd!(momentum_range(0.05, 0.9, 0.01, first, nesterov, &mut p2, &g, &mut v2));
            assert!(same(&p1, &p2) && same(&v1, &v2), "momentum first {first} nesterov {nesterov}");
        }
        let (mut p1, mut p2) = (p0.clone(), p0.clone());
        sgd_range(0.1, 0.01, &mut p1, &g);
        widest_simd!(sgd_range(0.1, 0.01, &mut p2, &g));
        assert!(same(&p1, &p2), "sgd");
    }

    #[test]
    fn all_converge_on_a_quadratic() {
        for kind in ALL_KINDS {
            let p = run(kind, 0.0, 500);
            assert!((p[0] - 1.0).abs() < 1e-3 && (p[1] + 2.0).abs() < 1e-3, "{kind}: {p:?}");
        }
        // Weight decay pulls the optimum towards zero: ½‖θ−c‖² + ½wd‖θ‖² has θ* = c/(1+wd).
        let p = run(OptimizerKind::Sgd, 1.0, 500);
        assert!((p[0] - 0.5).abs() < 1e-3, "{p:?}");
    }

    #[test]
    fn state_round_trip_and_names() {
        let mut a = OptimizerConfig { kind: OptimizerKind::Adam, ..OptimizerConfig::default() }.build(3);
        let mut p = vec![1.0; 3];
        a.step(&mut p, &[0.1, 0.2, 0.3], 0.01);
        let saved: Vec<(String, Vec<f32>)> = a.state().iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect();
        let mut b = OptimizerConfig { kind: OptimizerKind::Adam, ..OptimizerConfig::default() }.build(3);
        for (n, d) in &saved {
            b.load_state(n, d).unwrap();
        }
        b.set_steps(a.steps());
        let (mut pa, mut pb) = (p.clone(), p);
        a.step(&mut pa, &[0.3, 0.2, 0.1], 0.01);
        b.step(&mut pb, &[0.3, 0.2, 0.1], 0.01);
        assert_eq!(pa, pb);
        assert!(b.load_state("nope", &[]).is_err());
        assert!(b.load_state("m", &[0.0; 2]).is_err());
        for name in OptimizerKind::NAMES.split(", ") {
            assert_eq!(name.parse::<OptimizerKind>().unwrap().to_string(), name);
        }
        assert!("rmsprop".parse::<OptimizerKind>().is_err());
    }
}
