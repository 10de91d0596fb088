use super::*;
use crate::activation::Activation;
use crate::gradcheck::GradCheck;
use crate::init::Init;
use crate::loss::{Loss, Targets};
use crate::matrix::Matrix;
use crate::regularizer::Regularizer;
use crate::rng::Rng;

const ACTIVATIONS: [Activation; 6] = [
    Activation::Identity,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Relu,
    Activation::LeakyRelu { alpha: 0.1 },
    Activation::Elu { alpha: 1.0 },
];

/// A small random problem: an MLP `4-5-3-3`, a batch of 6 inputs, and targets for `loss`.
struct Problem {
    mlp: Mlp,
    x: Matrix,
    values: Matrix,
    /// Targets at least half a unit outside (−1, 1), either side: a tanh or sigmoid output
    /// never comes within a finite-difference step of them, where MAE's slope flips.
    far_values: Matrix,
    classes: Vec<u32>,
}

fn problem(hidden: Activation, output: Activation, seed: u64) -> Problem {
    let mut rng = Rng::new(seed);
    let spec = MlpSpec::new(vec![4, 5, 3, 3], hidden, output).unwrap();
    let mlp = Mlp::new(spec, Init::Uniform { limit: 1.0 }, &mut rng);
    let x = Matrix::random_uniform(6, 4, -1.0, 1.0, &mut rng);
    let values = Matrix::random_uniform(6, 3, -1.0, 1.0, &mut rng);
    let classes = (0..6).map(|_| rng.below(3) as u32).collect();
    let mut far_values = values.clone();
    far_values.as_mut_slice().iter_mut().for_each(|v| *v = v.signum() * (1.5 + v.abs()));
    Problem { mlp, x, values, far_values, classes }
}

impl Problem {
    fn targets(&self, loss: Loss) -> Targets<'_> {
        match loss {
            Loss::Mse | Loss::Huber => Targets::Values(self.values.view()),
            Loss::Mae => Targets::Values(self.far_values.view()),
            Loss::SoftmaxCrossEntropy => Targets::Classes(&self.classes),
        }
    }

    /// Runs the gradient check with the analytic gradient multiplied by `scale`.
    fn check(&mut self, loss: Loss, reg: Regularizer, scale: f32, cfg: GradCheck) -> crate::gradcheck::GradCheckReport {
        let mut ws = Workspace::new(self.mlp.spec(), 6);
        let mut grads = vec![0.0; self.mlp.num_params()];
        self.mlp.loss_and_gradient(self.x.view(), self.targets(loss), loss, reg, &mut ws, &mut grads).unwrap();
        grads.iter_mut().for_each(|g| *g *= scale);
        let mut params = self.mlp.params().to_vec();
        let spec = self.mlp.spec().clone();
        cfg.check(&mut params, &grads, |p| {
            let m = Mlp::from_params(spec.clone(), p.to_vec()).unwrap();
            m.loss(self.x.view(), self.targets(loss), loss, reg, &mut ws).unwrap()
        })
    }
}

/// Every loss the engine has.
const LOSSES: [Loss; 4] = [Loss::Mse, Loss::Mae, Loss::Huber, Loss::SoftmaxCrossEntropy];

/// A step across a kink (ReLU at 0, |w| at 0, |d| at 0 in MAE, |d| at 1 where Huber's
/// curvature jumps) gives a wrong difference quotient: use a smaller step where there are kinks.
fn settings(act: Activation, reg: Regularizer, loss: Loss) -> GradCheck {
    let kinked = matches!(act, Activation::Relu | Activation::LeakyRelu { .. })
        || reg.l1 > 0.0
        || matches!(loss, Loss::Mae | Loss::Huber);
    if kinked {
        GradCheck { eps: 1e-3, rtol: 3e-3, atol: 3e-4 }
    } else {
        GradCheck::default()
    }
}

