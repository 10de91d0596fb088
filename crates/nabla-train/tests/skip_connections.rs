//! Issue 22's two facts about skip connections, on the digits set through the trainer: a deep
//! plain net (20 hidden layers) trains worse than the same net with skips on a fixed seed,
//! and its loss landscape is measurably rougher (Li et al. 2018, fig. 5).
//!
//! The recipe is SGD with momentum 0.9 at a constant rate of 0.03, 8 epochs, batches of 32:
//! with Adam a 20-layer ReLU net of this width trains nearly as well without skips. Measured
//! (seed 3): the plain net stalls near a train loss of 2 (19% test accuracy), the residual
//! one reaches 0.17 (94%); the plain landscape is non-convex at 35% of the grid points,
//! the residual one at 2.5%.

mod common;

use common::digits;
use nabla::{Network, OptimizerKind, Rng};
use nabla_data::{BatchBuffers, Dataset};
use nabla_train::checkpoint::{self, ModelInput};
use nabla_train::config::TrainConfig;
use nabla_train::landscape::{self, linspace, roughness, LossData, Roughness};
use nabla_train::schedule::Schedule;
use nabla_train::train::{train, Silent, TrainOutcome, TrainRun};

/// 20 hidden layers of 16 ReLU units (20 residual blocks with `residual`), SGD with momentum.
fn config(residual: bool) -> TrainConfig {
    TrainConfig {
        hidden: vec![],
        depth: Some(20),
        width: Some(16),
        residual,
        dropout: 0.0,
        optimizer: OptimizerKind::Momentum,
        momentum: 0.9,
        lr: 0.03,
        schedule: Schedule::Constant,
        epochs: 8,
        batch_size: 32,
        seed: 3,
        ..TrainConfig::for_dataset("digits")
    }
}

/// Trains into `dir` and returns the outcome with the examples the landscape is measured on
/// (the first 300 training images, as the checkpoint normalises them).
fn trained(residual: bool, dir: &std::path::Path) -> (TrainOutcome, LossData) {
    let data = digits();
    let outcome = train(
        TrainRun { config: &config(residual), data: (&data).into(), out_dir: Some(dir), resume: None, stop: None },
        &mut Silent,
    )
    .unwrap();
    let ckpt = checkpoint::load(&dir.join("last.safetensors")).unwrap();
    let ModelInput::Image(input) = &ckpt.input else { panic!("digits is an image set") };
    (outcome, examples(&data.train, &input.normalizer(data.train.max_value), 300))
}

fn examples(ds: &Dataset, norm: &nabla_data::Normalizer, n: usize) -> LossData {
    let order: Vec<usize> = (0..n).collect();
    let mut buffers = BatchBuffers::new(n, ds.features());
    let (x, y) = buffers.fill(ds, &order, norm);
    LossData { x: x.to_vec(), labels: y.iter().map(|&l| u32::from(l)).collect(), features: ds.features() }
}

/// The roughness of `net`'s landscape on an 11 × 11 grid over [-0.5, 0.5]², directions from
/// seed 0. (Over [-1, 1]² the residual net's basin rises onto a plateau — its final layer
/// norm bounds the logits — and the bend onto the plateau counts as non-convex; nearer the
/// centre each net's own shape shows.)
fn landscape_roughness(net: &Network, data: &LossData) -> Roughness {
    let (d1, d2) = landscape::filter_normalized_pair(net, &mut Rng::new(0));
    let steps = linspace(-0.5, 0.5, 11);
    let grid = landscape::loss_grid(net, (&d1, &d2), &steps, &steps, data, 2, &|| {}).unwrap();
    roughness(&grid)
}

#[test]
fn a_deep_plain_net_trains_worse_and_its_landscape_is_rougher_than_with_skips() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, data) = trained(false, &dir.path().join("plain"));
    let (residual, _) = trained(true, &dir.path().join("residual"));
    assert!(matches!(plain.network, Network::Plain(_)) && matches!(residual.network, Network::Residual(_)));
    let (p_loss, r_loss) = (plain.history.last().unwrap().train_loss, residual.history.last().unwrap().train_loss);
    let (p_acc, r_acc) = (plain.test.headline(), residual.test.headline());
    let (p_rough, r_rough) =
        (landscape_roughness(&plain.network, &data), landscape_roughness(&residual.network, &data));
    // Trains worse: a higher final training loss and a lower test accuracy.
    assert!(p_loss > 2.0 * r_loss, "plain train loss {p_loss} vs residual {r_loss}");
    assert!(p_acc + 0.05 < r_acc, "plain test accuracy {p_acc} vs residual {r_acc}");
    // Rougher: more grid points where the loss is not convex along a grid line.
    assert_eq!((p_rough.points, r_rough.points), (81, 81));
    assert!(
        p_rough.nonconvex_fraction > r_rough.nonconvex_fraction + 0.1,
        "plain non-convex {:?} vs residual {:?}",
        p_rough,
        r_rough
    );
}
