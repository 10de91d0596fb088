//! The XOR training loop: one net of 1,000 epochs (4,000 SGD steps of batch 1), and 100 seeds.

use criterion::Criterion;
use nabla_train::xor::{success_rate, train, XorConfig};

fn bench_xor(c: &mut Criterion) {
    let config = XorConfig { epochs: 1_000, ..XorConfig::default() };
    c.bench_function("xor/1 seed x 1000 epochs", |b| b.iter(|| train(&config, 0)));
    let mut group = c.benchmark_group("xor");
    group.sample_size(10);
    group.bench_function("100 seeds x 1000 epochs, 1 thread", |b| b.iter(|| success_rate(&config, 0, 100, 1)));
    group.finish();
}

/// Runs the XOR benches (a hand-written `main`, so that it carries docs).
fn main() {
    let mut crit = Criterion::default().configure_from_args();
    bench_xor(&mut crit);
    crit.final_summary();
}
