//! What the benchmark measures: the workloads by name, the training recipes of W1–W3, the
//! GEMM shapes, and the settings and data of one run.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use nabla::loss::Loss;
use nabla::optim::OptimizerKind;
use nabla::{Activation, Init, MatmulPrecision};
use nabla_data::Split;
use nabla_train::config::TrainConfig;
use nabla_train::schedule::Schedule;

/// One of the benchmark's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// 784-128-10, SGD lr 0.1, batches of 64, 5 epochs.
    W1,
    /// 784-800-10, SGD lr 0.05 with momentum 0.9, batches of 128, 10 epochs.
    W2,
    /// 784-1024-1024-10, Adam lr 1e-3, batches of 128, 5 epochs.
    W3,
    /// W3 in mixed precision: bf16 matrix products with f32 sums, f32 weights and Adam (the
    /// peers: `torch.autocast("cpu", dtype=torch.bfloat16)`). Needs AMX-BF16 or AVX512-BF16.
    W3Bf16,
    /// Inference of an untrained 784-800-10 over the 10,000 test images, batches of 1,000.
    W4,
    /// W4 with int8 weights and 7-bit activations, on a net trained for one epoch (MNIST).
    W4Int8,
    /// W4 with bf16 weights and activations (f32 sums), on a net trained for one epoch (MNIST).
    W4Bf16,
    /// `C = A·B` for the square shapes 256…2048 and the MLPs' forward shapes.
    Gemm,
    /// The 2-2-1 XOR network, 1,000 seeds × 1,000 epochs, sigmoid and tanh output.
    Xor,
    /// Loading the 60,000 training images written as a CSV file (`p0,…,p783,label`).
    Csv,
    /// Loading the same table written as a Parquet file (snappy, INT64 columns).
    Parquet,
}

impl Workload {
    /// Every workload, in the order `nabla bench` runs them.
    pub const ALL: [Workload; 9] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W3Bf16,
        Workload::W4,
        Workload::W4Int8,
        Workload::W4Bf16,
        Workload::Gemm,
        Workload::Xor,
    ];
    /// The table-loading workloads, run only when named: each writes a file of over 100 MB
    /// and reads it six times (about ten seconds), and the peers' `run_all.py` has no such
    /// workload to pair them with (`peers/read_table.py` in this crate's folder does).
    pub const TABLES: [Workload; 2] = [Workload::Csv, Workload::Parquet];
    /// The names accepted by [`FromStr`].
    pub const NAMES: &'static str = "W1, W2, W3, W3-bf16, W4, gemm, xor, W4-int8, W4-bf16, csv, parquet";

    /// Whether it needs the MNIST-shaped data set.
    pub fn needs_data(self) -> bool {
        !matches!(self, Workload::Gemm | Workload::Xor)
    }

    /// The training recipe of W1–W3 (`None` for the others).
    pub fn recipe(self) -> Option<Recipe> {
        let (hidden, optimizer, lr, momentum, batch_size, epochs) = match self {
            Workload::W1 => (vec![128], OptimizerKind::Sgd, 0.1, 0.0, 64, 5),
            Workload::W2 => (vec![800], OptimizerKind::Momentum, 0.05, 0.9, 128, 10),
            Workload::W3 | Workload::W3Bf16 => (vec![1024, 1024], OptimizerKind::Adam, 1e-3, 0.0, 128, 5),
            _ => return None,
        };
        let precision = if self == Workload::W3Bf16 { MatmulPrecision::Bf16 } else { MatmulPrecision::F32 };
        Some(Recipe { hidden, optimizer, lr, momentum, batch_size, epochs, precision })
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "w1" => Workload::W1,
            "w2" => Workload::W2,
            "w3" => Workload::W3,
            "w3-bf16" => Workload::W3Bf16,
            "w4" => Workload::W4,
            "w4-int8" => Workload::W4Int8,
            "w4-bf16" => Workload::W4Bf16,
            "gemm" => Workload::Gemm,
            "xor" => Workload::Xor,
            "csv" => Workload::Csv,
            "parquet" => Workload::Parquet,
            _ => return Err(format!("unknown workload `{s}`; expected {}", Self::NAMES)),
        })
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::W1 => "W1",
            Workload::W2 => "W2",
            Workload::W3 => "W3",
            Workload::W3Bf16 => "W3-bf16",
            Workload::W4 => "W4",
            Workload::W4Int8 => "W4-int8",
            Workload::W4Bf16 => "W4-bf16",
            Workload::Gemm => "gemm",
            // The peers' records call it `XOR`.
            Workload::Xor => "XOR",
            Workload::Csv => "csv",
            Workload::Parquet => "parquet",
        })
    }
}

/// A training workload's hyperparameters (as in the peers' `WORKLOADS`).
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Hidden widths (ReLU).
    pub hidden: Vec<usize>,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Learning rate (constant).
    pub lr: f32,
    /// Momentum (W2 only).
    pub momentum: f32,
    /// Examples per step.
    pub batch_size: usize,
    /// Passes over the 60,000 training images.
    pub epochs: usize,
    /// The arithmetic of the matrix products (bf16 for W3-bf16).
    pub precision: MatmulPrecision,
}

