//! From a table to the numbers a network takes: the [`Preprocessor`], fitted on the training
//! split alone and stored with the model, so that prediction on new rows needs nothing else.
//!
//! - a numeric column is standardised: `(v − mean) / std`, with the training split's mean and
//!   population standard deviation (as scikit-learn's `StandardScaler`), clipped to ±[`Z_LIMIT`];
//!   or, as [`Scale`] chooses, mapped onto `[0, 1]` by the training minimum and maximum, or
//!   left as given;
//! - a text column is one-hot encoded over the categories seen in training, in sorted order; a
//!   category never seen is an error naming column and value, or all zeros with
//!   [`Unknown::Ignore`];
//! - a missing value is an error naming column and row, unless [`Impute`] says what to put
//!   there (numbers: the training mean, median or zero; text: all zeros);
//! - a column with one value in training carries nothing and is dropped, with a warning;
//! - the target becomes class indices (names kept as written, sorted: numerically for numbers)
//!   or, for a regression, the standardised value, reported back in its own units.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{printable, Cells, Column, Place, Table, TableError, Task};

mod options;
pub use options::{Impute, PreprocessOptions, Scale, Unknown};

/// The largest standardised value a feature takes, either way: a value further than this
/// many training deviations from the training mean is clipped to it.
///
/// For a column of ordinary spread this never acts (a normal variable passes 5σ once in
/// 1.7 million draws). It matters for a column that is almost always one value: an MNIST
/// border pixel that has ink in 20 of 60,000 images has a deviation of about 5 (of 255), so
/// that ink would standardise to about 50, and one such input can swing a logit far enough
/// to make a confident mistake. Clipped, MNIST written as a table trains as the images do
/// (97.95 % → 98.29 %), and breast_cancer's 5-fold accuracy goes from 0.979 to 0.984 (the
/// other UCI tables are unchanged; docs/RECIPES.md).
pub const Z_LIMIT: f64 = 5.0;

/// How one column becomes input features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureSpec {
    /// One numeric input: `(v − mean) / std`, as the preprocessing's [`Scale`] says.
    Numeric {
        /// The column.
        column: String,
        /// The value subtracted: the training mean ([`Scale::Standard`]), the training
        /// minimum ([`Scale::MinMax`]) or 0 ([`Scale::None`]).
        mean: f64,
        /// The divisor: the training standard deviation (population), the training range
        /// (max − min), or 1.
        std: f64,
        /// The value that stands in for a missing one (in the column's units), if imputing.
        fill: Option<f64>,
    },
    /// One input per category: 1 for the row's category, 0 for the others.
    OneHot {
        /// The column.
        column: String,
        /// The categories seen in training, sorted.
        categories: Vec<String>,
    },
}

impl FeatureSpec {
    /// The column this feature is read from.
    pub fn column(&self) -> &str {
        match self {
            FeatureSpec::Numeric { column, .. } | FeatureSpec::OneHot { column, .. } => column,
        }
    }

    /// How many inputs it makes.
    pub fn width(&self) -> usize {
        match self {
            FeatureSpec::Numeric { .. } => 1,
            FeatureSpec::OneHot { categories, .. } => categories.len(),
        }
    }
}

/// How the target column becomes what the loss compares with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetSpec {
    /// Class indices into `names`.
    Classes {
        /// The target column.
        column: String,
        /// The class names as written in the table, sorted (numerically when they are numbers).
        names: Vec<String>,
    },
    /// A number, standardised for training and reported in its own units.
    Value {
        /// The target column.
        column: String,
        /// The training mean.
        mean: f64,
        /// The training standard deviation.
        std: f64,
    },
}

impl TargetSpec {
    /// The target column's name.
    pub fn column(&self) -> &str {
        match self {
            TargetSpec::Classes { column, .. } | TargetSpec::Value { column, .. } => column,
        }
    }

    /// The task it stands for.
    pub fn task(&self) -> Task {
        match self {
            TargetSpec::Classes { .. } => Task::Classify,
            TargetSpec::Value { .. } => Task::Regress,
        }
    }

    /// A standardised prediction back in the target's units.
    pub fn unscale(&self, z: f64) -> f64 {
        match self {
            TargetSpec::Value { mean, std, .. } => z * std + mean,
            TargetSpec::Classes { .. } => z,
        }
    }
}

