//! A persistent pool of worker threads for the engine's parallel kernels.
//!
//! Spawning threads for every GEMM of a training step costs tens of microseconds and
//! allocates; the pool's workers are started once (the first time a call needs them) and then
//! wait between jobs: first spinning for up to [`SPIN`] (a training step posts a job every
//! few tens of microseconds, and waking a sleeping thread costs about as much as a small
//! product), then asleep on a condition variable. A job is `f(0), f(1), …, f(n − 1)`: the caller
//! runs task 0 and worker `i − 1` runs task `i`, always the same worker for the same index,
//! so a kernel that splits its work by task index gets the same split, and the same bits,
//! on every call. Submitting a job allocates nothing.
//!
//! One job runs at a time. A caller that finds the pool busy (another thread's job, or a
//! task that itself calls [`run`]) runs its tasks one after another on its own thread
//! instead: slower, never a deadlock, and the same results.
//!
//! The pool also owns the engine's thread count: [`set_threads`] says how many threads
//! every parallel pass (GEMM, activations, optimisers, quantised forward, a caller's batch
//! fill) may use, and each pass reads it through [`threads`].

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// How many threads the engine's parallel passes may use (1 unless [`set_threads`] says
/// otherwise).
static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many threads (at least 1) every parallel pass of the engine may use: the
/// [`crate::gemm()`], the fused bias + activation passes, the optimisers' updates, the
/// quantised forward pass, and callers' passes such as a batch fill. Results do not depend
/// on it: each pass splits its work so that every value is computed by the same sequence of
/// operations whichever thread computes it.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads the engine's parallel passes may use.
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

thread_local! {
    /// Set by [`with_threads`]: this thread's jobs wait for a busy pool instead of running
    /// serially.
    static WAIT_IF_BUSY: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread is running a job's task 0 (a nested [`run`] must not wait for
    /// the pool it holds).
    static IN_JOB: Cell<bool> = const { Cell::new(false) };
    /// Jobs this thread ran on more than one thread.
    static PARALLEL_JOBS: Cell<u64> = const { Cell::new(0) };
}

/// Serialises [`with_threads`] calls: the thread count is one setting for the process.
static WITH_THREADS: Mutex<()> = Mutex::new(());

/// Runs `f` with the engine at `n` threads, for comparisons of thread counts ("the same bits
/// at 1 and 4 threads") that must compare what they name. While it runs: no other
/// `with_threads` call can change the count (they wait for one another), and a job of this
/// thread that finds the pool busy (another test's job) waits for it rather than running its
/// tasks one after another on this thread. Returns `f`'s result and how many of its jobs ran
/// on more than one thread, so that a caller can check that `n` threads really ran. The count
/// in force before is restored.
pub fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> (R, u64) {
    let _serial = WITH_THREADS.lock().unwrap_or_else(PoisonError::into_inner);
    with_threads_serialised(n, f)
}

/// [`with_threads`]'s work, for a caller that holds `WITH_THREADS`.
fn with_threads_serialised<R>(n: usize, f: impl FnOnce() -> R) -> (R, u64) {
    let before = threads();
    set_threads(n);
    let (waited, counted) = (WAIT_IF_BUSY.replace(true), PARALLEL_JOBS.get());
    let result = catch_unwind(AssertUnwindSafe(f));
    let parallel = PARALLEL_JOBS.get() - counted;
    WAIT_IF_BUSY.set(waited);
    set_threads(before);
    match result {
        Ok(r) => (r, parallel),
        Err(payload) => resume_unwind(payload),
    }
}

/// A task as the workers see it: the caller's closure with its lifetime erased.
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, so calling it from another thread is allowed; `run` keeps it
// alive until every worker has finished with it (see there).
unsafe impl Send for Job {}

#[derive(Default)]
struct State {
    /// Bumped for every job, so that a worker runs each job once.
    generation: u64,
    job: Option<Job>,
    /// Tasks of the current job, the caller's included.
    tasks: usize,
    /// Workers that have not yet finished the current job.
    pending: usize,
    /// Whether a worker's task panicked in the current job.
    panicked: bool,
    /// Workers started so far.
    workers: usize,
}

struct Pool {
    state: Mutex<State>,
    /// Wakes the workers when a job is posted.
    start: Condvar,
    /// Wakes the caller when the last worker is done.
    done: Condvar,
    /// Held by the caller whose job is running.
    submit: Mutex<()>,
    /// `state.generation`, readable without the lock (for the spinning workers).
    posted: AtomicU64,
    /// `state.pending`, readable without the lock (for the spinning caller).
    remaining: AtomicUsize,
}

/// How long a worker spins for the next job, and a caller for its workers to finish, before
/// sleeping. Like OpenMP's spin-then-block wait (whose default is far longer), it keeps the
/// second core busy for this long after the last job.
pub const SPIN: Duration = Duration::from_micros(500);

