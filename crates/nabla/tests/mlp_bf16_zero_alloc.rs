//! A training step (forward, loss, backward) of a plain MLP allocates nothing in steady
//! state, in f32 and in bf16: a counting global allocator (this test binary only, so every
//! thread's allocations count, the pool's workers included) watches every step after the
//! first, at one thread and at two, with a full and a short batch.

use nabla::gemm::MatmulPrecision;
use nabla::loss::{Loss, Targets};
use nabla::{Activation, Init, Matrix, Mlp, MlpSpec, Regularizer, Rng, Workspace};
use nabla_testkit::alloc::{count_on_every_thread, take_allocations};
use nabla_testkit::CountingAllocator;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn training_step_allocates_nothing_after_the_first() {
    let spec = MlpSpec::new(vec![784, 256, 128, 10], Activation::Relu, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::HeUniform, &mut Rng::new(1));
    let x = Matrix::random_uniform(128, 784, 0.0, 1.0, &mut Rng::new(2));
    let labels: Vec<u32> = (0..128).map(|i| i % 10).collect();
    let mut grads = vec![0.0f32; mlp.num_params()];
    let mut precisions = vec![MatmulPrecision::F32];
    // A CPU without bf16 kernels refuses bf16 (tested in the engine's unit tests).
    if nabla::gemm::bf16::best_kernel().is_some() {
        precisions.push(MatmulPrecision::Bf16);
    }
    for precision in precisions {
        for threads in [1, 2] {
            nabla::pool::set_threads(threads);
            let mut ws = Workspace::new(mlp.spec(), 128);
            ws.set_precision(precision).unwrap();
            let mut step = |rows: usize| {
                let targets = Targets::Classes(&labels[..rows]);
                let loss = Loss::SoftmaxCrossEntropy;
                mlp.loss_and_gradient(x.rows_view(0, rows), targets, loss, Regularizer::NONE, &mut ws, &mut grads)
                    .unwrap();
            };
            // The first step may start the pool's workers and size every buffer.
            step(128);
            count_on_every_thread(true);
            for rows in [128, 37, 128] {
                step(rows);
            }
            count_on_every_thread(false);
            let n = take_allocations();
            assert_eq!(n, 0, "{precision} at {threads} thread(s): {n} allocations in steady state");
        }
    }
    nabla::pool::set_threads(1);
}
