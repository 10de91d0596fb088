//! The data-set trainer: mini-batch training of an MLP classifier with softmax
//! cross-entropy, per-epoch validation, checkpoints and exact resume.
//!
//! Every random draw comes from the config's seed: the initial weights from `Rng::new(seed)`,
//! the validation split from the seed, and each epoch's shuffle and dropout masks from
//! generators derived from `(seed, epoch)`. An epoch therefore computes the same numbers
//! whether the run started at epoch 1 or resumed from a checkpoint of the epoch before.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nabla::loss::{Loss, Targets};
use nabla::{MatRef, Mlp, MlpSpec, Rng, Workspace};
use nabla_data::{Dataset, Normalizer, Split};

use crate::checkpoint::{self, Checkpoint, InputSpec};
use crate::config::{ConfigError, TrainConfig};
use crate::distributed::{self, Reducer, SingleProcess};
use crate::safetensors_file::CheckpointError;

/// What went wrong in a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The engine refused an operation (a shape bug or a bad setting).
    #[error(transparent)]
    Engine(#[from] nabla::Error),
    /// The data could not be split.
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// A checkpoint could not be written or does not fit.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {loss} at epoch {epoch}, step {step}: training diverged; \
         try a lower learning rate (--lr){kept}"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss value (NaN or ±inf).
        loss: f64,
        /// Where the last good checkpoint is, as a phrase (may be empty).
        kept: String,
    },
}

/// What the trainer reports as it goes; every method has a do-nothing default.
pub trait Observer {
    /// Training is about to start.
    fn on_start(&mut self, _info: &StartInfo) {}
    /// A step finished.
    fn on_step(&mut self, _step: &StepInfo) {}
    /// An epoch finished and was evaluated.
    fn on_epoch(&mut self, _epoch: &EpochMetrics) {}
    /// A checkpoint was written.
    fn on_checkpoint(&mut self, _path: &Path, _kind: CheckpointKind) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Which checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The end of the latest epoch (resumable).
    Last,
    /// The epoch with the best evaluation accuracy so far.
    Best,
}

/// Facts about a run, before its first step.
#[derive(Debug, Clone)]
pub struct StartInfo {
    /// The network.
    pub spec: MlpSpec,
    /// Number of parameters.
    pub params: usize,
    /// Training examples.
    pub train_examples: usize,
    /// Examples evaluated after each epoch.
    pub eval_examples: usize,
    /// `"validation"` or `"test"`: what the per-epoch evaluation uses.
    pub eval_split: &'static str,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// The first epoch this run trains (1 unless resumed).
    pub first_epoch: usize,
    /// The last epoch.
    pub epochs: usize,
}

/// Progress within an epoch.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// This batch's loss.
    pub loss: f64,
    /// The learning rate used for this step.
    pub lr: f32,
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches, weighted by batch size, as seen during
    /// the epoch (with dropout active and the penalty included).
    pub train_loss: f64,
    /// Training accuracy over the epoch, as seen during it.
    pub train_acc: f64,
    /// Loss on the evaluation split (validation, or test when there is none).
    pub val_loss: f64,
    /// Accuracy on the evaluation split.
    pub val_acc: f64,
    /// The learning rate of the epoch's last step.
    pub lr: f32,
    /// Wall time of the epoch's training steps.
    pub seconds: f64,
    /// Training examples per second.
    pub samples_per_sec: f64,
}

