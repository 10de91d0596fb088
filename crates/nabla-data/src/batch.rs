//! Turning u8 examples into the f32 batches a model eats, without allocating per batch.

use nabla::pool::{self, SharedMut};

use crate::Dataset;

/// Maps a stored pixel to the f32 a model sees: `(p / max_value - mean) / std`, computed as
/// `(p · scale − mean) · inv_std` in f32 (the same bits for every pixel whichever way it is
/// run; a batch converts whole rows with vector instructions).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    scale: f32,
    mean: f32,
    inv_std: f32,
}

impl Normalizer {
    /// Pixels scaled to `[0, 1]` (divided by `max_value`).
    pub fn unit(max_value: u8) -> Self {
        Self::standardized(max_value, 0.0, 1.0)
    }

    /// Pixels scaled to `[0, 1]`, then standardised: `(p / max_value - mean) / std`. Take
    /// `mean` and `std` from the training set ([`Dataset::pixel_mean_std`]). A `std` of zero
    /// (or less) is treated as 1.
    pub fn standardized(max_value: u8, mean: f32, std: f32) -> Self {
        let scale = 1.0 / f32::from(max_value.max(1));
        let inv_std = if std > 0.0 { 1.0 / std } else { 1.0 };
        Normalizer { scale, mean, inv_std }
    }

    /// The model input for a stored pixel.
    pub fn apply(&self, pixel: u8) -> f32 {
        (f32::from(pixel) * self.scale - self.mean) * self.inv_std
    }

    /// [`Normalizer::apply`] along a row: `out[j] = apply(pixels[j])`.
    fn apply_row(&self, pixels: &[u8], out: &mut [f32]) {
        #[inline(always)]
        fn row(scale: f32, mean: f32, inv_std: f32, pixels: &[u8], out: &mut [f32]) {
            for (out, &p) in out.iter_mut().zip(pixels) {
                *out = (f32::from(p) * scale - mean) * inv_std;
            }
        }
        nabla::widest_simd!(row(self.scale, self.mean, self.inv_std, pixels, out));
    }

    /// [`Normalizer::apply_row`] with the values written by streaming stores, past the
    /// caches, where the CPU has AVX-512 (the same arithmetic: the same bits). For a batch
    /// filled on several threads and read whole by each: a line another core has read must
    /// be taken back from it before it is written, and ordinary stores wait for that one line
    /// after another (between two CCDs, 165–180 ns a line), streaming stores do not.
    /// Callers end the pass with [`store_fence`] before the batch is read.
    fn apply_row_streaming(&self, pixels: &[u8], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if nabla::simd::has_avx512f() {
            // SAFETY: AVX-512F was detected at run time.
            unsafe { self.stream_avx512(pixels, out) };
            return;
        }
        self.apply_row(pixels, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn stream_avx512(&self, pixels: &[u8], out: &mut [f32]) {
        use std::arch::x86_64::{
            __m128i, _mm512_cvtepi32_ps, _mm512_cvtepu8_epi32, _mm512_mul_ps, _mm512_set1_ps, _mm512_stream_ps,
            _mm512_sub_ps, _mm_loadu_si128,
        };
        let n = out.len().min(pixels.len());
        // Scalar values up to the first 64-byte boundary of `out`, which streaming stores need.
        let head = out.as_ptr().align_offset(64).min(n);
        for j in 0..head {
            out[j] = self.apply(pixels[j]);
        }
        let (scale, mean, inv_std) =
            (_mm512_set1_ps(self.scale), _mm512_set1_ps(self.mean), _mm512_set1_ps(self.inv_std));
        let mut j = head;
        while j + 16 <= n {
            // SAFETY: j + 16 ≤ n: sixteen bytes of `pixels` and values of `out` from j; out + j
            // is 64-byte aligned (head, then steps of 16 values).
            unsafe {
                let p = _mm_loadu_si128(pixels.as_ptr().add(j).cast::<__m128i>());
                let v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(p));
                // (p · scale − mean) · inv_std, each operation rounded as in `apply`.
                let v = _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(v, scale), mean), inv_std);
                _mm512_stream_ps(out.as_mut_ptr().add(j), v);
            }
            j += 16;
        }
        for j in j..n {
            out[j] = self.apply(pixels[j]);
        }
    }
}

/// Orders the streaming stores of [`Normalizer::apply_row_streaming`] before whatever this
/// thread stores next (the pool's hand-back then publishes them to the reader).
fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// Values per thread below which [`Dataset::fill_batch`] gathers a batch on one thread: an
/// eighth of `pool::ELEMENTWISE_MIN_PER_TASK`, since each row is fetched from memory. On the
/// Xeon of 2026-12-07 (two threads), splitting W1's 64-image batch (50,176 values, one task
/// by the element-wise rule) took W1 from 347–354k to 359–368k samples/s (four alternating
/// rounds of `nabla bench --synthetic --workloads W1 --threads 2`).
const GATHER_MIN_PER_TASK: usize = pool::ELEMENTWISE_MIN_PER_TASK / 8;

