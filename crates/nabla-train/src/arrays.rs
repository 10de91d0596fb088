//! Training on arrays in memory (NumPy's, through `nabla-py`'s scikit-learn estimators): a
//! feature matrix and a target vector become a [`TableSet`] through the same preprocessing a
//! table file gets (each column standardised on the training rows, a constant one left out),
//! the estimator's keywords become a [`TrainConfig`] over the table defaults, and the one
//! trainer runs on it. The result is a [`Checkpoint`], so a fitted estimator is a model file
//! that `nabla predict` and `nabla eval` read.
//!
//! Shapes: `x: [rows, columns]` row-major f32; targets `[rows]` (class indices or values).

use std::path::PathBuf;

use nabla_data::table::{
    Cells, Column, Encoded, FeatureSpec, PreprocessOptions, Preprocessor, Scale, Table, TableError, TargetSpec,
    Targets, Task,
};
use nabla_data::{shuffled_split, stratified_split};
use serde_json::{Map, Value};

use crate::checkpoint::{Checkpoint, ModelInput};
use crate::config::TrainConfig;
use crate::table_model::{Outputs, TableModelError};
use crate::train::{self, Observer, TableSet, TrainError, TrainOutcome, TrainRun};

/// What went wrong turning arrays and keywords into a trained model.
#[derive(Debug, thiserror::Error)]
pub enum ArrayError {
    /// The arrays do not fit together or hold what a model cannot learn from.
    #[error("{0}")]
    Input(String),
    /// A keyword is unknown or its value out of range; names the keyword.
    #[error("{key}={value}: {reason}")]
    Param {
        /// The estimator's keyword (`lr`, `validation_fraction`).
        key: String,
        /// Its value, as JSON.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The preprocessing refused the table the arrays make.
    #[error(transparent)]
    Table(#[from] TableError),
    /// Training failed (a diverged loss, an engine error).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Running the network failed.
    #[error(transparent)]
    Model(#[from] TableModelError),
    /// The engine refused a shape (a bug, not the caller's input).
    #[error(transparent)]
    Engine(#[from] nabla::Error),
}

/// A feature matrix: `x: [rows, columns.len()]`, row-major, with a name per column (a
/// DataFrame's column names, or `x0`, `x1`, …).
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// The values, row-major.
    pub x: &'a [f32],
    /// The column names, in order.
    pub columns: &'a [String],
}

impl Rows<'_> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.len() / self.columns.len().max(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the shape and that every value is finite; the error names the first bad value.
    fn check(&self) -> Result<(), ArrayError> {
        let cols = self.columns.len();
        if cols == 0 || !self.x.len().is_multiple_of(cols) {
            return Err(ArrayError::Input(format!("{} values are not whole rows of {cols} columns", self.x.len())));
        }
        if let Some(i) = self.x.iter().position(|v| !v.is_finite()) {
            let what = if self.x[i].is_nan() { "NaN" } else { "infinity" };
            return Err(ArrayError::Input(format!(
                "Input X contains {what} (row {}, column `{}`): fill or drop missing values first",
                i / cols,
                self.columns[i % cols]
            )));
        }
        Ok(())
    }

    /// The rows `select` (all when `None`) as a table, with `target` as an extra column.
    fn table(&self, select: Option<&[usize]>, target: Option<Column>) -> Table {
        let cols = self.columns.len();
        let all: Vec<usize>;
        let select = match select {
            Some(s) => s,
            None => {
                all = (0..self.len()).collect();
                &all
            }
        };
        let mut columns: Vec<Column> = self
            .columns
            .iter()
            .enumerate()
            .map(|(j, name)| Column {
                name: name.clone(),
                cells: Cells::Numbers(select.iter().map(|&i| f64::from(self.x[i * cols + j])).collect()),
            })
            .collect();
        columns.extend(target);
        Table { path: PathBuf::from("X"), columns, rows: select.len() }
    }
}

/// What the network learns for each row.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Class indices into `names` (every class the model knows, present in these rows or not).
    Classes {
        /// One index per row.
        labels: &'a [u32],
        /// The class names, by index.
        names: &'a [String],
    },
    /// A number per row, in its own units; `name` is the target column's name in a saved
    /// model (what `nabla eval` looks for).
    Values {
        /// One value per row.
        values: &'a [f64],
        /// The target's name.
        name: &'a str,
    },
}

impl Target<'_> {
    fn len(&self) -> usize {
        match self {
            Target::Classes { labels, .. } => labels.len(),
            Target::Values { values, .. } => values.len(),
        }
    }