impl EpochMetrics {
    /// The metrics a training run records after each epoch, under the names the dashboard,
    /// the plots and the sweeps read (`train/loss`, `val/acc`, …): one list for `nabla train`
    /// and every sweep trial.
    pub fn tracked(&self) -> [(&'static str, f64); 7] {
        [
            ("epoch", self.epoch as f64),
            ("train/loss", self.train_loss),
            ("train/acc", self.train_acc),
            ("val/loss", self.val_loss),
            ("val/acc", self.val_acc),
            ("perf/epoch_seconds", self.seconds),
            ("perf/samples_per_sec", self.samples_per_sec),
        ]
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The trained network (the last epoch's).
    pub mlp: Mlp,
    /// Epochs completed (counting those before a resume).
    pub epochs_completed: usize,
    /// Test-set loss of the final network.
    pub test_loss: f64,
    /// Test-set accuracy of the final network.
    pub test_acc: f64,
    /// The last checkpoint written, if any.
    pub last_checkpoint: Option<PathBuf>,
    /// The best checkpoint written, if any.
    pub best_checkpoint: Option<PathBuf>,
    /// Whether the stop flag ended training early.
    pub interrupted: bool,
    /// Per-epoch metrics of this run.
    pub history: Vec<EpochMetrics>,
    /// Where this rank's training steps spent their time.
    pub profile: StepProfile,
}

/// Where a rank's training steps spent their time: wall-clock seconds summed over the run's
/// steps (evaluation and checkpoints excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepProfile {
    /// Steps timed.
    pub steps: u64,
    /// This rank's own work: filling the batch, forward, loss and backward (with overlap,
    /// also starting the layers' all-reduces).
    pub compute: f64,
    /// Waiting for the all-reduces (gradient and step statistics) after this rank's backward
    /// pass was done: the whole all-reduce without overlap, what overlap did not hide with
    /// it; 0 for one process.
    pub reduce: f64,
    /// The penalty and the optimiser step.
    pub update: f64,
}

/// A training run's inputs.
pub struct TrainRun<'a> {
    /// The settings.
    pub config: &'a TrainConfig,
    /// The data set (train and test).
    pub data: &'a Split,
    /// Where to write `last.safetensors` and `best.safetensors` (none: no checkpoints).
    pub out_dir: Option<&'a Path>,
    /// A checkpoint to continue from.
    pub resume: Option<Checkpoint>,
    /// Set from outside (Ctrl-C) to stop between steps.
    pub stop: Option<&'a AtomicBool>,
}

/// Loss and accuracy of a network on a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean softmax cross-entropy.
    pub loss: f64,
    /// Share of examples whose arg-max class is the label.
    pub accuracy: f64,
}

/// The architecture the config asks for on a data set.
pub fn spec_for(config: &TrainConfig, data: &Dataset) -> MlpSpec {
    let mut sizes = vec![data.features()];
    sizes.extend(&config.hidden);
    sizes.push(data.num_classes());
    MlpSpec { sizes, hidden: config.activation, output: nabla::Activation::Identity }
}

/// A generator for one epoch's draws (`stream` 0: shuffle, 1: dropout), derived from the seed
/// so that any epoch can be replayed on its own.
fn epoch_rng(seed: u64, epoch: usize, stream: u64) -> Rng {
    Rng::new(mix(seed ^ mix((epoch as u64) << 1 | stream)))
}

/// SplitMix64's finaliser: spreads nearby inputs over the whole range.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Evaluates `mlp` on all of `ds` in batches.
pub fn evaluate(mlp: &Mlp, ds: &Dataset, norm: &Normalizer, batch_size: usize) -> Result<Evaluation, TrainError> {
    evaluate_with(mlp, ds, norm, batch_size, &mut SingleProcess)
}

