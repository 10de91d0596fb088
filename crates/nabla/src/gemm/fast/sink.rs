//! Products handed to a consumer instead of stored: the packed driver gives each finished
//! row panel (a micro-tile's rows across a block of columns) to a [`RowSink`] while it is
//! still in cache. The optimiser's step takes a layer's weight gradient this way
//! (`nabla::optim::WeightUpdate`), so the gradient never goes out to memory and back.
//!
//! Only products of one `KC` block of depth qualify (a layer's `dW = dzᵀ · a`, whose depth is
//! the batch): each element is then finished by one micro-kernel call, and its value is the
//! bits [`super::gemm`] would have stored.

use super::blocked::{blocked_to_sink, BLOCKING_16, BLOCKING_X32};
use super::select::{selected, KernelKind};
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512, avx512_x32, MR_AVX512, MR_X32, NR_X32};
use super::{portable, Transpose, KC, MR, NR, SMALL};
use crate::matrix::MatRef;

/// What receives a product's finished rows.
pub trait RowSink: Sync {
    /// Rows `row .. row + rows`, columns `col .. col + cols` of the product are finished:
    /// element `(row + i, col + j)` is `values[i * stride + j]`.
    ///
    /// # Safety
    /// Callers hand each element over once, and parts taken at the same time (on different
    /// threads) do not overlap.
    unsafe fn take_rows(&self, row: usize, rows: usize, col: usize, cols: usize, values: &[f32], stride: usize);
}

/// A sink seen from a band of the product's rows that starts at `row0`.
struct Shifted<'s> {
    sink: &'s dyn RowSink,
    row0: usize,
}

impl RowSink for Shifted<'_> {
    unsafe fn take_rows(&self, row: usize, rows: usize, col: usize, cols: usize, values: &[f32], stride: usize) {
        // SAFETY: forwarded contract (the bands are disjoint, so their shifted parts are too).
        unsafe { self.sink.take_rows(self.row0 + row, rows, col, cols, values, stride) }
    }
}

/// Whether [`to_sink`] takes a product of `m × n` with depth `k`: one block of depth, and
/// larger than the products [`super::gemm`] computes by plain loops (other bits). On several
/// threads it is split in bands of whole rows even where [`crate::gemm::gemm`] would split a
/// product with fewer rows than columns by columns: a layer's weight gradient then goes to
/// the step in the rows each thread's forward band reads (W1's first layer, 128 × 784, at two
/// threads: 152k → 187k samples/s with the vCPUs on two CCDs, unchanged on one; handing over
/// the pieces of rows of a column split instead was slower than one pass of the step).
pub fn takes(m: usize, n: usize, k: usize) -> bool {
    (1..=KC).contains(&k) && m > 0 && n > 0 && m * n * k > SMALL
}

/// Computes `op(A) · op(B)` (`m × n`, depth `k`, as [`takes`] wants them) on up to `threads`
/// threads with the micro-kernel [`super::gemm`] uses on this CPU, handing every element to
/// `sink` once. The threads split the rows into the bands [`crate::gemm::gemm`] would.
/// Shapes must already be checked.
pub fn to_sink(
    threads: usize,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    n: usize,
    sink: &dyn RowSink,
) {
    to_sink_on(selected(), threads, a, ta, b, tb, n, sink);
}

/// [`to_sink`] on `kind`'s micro-kernel (the tests run each one this CPU has).
#[allow(clippy::too_many_arguments)]
pub(super) fn to_sink_on(
    kind: KernelKind,
    threads: usize,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    n: usize,
    sink: &dyn RowSink,
) {
    let (m, k) = ta.apply(a.shape());
    assert!(takes(m, n, k), "to_sink: a product of {m}×{k} · {k}×{n} is not one block of depth");
    assert!(kind.supported(), "to_sink: the CPU lacks the {} kernel", kind.name());
    let band = crate::gemm::band_len(m, crate::gemm::band_threads(threads, m, n, k), kind.band_rows());
    crate::pool::run(m.div_ceil(band), &|t| {
        let (start, end) = (t * band, ((t + 1) * band).min(m));
        let a = crate::gemm::row_band(a, ta, k, start, end);
        let shifted = Shifted { sink, row0: start };
        // SAFETY: `kind` is supported (asserted); `takes` holds; each band's rows are its own.
        unsafe { blocked_to_sink_with(kind, a, ta, b, tb, n, &shifted) };
    });
}

