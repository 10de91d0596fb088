//! The peers' benchmark workloads, run on nabla: one typed record per measurement, in the
//! JSON schema of `shared/peers` (`peer_common.py`), so that `run_all.py --with` can put
//! nabla's numbers beside PyTorch's and numpy's and print the ratios.
//!
//! | | network (ReLU hidden) | optimiser | batch | epochs |
//! |---|---|---|---|---|
//! | W1 | 784-128-10 | SGD lr 0.1 | 64 | 5 |
//! | W2 | 784-800-10 | SGD lr 0.05, momentum 0.9 | 128 | 10 |
//! | W3 | 784-1024-1024-10 | Adam lr 1e-3 | 128 | 5 |
//! | W4 | 784-800-10, inference | — | 1000 | — |
//! | W4-int8, W4-bf16 | W4 with int8 / bf16 weights ([`nabla::quant`]) | — | 1000 | — |
//!
//! Training runs the real trainer ([`crate::train::train`]) on all 60,000 training images
//! (no validation split), shuffled every epoch, with a constant learning rate and no
//! dropout; `train_seconds` is the sum of the epochs' training time (the per-epoch
//! evaluation and the data loading are not timed). Weights start from He-uniform, not
//! PyTorch's `U(±1/√fan_in)`: speed does not depend on it, accuracy may differ slightly.
//! Nothing here prints; the CLI decides how to show the records.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use nabla::gemm::{self, Transpose};
use nabla::loss::argmax_rows;
use nabla::optim::OptimizerKind;
use nabla::quant::{Precision, QuantWorkspace, QuantizedMlp};
use nabla::{Activation, Init, MatRef, Matrix, Mlp, MlpSpec, Rng, Workspace};
use nabla_data::{Dataset, Split};
use serde::Serialize;

use crate::config::TrainConfig;
use crate::schedule::Schedule;
use crate::train::{train, Silent, TrainError, TrainRun};
use crate::xor::{self, XorConfig};

/// The `peer` field of every record.
pub const PEER: &str = "nabla";

/// One of the benchmark's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// 784-128-10, SGD lr 0.1, batches of 64, 5 epochs.
    W1,
    /// 784-800-10, SGD lr 0.05 with momentum 0.9, batches of 128, 10 epochs.
    W2,
    /// 784-1024-1024-10, Adam lr 1e-3, batches of 128, 5 epochs.
    W3,
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
}

impl Workload {
    /// Every workload, in the order `nabla bench` runs them.
    pub const ALL: [Workload; 8] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W4Int8,
        Workload::W4Bf16,
        Workload::Gemm,
        Workload::Xor,
    ];
    /// The names accepted by [`FromStr`].
    pub const NAMES: &'static str = "W1, W2, W3, W4, gemm, xor, W4-int8, W4-bf16";

    /// Whether it needs the MNIST-shaped data set.
    pub fn needs_data(self) -> bool {
        matches!(self, Workload::W1 | Workload::W2 | Workload::W3 | Workload::W4 | Workload::W4Int8 | Workload::W4Bf16)
    }

    /// The training recipe of W1–W3 (`None` for the others).
    pub fn recipe(self) -> Option<Recipe> {
        let (hidden, optimizer, lr, momentum, batch_size, epochs) = match self {
            Workload::W1 => (vec![128], OptimizerKind::Sgd, 0.1, 0.0, 64, 5),
            Workload::W2 => (vec![800], OptimizerKind::Momentum, 0.05, 0.9, 128, 10),
            Workload::W3 => (vec![1024, 1024], OptimizerKind::Adam, 1e-3, 0.0, 128, 5),
            _ => return None,
        };
        Some(Recipe { hidden, optimizer, lr, momentum, batch_size, epochs })
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "w1" => Workload::W1,
            "w2" => Workload::W2,
            "w3" => Workload::W3,
            "w4" => Workload::W4,
            "w4-int8" => Workload::W4Int8,
            "w4-bf16" => Workload::W4Bf16,
            "gemm" => Workload::Gemm,
            "xor" => Workload::Xor,
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
            Workload::W4 => "W4",
            Workload::W4Int8 => "W4-int8",
            Workload::W4Bf16 => "W4-bf16",
            Workload::Gemm => "gemm",
            // The peers' records call it `XOR`.
            Workload::Xor => "XOR",
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
}