/// Everything needed to turn a table with the training file's columns into network inputs and
/// targets: fitted on the training split, serialisable into a checkpoint's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// The features, in input order.
    pub features: Vec<FeatureSpec>,
    /// The target.
    pub target: TargetSpec,
    /// Columns of the training file that are not inputs (dropped by the user, or constant):
    /// a file to predict on may still have them.
    pub ignored: Vec<String>,
    /// Missing-value filling, as fitted.
    pub impute: Option<Impute>,
    /// Unseen categories.
    pub unknown: Unknown,
    /// How the numeric features are scaled (absent from a model written before the choice
    /// existed: standardised).
    #[serde(default, skip_serializing_if = "Scale::is_standard")]
    pub scale: Scale,
}

/// A table turned into numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// `[rows, features]` inputs, row-major.
    pub x: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Inputs per row.
    pub features: usize,
    /// The targets, when the table has the target column: class indices for a classification,
    /// standardised values for a regression.
    pub targets: Option<Targets>,
}

/// Encoded targets.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class indices.
    Classes(Vec<u32>),
    /// Standardised values.
    Values(Vec<f32>),
}

impl Preprocessor {
    /// Fits the preprocessing on `train` (the training split only), predicting `target` as
    /// `task`. Returns it and the warnings a person should see (dropped constant columns).
    pub fn fit(
        train: &Table,
        target: &str,
        task: Task,
        options: &PreprocessOptions,
    ) -> Result<(Preprocessor, Vec<String>), TableError> {
        let target_column = train.column(target).ok_or_else(|| train.no_such_column(target, "--target"))?;
        let target_spec = fit_target(train, target_column, task)?;
        let mut features = Vec::new();
        let mut ignored = Vec::new();
        let mut warnings = Vec::new();
        for column in &train.columns {
            if column.name == target {
                continue;
            }
            if options.impute.is_none() {
                if let Some(row) = (0..column.cells.len()).find(|&i| column.cells.is_missing(i)) {
                    return Err(missing_error(train, row, &column.name));
                }
            }
            let spec = match &column.cells {
                Cells::Numbers(values) => {
                    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
                    let (mean, std) = mean_std(&present);
                    let (shift, divisor) = match options.scale {
                        Scale::Standard => (mean, std),
                        Scale::MinMax => min_range(&present),
                        Scale::None => (0.0, 1.0),
                    };
                    let fill = options.impute.map(|how| match how {
                        Impute::Mean => mean,
                        Impute::Median => median(&present),
                        Impute::Zero => 0.0,
                    });
                    (present.len() > 1 && std > 0.0).then(|| FeatureSpec::Numeric {
                        column: column.name.clone(),
                        mean: shift,
                        std: divisor,
                        fill,
                    })
                }
                Cells::Text(values) => {
                    let mut categories: Vec<String> = values.iter().flatten().cloned().collect();
                    categories.sort();
                    categories.dedup();
                    (categories.len() > 1).then(|| FeatureSpec::OneHot { column: column.name.clone(), categories })
                }
            };
            match spec {
                Some(spec) => features.push(spec),
                None => {
                    warnings.push(format!(
                        "column `{}` has a single value in the training split and is left out",
                        printable(&column.name)
                    ));
                    ignored.push(column.name.clone());
                }
            }
        }
        if features.is_empty() {
            return Err(TableError::unusable(&train.path, Place::default(), "no feature column is left to learn from"));
        }
        let pre = Preprocessor {
            features,
            target: target_spec,
            ignored,
            impute: options.impute,
            unknown: options.unknown,
            scale: options.scale,
        };
        Ok((pre, warnings))
    }

    /// Inputs per row.
    pub fn width(&self) -> usize {
        self.features.iter().map(FeatureSpec::width).sum()
    }

