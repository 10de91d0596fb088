//! Data-parallel training: the all-reduce that joins the ranks' gradients.
//!
//! The trainer talks to a [`Reducer`]: one process ([`SingleProcess`], the default) or the
//! ranks of an MPI job (`MpiReducer`, behind the `mpi` feature). Every rank holds the whole
//! network and walks the same global batches in the same order; rank `r` of `N` takes the
//! contiguous rows [`shard`] gives it, computes the mean gradient of its rows, scales it by
//! its share `n_r / B` of the batch, and the sum over ranks — the all-reduce — is then the
//! gradient of the whole batch's mean loss, however unevenly the rows fell. Every rank takes
//! the same optimiser step on the same numbers, so the weights stay identical without ever
//! being sent.
//!
//! Under MPI the sum is overlapped with the backward pass: [`Reducer::backward_and_sum`]
//! starts a non-blocking all-reduce of each layer's gradient as soon as the backward pass has
//! finished it (last layer first, [`nabla::Mlp::backward_with`]), while the earlier layers'
//! gradients are still being computed, and waits for all of them before the optimiser step.

use std::ops::Range;
use std::time::Instant;

use nabla::{MatRef, Mlp, Workspace};

/// The collective operations the trainer needs. A reducer with `size() == 1` must leave
/// buffers unchanged.
pub trait Reducer {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces `buf` on every rank by the element-wise sum of every rank's `buf`.
    fn sum_f32(&mut self, buf: &mut [f32]);
    /// Replaces `buf` on every rank by the element-wise sum of every rank's `buf`.
    fn sum_f64(&mut self, buf: &mut [f64]);

    /// This rank's part of a data-parallel step's gradient, summed over the ranks: runs
    /// `mlp`'s backward pass on this rank's shard (`None`: the rank has no rows in this
    /// batch and adds zeros), scales the gradient by `share` (`n_r / B`), and replaces `grads`
    /// on every rank by the sum over ranks. Returns the seconds spent waiting for the sum once
    /// this rank's own backward pass was done.
    ///
    /// The default runs the whole backward pass, then one [`Reducer::sum_f32`] of the whole
    /// buffer; `MpiReducer` starts each layer's sum as soon as its gradient is done.
    fn backward_and_sum(
        &mut self,
        mlp: &Mlp,
        shard: Option<(MatRef<'_>, &mut Workspace)>,
        grads: &mut [f32],
        share: f32,
    ) -> Result<f64, nabla::Error> {
        backward_then_sum(self, mlp, shard, grads, share)
    }

    /// Ends every rank of the job at once with exit code `code`, as when this rank cannot go
    /// on while the others wait for it in a collective. One process: does nothing (the
    /// caller returns its error as usual).
    fn abort(&mut self, _code: i32) {}
}

/// [`Reducer::backward_and_sum`] without overlap: the whole backward pass, then one sum.
fn backward_then_sum<R: Reducer + ?Sized>(
    reducer: &mut R,
    mlp: &Mlp,
    shard: Option<(MatRef<'_>, &mut Workspace)>,
    grads: &mut [f32],
    share: f32,
) -> Result<f64, nabla::Error> {
    match shard {
        Some((x, ws)) => mlp.backward(x, ws, grads)?,
        None => grads.fill(0.0),
    }
    grads.iter_mut().for_each(|g| *g *= share);
    let started = Instant::now();
    reducer.sum_f32(grads);
    Ok(started.elapsed().as_secs_f64())
}

/// One process: nothing to reduce.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Reducer for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum_f32(&mut self, _buf: &mut [f32]) {}
    fn sum_f64(&mut self, _buf: &mut [f64]) {}
}

/// The rows `rank` of `size` takes from a batch of `n`: contiguous, sizes differ by at most
/// one, in rank order, so the shards concatenated are the batch.
///
/// ```
/// use nabla_train::distributed::shard;
/// assert_eq!([shard(7, 0, 3), shard(7, 1, 3), shard(7, 2, 3)], [0..2, 2..4, 4..7]);
/// assert_eq!(shard(1, 0, 3), 0..0);
/// ```
pub fn shard(n: usize, rank: usize, size: usize) -> Range<usize> {
    let size = size.max(1);
    (rank * n / size)..((rank + 1) * n / size)
}

#[cfg(feature = "mpi")]
pub use self::mpi_reducer::MpiReducer;

#[cfg(feature = "mpi")]
mod mpi_reducer {
    use std::collections::VecDeque;
    use std::time::Instant;

    use mpi::collective::SystemOperation;
    use mpi::environment::Universe;
    use mpi::request::{Request, Scope};
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::traits::CommunicatorCollectives;
    use nabla::{MatRef, Mlp, Workspace};

    use super::{backward_then_sum, Reducer};

    /// The ranks of `MPI_COMM_WORLD`. Holds the MPI environment: dropping it finalises MPI,
    /// so keep it alive for the whole program.
    pub struct MpiReducer {
        world: SimpleCommunicator,
        scratch32: Vec<f32>,
        scratch64: Vec<f64>,
        overlap: bool,
        // Declared last so that it drops last: the communicator must go before finalising.
        _universe: Universe,
    }