impl Recipe {
    /// The trainer's settings for this recipe: no dropout, no validation split, constant
    /// learning rate, unstandardised pixels in `[0, 1]`, He-uniform initial weights.
    pub fn config(&self, threads: usize, seed: u64) -> TrainConfig {
        TrainConfig {
            hidden: self.hidden.clone(),
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
            seed,
            threads,
            val_split: 0.0,
            standardize: false,
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
    /// Timed inference passes of W4 (after one warm-up pass); the median is reported.
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

/// One measurement, serialised as one JSON line of the peers' schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Record {
    /// W1–W3.
    Train(TrainRecord),
    /// W4.
    Infer(InferRecord),
    /// One GEMM shape.
    Gemm(GemmRecord),
    /// One XOR experiment.
    Xor(XorRecord),
}

/// A training workload's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainRecord {
    /// Always `"nabla"`.
    pub peer: &'static str,
    /// `W1`, `W2` or `W3`.
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

/// Random data of MNIST's shape, for timing only: 60,000 training and 10,000 test images of
/// 28×28 pixels uniform in `0..=255` (so `[0, 1]` after scaling) and labels uniform in 0..10.
pub fn synthetic_mnist(seed: u64) -> Split {
    synthetic_images(seed, 60_000, 10_000)
}

/// Random 28×28 images of 10 classes: `train_len` training and `test_len` test examples,
/// pixels uniform in `0..=255`, labels uniform in 0..10.
pub fn synthetic_images(seed: u64, train_len: usize, test_len: usize) -> Split {
    let mut rng = Rng::new(seed);
    let mut part = |name: &str, len: usize| Dataset {
        name: format!("synthetic/{name}"),
        images: (0..len * 784).map(|_| rng.below(256) as u8).collect(),
        labels: (0..len).map(|_| rng.below(10) as u8).collect(),
        len,
        height: 28,
        width: 28,
        max_value: 255,
        classes: (0..10).map(|c| c.to_string()).collect(),
    };
    let train = part("train", train_len);
    let test = part("test", test_len);
    Split { train, test }
}

/// The process's peak resident set size in MiB since the last [`reset_peak_rss`] (`VmHWM` of
/// `/proc/self/status`); `None` where that file does not exist.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// Starts a new peak-RSS measurement: Linux resets the process's high-water mark (`VmHWM`)
/// to the current RSS when `5` is written to `/proc/self/clear_refs`, so that each workload's
/// `peak_rss_mb` is its own peak (with the data it needs resident), not the largest of every
/// workload run before it in this process. Elsewhere, or if the write fails, the peak stays
/// the process's.
pub fn reset_peak_rss() {
    release_free_heap();
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Hands the heap's free pages back to the system (glibc keeps what loading the data freed,
/// e.g. the decompressed files, and the reset would count it as the workload's).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only returns free memory to the system; it takes no
    // pointers and is safe to call at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

fn layers_text(sizes: &[usize]) -> String {
    sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join("-")
}

/// Trains W1, W2 or W3 on `data` and reports its speed and result.
///
/// # Panics
/// If `workload` is not a training workload.
pub fn run_training(
    workload: Workload,
    data: &BenchData<'_>,
    settings: &BenchSettings,
) -> Result<TrainRecord, TrainError> {
    let mut recipe = workload.recipe().expect("a training workload");
    if let Some(epochs) = settings.epochs {
        recipe.epochs = epochs;
    }
    let config = recipe.config(settings.threads, settings.seed);
    nabla::pool::set_threads(settings.threads);
    reset_peak_rss();
    let run = TrainRun { config: &config, data: data.split, out_dir: None, resume: None, stop: None };
    let outcome = train(run, &mut Silent)?;
    let train_seconds: f64 = outcome.history.iter().map(|e| e.seconds).sum();
    let samples = (data.split.train.len * outcome.history.len()) as f64;
    let mut sizes = vec![data.split.train.features()];
    sizes.extend(&recipe.hidden);
    sizes.push(data.split.train.num_classes());
    Ok(TrainRecord {
        peer: PEER,
        workload: workload.to_string(),
        threads: settings.threads,
        epochs: outcome.history.len(),
        batch: recipe.batch_size,
        data: data.label,
        layers: layers_text(&sizes),
        optimizer: recipe.optimizer.to_string(),
        train_seconds,
        samples_per_second: samples / train_seconds.max(1e-9),
        test_accuracy: (data.label != "synthetic").then_some(outcome.test_acc),
        final_train_loss: outcome.history.last().map_or(f64::NAN, |e| e.train_loss),
        peak_rss_mb: peak_rss_mb(),
        gemm_kernel: gemm::fast::micro_kernel_name(),
    })
}

/// W4: forward passes (logits, then arg-max) of an untrained 784-800-10 over the test
/// images in batches of 1,000; one warm-up pass, then `settings.repeats` timed passes.
pub fn run_inference(data: &BenchData<'_>, settings: &BenchSettings) -> Result<InferRecord, nabla::Error> {
    const BATCH: usize = W4_BATCH;
    nabla::pool::set_threads(settings.threads);
    reset_peak_rss();
    let test = &data.split.test;
    let features = test.features();
    let spec = w4_spec(test);
    let mlp = Mlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(settings.seed));
    let x = w4_inputs(test);
    let mut ws = Workspace::new(&spec, BATCH);
    let mut predicted = vec![0u32; BATCH];
    let pass = || -> Result<f64, nabla::Error> {
        let started = Instant::now();
        for (rows, chunk) in x.chunks(BATCH * features).map(|c| (c.len() / features, c)) {
            let out = mlp.forward(MatRef::new(chunk, rows, features)?, &mut ws)?;
            argmax_rows(out, &mut predicted[..rows]);
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let all = timed_passes(settings.repeats, pass)?;
    Ok(infer_record(Workload::W4, settings, data, &spec, all, gemm::fast::micro_kernel_name()))
}

/// W4's network, 784-800-10 with ReLU hidden units, for `test`'s shape.
fn w4_spec(test: &Dataset) -> MlpSpec {
    MlpSpec {
        sizes: vec![test.features(), 800, test.num_classes()],
        hidden: Activation::Relu,
        output: Activation::Identity,
    }
}

/// The test images as f32 in [0, 1], converted once outside the timing, as the peers hold
/// them as tensors.
fn w4_inputs(test: &Dataset) -> Vec<f32> {
    let scale = 1.0 / f32::from(test.max_value.max(1));
    test.images.iter().map(|&p| f32::from(p) * scale).collect()
}

/// One warm-up pass, then `repeats` (at least one) timed passes; their times in seconds.
fn timed_passes(repeats: usize, mut pass: impl FnMut() -> Result<f64, nabla::Error>) -> Result<Vec<f64>, nabla::Error> {
    pass()?;
    (0..repeats.max(1)).map(|_| pass()).collect()
}

/// A W4-shaped inference record from its pass times (the median is the speed), without
/// accuracies.
fn infer_record(
    workload: Workload,
    settings: &BenchSettings,
    data: &BenchData<'_>,
    spec: &MlpSpec,
    all: Vec<f64>,
    kernel: &'static str,
) -> InferRecord {
    let median = median(&all);
    InferRecord {
        peer: PEER,
        workload: workload.to_string(),
        threads: settings.threads,
        batch: W4_BATCH,
        data: data.label,
        layers: layers_text(&spec.sizes),
        epochs: None,
        train_seconds: None,
        samples_per_second: data.split.test.len as f64 / median.max(1e-12),
        infer_seconds_median: median,
        infer_seconds_all: all,
        test_accuracy: None,
        test_accuracy_f32: None,
        accuracy_drop_points: None,
        final_train_loss: None,
        peak_rss_mb: peak_rss_mb(),
        gemm_kernel: kernel,
    }
}

/// W4's batch size.
const W4_BATCH: usize = 1000;

/// W4-int8 and W4-bf16: W4's passes (10,000 test images, batches of 1,000, logits then
/// arg-max; one warm-up, then `settings.repeats` timed) with the weights quantised to
/// `precision`. On MNIST the 784-800-10 is first trained for one epoch (W2's recipe), so the
/// weights look like a real model's and the record carries the test accuracy before and after
/// quantising; on synthetic data it stays untrained, as in W4.
pub fn run_quantized_inference(
    precision: Precision,
    data: &BenchData<'_>,
    settings: &BenchSettings,
) -> Result<InferRecord, BenchError> {
    const BATCH: usize = W4_BATCH;
    let test = &data.split.test;
    let features = test.features();
    let spec = w4_spec(test);
    let trained = data.label != "synthetic";
    let (mlp, f32_accuracy) = if trained {
        let mut recipe = Workload::W2.recipe().expect("W2 trains");
        recipe.epochs = 1;
        let config = recipe.config(settings.threads, settings.seed);
        nabla::pool::set_threads(settings.threads);
        let run = TrainRun { config: &config, data: data.split, out_dir: None, resume: None, stop: None };
        let outcome = train(run, &mut Silent)?;
        (outcome.mlp, Some(outcome.test_acc))
    } else {
        (Mlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(settings.seed)), None)
    };
    let model = QuantizedMlp::quantize(&mlp, precision);
    nabla::pool::set_threads(settings.threads);
    let x = w4_inputs(test);
    let mut ws = QuantWorkspace::new(&model, BATCH);
    let mut predicted = vec![0u32; test.len];
    let pass = || -> Result<f64, nabla::Error> {
        let started = Instant::now();
        for (b, chunk) in x.chunks(BATCH * features).enumerate() {
            let rows = chunk.len() / features;
            let out = model.forward(MatRef::new(chunk, rows, features)?, &mut ws)?;
            argmax_rows(out, &mut predicted[b * BATCH..b * BATCH + rows]);
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let all = timed_passes(settings.repeats, pass)?;
    let accuracy = trained.then(|| {
        let right = predicted.iter().zip(&test.labels).filter(|&(&p, &y)| p == u32::from(y)).count();
        right as f64 / test.len.max(1) as f64
    });
    let workload = match precision {
        Precision::Int8 => Workload::W4Int8,
        Precision::Bf16 => Workload::W4Bf16,
    };
    let kernel = QuantizedMlp::kernel_name(precision);
    Ok(InferRecord {
        test_accuracy: accuracy,
        test_accuracy_f32: f32_accuracy,
        accuracy_drop_points: accuracy.zip(f32_accuracy).map(|(q, f)| 100.0 * (f - q)),
        ..infer_record(workload, settings, data, &spec, all, kernel)
    })
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

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

/// Times `C = A·B` (row-major, `C` preallocated, fast kernel) for one shape as
/// `gemm_peak.py` does: two warm-up calls, then batches of calls of at least ~5 ms each
/// until `settings.gemm_seconds` have passed and at least 5 batches ran.
pub fn run_gemm(name: &str, m: usize, k: usize, n: usize, settings: &BenchSettings) -> GemmRecord {
    nabla::pool::set_threads(settings.threads);
    let mut rng = Rng::new(settings.seed);
    let a = Matrix::random_uniform(m, k, 0.0, 1.0, &mut rng);
    let b = Matrix::random_uniform(k, n, 0.0, 1.0, &mut rng);
    let mut c = Matrix::zeros(m, n);
    let mut call = || {
        gemm::gemm(1.0, a.view(), Transpose::No, b.view(), Transpose::No, 0.0, c.view_mut())
            .expect("shapes fit by construction");
    };
    call();
    call();
    let started = Instant::now();
    call();
    let reps = ((0.005 / started.elapsed().as_secs_f64().max(1e-9)) as usize).max(1);
    let flops = 2.0 * (m * n * k) as f64;
    let mut rates = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < settings.gemm_seconds || rates.len() < 5 {
        let t0 = Instant::now();
        for _ in 0..reps {
            call();
        }
        rates.push(flops * reps as f64 / t0.elapsed().as_secs_f64().max(1e-12) / 1e9);
    }
    GemmRecord {
        peer: PEER,
        workload: "gemm",
        shape: name.to_string(),
        m,
        k,
        n,
        threads: settings.threads,
        gflops_best: rates.iter().copied().fold(f64::MIN, f64::max),
        gflops_median: median(&rates),
        calls: reps * rates.len(),
        peak_rss_mb: peak_rss_mb(),
        gemm_kernel: gemm::fast::micro_kernel_name(),
    }
}

/// The XOR experiment as `peer_xor.py` runs it: 2-2-1, sigmoid hidden, `output` at the
/// output, uniform(−1, 1) weights from numpy's generator, per-sample SGD at lr 0.5, for
/// `settings.xor_seeds` seeds (0, 1, …) of `settings.xor_epochs` epochs each.
pub fn run_xor(output: Activation, settings: &BenchSettings) -> XorRecord {
    let config = XorConfig { epochs: settings.xor_epochs, output_activation: output, ..XorConfig::default() };
    let started = Instant::now();
    let result = xor::success_rate(&config, 0, settings.xor_seeds, settings.threads);
    let seconds = started.elapsed().as_secs_f64();
    XorRecord {
        peer: PEER,
        workload: "XOR",
        threads: settings.threads,
        output: output.to_string(),
        epochs: config.epochs,
        seeds: settings.xor_seeds,
        success_rate: result.rate(),
        train_seconds: seconds,
        samples_per_second: (settings.xor_seeds * 4 * config.epochs) as f64 / seconds.max(1e-12),
        peak_rss_mb: peak_rss_mb(),
    }
}

/// Runs one workload and returns its records (GEMM: one per shape; XOR: sigmoid, then tanh
/// output). `data` must be given for W1–W4.
pub fn run(
    workload: Workload,
    data: Option<&BenchData<'_>>,
    settings: &BenchSettings,
) -> Result<Vec<Record>, BenchError> {
    let need = || data.ok_or(BenchError::NoData(workload));
    Ok(match workload {
        Workload::W1 | Workload::W2 | Workload::W3 => vec![Record::Train(run_training(workload, need()?, settings)?)],
        Workload::W4 => vec![Record::Infer(run_inference(need()?, settings)?)],
        Workload::W4Int8 => vec![Record::Infer(run_quantized_inference(Precision::Int8, need()?, settings)?)],
        Workload::W4Bf16 => vec![Record::Infer(run_quantized_inference(Precision::Bf16, need()?, settings)?)],
        Workload::Gemm => gemm_shapes(settings)
            .map_err(BenchError::Settings)?
            .into_iter()
            .map(|(name, m, k, n)| Record::Gemm(run_gemm(name, m, k, n, settings)))
            .collect(),
        Workload::Xor => {
            [Activation::Sigmoid, Activation::Tanh].into_iter().map(|o| Record::Xor(run_xor(o, settings))).collect()
        }
    })
}

/// What went wrong in a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A training workload failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The engine refused an operation.
    #[error(transparent)]
    Engine(#[from] nabla::Error),
    /// A workload that needs data was run without it.
    #[error("workload {0} needs data (MNIST or --synthetic)")]
    NoData(Workload),
    /// A setting names something that does not exist.
    #[error("{0}")]
    Settings(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_rss_restarts_after_a_reset() {
        // 256 MiB, touched (so resident), then returned to the system (a large allocation
        // is its own mapping): the peak keeps it until the reset, not after.
        let big = vec![1u8; 256 << 20];
        assert_eq!(big.iter().step_by(4096).map(|&b| usize::from(b)).sum::<usize>(), (256 << 20) / 4096);
        drop(big);
        let before = peak_rss_mb().expect("VmHWM on Linux");
        reset_peak_rss();
        let after = peak_rss_mb().expect("VmHWM on Linux");
        assert!(before >= 256.0 && after < before - 128.0, "peak {before} MiB before the reset, {after} after");
    }

    #[test]
    fn workload_names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.to_string().parse::<Workload>().unwrap(), w);
        }
        assert_eq!("gemm".parse::<Workload>().unwrap(), Workload::Gemm);
        assert!("W9".parse::<Workload>().unwrap_err().contains("W1, W2, W3, W4, gemm, xor, W4-int8, W4-bf16"));
        assert_eq!("w4-INT8".parse::<Workload>().unwrap(), Workload::W4Int8);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn unknown_gemm_shape_is_named() {
        let s = BenchSettings { gemm_shapes: Some(vec!["sq3".into()]), ..BenchSettings::default() };
        assert!(gemm_shapes(&s).unwrap_err().contains("sq3"));
        let s = BenchSettings { gemm_shapes: Some(vec!["sq256".into()]), ..BenchSettings::default() };
        assert_eq!(gemm_shapes(&s).unwrap(), vec![("sq256", 256, 256, 256)]);
    }

    #[test]
    fn small_gemm_record_is_positive() {
        let s = BenchSettings { gemm_seconds: 0.0, ..BenchSettings::default() };
        let r = run_gemm("tiny", 8, 8, 8, &s);
        assert!(r.gflops_best >= r.gflops_median && r.gflops_median > 0.0, "{r:?}");
        assert!(r.calls >= 5);
    }
}
