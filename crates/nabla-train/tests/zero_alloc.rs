//! The training step allocates nothing in steady state: a counting global allocator (this
//! test binary only) watches every step after the first, for SGD, momentum and Adam, with
//! and without dropout, at one thread and at two (the GEMMs then run on the engine's
//! persistent pool, whose worker counts its allocations too).
//!
//! The step is the trainer's: `BatchBuffers::fill`, `Mlp::forward` / `forward_train`,
//! `output_loss`, `backward`, `add_regularization`, `Optimizer::step`.

use std::sync::atomic::Ordering;

use nabla::loss::{Loss, Targets};
use nabla::optim::{OptimizerConfig, OptimizerKind};
use nabla::{Activation, Dropout, Init, MatRef, Mlp, MlpSpec, Regularizer, Rng, Workspace};
use nabla_data::{BatchBuffers, Dataset, Normalizer};
use nabla_testkit::alloc::{allocations_in, count_on_this_thread};
use nabla_testkit::CountingAllocator;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Turns counting on or off on the pool's first worker (task 1 of a two-task job runs there,
/// unless the pool is busy with another test's job: then try again).
fn count_on_pool_worker(on: bool) {
    loop {
        let on_worker = std::sync::atomic::AtomicBool::new(false);
        nabla::pool::run(2, &|i| {
            if i == 1 && std::thread::current().name() == Some("nabla-pool-0") {
                on_worker.store(true, Ordering::Relaxed);
                count_on_this_thread(on);
            }
        });
        if on_worker.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// One test at a time for everything that sets the thread count or uses the pool. The count
/// is process-wide, and a pool busy with another test's job runs a job's tasks on the caller:
/// the warm-up step would then not size the worker's packing buffers, and the counted steps
/// would see the worker allocate them (this made `two_thread_steps_allocate_nothing` fail
/// now and then when the tests ran in parallel).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// 100 random 28×28 images of 10 classes.
fn data() -> Dataset {
    nabla_data::synthetic_images(7, 100, 0).train
}

/// Trains one epoch-like pass of steps as the trainer does and returns how many
/// allocations the steps after the first made. Batches of 32 over 100 examples: the last
/// batch (4 examples) is partial, as in a real epoch.
fn steady_state_allocations(kind: OptimizerKind, dropout: Dropout) -> usize {
    steady_state_allocations_on(kind, dropout, 1, SIZES)
}

/// The measured net's widths.
const SIZES: &[usize] = &[784, 64, 32, 10];

/// [`steady_state_allocations`] with the GEMMs on `threads` threads.
fn steady_state_allocations_on(kind: OptimizerKind, dropout: Dropout, threads: usize, sizes: &[usize]) -> usize {
    let _serial = serial();
    nabla::pool::set_threads(threads);
    let ds = data();
    let norm = Normalizer::unit(ds.max_value);
    let spec = MlpSpec { sizes: sizes.to_vec(), hidden: Activation::Relu, output: Activation::Identity };
    let mut mlp = Mlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(0));
    let mut optimizer = OptimizerConfig { kind, ..OptimizerConfig::default() }.build(spec.param_count());
    let batch = 32;
    let mut buffers = BatchBuffers::new(batch, ds.features());
    let mut ws = Workspace::new(&spec, batch);
    let mut grads = vec![0.0f32; spec.param_count()];
    let mut labels32 = vec![0u32; batch];
    let mut drop_rng = Rng::new(1);
    let reg = Regularizer { l1: 1e-5, l2: 1e-4 };
    let mut order: Vec<usize> = (0..ds.len).collect();
    let mut shuffle_rng = Rng::new(2);

    let mut step = |chunk: &[usize]| {
        let n = chunk.len();
        let (x, labels) = buffers.fill(&ds, chunk, &norm);
        for (l32, &l) in labels32.iter_mut().zip(labels) {
            *l32 = u32::from(l);
        }
        let x = MatRef::new(x, n, ds.features()).unwrap();
        if dropout == Dropout::NONE {
            mlp.forward(x, &mut ws).unwrap();
        } else {
            mlp.forward_train(x, &mut ws, dropout, &mut drop_rng).unwrap();
        }
        let mut loss = mlp.output_loss(Targets::Classes(&labels32[..n]), Loss::SoftmaxCrossEntropy, &mut ws).unwrap();
        mlp.backward(x, &mut ws, &mut grads).unwrap();
        loss += mlp.add_regularization(reg, &mut grads);
        optimizer.step(mlp.params_mut(), &grads, 0.01);
        assert!(loss.is_finite());
    };
    let _restore = RestoreThreads;
    // The first step may allocate (lazily created buffers, the GEMM's packing space).
    step(&order[..batch]);
    allocations_in(|| {
        if threads > 1 {
            count_on_pool_worker(true);
        }
        for _ in 0..2 {
            shuffle_rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                step(chunk);
            }
        }
        if threads > 1 {
            count_on_pool_worker(false);
        }
    })
}

/// Puts the GEMM back on one thread when a measurement ends (or fails).
struct RestoreThreads;

impl Drop for RestoreThreads {
    fn drop(&mut self) {
        nabla::pool::set_threads(1);
    }
}

const WITH_DROPOUT: Dropout = Dropout { input: 0.2, hidden: 0.5 };

#[test]
fn sgd_step_allocates_nothing() {
    assert_eq!(steady_state_allocations(OptimizerKind::Sgd, Dropout::NONE), 0);
    assert_eq!(steady_state_allocations(OptimizerKind::Sgd, WITH_DROPOUT), 0);
}

#[test]
fn momentum_step_allocates_nothing() {
    assert_eq!(steady_state_allocations(OptimizerKind::Momentum, Dropout::NONE), 0);
    assert_eq!(steady_state_allocations(OptimizerKind::Momentum, WITH_DROPOUT), 0);
}

#[test]
fn adam_step_allocates_nothing() {
    assert_eq!(steady_state_allocations(OptimizerKind::Adam, Dropout::NONE), 0);
    assert_eq!(steady_state_allocations(OptimizerKind::Adam, WITH_DROPOUT), 0);
}

#[test]
fn two_thread_steps_allocate_nothing() {
    // Two threads' worth of shapes: the first layer's GEMMs go to the pool.
    for kind in [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam] {
        assert_eq!(steady_state_allocations_on(kind, Dropout::NONE, 2, SIZES), 0, "{kind:?}");
    }
    assert_eq!(steady_state_allocations_on(OptimizerKind::Adam, WITH_DROPOUT, 2, SIZES), 0);
    // A 600-wide second layer: its `da` is three blocks deep and split along them
    // (`gemm_by_depth`).
    assert_eq!(steady_state_allocations_on(OptimizerKind::Adam, Dropout::NONE, 2, &[784, 64, 600, 10]), 0);
}

#[test]
fn the_counter_sees_an_allocation_on_the_pool_worker() {
    let _serial = serial();
    let n = allocations_in(|| {
        count_on_pool_worker(true);
        nabla::pool::run(2, &|i| {
            if i == 1 {
                std::hint::black_box(vec![1u8; 100]);
            }
        });
        count_on_pool_worker(false);
    });
    assert!(n >= 1, "{n}");
}

#[test]
fn the_counter_sees_an_allocation() {
    let n = allocations_in(|| {
        std::hint::black_box(vec![1u8; 100]);
    });
    assert_eq!(n, 1);
}