#[test]
fn gradients_match_finite_differences_every_activation_loss_and_regularizer() {
    let regs = [
        Regularizer::NONE,
        Regularizer { l1: 0.01, l2: 0.0 },
        Regularizer { l1: 0.0, l2: 0.05 },
        Regularizer { l1: 0.02, l2: 0.03 },
    ];
    for (k, hidden) in ACTIVATIONS.into_iter().enumerate() {
        for loss in LOSSES {
            let output = if loss == Loss::SoftmaxCrossEntropy { Activation::Identity } else { Activation::Tanh };
            for (r, reg) in regs.into_iter().enumerate() {
                let mut p = problem(hidden, output, 100 + (k * 10 + r) as u64);
                let report = p.check(loss, reg, 1.0, settings(hidden, reg, loss));
                assert!(report.passed(), "{hidden} {loss} {reg:?}: {report:?}");
                assert_eq!(report.checked, p.mlp.num_params());
            }
        }
    }
    // Every activation also as the output of an MSE network.
    for (k, output) in ACTIVATIONS.into_iter().enumerate() {
        let mut p = problem(Activation::Tanh, output, 300 + k as u64);
        let report = p.check(Loss::Mse, Regularizer::NONE, 1.0, settings(output, Regularizer::NONE, Loss::Mse));
        assert!(report.passed(), "output {output}: {report:?}");
    }
}

#[test]
fn gradient_check_catches_a_gradient_off_by_one_percent() {
    for hidden in ACTIVATIONS {
        for loss in LOSSES {
            let output = if loss == Loss::SoftmaxCrossEntropy { Activation::Identity } else { Activation::Sigmoid };
            let mut p = problem(hidden, output, 7);
            let reg = Regularizer { l1: 0.0, l2: 0.01 };
            let report = p.check(loss, reg, 1.01, settings(hidden, reg, loss));
            assert!(!report.passed(), "{hidden} {loss}: a gradient scaled by 1.01 passed: {report:?}");
        }
    }
}

/// The 2-2-1 XOR net on one example, worked by hand with the lecture's notation.
#[test]
fn backprop_by_hand_on_a_2_2_1_net() {
    let spec = MlpSpec::new(vec![2, 2, 1], Activation::Sigmoid, Activation::Identity).unwrap();
    // W1 = [[0.5, -0.5], [0.25, 1]], b1 = [0, 0.5], W2 = [[1, -1]], b2 = [0.25]
    let mlp = Mlp::from_params(spec, vec![0.5, -0.5, 0.25, 1.0, 0.0, 0.5, 1.0, -1.0, 0.25]).unwrap();
    let x = Matrix::from_rows(&[[1.0, 1.0]]);
    let t = Matrix::from_rows(&[[1.0]]);
    let mut ws = Workspace::new(mlp.spec(), 1);
    let mut grads = vec![0.0; 9];
    let loss = mlp
        .loss_and_gradient(x.view(), Targets::Values(t.view()), Loss::Mse, Regularizer::NONE, &mut ws, &mut grads)
        .unwrap();
    let s = |z: f64| 1.0 / (1.0 + (-z).exp());
    let (h1, h2) = (s(0.0), s(1.75));
    let y = h1 - h2 + 0.25;
    let dy = y - 1.0;
    assert!((loss - 0.5 * dy * dy).abs() < 1e-6);
    let dz1 = dy * 1.0 * h1 * (1.0 - h1);
    let dz2 = -dy * h2 * (1.0 - h2); // W2[0][1] = −1
    let want = [dz1, dz1, dz2, dz2, dz1, dz2, dy * h1, dy * h2, dy];
    for (i, (g, w)) in grads.iter().zip(want).enumerate() {
        assert!((f64::from(*g) - w).abs() < 1e-6, "parameter {i}: {g} vs {w}");
    }
}

#[test]
fn parse_spec_and_names() {
    let spec = MlpSpec::parse("784-128-10", Activation::Relu, Activation::Identity).unwrap();
    assert_eq!(spec.sizes, vec![784, 128, 10]);
    assert_eq!(spec.param_count(), 784 * 128 + 128 + 128 * 10 + 10);
    let names: Vec<String> = spec.tensors().iter().map(|t| format!("{} {:?}", t.name, t.shape)).collect();
    assert_eq!(
        names,
        ["layers.0.weight [128, 784]", "layers.0.bias [128]", "layers.1.weight [10, 128]", "layers.1.bias [10]"]
    );
    assert_eq!(spec.tensors()[3].range.end, spec.param_count());
    assert_eq!(spec.to_string(), "784-128-10 (relu hidden, identity output)");
    // Regression (issue 21): a net without hidden layers was described as having relu ones.
    let linear = MlpSpec::parse("784-10", Activation::Relu, Activation::Identity).unwrap();
    assert_eq!(linear.to_string(), "784-10 (no hidden layer, identity output)");
    for bad in ["784", "784-0-10", "784-x-10", ""] {
        let err = MlpSpec::parse(bad, Activation::Relu, Activation::Identity).unwrap_err().to_string();
        assert!(err.starts_with(&format!("invalid architecture `{bad}`")), "{err}");
    }
}