/// How many rows ahead [`Dataset::fill_batch`] asks the memory for the next image.
const PREFETCH_ROWS_AHEAD: usize = 2;

/// A hint that `bytes` will be read soon: every cache line of it is requested into the
/// caches (no effect on results; nothing on other architectures).
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch never faults and reads nothing architecturally; the pointer is
        // inside `bytes`. (Newer Rust made the intrinsic safe; the block keeps the crate
        // building on its minimum version.)
        #[allow(unused_unsafe)]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

impl Dataset {
    /// Fills `x: [indices.len(), features]` and `labels: [indices.len()]` with the examples at
    /// `indices`, in that order; the buffers may be longer (only the leading part is written).
    ///
    /// # Panics
    /// If a buffer is too short or an index is out of range (both are the caller's bugs).
    pub fn fill_batch(&self, indices: &[usize], norm: &Normalizer, x: &mut [f32], labels: &mut [u8]) {
        let f = self.features();
        assert!(x.len() >= indices.len() * f, "x holds {} values, the batch needs {}", x.len(), indices.len() * f);
        assert!(labels.len() >= indices.len(), "labels holds {}, the batch needs {}", labels.len(), indices.len());
        for (&i, label) in indices.iter().zip(labels.iter_mut()) {
            *label = self.labels[i];
        }
        // A batch is split into bands of rows on the engine's threads (each value is
        // converted the same way whichever thread has it): at two threads the second core
        // would otherwise wait for this pass at every step. The rows come from anywhere in
        // memory, so a value costs more than an element-wise update: a band takes
        // `GATHER_MIN_PER_TASK` values, and W1's batch of 64 images is split too.
        let rows = indices.len();
        let x = SharedMut::new(&mut x[..rows * f]);
        pool::for_row_bands_above(GATHER_MIN_PER_TASK, pool::threads(), rows, f, &|band| {
            // With the engine on several threads, the batch goes past the caches (see
            // `apply_row_streaming`): each thread reads all of it in the step, so a line
            // written here would first be taken back from every core that read it last step,
            // whether one thread fills the batch (a small one) or several do.
            let streaming = pool::threads() > 1;
            // SAFETY: every task has its own band of rows.
            let x = unsafe { x.range(band.start * f..band.end * f) };
            let band = &indices[band];
            for (at, (&i, row)) in band.iter().zip(x.chunks_exact_mut(f)).enumerate() {
                // The rows are gathered in shuffled order, each from anywhere in a data set
                // larger than the caches: ask for a later row while this one is converted.
                if let Some(&ahead) = band.get(at + PREFETCH_ROWS_AHEAD) {
                    prefetch(self.image(ahead));
                }
                if streaming {
                    norm.apply_row_streaming(self.image(i), row);
                } else {
                    norm.apply_row(self.image(i), row);
                }
            }
            if streaming {
                store_fence();
            }
        });
    }
}

/// Reusable batch buffers for one data set shape: created once, refilled every step.
#[derive(Debug, Clone)]
pub struct BatchBuffers {
    x: Vec<f32>,
    labels: Vec<u8>,
    features: usize,
}

impl BatchBuffers {
    /// Buffers for up to `batch_size` examples of `features` inputs.
    pub fn new(batch_size: usize, features: usize) -> Self {
        BatchBuffers { x: vec![0.0; batch_size * features], labels: vec![0; batch_size], features }
    }

    /// The largest batch the buffers hold.
    pub fn capacity(&self) -> usize {
        self.labels.len()
    }