    /// The task these targets stand for.
    pub fn task(&self) -> Task {
        match self {
            Target::Classes { .. } => Task::Classify,
            Target::Values { .. } => Task::Regress,
        }
    }

    fn check(&self, rows: usize) -> Result<(), ArrayError> {
        if self.len() != rows {
            return Err(ArrayError::Input(format!(
                "X has {rows} rows but y has {} values: they must be as many",
                self.len()
            )));
        }
        match self {
            Target::Classes { labels, names } => {
                if let Some(&l) = labels.iter().find(|&&l| l as usize >= names.len()) {
                    return Err(ArrayError::Input(format!("class index {l} of {} classes", names.len())));
                }
            }
            Target::Values { values, .. } => {
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(ArrayError::Input("Input y contains NaN or infinity".into()));
                }
            }
        }
        Ok(())
    }
}

/// The estimator keywords that map onto a [`TrainConfig`] key of the same meaning, with the
/// config's (TOML) name.
const CONFIG_KEYS: [(&str, &str); 14] = [
    ("hidden", "hidden"),
    ("activation", "activation"),
    ("init", "init"),
    ("optimizer", "optimizer"),
    ("lr", "lr"),
    ("schedule", "schedule"),
    ("batch_size", "batch-size"),
    ("epochs", "epochs"),
    ("dropout", "dropout"),
    ("l2", "l2"),
    ("weight_decay", "weight-decay"),
    ("seed", "seed"),
    ("threads", "threads"),
    ("loss", "loss"),
];

/// The settings an estimator's keywords ask for on `rows` rows learnt as `task`: the table
/// defaults ([`TrainConfig::for_table`]) with every keyword that is not `null` put over them.
///
/// `early_stopping`: `null` keeps the table default (on for a small table); `false` trains
/// every epoch on every row; `true` holds out `validation_fraction` of the rows (default 0.1)
/// and stops after `patience` epochs (default 10) without a lower validation loss, keeping
/// the best epoch's weights. An unknown keyword or a value out of range is an error naming it.
pub fn estimator_config(params: &Map<String, Value>, rows: usize, task: Task) -> Result<TrainConfig, ArrayError> {
    estimator_config_over(params, TrainConfig::for_table(rows, task))
}

