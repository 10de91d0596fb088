//! The records a measurement leaves in: one typed struct per kind of workload, serialised as
//! one JSON line of the peers' schema (`shared/peers/peer_common.py`), field names and all.

use serde::Serialize;

/// The `peer` field of every record.
pub const PEER: &str = "nabla";

/// One measurement, serialised as one JSON line of the peers' schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Record {
    /// W1–W3 and W3-bf16.
    Train(TrainRecord),
    /// W4.
    Infer(InferRecord),
    /// One GEMM shape.
    Gemm(GemmRecord),
    /// One XOR experiment.
    Xor(XorRecord),
    /// Reading one table file.
    Table(TableRecord),
}

/// A training workload's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainRecord {
    /// Always `"nabla"`.
    pub peer: &'static str,
    /// `W1`, `W2`, `W3` or `W3-bf16`.
    pub workload: String,
    /// Threads of the matrix kernels.
    pub threads: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Examples per step.
    pub batch: usize,
    /// `"mnist"` or `"synthetic"`.
    pub data: &'static str,
    /// Layer sizes, `784-128-10`.
    pub layers: String,
    /// Optimiser name.
    pub optimizer: String,
    /// Wall time of the training loop (shuffles included; loading and evaluation not).
    pub train_seconds: f64,
    /// `60000 · epochs / train_seconds`.
    pub samples_per_second: f64,
    /// Test accuracy after training (`None` on synthetic data).
    pub test_accuracy: Option<f64>,
    /// Mean training loss of the last epoch, as seen during it.
    pub final_train_loss: f64,
    /// The process's peak resident memory so far, MiB (`None` where unknown).
    pub peak_rss_mb: Option<f64>,
    /// The GEMM micro-kernel in use.
    pub gemm_kernel: &'static str,
}

/// The inference workload's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InferRecord {
    /// Always `"nabla"`.
    pub peer: &'static str,
    /// `W4`.
    pub workload: String,
    /// Threads of the matrix kernels.
    pub threads: usize,
    /// Images per forward pass.
    pub batch: usize,
    /// `"mnist"` or `"synthetic"`.
    pub data: &'static str,
    /// Layer sizes.
    pub layers: String,
    /// No training: always `None`.
    pub epochs: Option<usize>,
    /// No training: always `None`.
    pub train_seconds: Option<f64>,
    /// Images / median pass time.
    pub samples_per_second: f64,
    /// Median time of a pass over the test images.
    pub infer_seconds_median: f64,
    /// Every timed pass.
    pub infer_seconds_all: Vec<f64>,
    /// W4: an untrained network, always `None`. W4-int8/bf16 on MNIST: the quantised net's
    /// test accuracy.
    pub test_accuracy: Option<f64>,
    /// W4-int8/bf16 on MNIST: the f32 net's test accuracy before quantising.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy_f32: Option<f64>,
    /// W4-int8/bf16 on MNIST: `100 · (f32 − quantised accuracy)`, in points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_drop_points: Option<f64>,
    /// No training: always `None`.
    pub final_train_loss: Option<f64>,
    /// The process's peak resident memory so far, MiB.
    pub peak_rss_mb: Option<f64>,
    /// The GEMM micro-kernel in use.
    pub gemm_kernel: &'static str,
}

/// One GEMM shape's throughput.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GemmRecord {
    /// Always `"nabla"`.
    pub peer: &'static str,
    /// Always `"gemm"`.
    pub workload: &'static str,
    /// The shape's name as in `gemm_peak.py` (`sq1024`, `w2_fwd_128x784x800`).
    pub shape: String,
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `A`, rows of `B`.
    pub k: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Threads of the kernel.
    pub threads: usize,
    /// Best timed batch, GFLOP/s (`2·m·n·k` flops per call).
    pub gflops_best: f64,
    /// Median timed batch, GFLOP/s.
    pub gflops_median: f64,
    /// Timed calls in all.
    pub calls: usize,
    /// The process's peak resident memory so far, MiB.
    pub peak_rss_mb: Option<f64>,
    /// The GEMM micro-kernel in use.
    pub gemm_kernel: &'static str,
}

/// Reading a table file back: the `csv` and `parquet` workloads (and `read_table.py`'s
/// pandas records, in the same schema).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRecord {
    /// Always `"nabla"`.
    pub peer: &'static str,
    /// `"csv"` or `"parquet"`.
    pub workload: &'static str,
    /// Threads the reader may use.
    pub threads: usize,
    /// `"mnist"` or `"synthetic"`: whose training split the table holds.
    pub data: &'static str,
    /// The file's name (`mnist-train.csv`).
    pub file: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Rows read back.
    pub rows: usize,
    /// Columns read back.
    pub columns: usize,
    /// Median time of a read (file to [`nabla_data::table::Table`]).
    pub seconds_median: f64,
    /// Every timed read.
    pub seconds_all: Vec<f64>,
    /// `bytes / 10⁶ / seconds_median`.
    pub mb_per_second: f64,
    /// The peak resident memory of the reads, MiB.
    pub peak_rss_mb: Option<f64>,
}

/// One XOR experiment's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct XorRecord {
    /// Always `"nabla"`.
    pub peer: &'static str,
    /// Always `"XOR"` (as the peer names it).
    pub workload: &'static str,
    /// Threads the seeds are spread over.
    pub threads: usize,
    /// `"sigmoid"` or `"tanh"`.
    pub output: String,
    /// Epochs per seed.
    pub epochs: u64,
    /// Seeds trained.
    pub seeds: u64,
    /// Share of seeds that solved XOR.
    pub success_rate: f64,
    /// Wall time for all seeds.
    pub train_seconds: f64,
    /// `seeds · 4 · epochs / train_seconds`.
    pub samples_per_second: f64,
    /// The process's peak resident memory so far, MiB.
    pub peak_rss_mb: Option<f64>,
}
