//! The trainer: mini-batch training of an MLP on an image set or an encoded table, as a
//! classifier (softmax cross-entropy) or a regression (MSE, MAE or Huber on the standardised
//! target), with per-epoch validation, early stopping, checkpoints and exact resume.
//! [`TrainData`] holds what it trains on and [`Scores`] how a set of examples is scored.
//!
//! Every random draw comes from the config's seed: the initial weights from `Rng::new(seed)`,
//! the validation split from the seed, and each epoch's shuffle and dropout masks from
//! generators derived from `(seed, epoch)`. An epoch therefore computes the same numbers
//! whether the run started at epoch 1 or resumed from a checkpoint of the epoch before.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nabla::{MlpSpec, Network, NetworkSpec, NetworkWorkspace, ResidualSpec, Rng};
use nabla_data::table::TargetSpec;
use nabla_data::{Dataset, Normalizer};

mod data;
mod error;
mod report;

use data::{Batch, Examples, Tally};
pub use data::{Objective, Scores, TableSet, TrainData};
pub use error::TrainError;
use error::{check_finite, plain, unsupported};
pub use report::{CheckpointKind, EpochMetrics, Observer, Silent, StartInfo, StepInfo, StepProfile, TrainOutcome};

use crate::checkpoint::{self, Checkpoint, InputSpec, ModelInput};
use crate::config::{ConfigError, TrainConfig};
use crate::distributed::{self, Reducer, SingleProcess};
use crate::safetensors_file::CheckpointError;

/// A training run's inputs.
pub struct TrainRun<'a> {
    /// The settings.
    pub config: &'a TrainConfig,
    /// The data: an image set (train and test) or an encoded table.
    pub data: TrainData<'a>,
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
pub fn spec_for(config: &TrainConfig, data: &Dataset) -> NetworkSpec {
    spec_with(config, data.features(), data.num_classes())
}