/// Evaluates `mlp` on all of `ds` as one rank of a data-parallel job: this rank evaluates its
/// [`distributed::shard`] of the examples, and the loss sum and the count of correct
/// predictions are summed over the ranks, so every rank gets the whole set's evaluation.
/// Every rank must call it with the same network and data.
pub fn evaluate_with(
    mlp: &Mlp,
    ds: &Dataset,
    norm: &Normalizer,
    batch_size: usize,
    reducer: &mut dyn Reducer,
) -> Result<Evaluation, TrainError> {
    let batch_size = batch_size.max(1);
    let mut buffers = nabla_data::BatchBuffers::new(batch_size, ds.features());
    let mut ws = Workspace::new(mlp.spec(), batch_size);
    let mut labels32 = vec![0u32; batch_size];
    let mut predicted = vec![0u32; batch_size];
    let (mut loss, mut correct) = (0.0f64, 0usize);
    let indices: Vec<usize> = distributed::shard(ds.len, reducer.rank(), reducer.size()).collect();
    for chunk in indices.chunks(batch_size) {
        let (x, labels) = buffers.fill(ds, chunk, norm);
        let n = chunk.len();
        for (l32, &l) in labels32.iter_mut().zip(labels) {
            *l32 = u32::from(l);
        }
        let out = mlp.forward(MatRef::new(x, n, ds.features())?, &mut ws)?;
        loss += Loss::SoftmaxCrossEntropy.forward_backward(out, Targets::Classes(&labels32[..n]), None)? * n as f64;
        nabla::loss::argmax_rows(out, &mut predicted[..n]);
        correct += predicted[..n].iter().zip(&labels32[..n]).filter(|(p, l)| p == l).count();
    }
    let mut sums = [loss, correct as f64];
    reducer.sum_f64(&mut sums);
    let n = ds.len.max(1) as f64;
    Ok(Evaluation { loss: sums[0] / n, accuracy: sums[1] / n })
}

/// Trains a network as `run` describes, reporting to `observer`.
pub fn train(run: TrainRun<'_>, observer: &mut dyn Observer) -> Result<TrainOutcome, TrainError> {
    train_with(run, &mut SingleProcess, observer)
}