    impl std::fmt::Debug for MpiReducer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("MpiReducer").field("rank", &self.rank()).field("size", &self.size()).finish()
        }
    }

    impl MpiReducer {
        /// Initialises MPI (a process started without `mpirun` is a world of one); `None` if
        /// MPI was already initialised in this process.
        pub fn init() -> Option<Self> {
            let universe = mpi::initialize()?;
            let world = universe.world();
            Some(MpiReducer { world, scratch32: Vec::new(), scratch64: Vec::new(), overlap: true, _universe: universe })
        }

        /// Whether [`Reducer::backward_and_sum`] overlaps each layer's all-reduce with the
        /// backward pass of the layers before it (the default) or sums the whole gradient
        /// after the backward pass (to measure the all-reduce on its own). Every rank must
        /// choose the same.
        #[must_use]
        pub fn with_overlap(mut self, overlap: bool) -> Self {
            self.overlap = overlap;
            self
        }
    }

    /// The per-layer sums of one step, in flight.
    struct LayerSums<'a, 'w, Sc: Scope<'a>> {
        world: &'w SimpleCommunicator,
        scope: Sc,
        /// The send buffer not yet used: each layer's is cut off its end, as the backward pass
        /// cuts the layer's gradient off the end of the gradient buffer.
        unsent: &'a mut [f32],
        pending: VecDeque<Request<'a, [f32], Sc>>,
        share: f32,
    }

    impl<'a, Sc: Scope<'a> + Copy> LayerSums<'a, '_, Sc> {
        /// Scales a finished layer gradient by the rank's share and starts its sum, received
        /// in place.
        fn start(&mut self, layer_grads: &'a mut [f32]) {
            layer_grads.iter_mut().for_each(|g| *g *= self.share);
            let unsent = std::mem::take(&mut self.unsent);
            let (rest, send) = unsent.split_at_mut(unsent.len() - layer_grads.len());
            self.unsent = rest;
            send.copy_from_slice(layer_grads);
            // Open MPI moves a non-blocking collective on only inside MPI calls: test the
            // earlier layers' sums while starting this one.
            for _ in 0..self.pending.len() {
                if let Some(request) = self.pending.pop_front() {
                    if let Err(request) = request.test() {
                        self.pending.push_back(request);
                    }
                }
            }
            let send: &'a [f32] = send;
            self.pending.push_back(self.world.immediate_all_reduce_into(
                self.scope,
                send,
                layer_grads,
                SystemOperation::sum(),
            ));
        }

        /// Waits for every sum; returns the seconds waited.
        fn wait(self) -> f64 {
            let started = Instant::now();
            for request in self.pending {
                request.wait_without_status();
            }
            started.elapsed().as_secs_f64()
        }
    }

    impl Reducer for MpiReducer {
        fn rank(&self) -> usize {
            usize::try_from(self.world.rank()).unwrap_or(0)
        }
        fn size(&self) -> usize {
            usize::try_from(self.world.size()).unwrap_or(1)
        }
        fn sum_f32(&mut self, buf: &mut [f32]) {
            // rsmpi has no in-place all-reduce: send a copy, receive into `buf`.
            self.scratch32.clear();
            self.scratch32.extend_from_slice(buf);
            self.world.all_reduce_into(&self.scratch32[..], buf, SystemOperation::sum());
        }
        fn sum_f64(&mut self, buf: &mut [f64]) {
            self.scratch64.clear();
            self.scratch64.extend_from_slice(buf);
            self.world.all_reduce_into(&self.scratch64[..], buf, SystemOperation::sum());
        }

        fn backward_and_sum(
            &mut self,
            mlp: &Mlp,
            shard: Option<(MatRef<'_>, &mut Workspace)>,
            grads: &mut [f32],
            share: f32,
        ) -> Result<f64, nabla::Error> {
            if !self.overlap {
                return backward_then_sum(self, mlp, shard, grads, share);
            }
            // One non-blocking all-reduce per layer, started in the order the backward pass
            // finishes the layers (last first) on every rank, so the collectives match.
            self.scratch32.resize(grads.len(), 0.0);
            let (world, send) = (&self.world, &mut self.scratch32[..]);
            mpi::request::scope(|scope| {
                let mut sums = LayerSums { world, scope, unsent: send, pending: VecDeque::new(), share };
                let result = match shard {
                    Some((x, ws)) => mlp.backward_with(x, ws, grads, &mut |_, g| sums.start(g)),
                    None => {
                        // No rows: zeros, in the same layer order as the ranks that have rows.
                        grads.fill(0.0);
                        let mut rest = grads;
                        for l in (0..mlp.layers().len()).rev() {
                            let (earlier, layer_grads) =
                                std::mem::take(&mut rest).split_at_mut(mlp.layer_range(l).start);
                            rest = earlier;
                            sums.start(layer_grads);
                        }
                        Ok(())
                    }
                };
                // Every started sum must complete before the scope ends, even after an error.
                let waited = sums.wait();
                result.map(|()| waited)
            })
        }

        fn abort(&mut self, code: i32) {
            self.world.abort(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order_and_differ_by_at_most_one() {
        for n in 0..40 {
            for size in 1..7 {
                let shards: Vec<_> = (0..size).map(|r| shard(n, r, size)).collect();
                assert_eq!(shards[0].start, 0);
                assert_eq!(shards[size - 1].end, n);
                for w in shards.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let (min, max) =
                    (shards.iter().map(ExactSizeIterator::len).min(), shards.iter().map(ExactSizeIterator::len).max());
                assert!(max.unwrap() - min.unwrap() <= 1, "n {n} size {size}: {shards:?}");
            }
        }
    }

    #[test]
    fn a_single_process_leaves_buffers_alone() {
        let mut r = SingleProcess;
        let mut a = [1.5f32, -2.0];
        let mut b = [3.0f64];
        r.sum_f32(&mut a);
        r.sum_f64(&mut b);
        assert_eq!((a, b, r.rank(), r.size()), ([1.5, -2.0], [3.0], 0, 1));
    }
}
