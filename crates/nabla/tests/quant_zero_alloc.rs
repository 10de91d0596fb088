//! The quantised forward pass allocates nothing in steady state: a counting global allocator
//! (this test binary only, which holds this one test, so every thread's allocations count:
//! the pool's workers included) watches every pass after the first, int8 and bf16, at one
//! thread and at two, with a full and a short batch.

use nabla::quant::{Precision, QuantWorkspace, QuantizedMlp};
use nabla::{Activation, Init, Matrix, Mlp, MlpSpec, Rng};
use nabla_testkit::alloc::{count_on_every_thread, take_allocations};
use nabla_testkit::CountingAllocator;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn quantized_forward_allocates_nothing_after_the_first_pass() {
    let spec = MlpSpec::new(vec![784, 256, 10], Activation::Relu, Activation::Identity).unwrap();
    let mlp = Mlp::new(spec, Init::HeUniform, &mut Rng::new(1));
    let x = Matrix::random_uniform(200, 784, 0.0, 1.0, &mut Rng::new(2));
    for precision in [Precision::Int8, Precision::Bf16] {
        let model = QuantizedMlp::quantize(&mlp, precision);
        for threads in [1, 2] {
            nabla::pool::set_threads(threads);
            let mut ws = QuantWorkspace::new(&model, 200);
            // The first pass may start the pool's workers and size buffers.
            model.forward(x.view(), &mut ws).unwrap();
            count_on_every_thread(true);
            for rows in [200, 37, 200] {
                model.forward(x.rows_view(0, rows), &mut ws).unwrap();
            }
            count_on_every_thread(false);
            let n = take_allocations();
            assert_eq!(n, 0, "{precision} at {threads} thread(s): {n} allocations in steady state");
        }
    }
    nabla::pool::set_threads(1);
}