/// The settings the keywords ask for over `base` (the table defaults, or a fitted model's
/// stored settings when it trains on), as [`estimator_config`] describes.
pub fn estimator_config_over(params: &Map<String, Value>, base: TrainConfig) -> Result<TrainConfig, ArrayError> {
    let mut json = serde_json::to_value(&base).expect("a config always serialises");
    let bad = |key: &str, value: &Value, reason: String| ArrayError::Param {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    };
    for (key, value) in params {
        if value.is_null() || matches!(key.as_str(), "early_stopping" | "patience" | "validation_fraction" | "scale") {
            continue;
        }
        let Some((_, config_key)) = CONFIG_KEYS.iter().find(|(k, _)| k == key) else {
            let known: Vec<&str> = CONFIG_KEYS.iter().map(|(k, _)| *k).collect();
            return Err(bad(
                key,
                value,
                format!(
                    "unknown keyword (known: {}, early_stopping, patience, validation_fraction, scale)",
                    known.join(", ")
                ),
            ));
        };
        // Tried alone first, so that a wrong type is reported against its own keyword.
        let mut one = json.clone();
        one[*config_key] = value.clone();
        serde_json::from_value::<TrainConfig>(one).map_err(|e| bad(key, value, e.to_string()))?;
        json[*config_key] = value.clone();
    }
    let mut config: TrainConfig = serde_json::from_value(json).map_err(|e| ArrayError::Input(e.to_string()))?;
    let get = |key: &str| params.get(key).filter(|v| !v.is_null());
    let early = match get("early_stopping") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => return Err(bad("early_stopping", other, "must be True, False or None".into())),
    };
    let patience = match get("patience") {
        None => None,
        Some(v) => {
            Some(v.as_u64().filter(|&p| p > 0).ok_or_else(|| bad("patience", v, "must be a whole number ≥ 1".into()))?)
        }
    };
    let fraction = match get("validation_fraction") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|f| *f > 0.0 && *f < 1.0)
                .ok_or_else(|| bad("validation_fraction", v, "must be in (0, 1)".into()))?,
        ),
    };
    match early {
        Some(false) => {
            config.patience = 0;
            config.val_split = 0.0;
        }
        Some(true) => {
            config.patience = patience.map_or(if base.patience > 0 { base.patience } else { 10 }, |p| p as usize);
            config.val_split = fraction.unwrap_or(if base.val_split > 0.0 { base.val_split } else { 0.1 });
        }
        None => {
            if let Some(p) = patience {
                config.patience = p as usize;
            }
            if let Some(f) = fraction {
                config.val_split = f;
            }
            if config.patience == 0 {
                // Nothing to stop early on: every row trains.
                config.val_split = 0.0;
            }
        }
    }
    config.validate().map_err(|e| {
        let key = CONFIG_KEYS.iter().find(|(_, c)| *c == e.key).map_or(e.key, |(k, _)| k);
        ArrayError::Param { key: key.to_string(), value: e.value.clone(), reason: e.reason.clone() }
    })?;
    Ok(config)
}

/// The estimator's `scale` keyword: `standard` (also for `null`), `minmax` or `none`; another
/// value is an error naming the keyword.
pub fn estimator_scale(params: &Map<String, Value>) -> Result<Scale, ArrayError> {
    match params.get("scale") {
        None | Some(Value::Null) => Ok(Scale::Standard),
        Some(Value::String(s)) => s.parse().map_err(|reason| ArrayError::Param {
            key: "scale".into(),
            value: Value::String(s.clone()).to_string(),
            reason,
        }),
        Some(other) => Err(ArrayError::Param {
            key: "scale".into(),
            value: other.to_string(),
            reason: format!("must be one of {}", Scale::NAMES),
        }),
    }
}

