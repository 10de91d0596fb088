//! Many XOR nets trained side by side, as the numpy peer does: structure of arrays, one
//! SIMD lane per net.
//!
//! Trained one at a time through [`nabla::Mlp`], a 2-`h`-1 net spends its time on call
//! overhead, shape checks and three libm calls per step. Here [`LANES`] nets share every
//! instruction: each parameter is a `[f32; LANES]` (one value per seed), and a step is a
//! handful of loops over the lanes that the compiler turns into 8-wide AVX2 code (chosen at
//! run time, with the baseline build beside it).
//!
//! Each lane runs exactly the operations that the generic path runs for its net, in the same
//! order and with the same roundings: the dot products of `gemm`'s direct loops
//! (`0 + a₀b₀ + a₁b₁ …`, then `0 + 1·sum`, then `+ b`), the activations of [`nabla::math`] (no libm
//! call, so the loops vectorise), the MSE gradient `(y − t)·1`, the backward pass's
//! `0 + 1·(0 + …)` products and bias sums, and SGD's `θ − lr·(g + 0·θ)`. So the results are
//! bit-identical to [`super::train`] (a test checks it), whatever the lane a seed lands in.

use nabla::Activation;

use super::{init_params, XorConfig, X, Y};

/// Nets per group: four AVX2 registers of `f32`. One step of one net is a long chain of
/// dependent operations (forward, two `exp`s, backward, update, and the next step needs the
/// update), so a single register of 8 nets leaves the core waiting on latencies; four
/// independent ones keep it busy (measured: 136 → 70 ns of CPU per 8 net-steps).
pub const LANES: usize = 32;
/// The widest hidden layer with a side-by-side version (wider nets use the generic path).
pub const MAX_HIDDEN: usize = 8;

type V = [f32; LANES];

/// Whether [`train_group`] handles this configuration.
pub fn supports(config: &XorConfig) -> bool {
    (1..=MAX_HIDDEN).contains(&config.hidden)
}

/// Trains the nets of up to [`LANES`] seeds together and returns each one's outputs for the
/// four inputs of [`X`]. `config` must be [`supports`]ed.
pub fn train_group(config: &XorConfig, seeds: &[u64]) -> Vec<[f32; 4]> {
    assert!(!seeds.is_empty() && seeds.len() <= LANES, "1..={LANES} seeds per group");
    match config.hidden {
        1 => run::<1>(config, seeds),
        2 => run::<2>(config, seeds),
        3 => run::<3>(config, seeds),
        4 => run::<4>(config, seeds),
        5 => run::<5>(config, seeds),
        6 => run::<6>(config, seeds),
        7 => run::<7>(config, seeds),
        8 => run::<8>(config, seeds),
        h => panic!("no side-by-side XOR net with {h} hidden units (see `supports`)"),
    }
}

/// The parameters of [`LANES`] 2-`H`-1 nets, lane `l` holding net `l`.
#[derive(Clone, Copy)]
struct Nets<const H: usize> {
    /// `W₀[j][i]`: hidden unit `j`, input `i`.
    w0: [[V; 2]; H],
    b0: [V; H],
    /// `W₁[0][j]`.
    w1: [V; H],
    b1: V,
}

/// What every step needs besides the parameters.
#[derive(Clone, Copy)]
struct Settings {
    epochs: u64,
    lr: f32,
    hidden: Activation,
    output: Activation,
}

fn run<const H: usize>(config: &XorConfig, seeds: &[u64]) -> Vec<[f32; 4]> {
    let mut nets =
        Nets::<H> { w0: [[[0.0; LANES]; 2]; H], b0: [[0.0; LANES]; H], w1: [[0.0; LANES]; H], b1: [0.0; LANES] };
    // Lanes past the last seed train a copy of it; their results are dropped.
    for l in 0..LANES {
        let mlp = init_params(config, seeds[l.min(seeds.len() - 1)]);
        let p = mlp.params();
        for j in 0..H {
            nets.w0[j][0][l] = p[2 * j];
            nets.w0[j][1][l] = p[2 * j + 1];
            nets.b0[j][l] = p[2 * H + j];
            nets.w1[j][l] = p[3 * H + j];
        }
        nets.b1[l] = p[4 * H];
    }
    let settings = Settings {
        epochs: config.epochs,
        lr: config.lr,
        hidden: config.hidden_activation,
        output: config.output_activation,
    };
    let outputs = train(&mut nets, settings);
    (0..seeds.len()).map(|l| std::array::from_fn(|i| outputs[i][l])).collect()
}