    /// The name of each input: the column, or `column=category` for a one-hot input.
    pub fn input_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for f in &self.features {
            match f {
                FeatureSpec::Numeric { column, .. } => names.push(column.clone()),
                FeatureSpec::OneHot { column, categories } => {
                    names.extend(categories.iter().map(|c| format!("{column}={c}")))
                }
            }
        }
        names
    }

    /// The class names, for a classification.
    pub fn classes(&self) -> Option<&[String]> {
        match &self.target {
            TargetSpec::Classes { names, .. } => Some(names),
            TargetSpec::Value { .. } => None,
        }
    }

    /// Checks that `table` has the columns this preprocessing reads, and no others (the target
    /// and the ignored columns may be there or not): an error names what is missing or extra.
    pub fn check_columns(&self, table: &Table) -> Result<(), TableError> {
        let missing: Vec<String> = self
            .features
            .iter()
            .map(FeatureSpec::column)
            .filter(|c| table.column(c).is_none())
            .map(printable)
            .collect();
        let known = |name: &str| {
            name == self.target.column()
                || self.ignored.iter().any(|c| c == name)
                || self.features.iter().any(|f| f.column() == name)
        };
        let extra: Vec<String> =
            table.columns.iter().map(|c| c.name.as_str()).filter(|c| !known(c)).map(printable).collect();
        if missing.is_empty() && extra.is_empty() {
            return Ok(());
        }
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing column(s) {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            parts.push(format!("column(s) the model was not trained on: {}", extra.join(", ")));
        }
        Err(TableError::unusable(
            &table.path,
            Place::default(),
            format!("the columns do not match the model's: {}", parts.join("; ")),
        ))
    }

    /// Turns `table` into inputs and, when it has the target column, targets.
    pub fn transform(&self, table: &Table) -> Result<Encoded, TableError> {
        self.check_columns(table)?;
        let width = self.width();
        let rows = table.rows;
        let mut x = vec![0f32; rows * width];
        let mut offset = 0;
        for spec in &self.features {
            let column = table.column(spec.column()).expect("check_columns found every feature column");
            match (spec, &column.cells) {
                (FeatureSpec::Numeric { mean, std, fill, .. }, Cells::Numbers(values)) => {
                    for (i, &v) in values.iter().enumerate() {
                        let v = if v.is_nan() { fill.ok_or_else(|| missing_error(table, i, &column.name))? } else { v };
                        x[i * width + offset] = self.scale.apply(v, *mean, *std);
                    }
                }
                (FeatureSpec::OneHot { categories, .. }, cells) => {
                    // A category column may come back as numbers (every value in this file looks
                    // like one): its cells are matched by their text either way.
                    for i in 0..rows {
                        let Some(v) = cell_text(cells, i) else {
                            if self.impute.is_none() {
                                return Err(missing_error(table, i, &column.name));
                            }
                            continue;
                        };
                        match categories.binary_search_by(|c| c.as_str().cmp(&v)) {
                            Ok(k) => x[i * width + offset + k] = 1.0,
                            Err(_) if self.unknown == Unknown::Ignore => {}
                            Err(_) => {
                                return Err(TableError::unusable(
                                    &table.path,
                                    Place::row_cell(i as u64 + 1, &column.name),
                                    format!(
                                        "category `{}` was not in the training data (known: {}; --unknown ignore encodes it as all zeros{})",
                                        printable(&v),
                                        list_some(categories),
                                        if categories.len() > 20 {
                                            format!(
                                                "; with {} categories, is `{}` an identifier? --drop {} leaves it out",
                                                categories.len(),
                                                printable(&column.name),
                                                printable(&column.name)
                                            )
                                        } else {
                                            String::new()
                                        }
                                    ),
                                ))
                            }
                        }
                    }
                }
                (FeatureSpec::Numeric { .. }, Cells::Text(_)) => {
                    return Err(TableError::unusable(
                        &table.path,
                        Place::column(&column.name),
                        "the column holds text here but numbers in the training data",
                    ))
                }
            }
            offset += spec.width();
        }
        let targets = match table.column(self.target.column()) {
            Some(column) => Some(self.target.encode_column(table, column)?),
            None => None,
        };
        Ok(Encoded { x, rows, features: width, targets })
    }
}

impl TargetSpec {
    /// Fits the target alone on `table` (class names, or the mean and deviation of a value):
    /// what a split stratified by class needs before the features are fitted.
    pub fn fit(table: &Table, target: &str, task: Task) -> Result<TargetSpec, TableError> {
        let column = table.column(target).ok_or_else(|| table.no_such_column(target, "--target"))?;
        fit_target(table, column, task)
    }

    /// The target column of `table`, encoded: class indices, or standardised values.
    pub fn encode(&self, table: &Table) -> Result<Targets, TableError> {
        let column = table.column(self.column()).ok_or_else(|| table.no_such_column(self.column(), "target"))?;
        self.encode_column(table, column)
    }