/// The training set for `x` and `y`: `val_split` of the rows held out for validation
/// (stratified by class for a classification, from `seed`), the preprocessing fitted on the
/// training rows (numeric columns scaled as `scale` says), and every part encoded with it.
/// There is no test part.
pub fn fit_set(x: Rows<'_>, y: Target<'_>, val_split: f64, seed: u64, scale: Scale) -> Result<TableSet, ArrayError> {
    x.check()?;
    let rows = x.len();
    y.check(rows)?;
    if rows < 2 {
        return Err(ArrayError::Input(format!(
            "n_samples={rows}: fitting needs at least 2 samples, got {rows} sample{}",
            if rows == 1 { "" } else { "s" }
        )));
    }
    // The validation draw uses its own stream of the seed, as `nabla train TABLE` does.
    let seed = seed ^ 0x9e37_79b9_7f4a_7c15;
    let (train_rows, val_rows) = if val_split > 0.0 {
        match y {
            Target::Classes { labels, names } => stratified_split(labels, names.len(), val_split, seed),
            Target::Values { .. } => shuffled_split(rows, val_split, seed),
        }
    } else {
        ((0..rows).collect(), Vec::new())
    };
    if train_rows.len() < 2 || (val_split > 0.0 && val_rows.is_empty()) {
        return Err(ArrayError::Input(format!(
            "validation_fraction={val_split} of {rows} rows leaves {} to train on and {} to validate on: \
             give more rows, another validation_fraction, or early_stopping=False",
            train_rows.len(),
            val_rows.len()
        )));
    }
    // `Preprocessor::fit` fits a target column too. A regression's is `y` itself (its mean and
    // deviation); a classification's classes are given (all of them, including any these rows
    // lack, as `partial_fit(classes=…)` needs), so the row numbers stand in and are replaced.
    let target_name = target_column(x.columns, &y);
    let fit_target = |select: &[usize]| Column {
        name: target_name.clone(),
        cells: Cells::Numbers(match y {
            Target::Values { values, .. } => select.iter().map(|&i| values[i]).collect(),
            Target::Classes { .. } => (0..select.len()).map(|i| i as f64).collect(),
        }),
    };
    let target_spec = match y {
        Target::Classes { names, .. } => TargetSpec::Classes { column: target_name.clone(), names: names.to_vec() },
        Target::Values { .. } => {
            let column = fit_target(&train_rows);
            let table = Table { path: PathBuf::from("y"), rows: train_rows.len(), columns: vec![column] };
            TargetSpec::fit(&table, &target_name, Task::Regress)?
        }
    };
    let pre = match fitted(x, &train_rows, target_spec, scale) {
        Some(pre) => pre,
        None => {
            // No column varies: the table preprocessing says so, in its words.
            let train_table = x.table(Some(&train_rows), Some(fit_target(&train_rows)));
            let options = PreprocessOptions { scale, ..PreprocessOptions::default() };
            let (mut pre, _) = Preprocessor::fit(&train_table, &target_name, Task::Regress, &options)?;
            if let Target::Classes { names, .. } = y {
                pre.target = TargetSpec::Classes { column: target_name.clone(), names: names.to_vec() };
            }
            pre
        }
    };
    let train = encode_part(&pre, x, y, &train_rows)?;
    let val = if val_rows.is_empty() { None } else { Some(encode_part(&pre, x, y, &val_rows)?) };
    let test = Encoded { x: Vec::new(), rows: 0, features: pre.width(), targets: Some(empty_targets(&y)) };
    Ok(TableSet { name: "arrays".into(), preprocessor: pre, train, val, test })
}

/// The training set for more training of a fitted model (`partial_fit`): every row of `x`
/// and `y`, encoded with the model's preprocessing as it is.
pub fn more_set(pre: &Preprocessor, x: Rows<'_>, y: Target<'_>) -> Result<TableSet, ArrayError> {
    x.check()?;
    y.check(x.len())?;
    let all: Vec<usize> = (0..x.len()).collect();
    let train = encode_part(pre, x, y, &all)?;
    let test = Encoded { x: Vec::new(), rows: 0, features: pre.width(), targets: Some(empty_targets(&y)) };
    Ok(TableSet { name: "arrays".into(), preprocessor: pre.clone(), train, val: None, test })
}

/// A target column name that is not one of the features': `y`, or a name given with the
/// values, with `_` added until it is free.
fn target_column(columns: &[String], y: &Target<'_>) -> String {
    let mut name = match y {
        Target::Values { name, .. } if !name.is_empty() => name.to_string(),
        _ => "y".to_string(),
    };
    while columns.contains(&name) {
        name.push('_');
    }
    name
}

fn empty_targets(y: &Target<'_>) -> Targets {
    match y {
        Target::Classes { .. } => Targets::Classes(Vec::new()),
        Target::Values { .. } => Targets::Values(Vec::new()),
    }
}

