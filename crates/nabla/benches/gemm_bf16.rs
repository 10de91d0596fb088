//! bf16 GEMM throughput, single thread: each bf16 kernel this CPU has, nabla's f32 GEMM, and
//! torch's bf16 matmul (the peer) in the same run, best of several batches per kernel.
//!
//! Shapes are written `m×k×n` (`_bT`: `op(B) = Bᵀ`, B stored `[n, k]` like a layer's
//! weight; `_aT`: `op(A) = Aᵀ`). Every round times nabla's kernels on every shape, then runs
//! `benches/gemm_bf16_torch.py` with the peers' Python (`NABLA_PEERS_PYTHON`, by default
//! `~/.cache/nabla-peers/venv/bin/python`; skipped with a note if it is missing); the table
//! keeps each kernel's best round. Best-of rather than median because the machine is shared.
//! Rerun with `cargo bench -p nabla --bench gemm_bf16` (`-- ROUNDS` to change the 3 rounds).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use nabla::gemm::bf16::{self, Bf16Kernel};
use nabla::gemm::{gemm_with, Kernel, Transpose};
use nabla::matrix::Matrix;
use nabla::rng::Rng;

/// A layer's forward pass `X·Wᵀ` (`_bT`), the backward `dW = dZᵀ·X` (`_aT`, op(A) = Aᵀ,
/// A stored `[k, m]`) and `dX = dZ·W` of W3's 1024-wide layers at batch 128, W1/W2's
/// forward shapes, and squares.
const SHAPES: [&str; 7] = [
    "64x784x128_bT",
    "128x784x800_bT",
    "128x1024x1024_bT",
    "1024x128x1024_aT",
    "128x1024x1024",
    "1024x1024x1024",
    "2048x2048x2048",
];

/// `(m, k, n, op(A) transposed, op(B) transposed)` of a label.
fn parse(label: &str) -> (usize, usize, usize, bool, bool) {
    let (at, bt) = (label.ends_with("_aT"), label.ends_with("_bT"));
    let dims: Vec<usize> =
        label.trim_end_matches("_bT").trim_end_matches("_aT").split('x').map(|v| v.parse().unwrap()).collect();
    (dims[0], dims[1], dims[2], at, bt)
}

/// GFLOP/s of the best of 7 batches, each at least 50 ms.
fn best_gflops(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let mut reps = 1;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        if t.elapsed().as_secs_f64() >= 0.05 {
            break;
        }
        reps *= 2;
    }
    let best = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::INFINITY, f64::min);
    flops / best / 1e9
}

fn time_nabla(label: &str, best: &mut BTreeMap<(String, String), f64>) {
    let (m, k, n, at, bt) = parse(label);
    let ta = if at { Transpose::Yes } else { Transpose::No };
    let tb = if bt { Transpose::Yes } else { Transpose::No };
    let mut rng = Rng::new(0);
    let (ar, ac) = ta.apply((m, k));
    let a = Matrix::random_uniform(ar, ac, -1.0, 1.0, &mut rng);
    let (br, bc) = tb.apply((k, n));
    let b = Matrix::random_uniform(br, bc, -1.0, 1.0, &mut rng);
    let mut c = Matrix::zeros(m, n);
    let flops = 2.0 * (m * k * n) as f64;
    let mut record = |name: &str, g: f64| {
        let e = best.entry((label.to_string(), name.to_string())).or_insert(0.0);
        *e = e.max(g);
    };
    for kernel in Bf16Kernel::FAST.into_iter().filter(|k| k.supported()) {
        let g = best_gflops(flops, || {
            bf16::gemm_with(kernel, 1.0, a.view(), ta, b.view(), tb, 0.0, c.view_mut()).unwrap();
            black_box(c.as_slice()[0]);
        });
        record(kernel.name(), g);
    }
    let g = best_gflops(flops, || {
        gemm_with(Kernel::Fast, 1.0, a.view(), ta, b.view(), tb, 0.0, c.view_mut()).unwrap();
        black_box(c.as_slice()[0]);
    });
    record("nabla f32", g);
}

fn time_torch(best: &mut BTreeMap<(String, String), f64>) -> bool {
    let python = std::env::var("NABLA_PEERS_PYTHON").unwrap_or_else(|_| {
        format!("{}/.cache/nabla-peers/venv/bin/python", std::env::var("HOME").unwrap_or_default())
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/gemm_bf16_torch.py");
    let out = match Command::new(&python).arg(script).args(SHAPES).output() {
        Ok(out) if out.status.success() => out,
        other => {
            eprintln!("torch not timed ({python}): {other:?}");
            return false;
        }
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // {"shape": "...", "torch_bf16": x, "torch_autocast": y, "torch_f32": z}
        let fields: Vec<&str> = line.trim_matches(|c| c == '{' || c == '}').split(", ").collect();
        let shape = fields[0].split(": ").nth(1).unwrap().trim_matches('"').to_string();
        for f in &fields[1..] {
            let mut kv = f.split(": ");
            let (key, value) = (kv.next().unwrap().trim_matches('"'), kv.next().unwrap().parse::<f64>().unwrap());
            let e = best.entry((shape.clone(), key.replace('_', " "))).or_insert(0.0);
            *e = e.max(value);
        }
    }
    true
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3);
    let mut best = BTreeMap::new();
    let mut torch = true;
    for round in 0..rounds {
        println!("round {round}: load average {}", load_average());
        for label in SHAPES {
            time_nabla(label, &mut best);
        }
        torch &= time_torch(&mut best);
    }
    println!("load average {} (best of {rounds} rounds, GFLOP/s, one thread)", load_average());
    let columns: Vec<&str> = ["amx-bf16 tdpbf16ps 32x32", "avx512-bf16 vdpbf16ps 8x32", "nabla f32"]
        .into_iter()
        .chain(if torch { vec!["torch bf16", "torch autocast", "torch f32"] } else { vec![] })
        .collect();
    println!("| shape | {} | best bf16 / torch bf16 | best bf16 / nabla f32 |", columns.join(" | "));
    println!("|---|{}---:|---:|", "---:|".repeat(columns.len()));
    for label in SHAPES {
        let get = |c: &str| best.get(&(label.to_string(), c.to_string())).copied();
        let cells: Vec<String> = columns.iter().map(|c| get(c).map_or("—".into(), |g| format!("{g:.1}"))).collect();
        let bf = get(columns[0]).into_iter().chain(get(columns[1])).fold(0.0, f64::max);
        let ratio = |peer: Option<f64>| peer.map_or("—".into(), |p| format!("{:.2}", bf / p));
        println!("| {label} | {} | {} | {} |", cells.join(" | "), ratio(get("torch bf16")), ratio(get("nabla f32")));
    }
}
