//! The lecture's XOR network: 2 inputs, a hidden layer of 2, 1 output.
//!
//! Trained the textbook way: every weight and bias drawn uniformly from (−1, 1), one
//! example at a time in the fixed order of [`X`], plain SGD with learning rate 0.5 on the
//! loss `½(y − t)²`. The net often gets stuck (a plateau where the hidden units encode the
//! wrong features), so one seed tells little: [`success_rate`] trains many seeds and counts
//! how many solve it — a statistical check of the whole training loop against the numpy
//! peer, which starts from exactly the same weights for the same seed (see [`init_params`]).

pub mod side_by_side;

use nabla::loss::{Loss, Targets};
use nabla::{Activation, Init, MatRef, Mlp, MlpSpec, Optimizer, Regularizer, Rng, Sgd, Workspace};

/// The four inputs, in training order.
pub const X: [[f32; 2]; 4] = [[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]];
/// Their targets: `x1 XOR x2`.
pub const Y: [f32; 4] = [0.0, 1.0, 1.0, 0.0];

/// Settings of one XOR experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct XorConfig {
    /// Passes over the four examples.
    pub epochs: u64,
    /// SGD learning rate.
    pub lr: f32,
    /// Width of the hidden layer.
    pub hidden: usize,
    /// Activation of the hidden layer.
    pub hidden_activation: Activation,
    /// Activation of the output.
    pub output_activation: Activation,
    /// How weights and biases are drawn.
    pub init: Init,
}

impl Default for XorConfig {
    /// The lecture's network: sigmoid hidden, tanh output, uniform(−1, 1), lr 0.5, and
    /// 10,000 epochs (enough for nine seeds in ten to escape the plateau).
    fn default() -> Self {
        Self {
            epochs: 10_000,
            lr: 0.5,
            hidden: 2,
            hidden_activation: Activation::Sigmoid,
            output_activation: Activation::Tanh,
            init: Init::Uniform { limit: 1.0 },
        }
    }
}

impl XorConfig {
    /// The network's architecture.
    pub fn spec(&self) -> MlpSpec {
        MlpSpec { sizes: vec![2, self.hidden, 1], hidden: self.hidden_activation, output: self.output_activation }
    }
}

/// What one seed's training gave.
#[derive(Debug, Clone, PartialEq)]
pub struct XorOutcome {
    /// The seed.
    pub seed: u64,
    /// The outputs for the four inputs of [`X`], in order.
    pub predictions: [f32; 4],
    /// The mean over the four examples of `½(y − t)²` after training.
    pub final_loss: f64,
    /// Whether all four outputs are on the right side of 0.5.
    pub solved: bool,
    /// The trained network.
    pub mlp: Mlp,
}

/// The initial parameters for `seed`, drawn in the order a numpy user writes the net:
/// each layer's weight as an `[in, out]` matrix row by row (`x @ W`), then its bias. For
/// uniform(−1, 1) that is exactly what the numpy peer draws from `default_rng(seed)`: nine
/// numbers `W1[2×2], b1[2], W2[2], b2[1]`. They are stored transposed, in nabla's `[out, in]`.
pub fn init_params(config: &XorConfig, seed: u64) -> Mlp {
    let mut rng = Rng::new(seed);
    let mut mlp = Mlp::zeros(config.spec());
    for l in 0..mlp.layers().len() {
        let d = mlp.layers()[l];
        let mut w_in_out = vec![0.0; d.inputs * d.outputs];
        let mut bias = vec![0.0; d.outputs];
        config.init.fill(&mut w_in_out, &mut bias, d.inputs, d.outputs, &mut rng);
        let params = mlp.layer_params_mut(l);
        for i in 0..d.inputs {
            for o in 0..d.outputs {
                params[o * d.inputs + i] = w_in_out[i * d.outputs + o];
            }
        }
        params[d.inputs * d.outputs..].copy_from_slice(&bias);
    }
    mlp
}

/// Trains one seed and reports the outcome.
pub fn train(config: &XorConfig, seed: u64) -> XorOutcome {
    train_with(config, seed, |_, _| {})
}

/// [`train`], calling `on_epoch(epoch, mean loss of the epoch's four steps)` after each
/// epoch (1-based), e.g. to record the loss curve.
pub fn train_with(config: &XorConfig, seed: u64, mut on_epoch: impl FnMut(u64, f64)) -> XorOutcome {
    let mut mlp = init_params(config, seed);
    let mut ws = Workspace::new(mlp.spec(), 1);
    let mut grads = vec![0.0; mlp.num_params()];
    let mut sgd = Sgd::new();
    for epoch in 1..=config.epochs {
        let mut total = 0.0;
        for (x, y) in X.iter().zip(Y) {
            let x = MatRef::new(x, 1, 2).expect("1×2 input");
            let t = [y];
            let t = Targets::Values(MatRef::new(&t, 1, 1).expect("1×1 target"));
            total += mlp
                .loss_and_gradient(x, t, Loss::Mse, Regularizer::NONE, &mut ws, &mut grads)
                .expect("shapes fixed by construction");
            sgd.step(mlp.params_mut(), &grads, config.lr);
        }
        on_epoch(epoch, total / 4.0);
    }
    evaluate(mlp, seed, &mut ws)
}