/// The preprocessing [`Preprocessor::fit`] fits on the rows `select` of `x` (each column
/// scaled as `scale` says, with its mean and population deviation or its extremes, a constant
/// column left out), computed on `x` in place, row by row, instead of through a table of f64
/// columns (twice the size of `x`, and read across the rows). The sums run in row order, as
/// `Preprocessor::fit` sums a column, so the numbers are the same to the bit. `None` when no
/// column varies.
fn fitted(x: Rows<'_>, select: &[usize], target: TargetSpec, scale: Scale) -> Option<Preprocessor> {
    let cols = x.columns.len();
    let row = |i: usize| &x.x[i * cols..(i + 1) * cols];
    let mut sum = vec![0f64; cols];
    for &i in select {
        sum.iter_mut().zip(row(i)).for_each(|(s, &v)| *s += f64::from(v));
    }
    let n = select.len() as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let mut squares = vec![0f64; cols];
    for &i in select {
        squares
            .iter_mut()
            .zip(row(i))
            .zip(&mean)
            .for_each(|((q, &v), m)| *q += (f64::from(v) - m) * (f64::from(v) - m));
    }
    let (mut min, mut max) = (vec![f64::INFINITY; cols], vec![f64::NEG_INFINITY; cols]);
    if scale == Scale::MinMax {
        for &i in select {
            for ((lo, hi), &v) in min.iter_mut().zip(max.iter_mut()).zip(row(i)) {
                *lo = lo.min(f64::from(v));
                *hi = hi.max(f64::from(v));
            }
        }
    }
    let (mut features, mut ignored) = (Vec::new(), Vec::new());
    for (j, ((name, mean), q)) in x.columns.iter().zip(mean).zip(squares).enumerate() {
        let std = (q / n).sqrt();
        if select.len() > 1 && std > 0.0 {
            let (mean, std) = match scale {
                Scale::Standard => (mean, std),
                Scale::MinMax => (min[j], max[j] - min[j]),
                Scale::None => (0.0, 1.0),
            };
            features.push(FeatureSpec::Numeric { column: name.clone(), mean, std, fill: None });
        } else {
            ignored.push(name.clone());
        }
    }
    let options = PreprocessOptions::default();
    (!features.is_empty()).then_some(Preprocessor {
        features,
        target,
        ignored,
        impute: options.impute,
        unknown: options.unknown,
        scale,
    })
}

/// The rows `select` of `x` (all when `None`) through `pre`'s scaling, read in place:
/// `[rows, pre.width()]`, what [`Preprocessor::transform`] makes of their table. `None` when
/// `pre` is not `x`'s to apply directly (a category column, a column `x` lacks or one `pre`
/// does not know): the table path then encodes or names the mismatch.
fn scaled_rows(pre: &Preprocessor, x: Rows<'_>, select: Option<&[usize]>) -> Option<Vec<f32>> {
    let known = |name: &String| {
        name == pre.target.column() || pre.ignored.contains(name) || pre.features.iter().any(|f| f.column() == name)
    };
    if !x.columns.iter().all(known) {
        return None;
    }
    let mut scale = Vec::with_capacity(pre.features.len());
    for f in &pre.features {
        match f {
            FeatureSpec::Numeric { column, mean, std, .. } => {
                scale.push((x.columns.iter().position(|c| c == column)?, *mean, *std));
            }
            FeatureSpec::OneHot { .. } => return None,
        }
    }
    let cols = x.columns.len();
    let rows = select.map_or(x.len(), <[usize]>::len);
    let mut out = Vec::with_capacity(rows * scale.len());
    let how = pre.scale;
    let mut encode = |i: usize| {
        let row = &x.x[i * cols..(i + 1) * cols];
        out.extend(scale.iter().map(|&(j, mean, std)| how.apply(f64::from(row[j]), mean, std)));
    };
    match select {
        Some(select) => select.iter().for_each(|&i| encode(i)),
        None => (0..rows).for_each(&mut encode),
    }
    Some(out)
}

/// `x`'s rows `select` (all when `None`) as `pre`'s inputs, without targets.
fn encode_inputs(pre: &Preprocessor, x: Rows<'_>, select: Option<&[usize]>) -> Result<Encoded, ArrayError> {
    match scaled_rows(pre, x, select) {
        Some(inputs) => {
            let rows = select.map_or(x.len(), <[usize]>::len);
            Ok(Encoded { x: inputs, rows, features: pre.width(), targets: None })
        }
        None => Ok(pre.transform(&x.table(select, None))?),
    }
}

