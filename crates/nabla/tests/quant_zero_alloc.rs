//! The quantised forward pass allocates nothing in steady state: a counting global allocator
//! (this test binary only, which holds this one test, so every thread's allocations count:
//! the pool's workers included) watches every pass after the first, int8 and bf16, at one
//! thread and at two, with a full and a short batch.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nabla::quant::{Precision, QuantWorkspace, QuantizedMlp};
use nabla::{Activation, Init, Matrix, Mlp, MlpSpec, Rng};

/// Counts allocations (and reallocations) made by any thread while `COUNTING` is on.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

fn note() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches no
// allocator state.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`; `ptr` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

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
            COUNTING.store(true, Ordering::SeqCst);
            for rows in [200, 37, 200] {
                model.forward(x.rows_view(0, rows), &mut ws).unwrap();
            }
            COUNTING.store(false, Ordering::SeqCst);
            let n = ALLOCATIONS.swap(0, Ordering::SeqCst);
            assert_eq!(n, 0, "{precision} at {threads} thread(s): {n} allocations in steady state");
        }
    }
    nabla::pool::set_threads(1);
}