#[test]
fn forward_checks_input_width_and_smaller_batches_reuse_the_workspace() {
    let mut rng = Rng::new(1);
    let spec = MlpSpec::new(vec![3, 4, 2], Activation::Tanh, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::XavierUniform, &mut rng);
    let mut ws = Workspace::new(mlp.spec(), 8);
    let err = mlp.forward(Matrix::zeros(2, 5).view(), &mut ws).unwrap_err().to_string();
    assert!(err.contains("input 2×5") && err.contains("3-4-2"), "{err}");
    let x = Matrix::random_uniform(8, 3, -1.0, 1.0, &mut rng);
    let full = mlp.forward(x.view(), &mut ws).unwrap().to_matrix();
    let part = mlp.forward(x.rows_view(0, 3), &mut ws).unwrap().to_matrix();
    assert_eq!(part.as_slice(), &full.as_slice()[..6]);
}

#[test]
fn same_seed_same_network() {
    let spec = MlpSpec::new(vec![5, 7, 2], Activation::Relu, Activation::Identity).unwrap();
    let a = Mlp::new(spec.clone(), Init::HeNormal, &mut Rng::new(11));
    let b = Mlp::new(spec.clone(), Init::HeNormal, &mut Rng::new(11));
    let c = Mlp::new(spec, Init::HeNormal, &mut Rng::new(12));
    assert_eq!(a.params(), b.params());
    assert_ne!(a.params(), c.params());
}

/// With the masks held fixed (the same RNG state for every evaluation), the gradient of a
/// dropout network is checked like any other.
#[test]
fn dropout_gradients_match_finite_differences() {
    for hidden in [Activation::Tanh, Activation::Sigmoid, Activation::Elu { alpha: 1.0 }] {
        let p = problem(hidden, Activation::Identity, 21);
        let dropout = Dropout { input: 0.2, hidden: 0.3 };
        let rng = Rng::new(99);
        let loss_at = |params: &[f32], ws: &mut Workspace, grads: Option<&mut [f32]>| -> f64 {
            let m = Mlp::from_params(p.mlp.spec().clone(), params.to_vec()).unwrap();
            let out = m.forward_train(p.x.view(), ws, dropout, &mut rng.clone()).unwrap().to_matrix();
            let targets = Targets::Classes(&p.classes);
            match grads {
                None => Loss::SoftmaxCrossEntropy.forward_backward(out.view(), targets, None).unwrap(),
                Some(g) => {
                    let l = Loss::SoftmaxCrossEntropy
                        .forward_backward(out.view(), targets, Some(ws.output_grad_mut()))
                        .unwrap();
                    m.backward(p.x.view(), ws, g).unwrap();
                    l
                }
            }
        };
        let mut ws = Workspace::new(p.mlp.spec(), 6);
        let mut grads = vec![0.0; p.mlp.num_params()];
        loss_at(p.mlp.params(), &mut ws, Some(&mut grads));
        let mut params = p.mlp.params().to_vec();
        let report = GradCheck::default().check(&mut params, &grads, |q| loss_at(q, &mut ws, None));
        assert!(report.passed(), "{hidden}: {report:?}");
        let off: Vec<f32> = grads.iter().map(|g| g * 1.01).collect();
        assert!(!GradCheck::default().check(&mut params, &off, |q| loss_at(q, &mut ws, None)).passed());
    }
}