/// The sink driver with `kind`'s micro-kernel and blocking.
///
/// # Safety
/// `kind` must be supported by this CPU; `1 ≤ k ≤ KC`.
unsafe fn blocked_to_sink_with(
    kind: KernelKind,
    a: MatRef<'_>,
    ta: Transpose,
    b: MatRef<'_>,
    tb: Transpose,
    n: usize,
    sink: &dyn RowSink,
) {
    // The sink driver keeps the A sliver in L1 whatever the kernel's usual order, so that a
    // row panel is finished before the next one starts.
    // SAFETY: forwarded contract; each kernel is paired with the tile it computes.
    unsafe {
        match kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512X32 => {
                blocked_to_sink::<MR_X32, NR_X32>(avx512_x32::kernel, BLOCKING_X32, a, ta, b, tb, n, sink)
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => blocked_to_sink::<MR_AVX512, NR>(avx512::kernel, BLOCKING_16, a, ta, b, tb, n, sink),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2Fma => blocked_to_sink::<MR, NR>(avx2::kernel, BLOCKING_16, a, ta, b, tb, n, sink),
            #[cfg(not(target_arch = "x86_64"))]
            KernelKind::Avx512X32 | KernelKind::Avx512 | KernelKind::Avx2Fma => {
                unreachable!("AVX is only detected on x86_64")
            }
            KernelKind::Portable => {
                blocked_to_sink::<MR, NR>(portable::kernel::<MR, NR>, BLOCKING_16, a, ta, b, tb, n, sink)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::matrix::Matrix;
    use crate::rng::Rng;

    /// Records what it is handed: each element's bits and how many times it came (the bf16
    /// sink's test uses it too).
    pub(crate) struct Collect {
        n: usize,
        pub bits: Vec<AtomicU32>,
        pub seen: Vec<AtomicU32>,
    }

    impl Collect {
        pub(crate) fn new(m: usize, n: usize) -> Self {
            Self {
                n,
                bits: (0..m * n).map(|_| AtomicU32::new(0)).collect(),
                seen: (0..m * n).map(|_| AtomicU32::new(0)).collect(),
            }
        }
    }

    impl RowSink for Collect {
        unsafe fn take_rows(&self, row: usize, rows: usize, col: usize, cols: usize, values: &[f32], stride: usize) {
            for i in 0..rows {
                for j in 0..cols {
                    let at = (row + i) * self.n + col + j;
                    self.bits[at].store(values[i * stride + j].to_bits(), Ordering::Relaxed);
                    self.seen[at].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    const T: [Transpose; 2] = [Transpose::No, Transpose::Yes];

    /// Every element of the product reaches the sink once, with the bits the GEMM stores for
    /// it (`alpha = 1`, `beta = 0`), for each kernel this CPU has and the portable one, on one
    /// thread and two: edge tiles both ways, several row blocks, fewer rows than columns (split
    /// by rows on two threads), the deepest product a sink takes, layers' gradients.
    #[test]
    fn every_element_arrives_once_with_the_bits_the_gemm_stores() {
        let mut rng = Rng::new(91);
        let kinds: Vec<KernelKind> =
            KernelKind::SIMD.into_iter().filter(|k| k.supported()).chain([KernelKind::Portable]).collect();
        for &(m, n, k) in &[(13, 35, 20), (150, 40, KC), (9, 300, 7), (300, 49, 128), (800, 784, 128), (128, 784, 64)] {
            for ta in T {
                for tb in T {
                    let (ra, ca) = ta.apply((m, k));
                    let (rb, cb) = tb.apply((k, n));
                    let a = Matrix::random_uniform(ra, ca, -1.0, 1.0, &mut rng);
                    let b = Matrix::random_uniform(rb, cb, -1.0, 1.0, &mut rng);
                    let c0 = Matrix::from_vec(m, n, vec![f32::NAN; m * n]).unwrap();
                    let mut simd = super::super::gemm_each_simd_kernel(1.0, a.view(), ta, b.view(), tb, 0.0, &c0);
                    let mut portable = c0.clone();
                    super::super::gemm_portable::<MR, NR>(1.0, a.view(), ta, b.view(), tb, 0.0, portable.view_mut());
                    simd.push((KernelKind::Portable.name(), portable));
                    for (kind, (name, want)) in kinds.iter().zip(&simd) {
                        assert_eq!(kind.name(), *name);
                        for threads in [1, 2] {
                            let sink = Collect::new(m, n);
                            let ((), parallel) = crate::pool::with_threads(threads, || {
                                to_sink_on(*kind, threads, a.view(), ta, b.view(), tb, n, &sink)
                            });
                            let shape = format!("{name}: {m}x{n}x{k} {ta:?} {tb:?}, {threads} thread(s)");
                            assert!(sink.seen.iter().all(|s| s.load(Ordering::Relaxed) == 1), "{shape}: not each once");
                            let got: Vec<u32> = sink.bits.iter().map(|b| b.load(Ordering::Relaxed)).collect();
                            let want: Vec<u32> = want.as_slice().iter().map(|x| x.to_bits()).collect();
                            assert!(got == want, "{shape}: other bits than the GEMM's");
                            let big = crate::gemm::band_threads(2, m, n, k) > 1;
                            assert!(threads == 1 || !big || parallel == 1, "{shape}: not split");
                        }
                    }
                }
            }
        }
    }

    /// Two threads share a layer's rows evenly: W1's first layer (128 rows) 64 / 64 on the
    /// 12 × 32 kernel (whose 4-row edge loop wastes nothing), not 72 / 56 in whole tiles;
    /// the 6-row kernels split it 66 / 62, and one thread takes all of it.
    #[test]
    fn two_threads_split_a_layers_rows_evenly() {
        let rows_per_band = |kind: KernelKind, threads, m| crate::gemm::band_len(m, threads, kind.band_rows());
        assert_eq!(rows_per_band(KernelKind::Avx512X32, 2, 128), 64);
        assert_eq!(rows_per_band(KernelKind::Avx512X32, 2, 800), 400);
        assert_eq!(rows_per_band(KernelKind::Avx512X32, 3, 1024), 344);
        assert_eq!(rows_per_band(KernelKind::Avx512, 2, 128), 64);
        assert_eq!(rows_per_band(KernelKind::Avx2Fma, 2, 128), 66);
        assert_eq!(128usize.div_ceil(rows_per_band(KernelKind::Portable, 1, 128)), 1);
    }

    #[test]
    fn takes_one_block_of_depth_above_the_plain_loops() {
        assert!(takes(64, 784, 128) && takes(784, 64, 128) && takes(16, 16, 3) && takes(9, 300, 7));
        assert!(!takes(64, 784, KC + 1) && !takes(64, 784, 0) && !takes(0, 784, 128) && !takes(8, 8, 8));
    }
}
