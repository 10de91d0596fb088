//! `nabla bench`: the peers' workloads (`shared/peers`) on nabla, as a table or as the
//! peers' JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use nabla_bench::{BenchData, BenchSettings, Record, Workload};

use crate::commands::parse;

/// Flags of `nabla bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Print one JSON line per measurement (the peers' schema) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Threads for the matrix kernels and the XOR seeds.
    #[arg(long, default_value_t = 1, value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub threads: usize,
    /// Comma-separated workloads: W1, W2, W3, W3-bf16, W4, W4-int8, W4-bf16, gemm, xor
    /// (default: these, in that order; W3-bf16 only on a CPU with AMX-BF16 or AVX512-BF16),
    /// and csv, parquet (only when named: loading MNIST's training images written as a
    /// table, about ten seconds).
    #[arg(long, value_delimiter = ',', value_parser = workload)]
    pub workloads: Option<Vec<Workload>>,
    /// Random data of MNIST's shape instead of MNIST (timing only: no test accuracy).
    #[arg(long, conflicts_with = "data")]
    pub synthetic: bool,
    /// Data directory holding `mnist/` (else `$NABLA_DATA`, else the user data directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Override every training workload's epoch count (smoke tests only: the peers' ratios
    /// need the workloads' own epochs).
    #[arg(long, value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub epochs: Option<usize>,
    /// Timed passes of W4 and of the table reads after the warm-up pass (the median is
    /// reported).
    #[arg(long, default_value_t = 5, value_parser = parse::positive_usize, allow_hyphen_values = true)]
    pub repeats: usize,
    /// Seconds of timed calls per GEMM shape.
    #[arg(long, default_value_t = 0.5, value_parser = parse::non_negative_f32, allow_hyphen_values = true)]
    pub gemm_seconds: f32,
    /// Comma-separated GEMM shapes (default: all): sq256, sq512, sq1024, sq2048,
    /// w1_fwd_64x784x128, w2_fwd_128x784x800, w3_fwd_128x1024x1024.
    #[arg(long, value_delimiter = ',')]
    pub gemm_shapes: Option<Vec<String>>,
    /// Seeds of the XOR workload.
    #[arg(long, default_value_t = 1000, value_parser = parse::positive_u64, allow_hyphen_values = true)]
    pub xor_seeds: u64,
    /// Write the tables of csv and parquet into DIR and leave them there, with the test split
    /// beside the training split (for `crates/nabla-bench/peers/read_table.py`, and to train
    /// on), instead of a temporary folder.
    #[arg(long, value_name = "DIR")]
    pub keep_tables: Option<PathBuf>,
}

fn workload(s: &str) -> Result<Workload, String> {
    s.parse()
}

/// Runs `nabla bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let mut workloads = args.workloads.clone().unwrap_or_else(|| Workload::ALL.to_vec());
    // Left out of the default list (with a note) on a CPU without bf16 matrix instructions;
    // named, it fails with the trainer's refusal.
    if args.workloads.is_none() && nabla::gemm::bf16::best_kernel().is_none() {
        workloads.retain(|&w| w != Workload::W3Bf16);
        writeln!(
            std::io::stderr(),
            "note: skipping W3-bf16: this CPU has no bf16 matrix instructions ({})",
            nabla::gemm::bf16::capability()
        )?;
    }
    let settings = BenchSettings {
        threads: args.threads,
        epochs: args.epochs,
        repeats: args.repeats,
        gemm_seconds: f64::from(args.gemm_seconds),
        gemm_shapes: args.gemm_shapes.clone(),
        xor_seeds: args.xor_seeds,
        keep_tables: args.keep_tables.clone(),
        ..BenchSettings::default()
    };
    // Check the shape names before minutes of training, not after.
    if workloads.contains(&Workload::Gemm) {
        nabla_bench::gemm_shapes(&settings).map_err(anyhow::Error::msg)?;
    }
    let split = if workloads.iter().any(|w| w.needs_data()) {
        Some(if args.synthetic {
            nabla_data::synthetic_mnist(12345)
        } else {
            let located = nabla_data::find("mnist", args.data.as_deref())
                .context("MNIST not found (hint: `nabla data fetch mnist`, --data DIR, or --synthetic)")?;
            located.load()?
        })
    } else {
        None
    };
    let label = if args.synthetic { "synthetic" } else { "mnist" };
    let data = split.as_ref().map(|split| BenchData { split, label });

    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    if !args.json {
        writeln!(out, "nabla bench: {} thread(s), {label} data", args.threads)?;
    }
    for w in workloads {
        writeln!(err, "running {w} …")?;
        let records = nabla_bench::run(w, data.as_ref(), &settings).with_context(|| format!("workload {w}"))?;
        for r in &records {
            if args.json {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            } else {
                writeln!(out, "{}", row(r))?;
            }
        }
        out.flush()?;
    }
    Ok(())
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0} MiB"))
}

/// One line of the human table.
fn row(r: &Record) -> String {
    match r {
        Record::Train(t) => format!(
            "{:<4} {:<16} {:<8} b{:<4} {:>2} ep  {:>8.2} s  {:>9.0} samples/s  loss {:.4}  test acc {}  peak {}",
            t.workload,
            t.layers,
            t.optimizer,
            t.batch,
            t.epochs,
            t.train_seconds,
            t.samples_per_second,
            t.final_train_loss,
            t.test_accuracy.map_or_else(|| "-".into(), |a| format!("{a:.4}")),
            mib(t.peak_rss_mb)
        ),
        Record::Infer(i) => format!(
            "{:<4} {:<16} infer    b{:<4}        {:>8.4} s  {:>9.0} images/s  (median of {})  peak {}{}",
            i.workload,
            i.layers,
            i.batch,
            i.infer_seconds_median,
            i.samples_per_second,
            i.infer_seconds_all.len(),
            mib(i.peak_rss_mb),
            match (i.test_accuracy_f32, i.test_accuracy) {
                (Some(f), Some(q)) => format!("  test acc {q:.4} (f32 {f:.4}, drop {:.2} points)", 100.0 * (f - q)),
                _ => String::new(),
            }
        ),
        Record::Gemm(g) => format!(
            "gemm {:<22} {:>4}×{:<4}@{:>4}×{:<4}  best {:>6.1} GFLOP/s  median {:>6.1} GFLOP/s  ({})",
            g.shape, g.m, g.k, g.k, g.n, g.gflops_best, g.gflops_median, g.gemm_kernel
        ),
        Record::Table(t) => format!(
            "{:<7} {:<20} {:>6.1} MB  {}×{}  {:>7.3} s  {:>6.0} MB/s  (median of {})  peak {}",
            t.workload,
            t.file,
            t.bytes as f64 / 1e6,
            t.rows,
            t.columns,
            t.seconds_median,
            t.mb_per_second,
            t.seconds_all.len(),
            mib(t.peak_rss_mb)
        ),
        Record::Xor(x) => format!(
            "XOR  2-2-1 {:<8} output  {} seeds × {} epochs  {:>6.3} s  success rate {:.3}",
            x.output, x.seeds, x.epochs, x.train_seconds, x.success_rate
        ),
    }
}