fn evaluate(mlp: Mlp, seed: u64, ws: &mut Workspace) -> XorOutcome {
    let inputs: Vec<f32> = X.iter().flatten().copied().collect();
    let out = mlp.forward(MatRef::new(&inputs, 4, 2).expect("4×2 inputs"), ws).expect("shapes fixed by construction");
    let predictions: [f32; 4] = std::array::from_fn(|i| out.get(i, 0));
    let (final_loss, solved) = score(&predictions);
    XorOutcome { seed, predictions, final_loss, solved, mlp }
}

/// The mean of `½(y − t)²` over the four examples, and whether every output is on the
/// right side of 0.5.
fn score(predictions: &[f32; 4]) -> (f64, bool) {
    let final_loss = predictions.iter().zip(Y).map(|(&p, t)| 0.5 * f64::from(p - t).powi(2)).sum::<f64>() / 4.0;
    let solved = predictions.iter().zip(Y).all(|(&p, t)| (p > 0.5) == (t > 0.5));
    (final_loss, solved)
}

/// The result of many seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct SuccessRate {
    /// How many seeds were trained.
    pub seeds: u64,
    /// How many solved XOR.
    pub successes: u64,
    /// The mean of the seeds' final losses.
    pub mean_final_loss: f64,
}

impl SuccessRate {
    /// `successes / seeds`.
    pub fn rate(&self) -> f64 {
        self.successes as f64 / self.seeds.max(1) as f64
    }
}

