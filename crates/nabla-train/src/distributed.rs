//! Data-parallel training: the all-reduce that joins the ranks' gradients.
//!
//! The trainer talks to a [`Reducer`]: one process ([`SingleProcess`], the default) or the
//! ranks of an MPI job ([`MpiReducer`], behind the `mpi` feature). Every rank holds the whole
//! network and walks the same global batches in the same order; rank `r` of `N` takes the
//! contiguous rows [`shard`] gives it, computes the mean gradient of its rows, scales it by
//! its share `n_r / B` of the batch, and the sum over ranks — the all-reduce — is then the
//! gradient of the whole batch's mean loss, however unevenly the rows fell. Every rank takes
//! the same optimiser step on the same numbers, so the weights stay identical without ever
//! being sent.

use std::ops::Range;

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
    use mpi::collective::SystemOperation;
    use mpi::environment::Universe;
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::traits::CommunicatorCollectives;

    use super::Reducer;

    /// The ranks of `MPI_COMM_WORLD`. Holds the MPI environment: dropping it finalises MPI,
    /// so keep it alive for the whole program.
    pub struct MpiReducer {
        world: SimpleCommunicator,
        scratch32: Vec<f32>,
        scratch64: Vec<f64>,
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
            Some(MpiReducer { world, scratch32: Vec::new(), scratch64: Vec::new(), _universe: universe })
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
