//! A counting global allocator for the zero-allocation tests.
//!
//! A `#[global_allocator]` is chosen per binary, so each test declares it itself:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: nabla_testkit::CountingAllocator = nabla_testkit::CountingAllocator;
//!
//! fn main() {
//!     let n = nabla_testkit::alloc::allocations_in(|| {
//!         std::hint::black_box(vec![0u8; 16]);
//!     });
//!     assert_eq!(n, 1);
//! }
//! ```
//!
//! Counting is off until turned on, for the calling thread ([`count_on_this_thread`], so that
//! the other tests of the binary, running beside, are not counted) or for every thread
//! ([`count_on_every_thread`], for a binary of one test whose workers must count too).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Counts allocations (and reallocations) made while counting is on; passes every call on to
/// the system allocator.
pub struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static COUNTING_EVERYWHERE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static COUNTING_HERE: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // `try_with`: a thread being torn down has no flag left, and does not count.
    if COUNTING_EVERYWHERE.load(Ordering::Relaxed) || COUNTING_HERE.try_with(Cell::get).unwrap_or(false) {
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

/// Turns counting on or off for the calling thread.
pub fn count_on_this_thread(on: bool) {
    COUNTING_HERE.with(|c| c.set(on));
}

/// Turns counting on or off for every thread.
pub fn count_on_every_thread(on: bool) {
    COUNTING_EVERYWHERE.store(on, Ordering::SeqCst);
}

/// The allocations counted since the last [`take_allocations`], and the count back to 0.
pub fn take_allocations() -> usize {
    ALLOCATIONS.swap(0, Ordering::SeqCst)
}

/// Allocations made by this thread while `f` runs (and by any other thread whose counting is
/// on meanwhile).
pub fn allocations_in(f: impl FnOnce()) -> usize {
    // Only one test counts at a time: the counter is shared, the flag is per thread.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    count_on_this_thread(true);
    f();
    count_on_this_thread(false);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}