impl Recipe {
    /// The trainer's settings for this recipe: no dropout, no validation split, constant
    /// learning rate, unstandardised pixels in `[0, 1]`, He-uniform initial weights.
    pub fn config(&self, threads: usize, seed: u64) -> TrainConfig {
        TrainConfig {
            hidden: self.hidden.clone(),
            depth: None,
            width: None,
            residual: false,
            activation: Activation::Relu,
            init: Init::HeUniform,
            optimizer: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: 0.0,
            l1: 0.0,
            l2: 0.0,
            dropout: 0.0,
            input_dropout: 0.0,
            batch_size: self.batch_size,
            epochs: self.epochs,
            schedule: Schedule::Constant,
            warmup_epochs: 0.0,
            loss: Loss::Mse,
            patience: 0,
            seed,
            threads,
            val_split: 0.0,
            standardize: false,
            precision: self.precision,
        }
    }
}

/// How the benchmark runs, beyond the workload definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSettings {
    /// Threads for the matrix kernels and the XOR seeds.
    pub threads: usize,
    /// Overrides every training workload's epoch count (smoke tests).
    pub epochs: Option<usize>,
    /// Timed passes of W4 and of the table reads (after one warm-up pass); the median is reported.
    pub repeats: usize,
    /// Time budget per GEMM shape, in seconds (at least 5 timed batches are run).
    pub gemm_seconds: f64,
    /// The GEMM shapes to run, by name (`None`: all of [`GEMM_SHAPES`]).
    pub gemm_shapes: Option<Vec<String>>,
    /// Seeds of the XOR workload.
    pub xor_seeds: u64,
    /// Epochs of the XOR workload.
    pub xor_epochs: u64,
    /// Seed of the initial weights and the shuffles.
    pub seed: u64,
    /// Where `csv` and `parquet` write their tables and leave them (`None`: a temporary
    /// folder, removed afterwards).
    pub keep_tables: Option<PathBuf>,
}

impl Default for BenchSettings {
    /// The peers' settings: 1 thread, the workloads' own epochs, 5 inference passes, 0.5 s
    /// per GEMM shape, 1,000 XOR seeds × 1,000 epochs.
    fn default() -> Self {
        Self {
            threads: 1,
            epochs: None,
            repeats: 5,
            gemm_seconds: 0.5,
            gemm_shapes: None,
            xor_seeds: 1000,
            xor_epochs: 1000,
            seed: 0,
            keep_tables: None,
        }
    }
}

/// The data a benchmark trains on, and what to call it in the records.
pub struct BenchData<'a> {
    /// Train (60,000) and test (10,000) parts.
    pub split: &'a Split,
    /// `"mnist"` or `"synthetic"`.
    pub label: &'static str,
}

/// The GEMM shapes of `gemm_peak.py`: `(name, m, k, n)` for `C[m, n] = A[m, k] · B[k, n]`.
pub const GEMM_SHAPES: [(&str, usize, usize, usize); 7] = [
    ("sq256", 256, 256, 256),
    ("sq512", 512, 512, 512),
    ("sq1024", 1024, 1024, 1024),
    ("sq2048", 2048, 2048, 2048),
    ("w1_fwd_64x784x128", 64, 784, 128),
    ("w2_fwd_128x784x800", 128, 784, 800),
    ("w3_fwd_128x1024x1024", 128, 1024, 1024),
];

/// The GEMM shapes `settings` selects, in [`GEMM_SHAPES`] order; an unknown name is an
/// error naming the known ones.
pub fn gemm_shapes(settings: &BenchSettings) -> Result<Vec<(&'static str, usize, usize, usize)>, String> {
    let Some(names) = &settings.gemm_shapes else { return Ok(GEMM_SHAPES.to_vec()) };
    if let Some(bad) = names.iter().find(|n| !GEMM_SHAPES.iter().any(|s| s.0 == n.as_str())) {
        let known: Vec<&str> = GEMM_SHAPES.iter().map(|s| s.0).collect();
        return Err(format!("unknown GEMM shape `{bad}`; expected one of {}", known.join(", ")));
    }
    Ok(GEMM_SHAPES.iter().copied().filter(|s| names.iter().any(|n| n == s.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_names_round_trip() {
        for w in Workload::ALL.into_iter().chain(Workload::TABLES) {
            assert_eq!(w.to_string().parse::<Workload>().unwrap(), w);
        }
        assert_eq!("gemm".parse::<Workload>().unwrap(), Workload::Gemm);
        assert!("W9"
            .parse::<Workload>()
            .unwrap_err()
            .contains("W1, W2, W3, W3-bf16, W4, gemm, xor, W4-int8, W4-bf16, csv"));
        assert_eq!("w4-INT8".parse::<Workload>().unwrap(), Workload::W4Int8);
        // W3-bf16 is W3 but for the precision of its products.
        let (w3, bf16) = (Workload::W3.recipe().unwrap(), Workload::W3Bf16.recipe().unwrap());
        assert_eq!(Recipe { precision: MatmulPrecision::F32, ..bf16.clone() }, w3);
        assert_eq!(bf16.config(1, 0).precision, MatmulPrecision::Bf16);
    }

    #[test]
    fn unknown_gemm_shape_is_named() {
        let s = BenchSettings { gemm_shapes: Some(vec!["sq3".into()]), ..BenchSettings::default() };
        assert!(gemm_shapes(&s).unwrap_err().contains("sq3"));
        let s = BenchSettings { gemm_shapes: Some(vec!["sq256".into()]), ..BenchSettings::default() };
        assert_eq!(gemm_shapes(&s).unwrap(), vec![("sq256", 256, 256, 256)]);
    }
}
