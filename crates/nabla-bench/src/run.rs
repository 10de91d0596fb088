//! Running the workloads: one function per kind (training, f32 and quantised inference,
//! GEMM, XOR), each returning its record, and [`run`], which picks by [`Workload`].

use std::time::Instant;

use nabla::gemm::{self, Transpose};
use nabla::loss::argmax_rows;
use nabla::quant::{Precision, QuantWorkspace, QuantizedMlp};
use nabla::{pool, Activation, Init, MatRef, MatmulPrecision, Matrix, Mlp, MlpSpec, PackedMlp, Rng};
use nabla_data::Dataset;
use nabla_train::train::{train, Silent, TrainError, TrainRun};
use nabla_train::xor::{self, XorConfig};

use crate::measure::{median, peak_rss_mb, reset_peak_rss, timed_passes};
use crate::record::{GemmRecord, InferRecord, Record, TrainRecord, XorRecord, PEER};
use crate::tables::run_table;
use crate::workload::{gemm_shapes, BenchData, BenchSettings, Workload};

fn layers_text(sizes: &[usize]) -> String {
    sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join("-")
}

/// Trains W1, W2, W3 or W3-bf16 on `data` and reports its speed and result.
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
    pool::set_threads(settings.threads);
    reset_peak_rss();
    let run = TrainRun { config: &config, data: data.split.into(), out_dir: None, resume: None, stop: None };
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
        test_accuracy: (data.label != "synthetic").then_some(outcome.test.headline()),
        final_train_loss: outcome.history.last().map_or(f64::NAN, |e| e.train_loss),
        peak_rss_mb: peak_rss_mb(),
        gemm_kernel: match config.precision {
            MatmulPrecision::F32 => gemm::fast::micro_kernel_name(),
            MatmulPrecision::Bf16 => gemm::bf16::best_kernel().map_or("none", |k| k.name()),
        },
    })
}

/// W4: forward passes (logits, then arg-max) of an untrained 784-800-10 over the test
/// images in batches of 1,000; one warm-up pass, then `settings.repeats` timed passes.
pub fn run_inference(data: &BenchData<'_>, settings: &BenchSettings) -> Result<InferRecord, nabla::Error> {
    const BATCH: usize = W4_BATCH;
    pool::set_threads(settings.threads);
    reset_peak_rss();
    let test = &data.split.test;
    let features = test.features();
    let spec = w4_spec(test);
    let mlp = Mlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(settings.seed));
    // Packed once, as a model loaded for inference is (the packing is outside the timing, as
    // torch's weights are ready before its passes).
    let packed = PackedMlp::new(&mlp);
    let x = w4_inputs(test);
    let mut out = Vec::new();
    let mut predicted = vec![0u32; BATCH];
    let pass = || -> Result<f64, nabla::Error> {
        let started = Instant::now();
        for (rows, chunk) in x.chunks(BATCH * features).map(|c| (c.len() / features, c)) {
            let out = packed.forward(MatRef::new(chunk, rows, features)?, &mut out)?;
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
        pool::set_threads(settings.threads);
        let run = TrainRun { config: &config, data: data.split.into(), out_dir: None, resume: None, stop: None };
        let outcome = train(run, &mut Silent)?;
        // The W2 recipe is a plain MLP (`hidden`), so the trained network is one.
        let mlp = outcome.network.require_plain("the int8/bf16 benchmark")?.clone();
        (mlp, Some(outcome.test.headline()))
    } else {
        (Mlp::new(spec.clone(), Init::HeUniform, &mut Rng::new(settings.seed)), None)
    };
    let model = QuantizedMlp::quantize(&mlp, precision);
    pool::set_threads(settings.threads);
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

/// Times `C = A·B` (row-major, `C` preallocated, fast kernel) for one shape as
/// `gemm_peak.py` does: two warm-up calls, then batches of calls of at least ~5 ms each
/// until `settings.gemm_seconds` have passed and at least 5 batches ran.
pub fn run_gemm(name: &str, m: usize, k: usize, n: usize, settings: &BenchSettings) -> GemmRecord {
    pool::set_threads(settings.threads);
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
/// output). `data` must be given for W1–W4, `csv` and `parquet`.
pub fn run(
    workload: Workload,
    data: Option<&BenchData<'_>>,
    settings: &BenchSettings,
) -> Result<Vec<Record>, BenchError> {
    let need = || data.ok_or(BenchError::NoData(workload));
    Ok(match workload {
        Workload::W1 | Workload::W2 | Workload::W3 | Workload::W3Bf16 => {
            vec![Record::Train(run_training(workload, need()?, settings)?)]
        }
        Workload::W4 => vec![Record::Infer(run_inference(need()?, settings)?)],
        Workload::W4Int8 => vec![Record::Infer(run_quantized_inference(Precision::Int8, need()?, settings)?)],
        Workload::W4Bf16 => vec![Record::Infer(run_quantized_inference(Precision::Bf16, need()?, settings)?)],
        Workload::Gemm => gemm_shapes(settings)
            .map_err(BenchError::Settings)?
            .into_iter()
            .map(|(name, m, k, n)| Record::Gemm(run_gemm(name, m, k, n, settings)))
            .collect(),
        Workload::Csv | Workload::Parquet => vec![Record::Table(run_table(workload, need()?, settings)?)],
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
    /// A table could not be read back.
    #[error(transparent)]
    Table(#[from] nabla_data::table::TableError),
    /// A file or folder of a table workload could not be written.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl BenchError {
    /// The error for `path`, which could not be written.
    pub(crate) fn io(path: &std::path::Path, error: &std::io::Error) -> BenchError {
        BenchError::Io { path: path.to_path_buf(), message: error.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_gemm_record_is_positive() {
        let s = BenchSettings { gemm_seconds: 0.0, ..BenchSettings::default() };
        let r = run_gemm("tiny", 8, 8, 8, &s);
        assert!(r.gflops_best >= r.gflops_median && r.gflops_median > 0.0, "{r:?}");
        assert!(r.calls >= 5);
    }
}