#[test]
fn dropout_zeroes_about_p_and_keeps_the_mean() {
    let spec = MlpSpec::new(vec![50, 400, 2], Activation::Identity, Activation::Identity).unwrap();
    // Identity weights would be simplest; instead check the masks through the activations.
    let mlp = Mlp::new(spec, Init::XavierUniform, &mut Rng::new(1));
    let x = Matrix::random_uniform(64, 50, 0.5, 1.0, &mut Rng::new(2));
    let mut ws = Workspace::new(mlp.spec(), 64);
    let mut rng = Rng::new(3);
    mlp.forward_train(x.view(), &mut ws, Dropout { input: 0.0, hidden: 0.25 }, &mut rng).unwrap();
    let masks = &ws.masks[0][..64 * 400];
    let zeros = masks.iter().filter(|&&m| m == 0.0).count() as f64 / masks.len() as f64;
    assert!((zeros - 0.25).abs() < 0.01, "{zeros}");
    let mean = masks.iter().map(|&m| f64::from(m)).sum::<f64>() / masks.len() as f64;
    assert!((mean - 1.0).abs() < 0.02, "{mean}");
    // Evaluation (plain forward) is deterministic and uses no mask.
    let a = mlp.forward(x.view(), &mut ws).unwrap().to_matrix();
    let b = mlp.predict(x.view()).unwrap();
    assert_eq!(a, b);
    assert!(Dropout { input: 1.0, hidden: 0.0 }.validate().is_err());
    assert!(mlp.forward_train(x.view(), &mut ws, Dropout { input: 0.0, hidden: -0.1 }, &mut rng).is_err());
}

/// A data-parallel rank computing rows `rows` of a batch sees exactly the one-process masks
/// of those rows, leaves the generator where the whole batch leaves it, and the shards'
/// gradients weighted by their share of the batch add up to the whole batch's gradient.
#[test]
fn row_ranges_draw_the_whole_batchs_masks_and_their_gradients_add_up() {
    let p = problem(Activation::Tanh, Activation::Identity, 5);
    let (batch, classes) = (p.x.rows(), &p.classes);
    let dropout = Dropout { input: 0.2, hidden: 0.3 };
    let mut ws = Workspace::new(p.mlp.spec(), batch);
    let mut whole_rng = Rng::new(17);
    // Two batches in a row: the second's draws start where the first's ended.
    p.mlp.forward_train(p.x.view(), &mut ws, dropout, &mut whole_rng).unwrap();
    let out = p.mlp.forward_train(p.x.view(), &mut ws, dropout, &mut whole_rng).unwrap().to_matrix();
    let (x_mask, masks) = (ws.x_mask.clone(), ws.masks.clone());
    let loss = p.mlp.output_loss(Targets::Classes(classes), Loss::SoftmaxCrossEntropy, &mut ws).unwrap();
    let mut whole = vec![0.0; p.mlp.num_params()];
    p.mlp.backward(p.x.view(), &mut ws, &mut whole).unwrap();

    // Each list of cuts splits the batch into shards.
    for cuts in [&[0, 6][..], &[0, 3, 6], &[0, 2, 4, 6], &[0, 1, 6]] {
        let mut summed = vec![0.0f32; p.mlp.num_params()];
        let mut summed_loss = 0.0;
        for rows in cuts.windows(2).map(|w| w[0]..w[1]) {
            let mut rng = Rng::new(17);
            let mut shard_ws = Workspace::new(p.mlp.spec(), rows.len());
            let x = p.x.view().rows_range(rows.start, rows.end);
            let m = &p.mlp;
            m.forward_train_rows(x, &mut shard_ws, dropout, &mut rng, rows.clone(), batch).unwrap();
            let shard_out = m.forward_train_rows(x, &mut shard_ws, dropout, &mut rng, rows.clone(), batch).unwrap();
            for (i, r) in rows.clone().enumerate() {
                for (a, b) in shard_out.row(i).iter().zip(out.view().row(r)) {
                    assert!((a - b).abs() <= 1e-6, "rows {rows:?}: output row {r}: {a} against {b}");
                }
            }
            let (n0, n1, n2) = (4, 5, 3);
            assert_eq!(shard_ws.x_mask[..rows.len() * n0], x_mask[rows.start * n0..rows.end * n0], "{rows:?}");
            assert_eq!(shard_ws.masks[0][..rows.len() * n1], masks[0][rows.start * n1..rows.end * n1], "{rows:?}");
            assert_eq!(shard_ws.masks[1][..rows.len() * n2], masks[1][rows.start * n2..rows.end * n2], "{rows:?}");
            assert_eq!(rng.next_u64(), whole_rng.clone().next_u64(), "rows {rows:?} left the generator elsewhere");
            let targets = Targets::Classes(&classes[rows.clone()]);
            let share = rows.len() as f32 / batch as f32;
            summed_loss += m.output_loss(targets, Loss::SoftmaxCrossEntropy, &mut shard_ws).unwrap() * f64::from(share);
            let mut g = vec![0.0; m.num_params()];
            m.backward(x, &mut shard_ws, &mut g).unwrap();
            summed.iter_mut().zip(&g).for_each(|(s, g)| *s += g * share);
        }
        assert!((summed_loss - loss).abs() <= 1e-6 * loss, "{summed_loss} against {loss}");
        for (i, (a, b)) in summed.iter().zip(&whole).enumerate() {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "parameter {i}: {a} against {b}");
        }
    }

    // The naive alternative, a shard drawing its own masks from the same seed, differs.
    let mut shard_ws = Workspace::new(p.mlp.spec(), 3);
    let mut rng = Rng::new(17);
    p.mlp.forward_train(p.x.view().rows_range(3, 6), &mut shard_ws, dropout, &mut rng).unwrap();
    assert_ne!(shard_ws.masks[0][..15], ws.masks[0][15..30]);
}