/// Spins until `done()` or [`SPIN`] has passed; whether `done()` became true.
fn spin_until(done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > SPIN {
            return done();
        }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        start: Condvar::new(),
        done: Condvar::new(),
        submit: Mutex::new(()),
        posted: AtomicU64::new(0),
        remaining: AtomicUsize::new(0),
    })
}

/// The state lock; a panic never happens while it is held, but if one did the state is
/// still consistent (every field is written in one go).
fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f(0), …, f(tasks − 1)`, task 0 on the calling thread and the others on the pool's
/// workers at the same time, and returns when all are done. A panic in any task is
/// re-raised here after every task has finished.
pub fn run(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    if tasks <= 1 {
        (0..tasks).for_each(f);
        return;
    }
    let pool = pool();
    let _guard = match pool.submit.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        // Under `with_threads`, wait for the pool (unless this thread is the one holding it).
        Err(TryLockError::WouldBlock) if WAIT_IF_BUSY.get() && !IN_JOB.get() => {
            pool.submit.lock().unwrap_or_else(PoisonError::into_inner)
        }
        Err(TryLockError::WouldBlock) => {
            (0..tasks).for_each(f);
            return;
        }
    };
    let helpers = {
        let mut s = lock(&pool.state);
        while s.workers < tasks - 1 {
            let (id, seen) = (s.workers, s.generation);
            let spawned = std::thread::Builder::new().name(format!("nabla-pool-{id}")).spawn(move || worker(id, seen));
            if spawned.is_err() {
                break;
            }
            s.workers += 1;
        }
        let helpers = s.workers.min(tasks - 1);
        // SAFETY (of the erased lifetime): `run` does not return before `pending` is back
        // to 0, that is before every worker is done calling `f`, and it clears `job` then.
        let erased: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        s.job = Some(Job(erased));
        s.tasks = helpers + 1;
        s.pending = helpers;
        s.panicked = false;
        s.generation += 1;
        pool.remaining.store(helpers, Ordering::Release);
        pool.posted.store(s.generation, Ordering::Release);
        helpers
    };
    pool.start.notify_all();
    if helpers > 0 {
        PARALLEL_JOBS.set(PARALLEL_JOBS.get() + 1);
    }
    // Task 0, and any task no worker could be started for, on this thread.
    let was_in_job = IN_JOB.replace(true);
    let mine = catch_unwind(AssertUnwindSafe(|| {
        f(0);
        (helpers + 1..tasks).for_each(f);
    }));
    IN_JOB.set(was_in_job);
    spin_until(|| pool.remaining.load(Ordering::Acquire) == 0);
    let panicked = {
        let mut s = lock(&pool.state);
        while s.pending > 0 {
            s = pool.done.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.job = None;
        s.panicked
    };
    if let Err(payload) = mine {
        resume_unwind(payload);
    }
    assert!(!panicked, "a task on a nabla pool worker panicked");
}

/// Values per task below which an element-wise pass stays on one thread: waking a worker
/// costs a few microseconds, about what one core takes for this many updates.
pub const ELEMENTWISE_MIN_PER_TASK: usize = 1 << 15;

/// Runs an element-wise pass `f` over `0..len` cut into ranges of `chunk` values (rounded up
/// to a multiple of 16, so that two threads never write the same 64-byte cache line), dealt
/// out to at most `tasks` threads of the pool in turn: task `t` takes ranges `t`,
/// `t + tasks`, `t + 2·tasks`, …, one call of `f` each. For a pass over buffers of which some
/// parts are still in cache and others are not (an optimiser step just after the backward
/// pass, whose last gradients are the first layer's), contiguous halves would give one
/// thread all the cached part and leave it waiting for the other; dealt ranges share both.
/// Small passes (under [`ELEMENTWISE_MIN_PER_TASK`] values a task) run on the calling thread
/// as one range.
///
/// Element-wise kernels do the same arithmetic on each element whichever range holds it, so
/// their results do not depend on `tasks` or `chunk`.
pub fn for_dealt_ranges(tasks: usize, len: usize, chunk: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    const LINE: usize = 16;
    let chunk = chunk.max(1).div_ceil(LINE) * LINE;
    let chunks = len.div_ceil(chunk);
    let tasks = tasks.min(len / ELEMENTWISE_MIN_PER_TASK).min(chunks).max(1);
    if tasks == 1 {
        f(0..len);
        return;
    }
    run(tasks, &|t| (t..chunks).step_by(tasks).for_each(|c| f(c * chunk..((c + 1) * chunk).min(len))));
}

/// Runs `f` over the rows `0..rows` of a pass over `rows × row_len` values, split into at most
/// `tasks` contiguous bands of whole rows, one per thread of the pool, by the same rule as
/// [`for_dealt_ranges`]: a pass under [`ELEMENTWISE_MIN_PER_TASK`] values a task runs on the
/// calling thread as one band.
pub fn for_row_bands(tasks: usize, rows: usize, row_len: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    for_row_bands_above(ELEMENTWISE_MIN_PER_TASK, tasks, rows, row_len, f);
}

/// [`for_row_bands`] for a pass whose values cost more than an element-wise update each (a
/// gather of rows from memory): a task takes at least `min_per_task` values, not
/// [`ELEMENTWISE_MIN_PER_TASK`].
pub fn for_row_bands_above(
    min_per_task: usize,
    tasks: usize,
    rows: usize,
    row_len: usize,
    f: &(dyn Fn(std::ops::Range<usize>) + Sync),
) {
    let tasks = tasks.min(rows * row_len / min_per_task.max(1)).max(1);
    if tasks == 1 {
        f(0..rows);
        return;
    }
    let per = rows.div_ceil(tasks);
    run(rows.div_ceil(per), &|t| f(t * per..((t + 1) * per).min(rows)));
}

/// A `&mut [T]` shared by the tasks of one job on the pool ([`run`], [`for_dealt_ranges`],
/// [`for_row_bands`]), each task taking its own disjoint part of it.
///
/// It holds the exclusive borrow it was made from for `'a`, so the buffer outlives every
/// part handed out and nothing else touches it meanwhile.
///
/// # Safety contract
///
/// [`SharedMut::range`] and [`SharedMut::range_ref`] are `unsafe`: the caller promises that
/// no two parts alive at the same time overlap when either of them is mutable (in
/// [`for_dealt_ranges`], one `range` per call with that call's range). Bounds are checked.
pub struct SharedMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: a `SharedMut` only hands out parts through `range` and `range_ref`, whose contract
// keeps a mutable part disjoint from every other live part; moving the borrow to another
// thread is allowed when `T` may be sent.
unsafe impl<T: Send> Send for SharedMut<'_, T> {}
// SAFETY: as for `Send`; tasks on other threads get `&mut [T]` (needs `T: Send`) and
// `&[T]` (needs `T: Sync`) parts.
unsafe impl<T: Send + Sync> Sync for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    /// Shares `slice` for the duration of its borrow.
    pub fn new(slice: &'a mut [T]) -> Self {
        Self { ptr: slice.as_mut_ptr(), len: slice.len(), _borrow: std::marker::PhantomData }
    }

    /// The elements of `range`, to write.
    ///
    /// # Safety
    /// No other part alive at the same time (from `range` or `range_ref`) may overlap
    /// `range` (in [`for_dealt_ranges`], call it once per call of `f` with that call's range).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, range: std::ops::Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len, "range outside the shared slice");
        // SAFETY: in bounds by the assert; exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }

    /// The elements of `range`, to read.
    ///
    /// # Safety
    /// No part from [`SharedMut::range`] alive at the same time may overlap `range`.
    pub unsafe fn range_ref(&self, range: std::ops::Range<usize>) -> &[T] {
        assert!(range.start <= range.end && range.end <= self.len, "range outside the shared slice");
        // SAFETY: in bounds by the assert; no writer by the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.add(range.start), range.len()) }
    }
}