/// The architecture the config asks for with `inputs` inputs and `outputs` outputs: the
/// plain net of `hidden` (or `depth` × `width`), or the residual net of `depth` blocks.
/// Sizes are checked by the caller ([`NetworkSpec::too_large`]).
pub fn spec_with(config: &TrainConfig, inputs: usize, outputs: usize) -> NetworkSpec {
    let (hidden, output) = (config.activation, nabla::Activation::Identity);
    match (config.residual, config.depth, config.width) {
        (true, Some(blocks), Some(width)) => {
            NetworkSpec::Residual(ResidualSpec { inputs, width, blocks, outputs, hidden, output })
        }
        _ => {
            let mut sizes = vec![inputs];
            sizes.extend(config.hidden_widths());
            sizes.push(outputs);
            NetworkSpec::Plain(MlpSpec { sizes, hidden, output })
        }
    }
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

/// Evaluates `network` on all of `ds` in batches.
pub fn evaluate(
    network: &Network,
    ds: &Dataset,
    norm: &Normalizer,
    batch_size: usize,
) -> Result<Evaluation, TrainError> {
    evaluate_with(network, ds, norm, batch_size, &mut SingleProcess)
}

/// Evaluates `network` on all of `ds` as one rank of a data-parallel job: this rank evaluates its
/// [`distributed::shard`] of the examples, and the loss sum and the count of correct
/// predictions are summed over the ranks, so every rank gets the whole set's evaluation.
/// Every rank must call it with the same network and data.
pub fn evaluate_with(
    network: &Network,
    ds: &Dataset,
    norm: &Normalizer,
    batch_size: usize,
    reducer: &mut dyn Reducer,
) -> Result<Evaluation, TrainError> {
    let examples = Examples::Images { set: Cow::Borrowed(ds), norm: norm.clone() };
    let (loss, scores) = data::score(network, &examples, Objective::Classes(ds.num_classes()), batch_size, reducer)?;
    Ok(Evaluation { loss, accuracy: scores.headline() })
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
/// masks ([`nabla::Mlp::forward_train_rows`]). The evaluations are sharded and summed
/// ([`evaluate_with`]). With one rank this is exactly [`train`].
pub fn train_with(
    run: TrainRun<'_>,
    reducer: &mut dyn Reducer,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome, TrainError> {
    let (rank, ranks) = (reducer.rank(), reducer.size());
    let config = run.config;
    config.validate()?;
    let parts = Parts::of(run.data, config)?;
    let Parts { train: train_set, eval: eval_set, eval_split, test: test_set, objective, input } = parts;

    let spec = spec_with(config, train_set.features(), objective.outputs());
    // The whole network and a batch through it, against nabla's limits (the widths alone were
    // checked with the settings; the inputs come from the data).
    let too_large = |key, reason: String| ConfigError { key, value: spec.to_string(), reason };
    let arch_key = if config.depth.is_some() { "depth" } else { "hidden" };
    if let Some(reason) = spec.too_large() {
        return Err(too_large(arch_key, reason).into());
    }
    if let Some(reason) = spec.batch_too_large(config.batch_size) {
        return Err(too_large("batch-size", reason).into());
    }
    // Data parallelism reduces an Mlp's gradient layer by layer (`Reducer::backward_and_sum`).
    if ranks > 1 && spec.plain().is_none() {
        let reason = "data-parallel training (mpirun) is only implemented for plain MLPs; run one process".into();
        return Err(ConfigError { key: "residual", value: "true".into(), reason }.into());
    }
    check_precision(config)?;
    if ranks > 1 && config.precision != nabla::MatmulPrecision::F32 {
        let reason = "data-parallel training (mpirun) runs in f32 only for now; run one process or use --precision f32";
        return Err(ConfigError { key: "precision", value: config.precision.to_string(), reason: reason.into() }.into());
    }
    let mut optimizer = config.optimizer_config().build(spec.param_count());
    // The best checkpoint is the best accuracy for classes; for a regression, and whenever
    // early stopping is on, the lowest evaluation loss (stored negated, so larger is better).
    let by_loss = config.patience > 0 || matches!(objective, Objective::Value { .. });
    let best_key = if by_loss { "best_val_neg_loss" } else { "best_val_acc" };
    let (mut net, first_epoch, mut best_score) = match run.resume {
        Some(ckpt) => {
            ckpt.check_compatible(&spec)?;
            for (name, data) in &ckpt.optimizer {
                optimizer.load_state(name, data)?;
            }
            optimizer.set_steps(ckpt.step);
            let best = ckpt.metrics.get(best_key).and_then(serde_json::Value::as_f64).unwrap_or(f64::NEG_INFINITY);
            (ckpt.network, ckpt.epoch + 1, best)
        }
        None => (Network::new(spec.clone(), config.init, &mut Rng::new(config.seed)), 1, f64::NEG_INFINITY),
    };

    let batch_size = config.batch_size;
    let n_train = train_set.len();
    let steps_per_epoch = n_train.div_ceil(batch_size);
    let total_steps = (config.epochs * steps_per_epoch) as u64;
    let warmup_steps = (f64::from(config.warmup_epochs) * steps_per_epoch as f64).round() as u64;
    observer.on_start(&StartInfo {
        spec: spec.clone(),
        objective,
        params: spec.param_count(),
        train_examples: n_train,
        eval_examples: eval_set.len(),
        eval_split,
        steps_per_epoch,
        first_epoch,
        epochs: config.epochs,
    });

    let loss_fn = objective.loss();
    let mut batch = Batch::new(&train_set, batch_size);
    let mut ws = NetworkWorkspace::new(&spec, batch_size);
    // The training passes run their products in the configured precision; evaluation keeps
    // its own f32 workspace (the f32 master weights are what a checkpoint holds and predicts
    // with).
    ws.set_precision(config.precision)?;
    let mut grads = vec![0.0f32; spec.param_count()];
    let mut predicted = vec![0u32; batch_size];
    let mut order: Vec<usize> = (0..n_train).collect();
    let dropout = config.dropout();
    let reg = config.regularizer();
    // One process, a plain net and no penalty: the optimiser's step is taken inside the
    // backward pass, on each row panel of a layer's weight gradient as it is computed
    // (`Mlp::backward_update`, the same bits as backward then step, and faster).
    let step_in_backward = ranks == 1 && reg == nabla::Regularizer::NONE && matches!(net, Network::Plain(_));
    let mut history = Vec::new();
    // Per step, summed over ranks: [this shard's loss × its rows, whether its stop flag is
    // set, then its tally].
    let mut stats = [0.0f64; 2 + Tally::LEN];
    let (mut last_checkpoint, mut best_checkpoint): (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut interrupted = false;
    let mut stopped_early = false;
    let mut epochs_completed = first_epoch - 1;
    let mut profile = StepProfile::default();
    // Early stopping keeps the weights of the epoch with the lowest evaluation loss.
    let mut best_kept: Option<(usize, Vec<f32>)> = None;
    let mut since_best = 0usize;
    let (mut best_metrics, mut last_metrics) = (serde_json::Value::Null, serde_json::Value::Null);
    // An image run saves `last` (resumable) and `best` after every epoch. A table run's
    // epochs are short (hundreds of them, milliseconds each on a UCI table): it saves the
    // network it returns, once, as `model.safetensors`.
    let every_epoch = matches!(run.data, TrainData::Images(_));
    let checkpoint_of = |net: &Network, epoch, step, optimizer, metrics| Checkpoint {
        network: net.clone(),
        dataset: run.data.name(),
        classes: objective_names(run.data),
        input: input.clone(),
        config: config.to_json(),
        epoch,
        step,
        optimizer,
        metrics,
    };

    if let Some(dir) = run.out_dir.filter(|_| rank == 0 && every_epoch && first_epoch == 1 && observer.wants_initial())
    {
        let initial =
            save_in(dir, "initial.safetensors", &checkpoint_of(&net, 0, 0, Vec::new(), serde_json::json!({})))?;
        observer.on_checkpoint(&initial, CheckpointKind::Initial);
    }

    'epochs: for epoch in first_epoch..=config.epochs {
        let started = Instant::now();
        order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
        epoch_rng(config.seed, epoch, 0).shuffle(&mut order);
        // Every rank walks the one-process dropout stream and keeps its own rows' masks.
        let mut drop_rng = epoch_rng(config.seed, epoch, 1);
        let mut loss_sum = 0.0f64;
        let mut tally = Tally::default();
        let mut lr = config.lr;
        for (s, chunk_all) in order.chunks(batch_size).enumerate() {
            let stop_here = run.stop.is_some_and(|f| f.load(Ordering::Relaxed));
            if ranks == 1 && stop_here {
                interrupted = true;
                break 'epochs;
            }
            let step_started = Instant::now();
            let batch_len = chunk_all.len();
            let rows = distributed::shard(batch_len, rank, ranks);
            let chunk = &chunk_all[rows.clone()];
            let n = chunk.len();
            let mut loss = 0.0;
            let mut waited = 0.0;
            // This shard's mean gradient, weighted by its share of the batch: the sum over
            // ranks is the mean gradient of the whole batch.
            let share = n as f32 / batch_len as f32;
            let mut step_tally = Tally::default();
            if n == 0 {
                // More ranks than rows in this batch: this rank adds nothing but still walks
                // the dropout stream and joins the all-reduce.
                let mlp = plain(&net)?;
                if dropout != nabla::Dropout::NONE {
                    mlp.skip_dropout_masks(dropout, &mut drop_rng, batch_len)?;
                }
                waited = reducer.backward_and_sum(mlp, None, &mut grads, share)?;
            } else {
                let (x, targets) = batch.fill(&train_set, chunk)?;
                let out = match (&net, &mut ws) {
                    (_, ws) if dropout == nabla::Dropout::NONE => net.forward(x, ws)?,
                    // Dropout is an Mlp's alone (the settings refuse it for residual nets).
                    (Network::Plain(mlp), NetworkWorkspace::Plain(ws)) => {
                        mlp.forward_train_rows(x, ws, dropout, &mut drop_rng, rows, batch_len)?
                    }
                    _ => return Err(unsupported("dropout", &net)),
                };
                step_tally.add(out, targets, &mut predicted);
                loss = net.output_loss(targets, loss_fn, &mut ws)?;
                if let (true, Network::Plain(mlp), NetworkWorkspace::Plain(ws)) = (step_in_backward, &mut net, &mut ws)
                {
                    // The weights change during the backward pass: a loss that is not finite
                    // must stop the run before it.
                    check_finite(loss, epoch, s + 1, &last_checkpoint)?;
                    let global_step = ((epoch - 1) * steps_per_epoch + s) as u64;
                    lr = config.schedule.lr(config.lr, global_step, total_steps, warmup_steps);
                    mlp.backward_update(x, ws, &mut grads, optimizer.begin_step(lr))?;
                } else if ranks == 1 {
                    net.backward(x, &mut ws, &mut grads)?;
                } else if let (Network::Plain(mlp), NetworkWorkspace::Plain(ws)) = (&net, &mut ws) {
                    waited = reducer.backward_and_sum(mlp, Some((x, ws)), &mut grads, share)?;
                } else {
                    return Err(unsupported("data-parallel training", &net));
                }
            }
            if ranks > 1 {
                stats[0] = loss * n as f64;
                stats[1] = f64::from(u8::from(stop_here));
                stats[2..].copy_from_slice(&step_tally.to_array());
                let started = Instant::now();
                reducer.sum_f64(&mut stats);
                waited += started.elapsed().as_secs_f64();
                loss = stats[0] / batch_len as f64;
                step_tally = Tally::from_array(&stats[2..]);
            }
            let computed = Instant::now();
            tally = tally.plus(&step_tally);
            if !step_in_backward {
                // The penalty depends on the weights alone, which every rank holds: added
                // once, after the reduction.
                loss += net.add_regularization(reg, &mut grads);
                check_finite(loss, epoch, s + 1, &last_checkpoint)?;
                let global_step = ((epoch - 1) * steps_per_epoch + s) as u64;
                lr = config.schedule.lr(config.lr, global_step, total_steps, warmup_steps);
                optimizer.step(net.params_mut(), &grads, lr);
            }
            profile.steps += 1;
            profile.compute += (computed - step_started).as_secs_f64() - waited;
            profile.reduce += waited;
            profile.update += computed.elapsed().as_secs_f64();
            loss_sum += loss * batch_len as f64;
            observer.on_step(&StepInfo { epoch, step: s + 1, steps: steps_per_epoch, loss, lr });
            if ranks > 1 && stats[1] > 0.0 {
                // Some rank was asked to stop: all stop together, after the same step.
                interrupted = true;
                break 'epochs;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let (val_loss, val) = data::score(&net, &eval_set, objective, 1000, reducer)?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / n_train.max(1) as f64,
            train: tally.scores(objective),
            val_loss,
            val,
            lr,
            seconds,
            samples_per_sec: n_train as f64 / seconds.max(1e-9),
        };
        observer.on_epoch(&metrics);
        epochs_completed = epoch;
        let score = if by_loss { -val_loss } else { val.headline() };
        let improved = score > best_score;
        if improved {
            best_score = score;
            since_best = 0;
            if config.patience > 0 {
                match &mut best_kept {
                    Some((e, params)) => {
                        *e = epoch;
                        params.copy_from_slice(net.params());
                    }
                    None => best_kept = Some((epoch, net.params().to_vec())),
                }
            }
        } else {
            since_best += 1;
        }
        let mut saved = serde_json::json!({
            "val_loss": val_loss, "eval_split": eval_split, "train_loss": metrics.train_loss,
        });
        saved[best_key] = best_score.into();
        for (key, value) in metrics.train.named("train").into_iter().chain(val.named("val")) {
            saved[key.replace('/', "_")] = value.into();
        }
        if improved {
            best_metrics.clone_from(&saved);
        }
        last_metrics.clone_from(&saved);
        if let Some(dir) = run.out_dir.filter(|_| rank == 0 && every_epoch) {
            let state = optimizer.state().iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect();
            let ckpt = checkpoint_of(&net, epoch, optimizer.steps(), state, saved);
            let last = save_in(dir, "last.safetensors", &ckpt)?;
            observer.on_checkpoint(&last, CheckpointKind::Last);
            last_checkpoint = Some(last);
            if improved {
                let best = save_in(dir, "best.safetensors", &ckpt)?;
                observer.on_checkpoint(&best, CheckpointKind::Best);
                best_checkpoint = Some(best);
            }
        }
        history.push(metrics);
        if config.patience > 0 && since_best >= config.patience && epoch < config.epochs {
            stopped_early = true;
            break;
        }
    }

    // With early stopping the result is the epoch with the lowest evaluation loss.
    let mut best_epoch = epochs_completed;
    let mut restored = false;
    if let Some((epoch, params)) = best_kept.filter(|_| config.patience > 0 && !interrupted) {
        net.params_mut().copy_from_slice(&params);
        best_epoch = epoch;
        restored = true;
    }
    if let Some(dir) = run.out_dir.filter(|_| rank == 0 && !every_epoch && epochs_completed >= first_epoch) {
        let metrics = if restored { best_metrics } else { last_metrics };
        let path = save_in(
            dir,
            "model.safetensors",
            &checkpoint_of(&net, best_epoch, optimizer.steps(), Vec::new(), metrics),
        )?;
        observer.on_checkpoint(&path, CheckpointKind::Last);
        last_checkpoint = Some(path);
    }
    let (test_loss, test) = data::score(&net, &test_set, objective, 1000, reducer)?;
    let optimizer_state = optimizer.state().iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect();
    Ok(TrainOutcome {
        network: net,
        epochs_completed,
        test_loss,
        test,
        best_epoch,
        stopped_early,
        last_checkpoint,
        best_checkpoint,
        interrupted,
        history,
        profile,
        optimizer_state,
        optimizer_steps: optimizer.steps(),
    })
}

/// Whether this CPU can train in `config.precision`: for bf16, an error naming the setting
/// and what the CPU lacks (AMX-BF16 or AVX512-BF16). Callers may check before loading data.
pub fn check_precision(config: &TrainConfig) -> Result<(), ConfigError> {
    nabla::gemm::MatmulKernel::for_precision(config.precision).map(|_| ()).map_err(|_| ConfigError {
        key: "precision",
        value: config.precision.to_string(),
        reason: format!(
            "this CPU has no bf16 matrix instructions, and bf16 training needs AMX-BF16 or AVX512-BF16 \
             ({}); train with --precision f32",
            nabla::gemm::bf16::capability()
        ),
    })
}

/// Saves `ckpt` as `dir/name`, making `dir` first; returns the path.
fn save_in(dir: &Path, name: &str, ckpt: &Checkpoint) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(dir).map_err(|error| CheckpointError::Io { path: dir.to_path_buf(), error })?;
    let path = dir.join(name);
    checkpoint::save(&path, ckpt)?;
    Ok(path)
}

/// A run's examples, cut into the parts the trainer uses, with what the network outputs and
/// how its inputs are made.
struct Parts<'a> {
    train: Examples<'a>,
    eval: Examples<'a>,
    eval_split: &'static str,
    test: Examples<'a>,
    objective: Objective,
    input: ModelInput,
}

impl<'a> Parts<'a> {
    fn of(data: TrainData<'a>, config: &TrainConfig) -> Result<Self, TrainError> {
        match data {
            TrainData::Images(split) => {
                // Without a validation split the sets are used where they are: a copy of
                // MNIST's training images is 47 MB.
                let (train, eval, eval_split): (Cow<'_, Dataset>, Cow<'_, Dataset>, _) = if config.val_split > 0.0 {
                    let (train, val) = split.train.split_validation(config.val_split, config.seed)?;
                    (Cow::Owned(train), Cow::Owned(val), "validation")
                } else {
                    (Cow::Borrowed(&split.train), Cow::Borrowed(&split.test), "test")
                };
                let (mean, std) = if config.standardize { train.pixel_mean_std() } else { (0.0, 1.0) };
                let input =
                    InputSpec { height: train.height, width: train.width, max_value: train.max_value, mean, std };
                let norm = if config.standardize {
                    Normalizer::standardized(input.max_value, mean, std)
                } else {
                    Normalizer::unit(input.max_value)
                };
                let objective = Objective::Classes(train.num_classes());
                Ok(Parts {
                    train: Examples::Images { set: train, norm: norm.clone() },
                    eval: Examples::Images { set: eval, norm: norm.clone() },
                    eval_split,
                    test: Examples::Images { set: Cow::Borrowed(&split.test), norm },
                    objective,
                    input: input.into(),
                })
            }
            TrainData::Table(table) => {
                let objective = match &table.preprocessor.target {
                    TargetSpec::Classes { names, .. } => Objective::Classes(names.len()),
                    TargetSpec::Value { std, .. } => Objective::Value { loss: config.loss, std: *std },
                };
                let (eval, eval_split) = match &table.val {
                    Some(val) => (Examples::Rows(val), "validation"),
                    None => (Examples::Rows(&table.test), "test"),
                };
                Ok(Parts {
                    train: Examples::Rows(&table.train),
                    eval,
                    eval_split,
                    test: Examples::Rows(&table.test),
                    objective,
                    input: ModelInput::Table(Box::new(table.preprocessor.clone())),
                })
            }
        }
    }
}

impl TrainData<'_> {
    /// The data set's name as checkpoints store it (`mnist`, not `mnist/train`).
    pub fn name(&self) -> String {
        match self {
            TrainData::Images(split) => split.train.name.split('/').next().unwrap_or_default().to_string(),
            TrainData::Table(table) => table.name.clone(),
        }
    }
}

/// One name per network output: the class names, or a regression's target column.
fn objective_names(data: TrainData<'_>) -> Vec<String> {
    match data {
        TrainData::Images(split) => split.train.classes.clone(),
        TrainData::Table(table) => match &table.preprocessor.target {
            TargetSpec::Classes { names, .. } => names.clone(),
            TargetSpec::Value { column, .. } => vec![column.clone()],
        },
    }
}
