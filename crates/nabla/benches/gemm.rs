//! GEMM throughput: the reference kernel vs the fast one (and the `matrixmultiply` crate as
//! the peer), single-threaded, at the shapes the MLP uses and at square sizes.
//!
//! Shapes are written `m×k×n`: `C[m, n] = op(A)[m, k] · op(B)[k, n]`. Throughput is reported
//! in "elements" that are flops (2·m·k·n per call), so criterion's `Melem/s` column reads as
//! MFLOP/s. Rerun with `cargo bench -p nabla --bench gemm`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use nabla::gemm::{gemm_with, Kernel, Transpose};
use nabla::matrix::Matrix;
use nabla::rng::Rng;

/// One benchmarked product: `C[m, n] = op(A)[m, k] · op(B)[k, n]`.
struct Shape {
    m: usize,
    k: usize,
    n: usize,
    tb: Transpose,
    /// Whether the (slow) reference kernel is timed too.
    with_reference: bool,
}

const SHAPES: [Shape; 7] = [
    // Forward of a 784-128 layer at batch 64: X[64, 784] · Wᵀ with W[128, 784].
    Shape { m: 64, k: 784, n: 128, tb: Transpose::Yes, with_reference: true },
    Shape { m: 512, k: 512, n: 512, tb: Transpose::No, with_reference: true },
    Shape { m: 1024, k: 1024, n: 1024, tb: Transpose::No, with_reference: false },
    // Forward of the 784-800 and 1024-1024 layers at batch 128.
    Shape { m: 128, k: 784, n: 800, tb: Transpose::Yes, with_reference: false },
    Shape { m: 128, k: 1024, n: 1024, tb: Transpose::Yes, with_reference: false },
    // Output layers into ten classes (the skinny kernels): W4's at batch 1,000, W3's at 128.
    Shape { m: 1000, k: 800, n: 10, tb: Transpose::Yes, with_reference: false },
    Shape { m: 128, k: 1024, n: 10, tb: Transpose::Yes, with_reference: false },
];

/// `matrixmultiply::sgemm` on the same operands (row-major, `tb` read through its strides).
fn peer_sgemm(a: &Matrix, b: &Matrix, tb: Transpose, c: &mut Matrix) {
    let (m, k) = a.shape();
    let n = c.cols();
    // op(B)[p, j] sits at p·rsb + j·csb in the stored B.
    let (rsb, csb) = match tb {
        Transpose::No => (b.cols() as isize, 1),
        Transpose::Yes => (1, b.cols() as isize),
    };
    // SAFETY: the pointers cover A [m, k], stored B and C [m, n] with the strides given
    // (row-major, checked by the shapes built in `bench_gemm`), and C does not alias A or B.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_slice().as_ptr(),
            k as isize,
            1,
            b.as_slice().as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_slice().as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

fn bench_gemm(crit: &mut Criterion) {
    let mut rng = Rng::new(0);
    let mut group = crit.benchmark_group("gemm");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for s in &SHAPES {
        let a = Matrix::random_uniform(s.m, s.k, -1.0, 1.0, &mut rng);
        let (br, bc) = s.tb.apply((s.k, s.n));
        let b = Matrix::random_uniform(br, bc, -1.0, 1.0, &mut rng);
        let mut c = Matrix::zeros(s.m, s.n);
        let label = format!("{}x{}x{}{}", s.m, s.k, s.n, if s.tb == Transpose::Yes { "_bT" } else { "" });
        group.throughput(Throughput::Elements((2 * s.m * s.k * s.n) as u64));
        let mut kernels = vec![("fast", Kernel::Fast)];
        if s.with_reference {
            kernels.push(("reference", Kernel::Reference));
        }
        for (name, kernel) in kernels {
            group.bench_with_input(BenchmarkId::new(name, &label), &kernel, |bench, &kernel| {
                bench.iter(|| {
                    gemm_with(kernel, 1.0, a.view(), Transpose::No, b.view(), s.tb, 0.0, c.view_mut()).unwrap();
                    black_box(c.as_slice()[0])
                });
            });
        }
        group.bench_function(BenchmarkId::new("matrixmultiply", &label), |bench| {
            bench.iter(|| {
                peer_sgemm(&a, &b, s.tb, &mut c);
                black_box(c.as_slice()[0])
            });
        });
    }
    group.finish();
}

/// What `criterion_main!` would generate, written out so that it carries a doc comment.
fn main() {
    let mut crit = Criterion::default().configure_from_args();
    bench_gemm(&mut crit);
    crit.final_summary();
}