/// Worker `id`: runs task `id + 1` of every job that has one, then sleeps until the next.
fn worker(id: usize, mut seen: u64) {
    let pool = pool();
    loop {
        spin_until(|| pool.posted.load(Ordering::Acquire) != seen);
        let job = {
            let mut s = lock(&pool.state);
            loop {
                if s.generation != seen {
                    seen = s.generation;
                    if id + 1 < s.tasks {
                        break s.job.expect("a posted job");
                    }
                }
                s = pool.start.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
        };
        // SAFETY: the caller of `run` keeps the closure alive until `pending` reaches 0,
        // which happens only after this call returns.
        let ok = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)(id + 1) })).is_ok();
        let mut s = lock(&pool.state);
        s.panicked |= !ok;
        s.pending -= 1;
        pool.remaining.store(s.pending, Ordering::Release);
        if s.pending == 0 {
            pool.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_on_its_own_thread() {
        for tasks in [0, 1, 2, 3, 5] {
            let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            let names = Mutex::new(vec![String::new(); tasks]);
            run(tasks, &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
                names.lock().unwrap()[i] = std::thread::current().name().unwrap_or("").to_string();
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1), "{tasks} tasks");
            let names = names.into_inner().unwrap();
            for (i, name) in names.iter().enumerate().skip(1) {
                // A busy pool (another test's job) runs tasks on the caller instead.
                assert!(name == &format!("nabla-pool-{}", i - 1) || name == &names[0], "task {i} ran on {name}");
            }
        }
    }

    // Regression (issue 21): "1 thread equals N threads" tests could compare a serial run with
    // a serial run (another test's job held the pool, so every task ran on the caller).
    #[test]
    fn with_threads_waits_for_a_busy_pool_and_counts_its_parallel_jobs() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        // Another thread's job holds the pool until released (waiting for the pool first, so
        // that a job of a test running beside this one cannot make it run serially).
        let holder = std::thread::spawn(move || {
            WAIT_IF_BUSY.set(true);
            let release = Mutex::new(release_rx);
            run(2, &|i| {
                if i == 0 {
                    tx.send(()).unwrap();
                    release.lock().unwrap().recv().unwrap();
                }
            });
            assert_eq!(PARALLEL_JOBS.get(), 1, "the holder's job held the pool");
        });
        rx.recv().unwrap();
        // Without with_threads a job finds the pool busy and runs serially: counted as such.
        let before = PARALLEL_JOBS.get();
        run(2, &|_| {});
        assert_eq!(PARALLEL_JOBS.get() - before, 0);
        let waiter = std::thread::spawn(|| with_threads(2, || run(2, &|_| {})).1);
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "with_threads ran its job without the pool");
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(waiter.join().unwrap(), 1, "its job ran on two threads");
        // A task that itself runs a job does not wait for the pool it holds.
        let ((), parallel) = with_threads(2, || {
            run(2, &|i| {
                if i == 0 {
                    run(2, &|_| {})
                }
            })
        });
        assert_eq!(parallel, 1);
    }

    #[test]
    fn with_threads_restores_the_count_before() {
        // Held, so that no other test's `with_threads` changes the count in between.
        let _serial = WITH_THREADS.lock().unwrap_or_else(PoisonError::into_inner);
        let before = threads();
        set_threads(3);
        assert_eq!(with_threads_serialised(2, threads).0, 2);
        assert_eq!(threads(), 3, "the count before is restored");
        let panicked = catch_unwind(|| with_threads_serialised(2, || panic!("a failing comparison")));
        assert!(panicked.is_err());
        assert_eq!(threads(), 3, "restored after a panic too");
        set_threads(before);
    }

    #[test]
    fn dealt_ranges_cover_everything_once_in_turn() {
        for (tasks, len, chunk) in
            [(1, 10, 4), (2, 10, 4), (2, 1 << 16, 1 << 12), (3, (1 << 17) + 5, 1000), (4, 1 << 16, 1 << 16)]
        {
            let hits: Vec<AtomicUsize> = (0..len).map(|_| AtomicUsize::new(0)).collect();
            let calls = Mutex::new(Vec::new());
            for_dealt_ranges(tasks, len, chunk, &|r| {
                calls.lock().unwrap().push((std::thread::current().name().map(str::to_string), r.clone()));
                r.for_each(|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "{tasks} tasks over {len}");
            let calls = calls.into_inner().unwrap();
            let line_chunk = chunk.div_ceil(16) * 16;
            let used = tasks.min(len / ELEMENTWISE_MIN_PER_TASK).min(len.div_ceil(line_chunk)).max(1);
            if used == 1 {
                assert_eq!(calls.len(), 1, "a small pass is one range");
                continue;
            }
            assert!(calls.iter().all(|(_, r)| r.start % line_chunk == 0), "{calls:?}");
            assert_eq!(calls.len(), len.div_ceil(line_chunk), "one call a range");
            // Ranges c and c + used go to the same task: the same thread, unless the pool was
            // busy with another test's job and every task ran on the caller.
            for (name, r) in &calls {
                let next = calls.iter().find(|(_, q)| q.start == r.start + used * line_chunk);
                assert!(next.is_none_or(|(other, _)| other == name || calls.iter().all(|(n, _)| n == &calls[0].0)));
            }
        }
    }

    #[test]
    fn shared_slices_write_disjoint_ranges() {
        let mut data = vec![0.0f32; 1 << 17];
        let shared = SharedMut::new(&mut data);
        // SAFETY: each task takes only its own range.
        for_dealt_ranges(2, 1 << 17, 1 << 12, &|r| {
            unsafe { shared.range(r.clone()) }.iter_mut().zip(r).for_each(|(x, i)| *x = i as f32)
        });
        assert!(data.iter().enumerate().all(|(i, &x)| x == i as f32));
    }

    #[test]
    fn nested_and_concurrent_jobs_complete() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        run(2, &|_| {
                            run(2, &|_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 50 * 4);
    }

    #[test]
    fn a_panicking_task_is_reported_and_the_pool_still_works() {
        let result = catch_unwind(|| run(2, &|i| assert!(i != 1, "task 1 fails")));
        assert!(result.is_err());
        let result = catch_unwind(|| run(2, &|i| assert!(i != 0, "task 0 fails")));
        assert!(result.is_err());
        let count = AtomicUsize::new(0);
        run(2, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 2);
    }
}