/// Trains as [`train`] does, as one rank of a data-parallel job joined by `reducer`.
///
/// Every rank must be given the same run (settings, data, resume checkpoint). Each global
/// batch is the single-process one; this rank computes the gradient of its
/// [`distributed::shard`] of it, weighted by its share of the batch, and the reducer's sum
/// is the whole batch's gradient, so every rank takes the same step. Only rank 0 writes
/// checkpoints; every rank reports to its `observer` (give the others [`Silent`]). Dropout
/// masks are the one-process run's: every rank walks the same stream and keeps its rows'
/// masks ([`Mlp::forward_train_rows`]). The evaluations are sharded and summed
/// ([`evaluate_with`]). With one rank this is exactly [`train`].
pub fn train_with(
    run: TrainRun<'_>,
    reducer: &mut dyn Reducer,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome, TrainError> {
    let (rank, ranks) = (reducer.rank(), reducer.size());
    let config = run.config;
    config.validate()?;
    // Without a validation split the sets are used where they are: a copy of MNIST's
    // training images is 47 MB.
    let (train_set, eval_set, eval_split): (Cow<'_, Dataset>, Cow<'_, Dataset>, _) = if config.val_split > 0.0 {
        let (train, val) = run.data.train.split_validation(config.val_split, config.seed)?;
        (Cow::Owned(train), Cow::Owned(val), "validation")
    } else {
        (Cow::Borrowed(&run.data.train), Cow::Borrowed(&run.data.test), "test")
    };
    let test_set = &run.data.test;
    let (mean, std) = if config.standardize { train_set.pixel_mean_std() } else { (0.0, 1.0) };
    let input =
        InputSpec { height: train_set.height, width: train_set.width, max_value: train_set.max_value, mean, std };
    let norm = if config.standardize {
        Normalizer::standardized(input.max_value, mean, std)
    } else {
        Normalizer::unit(input.max_value)
    };

    let spec = spec_for(config, &train_set);
    let mut optimizer = config.optimizer_config().build(spec.param_count());
    let (mut mlp, first_epoch, mut best_acc) = match run.resume {
        Some(ckpt) => {
            ckpt.check_compatible(&spec)?;
            for (name, data) in &ckpt.optimizer {
                optimizer.load_state(name, data)?;
            }
            optimizer.set_steps(ckpt.step);
            let best = ckpt.metrics.get("best_val_acc").and_then(serde_json::Value::as_f64).unwrap_or(-1.0);
            (ckpt.mlp, ckpt.epoch + 1, best)
        }
        None => (Mlp::new(spec.clone(), config.init, &mut Rng::new(config.seed)), 1, -1.0),
    };

    let batch_size = config.batch_size;
    let n_train = train_set.len;
    let steps_per_epoch = n_train.div_ceil(batch_size);
    let total_steps = (config.epochs * steps_per_epoch) as u64;
    let warmup_steps = (f64::from(config.warmup_epochs) * steps_per_epoch as f64).round() as u64;
    observer.on_start(&StartInfo {
        spec: spec.clone(),
        params: spec.param_count(),
        train_examples: n_train,
        eval_examples: eval_set.len,
        eval_split,
        steps_per_epoch,
        first_epoch,
        epochs: config.epochs,
    });

    let features = train_set.features();
    let mut buffers = nabla_data::BatchBuffers::new(batch_size, features);
    let mut ws = Workspace::new(&spec, batch_size);
    let mut grads = vec![0.0f32; spec.param_count()];
    let mut labels32 = vec![0u32; batch_size];
    let mut predicted = vec![0u32; batch_size];
    let mut order: Vec<usize> = (0..n_train).collect();
    let dropout = config.dropout();
    let reg = config.regularizer();
    let mut history = Vec::new();
    // Per step, summed over ranks: [this shard's loss × its rows, its correct predictions,
    // whether its stop flag is set].
    let mut stats = [0.0f64; 3];
    let (mut last_checkpoint, mut best_checkpoint): (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut interrupted = false;
    let mut epochs_completed = first_epoch - 1;
    let mut profile = StepProfile::default();

    'epochs: for epoch in first_epoch..=config.epochs {
        let started = Instant::now();
        order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
        epoch_rng(config.seed, epoch, 0).shuffle(&mut order);
        // Every rank walks the one-process dropout stream and keeps its own rows' masks.
        let mut drop_rng = epoch_rng(config.seed, epoch, 1);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let mut lr = config.lr;
        for (s, batch) in order.chunks(batch_size).enumerate() {
            let stop_here = run.stop.is_some_and(|f| f.load(Ordering::Relaxed));
            if ranks == 1 && stop_here {
                interrupted = true;
                break 'epochs;
            }
            let step_started = Instant::now();
            let batch_len = batch.len();
            let rows = distributed::shard(batch_len, rank, ranks);
            let chunk = &batch[rows.clone()];
            let n = chunk.len();
            let mut loss = 0.0;
            let mut waited = 0.0;
            // This shard's mean gradient, weighted by its share of the batch: the sum over
            // ranks is the mean gradient of the whole batch.
            let share = n as f32 / batch_len as f32;
            if n == 0 {
                // More ranks than rows in this batch: this rank adds nothing but still walks
                // the dropout stream and joins the all-reduce.
                if dropout != nabla::Dropout::NONE {
                    mlp.skip_dropout_masks(dropout, &mut drop_rng, batch_len)?;
                }
                waited = reducer.backward_and_sum(&mlp, None, &mut grads, share)?;
            } else {
                let (x, labels) = buffers.fill(&train_set, chunk, &norm);
                for (l32, &l) in labels32.iter_mut().zip(labels) {
                    *l32 = u32::from(l);
                }
                let x = MatRef::new(x, n, features)?;
                let out = if dropout == nabla::Dropout::NONE {
                    mlp.forward(x, &mut ws)?
                } else {
                    mlp.forward_train_rows(x, &mut ws, dropout, &mut drop_rng, rows, batch_len)?
                };
                nabla::loss::argmax_rows(out, &mut predicted[..n]);
                let shard_correct = predicted[..n].iter().zip(&labels32[..n]).filter(|(p, l)| p == l).count();
                loss = mlp.output_loss(Targets::Classes(&labels32[..n]), Loss::SoftmaxCrossEntropy, &mut ws)?;
                if ranks == 1 {
                    mlp.backward(x, &mut ws, &mut grads)?;
                } else {
                    waited = reducer.backward_and_sum(&mlp, Some((x, &mut ws)), &mut grads, share)?;
                }
                stats = [loss * n as f64, shard_correct as f64, f64::from(u8::from(stop_here))];
            }
            if ranks > 1 {
                if n == 0 {
                    stats = [0.0, 0.0, f64::from(u8::from(stop_here))];
                }
                let started = Instant::now();
                reducer.sum_f64(&mut stats);
                waited += started.elapsed().as_secs_f64();
                loss = stats[0] / batch_len as f64;
            }
            let computed = Instant::now();
            correct += stats[1] as usize;
            // The penalty depends on the weights alone, which every rank holds: added once,
            // after the reduction.
            loss += mlp.add_regularization(reg, &mut grads);
            if !loss.is_finite() {
                let kept = match &last_checkpoint {
                    Some(p) => format!("; the last good checkpoint is {}", p.display()),
                    None => String::new(),
                };
                return Err(TrainError::NonFinite { epoch, step: s + 1, loss, kept });
            }
            let global_step = ((epoch - 1) * steps_per_epoch + s) as u64;
            lr = config.schedule.lr(config.lr, global_step, total_steps, warmup_steps);
            optimizer.step(mlp.params_mut(), &grads, lr);
            profile.steps += 1;
            profile.compute += (computed - step_started).as_secs_f64() - waited;
            profile.reduce += waited;
            profile.update += computed.elapsed().as_secs_f64();
            loss_sum += loss * batch_len as f64;
            observer.on_step(&StepInfo { epoch, step: s + 1, steps: steps_per_epoch, loss, lr });
            if ranks > 1 && stats[2] > 0.0 {
                // Some rank was asked to stop: all stop together, after the same step.
                interrupted = true;
                break 'epochs;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let eval = evaluate_with(&mlp, &eval_set, &norm, 1000, reducer)?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / n_train.max(1) as f64,
            train_acc: correct as f64 / n_train.max(1) as f64,
            val_loss: eval.loss,
            val_acc: eval.accuracy,
            lr,
            seconds,
            samples_per_sec: n_train as f64 / seconds.max(1e-9),
        };
        observer.on_epoch(&metrics);
        epochs_completed = epoch;
        let improved = eval.accuracy > best_acc;
        if improved {
            best_acc = eval.accuracy;
        }
        if let Some(dir) = run.out_dir.filter(|_| rank == 0) {
            let ckpt = Checkpoint {
                mlp: mlp.clone(),
                // The data set's name without the split (`mnist`, not `mnist/train`).
                dataset: run.data.train.name.split('/').next().unwrap_or_default().to_string(),
                classes: run.data.train.classes.clone(),
                input: input.into(),
                config: config.to_json(),
                epoch,
                step: optimizer.steps(),
                optimizer: optimizer.state().iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect(),
                metrics: serde_json::json!({
                    "val_loss": eval.loss, "val_acc": eval.accuracy, "eval_split": eval_split,
                    "train_loss": metrics.train_loss, "train_acc": metrics.train_acc, "best_val_acc": best_acc,
                }),
            };
            std::fs::create_dir_all(dir).map_err(|error| CheckpointError::Io { path: dir.to_path_buf(), error })?;
            let last = dir.join("last.safetensors");
            checkpoint::save(&last, &ckpt)?;
            observer.on_checkpoint(&last, CheckpointKind::Last);
            last_checkpoint = Some(last);
            if improved {
                let best = dir.join("best.safetensors");
                checkpoint::save(&best, &ckpt)?;
                observer.on_checkpoint(&best, CheckpointKind::Best);
                best_checkpoint = Some(best);
            }
        }
        history.push(metrics);
    }

    let test = evaluate_with(&mlp, test_set, &norm, 1000, reducer)?;
    Ok(TrainOutcome {
        mlp,
        epochs_completed,
        test_loss: test.loss,
        test_acc: test.accuracy,
        last_checkpoint,
        best_checkpoint,
        interrupted,
        history,
        profile,
    })
}