/// The rows `select` of `x` and `y` through `pre`: standardised inputs and the targets
/// (class indices, or the value standardised with the target's training scale).
fn encode_part(pre: &Preprocessor, x: Rows<'_>, y: Target<'_>, select: &[usize]) -> Result<Encoded, ArrayError> {
    let mut encoded = encode_inputs(pre, x, Some(select))?;
    encoded.targets = Some(match y {
        Target::Classes { labels, .. } => Targets::Classes(select.iter().map(|&i| labels[i]).collect()),
        Target::Values { values, .. } => {
            let column = Column {
                name: pre.target.column().to_string(),
                cells: Cells::Numbers(select.iter().map(|&i| values[i]).collect()),
            };
            pre.target.encode(&Table { path: PathBuf::from("y"), rows: select.len(), columns: vec![column] })?
        }
    });
    Ok(encoded)
}

/// Trains on `set` with `config`, from `resume` when given (its epochs continue), reporting to
/// `observer` ([`Silent`](crate::train::Silent) for none), until done or `stop` is set (checked
/// between steps); returns the model as a checkpoint (with the optimiser's state, to train on)
/// and the trainer's outcome (its per-epoch history).
pub fn train_set(
    config: &TrainConfig,
    set: &TableSet,
    resume: Option<Checkpoint>,
    stop: Option<&std::sync::atomic::AtomicBool>,
    observer: &mut dyn Observer,
) -> Result<(Checkpoint, TrainOutcome), ArrayError> {
    let names = match &set.preprocessor.target {
        nabla_data::table::TargetSpec::Classes { names, .. } => names.clone(),
        nabla_data::table::TargetSpec::Value { column, .. } => vec![column.clone()],
    };
    nabla::pool::set_threads(config.threads);
    let run = TrainRun { config, data: set.into(), out_dir: None, resume, stop };
    let outcome = train::train(run, observer)?;
    let mut ckpt = Checkpoint::new(
        outcome.network.clone(),
        set.name.clone(),
        names,
        ModelInput::Table(Box::new(set.preprocessor.clone())),
    );
    ckpt.config = config.to_json();
    ckpt.epoch = outcome.epochs_completed;
    ckpt.step = outcome.optimizer_steps;
    ckpt.optimizer.clone_from(&outcome.optimizer_state);
    Ok((ckpt, outcome))
}

/// Rows per forward pass when predicting: every pass is this many rows, the last one padded.
pub const PREDICT_ROWS: usize = 256;

/// The network's outputs for the rows of `x` (`[rows, outputs]`: logits, or the standardised
/// value), `x` encoded by the model's preprocessing with `x.columns` as the column names.
///
/// A row's outputs are the same bits whatever rows come with it: the GEMM chooses its kernel
/// by the size of the product (a few rows take the plain loops), so every pass runs a full
/// [`PREDICT_ROWS`] rows, the last one padded with zeros. scikit-learn's checks hold an
/// estimator to that (predicting a subset gives what predicting the whole gave).
pub fn outputs(ckpt: &Checkpoint, x: Rows<'_>) -> Result<Outputs, ArrayError> {
    x.check()?;
    let pre = ckpt.table().ok_or_else(|| ArrayError::Input("the model is an image model, not a table's".into()))?;
    let encoded = encode_inputs(pre, x, None)?;
    let (features, width) = (encoded.features, ckpt.spec().outputs());
    let mut values = Vec::with_capacity(encoded.rows * width);
    let mut runner = crate::quantize::Runner::f32(&ckpt.network, PREDICT_ROWS);
    let mut padded = vec![0f32; PREDICT_ROWS * features];
    for chunk in encoded.x.chunks(PREDICT_ROWS * features) {
        padded[..chunk.len()].copy_from_slice(chunk);
        padded[chunk.len()..].fill(0.0);
        let out = runner.forward(nabla::MatRef::new(&padded, PREDICT_ROWS, features)?)?;
        for i in 0..chunk.len() / features {
            values.extend_from_slice(out.row(i));
        }
    }
    Ok(Outputs { values, rows: encoded.rows, width })
}

#[cfg(test)]
mod tests;
