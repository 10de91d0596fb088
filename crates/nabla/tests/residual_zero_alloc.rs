//! The residual MLP's training step allocates nothing in steady state: a counting global
//! allocator (this test binary only, which holds this one test, so every thread's
//! allocations count: the pool's workers included) watches every step after the first —
//! forward, loss, backward, regularisation, Adam — at one thread and at two, with a full and
//! a short batch.

use nabla::loss::{Loss, Targets};
use nabla::optim::{OptimizerConfig, OptimizerKind};
use nabla::{Activation, Init, Matrix, Regularizer, ResidualMlp, ResidualSpec, ResidualWorkspace, Rng};
use nabla_testkit::alloc::{count_on_every_thread, take_allocations};
use nabla_testkit::CountingAllocator;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn residual_training_step_allocates_nothing_after_the_first() {
    let spec = ResidualSpec::new(64, 96, 4, 10, Activation::Relu, Activation::Identity).unwrap();
    let mut net = ResidualMlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(1));
    let x = Matrix::random_uniform(128, 64, 0.0, 1.0, &mut Rng::new(2));
    let labels: Vec<u32> = (0..128).map(|i| i % 10).collect();
    let mut optimizer =
        OptimizerConfig { kind: OptimizerKind::Adam, ..OptimizerConfig::default() }.build(net.num_params());
    let mut grads = vec![0.0f32; net.num_params()];
    let reg = Regularizer { l1: 1e-5, l2: 1e-4 };
    for threads in [1, 2] {
        nabla::pool::set_threads(threads);
        let mut ws = ResidualWorkspace::new(&spec, 128);
        let mut step = |rows: usize| {
            let (x, targets) = (x.rows_view(0, rows), Targets::Classes(&labels[..rows]));
            let loss = net.loss_and_gradient(x, targets, Loss::SoftmaxCrossEntropy, reg, &mut ws, &mut grads).unwrap();
            optimizer.step(net.params_mut(), &grads, 1e-3);
            assert!(loss.is_finite());
        };
        // The first step may start the pool's workers and size the GEMM's packing space.
        step(128);
        count_on_every_thread(true);
        for rows in [128, 37, 128] {
            step(rows);
        }
        count_on_every_thread(false);
        let n = take_allocations();
        assert_eq!(n, 0, "at {threads} thread(s): {n} allocations in steady state");
    }
    nabla::pool::set_threads(1);
}