/// Trains with AVX2 where the CPU has it; the same arithmetic either way.
fn train<const H: usize>(nets: &mut Nets<H>, s: Settings) -> [V; 4] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { train_avx2(nets, s) };
    }
    train_body(nets, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn train_avx2<const H: usize>(nets: &mut Nets<H>, s: Settings) -> [V; 4] {
    train_body(nets, s)
}

/// All epochs, then the outputs for the four inputs.
#[inline(always)]
fn train_body<const H: usize>(nets: &mut Nets<H>, s: Settings) -> [V; 4] {
    for _ in 0..s.epochs {
        for (x, t) in X.iter().zip(Y) {
            step(nets, *x, t, s);
        }
    }
    std::array::from_fn(|i| forward(nets, X[i], s).3)
}

/// `z₀, a₀` (`[H]` lanes each) and `z₁, y`.
type Forward<const H: usize> = ([V; H], [V; H], V, V);

/// The forward pass of one example, as `Mlp::forward` computes it: the GEMM's direct loops
/// give `0 + 1·Σ x·w` (beta 0), then the fused pass adds the bias.
#[inline(always)]
fn forward<const H: usize>(nets: &Nets<H>, x: [f32; 2], s: Settings) -> Forward<H> {
    let mut z0 = [[0.0; LANES]; H];
    let mut a0 = [[0.0; LANES]; H];
    for j in 0..H {
        for l in 0..LANES {
            let mut sum = 0.0f32;
            sum += x[0] * nets.w0[j][0][l];
            sum += x[1] * nets.w0[j][1][l];
            z0[j][l] = (0.0 + 1.0 * sum) + nets.b0[j][l];
        }
        activate(s.hidden, &z0[j], &mut a0[j]);
    }
    let mut z1 = [0.0; LANES];
    for l in 0..LANES {
        let mut sum = 0.0f32;
        for j in 0..H {
            sum += a0[j][l] * nets.w1[j][l];
        }
        z1[l] = (0.0 + 1.0 * sum) + nets.b1[l];
    }
    let mut y = [0.0; LANES];
    activate(s.output, &z1, &mut y);
    (z0, a0, z1, y)
}

/// One SGD step on one example (`x`, target `t`), loss `½(y − t)²`.
#[inline(always)]
fn step<const H: usize>(nets: &mut Nets<H>, x: [f32; 2], t: f32, s: Settings) {
    let (z0, a0, z1, y) = forward(nets, x, s);
    // MSE over a batch of one: dL/dy = (y − t) · (1/1).
    let mut dy = [0.0; LANES];
    for l in 0..LANES {
        dy[l] = (y[l] - t) * 1.0;
    }
    let mut dz1 = [0.0; LANES];
    derive(s.output, &z1, &y, &dy, &mut dz1);
    // Output layer: dW₁ = dz₁ᵀ·a₀, db₁ = Σ dz₁, da₀ = dz₁·W₁ (with W₁ before the update).
    let mut dw1 = [[0.0; LANES]; H];
    let mut da0 = [[0.0; LANES]; H];
    for j in 0..H {
        for l in 0..LANES {
            dw1[j][l] = 0.0 + 1.0 * (0.0 + dz1[l] * a0[j][l]);
            da0[j][l] = 0.0 + 1.0 * (0.0 + dz1[l] * nets.w1[j][l]);
        }
    }
    let mut db1 = [0.0; LANES];
    for l in 0..LANES {
        db1[l] = 0.0 + dz1[l];
    }
    // Hidden layer: dz₀ = da₀ ⊙ f'(z₀), dW₀ = dz₀ᵀ·x, db₀ = dz₀.
    let mut dz0 = [[0.0; LANES]; H];
    for j in 0..H {
        derive(s.hidden, &z0[j], &a0[j], &da0[j], &mut dz0[j]);
    }
    // SGD (no weight decay): θ ← θ − lr·(g + 0·θ).
    let lr = s.lr;
    let sgd = |p: &mut f32, g: f32| *p -= lr * (g + 0.0 * *p);
    for j in 0..H {
        for l in 0..LANES {
            for i in 0..2 {
                sgd(&mut nets.w0[j][i][l], 0.0 + 1.0 * (0.0 + dz0[j][l] * x[i]));
            }
            sgd(&mut nets.b0[j][l], 0.0 + dz0[j][l]);
            sgd(&mut nets.w1[j][l], dw1[j][l]);
        }
    }
    for l in 0..LANES {
        sgd(&mut nets.b1[l], db1[l]);
    }
}

/// `a = f(z)` lane by lane; the common activations get their own loop so that it vectorises.
#[inline(always)]
fn activate(f: Activation, z: &V, a: &mut V) {
    match f {
        Activation::Sigmoid => (0..LANES).for_each(|l| a[l] = nabla::math::sigmoid(z[l])),
        Activation::Tanh => (0..LANES).for_each(|l| a[l] = nabla::math::tanh(z[l])),
        Activation::Identity => *a = *z,
        other => (0..LANES).for_each(|l| a[l] = other.apply(z[l])),
    }
}

/// `dz = da ⊙ f'(z, a)`, as `Activation::backward` computes it (a copy for the identity).
#[inline(always)]
fn derive(f: Activation, z: &V, a: &V, da: &V, dz: &mut V) {
    match f {
        Activation::Identity => *dz = *da,
        Activation::Sigmoid => (0..LANES).for_each(|l| dz[l] = da[l] * (a[l] * (1.0 - a[l]))),
        Activation::Tanh => (0..LANES).for_each(|l| dz[l] = da[l] * (1.0 - a[l] * a[l])),
        other => (0..LANES).for_each(|l| dz[l] = da[l] * other.derivative(z[l], a[l])),
    }
}