/// Trains seeds `first, first + 1, …, first + count − 1` on `threads` threads (each seed's
/// result does not depend on the thread count) and counts the successes.
///
/// Nets with up to [`side_by_side::MAX_HIDDEN`] hidden units are trained
/// [`side_by_side::LANES`] at a time in SIMD lanes, bit for bit as [`train`] would train
/// each; wider ones one at a time.
pub fn success_rate(config: &XorConfig, first: u64, count: u64, threads: usize) -> SuccessRate {
    let group = if side_by_side::supports(config) { side_by_side::LANES as u64 } else { 1 };
    let groups = count.div_ceil(group);
    let threads = threads.clamp(1, groups.max(1) as usize);
    let train_group = |g: u64| -> Vec<(u64, bool, f64)> {
        let seeds: Vec<u64> = (first + g * group..first + count.min((g + 1) * group)).collect();
        let predictions = if group == 1 {
            seeds.iter().map(|&seed| train(config, seed).predictions).collect()
        } else {
            side_by_side::train_group(config, &seeds)
        };
        seeds
            .iter()
            .zip(&predictions)
            .map(|(&seed, p)| {
                let (loss, solved) = score(p);
                (seed, solved, loss)
            })
            .collect()
    };
    let mut outcomes: Vec<(u64, bool, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let train_group = &train_group;
                scope.spawn(move || (t..groups).step_by(threads).flat_map(train_group).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("an XOR worker panicked")).collect()
    });
    // Sum in seed order, so that the mean is bit-identical whatever the thread count.
    outcomes.sort_by_key(|&(seed, _, _)| seed);
    SuccessRate {
        seeds: count,
        successes: outcomes.iter().filter(|(_, ok, _)| *ok).count() as u64,
        mean_final_loss: outcomes.iter().map(|(_, _, l)| l).sum::<f64>() / count.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 0 of the numpy peer draws `default_rng(0).uniform(-1, 1, 9)`; the first three
    /// are W1[0][0], W1[0][1], W1[1][0] (row = input), which nabla stores as W[0][0],
    /// W[1][0], W[0][1].
    #[test]
    fn initial_weights_are_the_peers() {
        let mlp = init_params(&XorConfig::default(), 0);
        let p = mlp.params();
        let want = [0.273_923_374_642_908_6f64, -0.460_426_572_472_259_4, -0.918_052_952_127_610_6].map(|v| v as f32);
        assert_eq!([p[0], p[2], p[1]], want);
    }

    #[test]
    fn one_sgd_step_by_hand() {
        // One epoch = four steps; check the very first step against the formulas.
        let config = XorConfig { epochs: 0, ..XorConfig::default() };
        let before = init_params(&config, 3);
        let p = before.params().to_vec();
        let s = |z: f32| 1.0 / (1.0 + (-z).exp());
        let (x1, x2, t) = (1.0f32, 1.0f32, 0.0f32);
        let h = [s(p[0] * x1 + p[1] * x2 + p[4]), s(p[2] * x1 + p[3] * x2 + p[5])];
        let y = (p[6] * h[0] + p[7] * h[1] + p[8]).tanh();
        let dz = (y - t) * (1.0 - y * y);
        let dh = [dz * p[6] * h[0] * (1.0 - h[0]), dz * p[7] * h[1] * (1.0 - h[1])];
        let lr = 0.5;
        let want = [
            p[0] - lr * dh[0] * x1,
            p[1] - lr * dh[0] * x2,
            p[2] - lr * dh[1] * x1,
            p[3] - lr * dh[1] * x2,
            p[4] - lr * dh[0],
            p[5] - lr * dh[1],
            p[6] - lr * dz * h[0],
            p[7] - lr * dz * h[1],
            p[8] - lr * dz,
        ];
        let mut mlp = before.clone();
        let mut ws = Workspace::new(mlp.spec(), 1);
        let mut grads = vec![0.0; 9];
        let x = MatRef::new(&X[0], 1, 2).unwrap();
        let target = [t];
        let targets = Targets::Values(MatRef::new(&target, 1, 1).unwrap());
        mlp.loss_and_gradient(x, targets, Loss::Mse, Regularizer::NONE, &mut ws, &mut grads).unwrap();
        Sgd::new().step(mlp.params_mut(), &grads, lr);
        for (i, (got, want)) in mlp.params().iter().zip(want).enumerate() {
            assert!((got - want).abs() < 1e-6, "parameter {i}: {got} vs {want}");
        }
    }

    #[test]
    fn default_config_solves_some_seed_and_truth_table_is_right() {
        let outcome = train(&XorConfig::default(), 0);
        // Whatever seed 0 does, `solved` must agree with the predictions.
        let right = outcome.predictions.iter().zip(Y).all(|(&p, t)| (p > 0.5) == (t > 0.5));
        assert_eq!(outcome.solved, right);
        let wide = XorConfig { hidden: 4, epochs: 2_000, ..XorConfig::default() };
        let rate = success_rate(&wide, 0, 20, 2);
        assert!(rate.successes >= 15, "a 2-4-1 net solves XOR for most seeds: {rate:?}");
    }

    /// The side-by-side path must give every seed exactly the bits of the generic one,
    /// for the common activations and for one that goes through `Activation::apply`, for
    /// widths 1 to 8 and a group that is not full.
    #[test]
    fn side_by_side_is_bit_identical_to_one_net_at_a_time() {
        let cases = [
            (2, Activation::Sigmoid, Activation::Tanh, 300),
            (2, Activation::Sigmoid, Activation::Sigmoid, 300),
            (3, Activation::Tanh, Activation::Identity, 200),
            (1, Activation::Relu, Activation::Sigmoid, 100),
            (5, Activation::Elu { alpha: 1.0 }, Activation::Tanh, 100),
            (8, Activation::LeakyRelu { alpha: 0.1 }, Activation::Sigmoid, 100),
        ];
        for (hidden, h_act, o_act, epochs) in cases {
            let config = XorConfig {
                epochs,
                hidden,
                hidden_activation: h_act,
                output_activation: o_act,
                ..XorConfig::default()
            };
            assert!(side_by_side::supports(&config));
            let seeds: Vec<u64> = (40..45).collect();
            let fast = side_by_side::train_group(&config, &seeds);
            for (&seed, got) in seeds.iter().zip(&fast) {
                let want = train(&config, seed).predictions;
                assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "2-{hidden}-1 {h_act}/{o_act}, seed {seed}");
            }
        }
    }

    #[test]
    fn wide_nets_take_the_generic_path() {
        let config = XorConfig { hidden: 9, epochs: 50, ..XorConfig::default() };
        assert!(!side_by_side::supports(&config));
        let rate = success_rate(&config, 0, 3, 2);
        let by_hand = (0..3).map(|s| train(&config, s)).filter(|o| o.solved).count() as u64;
        assert_eq!(rate.successes, by_hand);
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let config = XorConfig { epochs: 300, ..XorConfig::default() };
        assert_eq!(success_rate(&config, 5, 30, 1), success_rate(&config, 5, 30, 3));
        // And the grouped success rate is the one of seeds trained one by one.
        let one_by_one = (5..35).map(|s| train(&config, s)).collect::<Vec<_>>();
        let rate = success_rate(&config, 5, 30, 2);
        assert_eq!(rate.successes, one_by_one.iter().filter(|o| o.solved).count() as u64);
        let mean = one_by_one.iter().map(|o| o.final_loss).sum::<f64>() / 30.0;
        assert_eq!(rate.mean_final_loss.to_bits(), mean.to_bits());
    }
}