    fn encode_column(&self, table: &Table, column: &Column) -> Result<Targets, TableError> {
        if let Some(row) = (0..column.cells.len()).find(|&i| column.cells.is_missing(i)) {
            return Err(TableError::unusable(
                &table.path,
                Place::row_cell(row as u64 + 1, &column.name),
                "the target is missing (rows without a target cannot be learnt from or scored)",
            ));
        }
        match self {
            TargetSpec::Classes { names, .. } => {
                let mut out = Vec::with_capacity(column.cells.len());
                for i in 0..column.cells.len() {
                    let name = cell_text(&column.cells, i).unwrap_or_default();
                    let k = names.iter().position(|n| n.as_str() == name.as_ref()).ok_or_else(|| {
                        TableError::unusable(
                            &table.path,
                            Place::row_cell(i as u64 + 1, &column.name),
                            format!(
                                "class `{}` was not in the training data (known: {})",
                                printable(&name),
                                list_some(names)
                            ),
                        )
                    })?;
                    out.push(k as u32);
                }
                Ok(Targets::Classes(out))
            }
            TargetSpec::Value { mean, std, .. } => match &column.cells {
                Cells::Numbers(values) => {
                    Ok(Targets::Values(values.iter().map(|v| ((v - mean) / std) as f32).collect()))
                }
                Cells::Text(_) => Err(TableError::unusable(
                    &table.path,
                    Place::column(&column.name),
                    "a regression target must be numbers, and this column holds text",
                )),
            },
        }
    }
}

/// A cell as text (`None` when missing): text as written, a number without a needless `.0`.
fn cell_text(cells: &Cells, i: usize) -> Option<Cow<'_, str>> {
    match cells {
        Cells::Numbers(v) => (!v[i].is_nan()).then(|| Cow::Owned(format_number(v[i]))),
        Cells::Text(v) => v[i].as_deref().map(Cow::Borrowed),
    }
}

/// A number as a class name: whole numbers without a decimal point.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn fit_target(train: &Table, column: &Column, task: Task) -> Result<TargetSpec, TableError> {
    if let Some(row) = (0..column.cells.len()).find(|&i| column.cells.is_missing(i)) {
        return Err(TableError::unusable(
            &train.path,
            Place::row_cell(row as u64 + 1, &column.name),
            "the target is missing (rows without a target cannot be learnt from)",
        ));
    }
    match task {
        Task::Classify => {
            let names: Vec<String> = match &column.cells {
                Cells::Numbers(values) => {
                    let mut v = values.clone();
                    v.sort_by(f64::total_cmp);
                    v.dedup();
                    v.into_iter().map(format_number).collect()
                }
                Cells::Text(values) => {
                    let mut v: Vec<String> = values.iter().flatten().cloned().collect();
                    v.sort();
                    v.dedup();
                    v
                }
            };
            if names.len() < 2 {
                return Err(TableError::unusable(
                    &train.path,
                    Place::column(&column.name),
                    format!(
                        "the target has a single class, `{}`: there is nothing to tell apart",
                        printable(names.first().map_or("", String::as_str))
                    ),
                ));
            }
            Ok(TargetSpec::Classes { column: column.name.clone(), names })
        }
        Task::Regress => match &column.cells {
            Cells::Numbers(values) => {
                let (mean, std) = mean_std(values);
                if std.is_nan() || std == 0.0 {
                    return Err(TableError::unusable(
                        &train.path,
                        Place::column(&column.name),
                        "the target has one value throughout: there is nothing to regress",
                    ));
                }
                Ok(TargetSpec::Value { column: column.name.clone(), mean, std })
            }
            Cells::Text(_) => Err(TableError::unusable(
                &train.path,
                Place::column(&column.name),
                "a regression target must be numbers, and this column holds text (--task classify?)",
            )),
        },
    }
}

fn missing_error(table: &Table, row: usize, column: &str) -> TableError {
    TableError::unusable(
        &table.path,
        Place::row_cell(row as u64 + 1, column),
        "missing value (fill missing values with --impute mean|median|zero, or leave the column out with --drop)",
    )
}

/// The minimum and the range (max − min) of `values` (not empty).
pub(crate) fn min_range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max - min)
}

/// Mean and population standard deviation, in f64, two passes.
fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Up to ten names, for a message.
fn list_some(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(10).map(|n| printable(n)).collect();
    if names.len() > 10 {
        format!("{}, … ({} in all)", shown.join(", "), names.len())
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests;
