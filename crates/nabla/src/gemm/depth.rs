//! A product split between threads along its depth instead of along `C`, for a layer's
//! `da = dz · W` in the backward pass: each thread then reads only the rows of `W` (the
//! layer's outputs) that it also reads in the forward pass and updates in the optimiser's
//! step, where the split along `C` has every thread read a strip of every row.
//!
//! Why it matters: a line of `W` that another core has read since it was last written must be
//! taken back from that core before the owner's step writes it. Between two cores of one CCD
//! that costs little; between two CCDs (or sockets) the taking-back waits on the other core's
//! cache for every line, one after the other. On the 2-vCPU Zen 4 VMs, in the placement with
//! the vCPUs 165–180 ns apart, W3's Adam took 29 % of the two threads' time instead of 12 %
//! (docs/benchmarks/training-history-2026-12-07.md).
//!
//! The bits are those of [`super::gemm`]: every kernel sums `k` in blocks of
//! `balanced_block(k, KC)` ([`fast::KC`]), each block's chain of multiply-adds starting from
//! zero and then added to `C`. Here the first thread's blocks go into `C` as the one-thread
//! product would put them; every later block is computed alone (with `beta = 0`) into a
//! buffer, and the buffers are then added to `C` in the order of their blocks, the same
//! additions in the same order.

use std::cell::RefCell;

use super::fast::{self, RawC};
use super::{band_threads, column_band, row_band, Transpose};
use crate::matrix::{MatMut, MatRef};
use crate::pool::{self, SharedMut};

thread_local! {
    /// The later blocks' products, kept per calling thread so that steady-state calls
    /// allocate nothing.
    static BLOCKS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// How the threads split a product's depth: `tasks` threads, each taking whole blocks of
/// `kc` values of `k` (the kernels' split of it), in order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DepthSplit {
    k: usize,
    kc: usize,
    blocks: usize,
    tasks: usize,
}

impl DepthSplit {
    /// The split for a product of `m × n × k` on the `f32` kernels, on up to `threads`
    /// threads; `None` when the product should be split along `C` instead (one thread, a
    /// product the fast kernels compute by plain loops or the skinny kernel, fewer blocks
    /// than two).
    pub(crate) fn of(threads: usize, (ta, tb): (Transpose, Transpose), m: usize, n: usize, k: usize) -> Option<Self> {
        if threads < 2
            || !fast::blocked_product(m, n, k)
            || fast::skinny_takes(ta, tb, m, n, k)
            || band_threads(threads, m, n, k) < 2
        {
            return None;
        }
        Self::by_blocks(threads, k, fast::depth_block)
    }

    /// The split of a depth `k` that a kernel sums in blocks of `depth_block(k)` values (the
    /// last may be shorter), on up to `threads` threads; `None` for fewer than two blocks.
    pub(crate) fn by_blocks(threads: usize, k: usize, depth_block: fn(usize) -> usize) -> Option<Self> {
        let kc = depth_block(k);
        let blocks = k.div_ceil(kc);
        let split = DepthSplit { k, kc, blocks, tasks: threads.min(blocks) };
        // The first thread's product over its range must cut it at the same places.
        (split.tasks >= 2 && depth_block(split.depth(split.task_blocks(0)).len()) == kc).then_some(split)
    }

    /// Threads with blocks to compute.
    pub(crate) fn tasks(&self) -> usize {
        self.tasks
    }

    /// The blocks thread `t` takes.
    fn task_blocks(&self, t: usize) -> std::ops::Range<usize> {
        t * self.blocks / self.tasks..(t + 1) * self.blocks / self.tasks
    }

    /// The values of `k` in `blocks`.
    fn depth(&self, blocks: std::ops::Range<usize>) -> std::ops::Range<usize> {
        blocks.start * self.kc..(blocks.end * self.kc).min(self.k)
    }

    /// The blocks after the first thread's, each computed alone into a buffer.
    fn later(&self) -> std::ops::Range<usize> {
        self.task_blocks(0).end..self.blocks
    }
}

/// `C = alpha · op(A) · op(B) + beta · C` (shapes checked by the caller) on the threads of
/// [`crate::pool`], split along the depth by [`DepthSplit`]: the bits of [`super::gemm`].
/// Falls back to [`super::gemm`]'s split along `C` when the depth split does not apply.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_by_depth(
    alpha: f32,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
) -> crate::Result<()> {
    let (m, n) = c.shape();
    let k = ta.apply(a.shape()).1;
    let Some(split) = DepthSplit::of(pool::threads(), (ta, tb), m, n, k) else {
        return super::gemm(alpha, a, ta, b, tb, beta, c);
    };
    // SAFETY: `run` hands each call an output that call alone touches during the run; the
    // shapes were checked and every band is non-empty.
    run(split, a, ta, b, tb, beta, c, &|a, b, beta, out| unsafe { fast::gemm_raw(alpha, a, ta, b, tb, beta, out) });
    Ok(())
}

/// Runs a product split by `split`: `product(a, b, beta, out)` computes `out = alpha · op(a)
/// · op(b) + beta · out` (`alpha` and the transposes fixed by the caller) for the bands of
/// depth of one thread's first block range (into `C`) and of each later block (into a buffer,
/// `beta = 0`); the buffers are then added to `C` in the order of their blocks. `product`
/// must sum its depth in the blocks `split` was made with, so that the additions are the
/// one-thread product's.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    split: DepthSplit,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    beta: f32,
    c: MatMut<'_>,
    product: &(dyn Fn(MatRef<'_>, MatRef<'_>, f32, RawC) + Sync),
) {
    let (m, n) = c.shape();
    let later = split.later();
    let size = m * n;
    BLOCKS.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.len() < later.len() * size {
            buffer.resize(later.len() * size, 0.0);
        }
        let blocks = SharedMut::new(&mut buffer[..later.len() * size]);
        let c = RawC::of(c);
        let band =
            |r: std::ops::Range<usize>| (column_band(a, ta, m, r.start, r.end), row_band(b, tb, n, r.start, r.end));
        pool::run(split.tasks, &|t| {
            if t == 0 {
                let (a0, b0) = band(split.depth(split.task_blocks(0)));
                product(a0, b0, beta, c);
                return;
            }
            for block in split.task_blocks(t) {
                let i = block - later.start;
                let (ab, bb) = band(split.depth(block..block + 1));
                // SAFETY: block i's buffer is this task's alone (each block belongs to one task).
                let out = unsafe { blocks.range(i * size..(i + 1) * size) };
                product(ab, bb, 0.0, RawC::of(MatMut::new(out, m, n).expect("a buffer of m × n")));
            }
        });
        // C += each later block, in order: the additions the one-thread product makes.
        // SAFETY: the run above is over; nothing else holds a part of the buffers.
        let blocks = unsafe { blocks.range_ref(0..later.len() * size) };
        pool::for_row_bands(pool::threads(), m, n * (later.len() + 1), &|rows| {
            for i in rows {
                // SAFETY: row i of C is this band's alone; C outlives the call.
                let c_row = unsafe { std::slice::from_raw_parts_mut(c.band(i, 1, 0, n).ptr, n) };
                for block in blocks.chunks_exact(size) {
                    for (c, &x) in c_row.iter_mut().zip(&block[i * n..(i + 1) * n]) {
                        *c += x;
                    }
                }
            }
        });
    });
}