    /// Fills the leading rows with the examples at `indices` (at most [`Self::capacity`]) and
    /// returns `(x: [n, features], labels: [n])` for `n = indices.len()`.
    ///
    /// # Panics
    /// If `indices` is longer than the capacity or the data set has another feature count.
    pub fn fill(&mut self, ds: &Dataset, indices: &[usize], norm: &Normalizer) -> (&[f32], &[u8]) {
        assert_eq!(ds.features(), self.features, "batch buffers are for {} features", self.features);
        assert!(indices.len() <= self.capacity(), "batch of {} > capacity {}", indices.len(), self.capacity());
        let n = indices.len();
        ds.fill_batch(indices, norm, &mut self.x, &mut self.labels);
        (&self.x[..n * self.features], &self.labels[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row converted with vector instructions equals the pixel-by-pixel formula bit for
    /// bit, for every pixel value, standardised or not, on a length with a partial vector.
    #[test]
    fn rows_convert_like_single_pixels() {
        let pixels: Vec<u8> = (0..=255u8).chain(0..=44).rev().collect();
        for norm in [Normalizer::unit(255), Normalizer::standardized(255, 0.1307, 0.3081), Normalizer::unit(16)] {
            let mut row = vec![f32::NAN; pixels.len()];
            norm.apply_row(&pixels, &mut row);
            for (&p, &x) in pixels.iter().zip(&row) {
                assert_eq!(x.to_bits(), norm.apply(p).to_bits(), "pixel {p}");
            }
            // The streaming stores' version, the row starting at every offset from a 64-byte
            // boundary (its scalar head, vector body and scalar tail).
            let mut buffer = vec![f32::NAN; pixels.len() + 32];
            for offset in 0..17 {
                let row = &mut buffer[offset..offset + pixels.len()];
                norm.apply_row_streaming(&pixels, row);
                store_fence();
                for (&p, &x) in pixels.iter().zip(row.iter()) {
                    assert_eq!(x.to_bits(), norm.apply(p).to_bits(), "pixel {p}, offset {offset}");
                }
            }
        }
        assert_eq!(Normalizer::unit(255).apply(255), 1.0);
        assert_eq!(Normalizer::unit(16).apply(8), 0.5);
    }

    fn ds() -> Dataset {
        Dataset {
            name: "t".into(),
            images: vec![0, 255, 51, 102, 16, 8, 0, 4],
            labels: vec![1, 0],
            len: 2,
            height: 2,
            width: 2,
            max_value: 255,
            classes: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn unit_scaling_and_order_of_indices() {
        let mut buf = BatchBuffers::new(3, 4);
        let (x, labels) = buf.fill(&ds(), &[1, 0], &Normalizer::unit(255));
        assert_eq!(labels, [0, 1]);
        let want = [16.0 / 255.0, 8.0 / 255.0, 0.0, 4.0 / 255.0, 0.0, 1.0, 0.2, 0.4];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-7, "{a} {b}");
        }
        assert_eq!(x.len(), 8);
        // A smaller batch uses the leading rows.
        let (x, labels) = buf.fill(&ds(), &[0], &Normalizer::unit(255));
        assert_eq!((x.len(), labels), (4, &[1u8][..]));
    }

    #[test]
    fn standardised_pixels() {
        let norm = Normalizer::standardized(16, 0.5, 0.25);
        assert_eq!(norm.apply(16), 2.0);
        assert_eq!(norm.apply(8), 0.0);
        assert_eq!(norm.apply(0), -2.0);
        assert_eq!(Normalizer::standardized(16, 0.0, 0.0), Normalizer::unit(16));
    }

    /// A batch large enough to be split between threads fills every row, in order, with the
    /// same bits as one thread does, whatever the thread count (W1's 64 images are split at
    /// two threads); so does a batch too small to split, filled by one thread with streaming
    /// stores while the engine has several.
    #[test]
    fn split_batches_fill_like_one_thread() {
        let (len, side) = (300, 28);
        let images: Vec<u8> = (0..len * side * side).map(|i| (i * 37 % 256) as u8).collect();
        let labels = (0..len).map(|i| (i % 10) as u8).collect();
        let ds = Dataset {
            name: "t".into(),
            images,
            labels,
            len,
            height: side,
            width: side,
            max_value: 255,
            classes: (0..10).map(|c| c.to_string()).collect(),
        };
        let norm = Normalizer::standardized(255, 0.1307, 0.3081);
        let mut indices: Vec<usize> = (0..257).map(|i| (i * 7) % len).collect();
        let small: Vec<usize> = (0..4).map(|i| (i * 11) % len).collect();
        let w1: Vec<usize> = (0..64).map(|i| (i * 13) % len).collect();
        assert!(4 * side * side < GATHER_MIN_PER_TASK && 64 * side * side >= 2 * GATHER_MIN_PER_TASK);
        let fill = |indices: &[usize], threads| {
            nabla::pool::set_threads(threads);
            let mut buf = BatchBuffers::new(indices.len(), side * side);
            let (x, labels) = buf.fill(&ds, indices, &norm);
            (x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), labels.to_vec())
        };
        let (small_one, small_two) = (fill(&small, 1), fill(&small, 2));
        let (one, three) = (fill(&indices, 1), fill(&indices, 3));
        let (w1_one, w1_two) = (fill(&w1, 1), fill(&w1, 2));
        nabla::pool::set_threads(1);
        assert_eq!(small_one, small_two);
        assert_eq!(w1_one, w1_two);
        assert_eq!(one, three);
        indices.extend_from_slice(&small);
        let (whole, _) = fill(&indices, 1);
        nabla::pool::set_threads(1);
        assert_eq!(small_one.0, whole[257 * side * side..], "the small batch's rows");
        for (r, &i) in indices[..257].iter().enumerate() {
            assert_eq!(one.1[r], ds.labels[i]);
            let p = ds.image(i)[5];
            assert_eq!(one.0[r * side * side + 5], norm.apply(p).to_bits(), "row {r}");
        }
    }

    #[test]
    #[should_panic(expected = "capacity")]
    fn overfull_batch_panics() {
        BatchBuffers::new(1, 4).fill(&ds(), &[0, 1], &Normalizer::unit(255));
    }
}
