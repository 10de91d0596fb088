//! # nabla-bench — the peers' benchmark workloads, run on nabla
//!
//! One typed record per measurement, in the JSON schema of `shared/peers` (`peer_common.py`),
//! so that `run_all.py --with` can put nabla's numbers beside PyTorch's and numpy's and print
//! the ratios (`ratios.py` in this crate's folder pairs them more strictly).
//!
//! | | network (ReLU hidden) | optimiser | batch | epochs |
//! |---|---|---|---|---|
//! | W1 | 784-128-10 | SGD lr 0.1 | 64 | 5 |
//! | W2 | 784-800-10 | SGD lr 0.05, momentum 0.9 | 128 | 10 |
//! | W3 | 784-1024-1024-10 | Adam lr 1e-3 | 128 | 5 |
//! | W3-bf16 | W3 with bf16 matrix products, f32 sums, weights and Adam (the peers: `torch.autocast`) | Adam lr 1e-3 | 128 | 5 |
//! | W4 | 784-800-10, inference | — | 1000 | — |
//! | W4-int8, W4-bf16 | W4 with int8 / bf16 weights ([`nabla::quant`]) | — | 1000 | — |
//!
//! Two workloads, run only when named, time loading a table instead: `csv` and `parquet`
//! write the 60,000 training images as the table pandas would write (`p0,…,p783,label`) and
//! read it back with [`nabla_data::table::Table::read`] (`tables`; `peers/read_table.py`
//! times pandas on the same files).
//!
//! Training runs the real trainer ([`nabla_train::train::train`]) on all 60,000 training
//! images (no validation split), shuffled every epoch, with a constant learning rate and no
//! dropout; `train_seconds` is the sum of the epochs' training time (the per-epoch
//! evaluation and the data loading are not timed). Weights start from He-uniform, not
//! PyTorch's `U(±1/√fan_in)`: speed does not depend on it, accuracy may differ slightly.
//!
//! The crate's parts: `workload` says what is measured ([`Workload`], [`Recipe`],
//! [`BenchSettings`], [`GEMM_SHAPES`]); `run` measures it ([`run`] and one function per kind
//! of workload); `measure` holds what any measurement needs (peak resident memory and its
//! reset, the warm-up-then-timed passes, the median); `tables` writes and reads the tables of
//! `csv` and `parquet`; `record` is the JSON schema the
//! numbers leave in ([`Record`]). Random data of MNIST's shape, for timing without MNIST, is
//! [`nabla_data::synthetic_mnist`].
//!
//! Nothing here prints; the CLI (`nabla bench`) decides how to show the records.

mod measure;
mod record;
mod run;
mod tables;
mod workload;

pub use measure::{peak_rss_mb, reset_peak_rss};
pub use record::{GemmRecord, InferRecord, Record, TableRecord, TrainRecord, XorRecord, PEER};
pub use run::{run, run_gemm, run_inference, run_quantized_inference, run_training, run_xor, BenchError};
pub use tables::{column_names, run_table, write_csv, write_parquet};
pub use workload::{gemm_shapes, BenchData, BenchSettings, Recipe, Workload, GEMM_SHAPES};