#[test]
fn skipping_a_batchs_masks_leaves_the_generator_where_drawing_them_does() {
    let p = problem(Activation::Relu, Activation::Identity, 8);
    let mut ws = Workspace::new(p.mlp.spec(), 6);
    for dropout in [Dropout { input: 0.2, hidden: 0.0 }, Dropout { input: 0.0, hidden: 0.5 }, Dropout::NONE] {
        let (mut drawn, mut skipped) = (Rng::new(4), Rng::new(4));
        p.mlp.forward_train(p.x.view(), &mut ws, dropout, &mut drawn).unwrap();
        p.mlp.skip_dropout_masks(dropout, &mut skipped, 6).unwrap();
        assert_eq!(drawn.next_u64(), skipped.next_u64(), "{dropout:?}");
    }
    let x = p.x.view();
    let d = Dropout { input: 0.1, hidden: 0.1 };
    let mut rng = Rng::new(4);
    assert!(p.mlp.forward_train_rows(x.rows_range(0, 2), &mut ws, d, &mut rng, 0..3, 6).is_err(), "length");
    assert!(p.mlp.forward_train_rows(x.rows_range(0, 2), &mut ws, d, &mut rng, 5..7, 6).is_err(), "past the end");
    assert!(p.mlp.skip_dropout_masks(Dropout { input: 1.0, hidden: 0.0 }, &mut rng, 6).is_err());
}

/// `backward_with` hands every layer's gradient over once, last layer first, as the very
/// range `layer_range` names, with the values `backward` computes.
#[test]
fn backward_hands_each_layers_gradient_over_as_soon_as_it_is_done() {
    let p = problem(Activation::Sigmoid, Activation::Identity, 3);
    let mut ws = Workspace::new(p.mlp.spec(), 6);
    p.mlp.forward(p.x.view(), &mut ws).unwrap();
    p.mlp.output_loss(Targets::Classes(&p.classes), Loss::SoftmaxCrossEntropy, &mut ws).unwrap();
    let mut plain = vec![0.0; p.mlp.num_params()];
    p.mlp.backward(p.x.view(), &mut ws.clone(), &mut plain).unwrap();
    let mut grads = vec![f32::NAN; p.mlp.num_params()];
    let base = grads.as_ptr() as usize;
    let mut seen = Vec::new();
    p.mlp
        .backward_with(p.x.view(), &mut ws, &mut grads, &mut |l, g| {
            let start = (g.as_ptr() as usize - base) / std::mem::size_of::<f32>();
            // Scaling here must not disturb the layers still to come.
            g.iter_mut().for_each(|v| *v *= 2.0);
            seen.push((l, start..start + g.len()));
        })
        .unwrap();
    let expected: Vec<_> = (0..3).rev().map(|l| (l, p.mlp.layer_range(l))).collect();
    assert_eq!(seen, expected);
    let doubled: Vec<f32> = plain.iter().map(|g| g * 2.0).collect();
    assert_eq!(grads, doubled);
}
