//! Table models at work: a table's encoded rows through the network in batches, what the
//! outputs predict (a class with its softmax probabilities, or a value in the target's own
//! units), and how good they are against the table's targets (accuracy, cross-entropy,
//! per-class scores, the confusion matrix and, for two classes, ROC AUC; or RMSE, MAE and R²).
//!
//! Shapes: `x: [rows, features]` → outputs `[rows, outputs]`, both row-major. The rows come
//! from [`Preprocessor::transform`]; the model is a [`Runner`] (f32 or quantised).

use std::fmt::Write as _;

use nabla::loss::argmax_rows;
use nabla::softmax::softmax_in_place;
use nabla::{Loss, MatRef};
use nabla_data::table::{Preprocessor, TargetSpec, Targets};

use crate::metrics::{regression_scores, roc_auc, ConfusionMatrix, RegressionScores};
use crate::quantize::Runner;

/// What can go wrong running a table model.
#[derive(Debug, thiserror::Error)]
pub enum TableModelError {
    /// The engine refused a shape (a caller's bug).
    #[error(transparent)]
    Engine(#[from] nabla::Error),
    /// Outputs or targets that do not fit the model's target.
    #[error("{0}")]
    Mismatch(String),
}

/// The network's outputs for a table's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// `[rows, width]`, row-major: logits for a classification, the standardised value for a
    /// regression.
    pub values: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Outputs per row.
    pub width: usize,
}

impl Outputs {
    /// The outputs of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// All outputs as a matrix view.
    pub fn view(&self) -> nabla::Result<MatRef<'_>> {
        MatRef::new(&self.values, self.rows, self.width)
    }
}

/// Runs `x: [rows, features]` through `runner`, `batch` rows at a time (at most the batch the
/// runner was made for): the outputs `[rows, outputs]`.
pub fn forward_rows(
    runner: &mut Runner<'_>,
    batch: usize,
    x: &[f32],
    features: usize,
) -> Result<Outputs, TableModelError> {
    let width = runner.spec().outputs();
    if features == 0 || !x.len().is_multiple_of(features) || batch == 0 {
        return Err(TableModelError::Mismatch(format!(
            "{} input values are not whole rows of {features} (batch {batch})",
            x.len()
        )));
    }
    let rows = x.len() / features;
    let mut values = Vec::with_capacity(rows * width);
    for chunk in x.chunks(batch * features) {
        let n = chunk.len() / features;
        let out = runner.forward(MatRef::new(chunk, n, features)?)?;
        for i in 0..n {
            values.extend_from_slice(out.row(i));
        }
    }
    Ok(Outputs { values, rows, width })
}

/// What a table model predicts for each row.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// A classification.
    Classes {
        /// Each row's most likely class (an index into the class names).
        predicted: Vec<u32>,
        /// `[rows, classes]` softmax probabilities, row-major.
        probabilities: Vec<f32>,
        /// Number of classes.
        classes: usize,
    },
    /// A regression: each row's value in the target's own units.
    Values(Vec<f64>),
}

/// Checks that `outputs` are as wide as `pre`'s target needs (one per class, or one value).
fn check_width(pre: &Preprocessor, outputs: &Outputs) -> Result<(), TableModelError> {
    let needed = pre.classes().map_or(1, <[String]>::len);
    if outputs.width != needed {
        return Err(TableModelError::Mismatch(format!(
            "{} outputs per row, but the target `{}` needs {needed}",
            outputs.width,
            pre.target.column()
        )));
    }
    Ok(())
}

/// The predictions that `outputs` stand for, under the preprocessing `pre` of the model.
pub fn predict(pre: &Preprocessor, outputs: &Outputs) -> Result<Predictions, TableModelError> {
    check_width(pre, outputs)?;
    match &pre.target {
        TargetSpec::Classes { .. } => {
            let mut predicted = vec![0u32; outputs.rows];
            argmax_rows(outputs.view()?, &mut predicted);
            let mut probabilities = outputs.values.clone();
            for row in probabilities.chunks_exact_mut(outputs.width) {
                softmax_in_place(row);
            }
            Ok(Predictions::Classes { predicted, probabilities, classes: outputs.width })
        }
        TargetSpec::Value { .. } => {
            Ok(Predictions::Values(outputs.values.iter().map(|&z| pre.target.unscale(f64::from(z))).collect()))
        }
    }
}

impl Predictions {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Predictions::Classes { predicted, .. } => predicted.len(),
            Predictions::Values(values) => values.len(),
        }
    }

    /// The columns of [`Predictions::to_csv`]: `prediction`, then for a classification
    /// `p_<class>` for each of the class `names`.
    pub fn columns(&self, names: &[String]) -> Vec<String> {
        let mut columns = vec!["prediction".to_string()];
        if let Predictions::Classes { .. } = self {
            columns.extend(names.iter().map(|c| format!("p_{c}")));
        }
        columns
    }

    /// As CSV text, one line per row after the header: a classification's `prediction` (the
    /// class name) and `p_<class>` (its probability) per class; a regression's `prediction`.
    /// `names` are the class names (ignored for a regression).
    pub fn to_csv(&self, names: &[String]) -> String {
        let mut csv = String::new();
        let header: Vec<String> = self.columns(names).iter().map(|c| csv_field(c)).collect();
        csv.push_str(&header.join(","));
        csv.push('\n');
        match self {
            Predictions::Classes { predicted, probabilities, classes } => {
                for (row, &k) in probabilities.chunks_exact(*classes).zip(predicted) {
                    csv.push_str(&csv_field(&names[k as usize]));
                    for p in row {
                        let _ = write!(csv, ",{p}");
                    }
                    csv.push('\n');
                }
            }
            Predictions::Values(values) => {
                for v in values {
                    let _ = writeln!(csv, "{v}");
                }
            }
        }
        csv
    }
}

/// A CSV field, quoted (with doubled quotes) when it holds a delimiter, a quote, a line break
/// or surrounding spaces.
fn csv_field(text: &str) -> String {
    let needs_quotes = text.contains([',', '"', '\n', '\r', '\t']) || text.trim() != text;
    if needs_quotes {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// How good a classification is on a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationReport {
    /// True class × predicted class counts (accuracy and per-class scores are read off it).
    pub confusion: ConfusionMatrix,
    /// Mean softmax cross-entropy.
    pub loss: f64,
    /// For two classes: ROC AUC of the second class's probability (the positive class is the
    /// second name); `None` for more classes or when the rows hold only one class.
    pub auc: Option<f64>,
}

/// How good a regression is on a table.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionReport {
    /// RMSE, MAE and R² in the target's own units.
    pub scores: RegressionScores,
    /// The training loss on the standardised target: [`Loss::Mse`], half the mean squared error.
    pub loss: f64,
    /// Number of rows.
    pub rows: usize,
}

/// A table model's scores against a table's targets.
#[derive(Debug, Clone, PartialEq)]
pub enum TableReport {
    /// A classification's.
    Classification(ClassificationReport),
    /// A regression's.
    Regression(RegressionReport),
}

impl TableReport {
    /// The loss: mean cross-entropy, or the regression's training loss.
    pub fn loss(&self) -> f64 {
        match self {
            TableReport::Classification(r) => r.loss,
            TableReport::Regression(r) => r.loss,
        }
    }
}

/// Scores `outputs` against `targets` (as [`Preprocessor::transform`] encodes them) under the
/// model's preprocessing `pre`.
pub fn score(pre: &Preprocessor, outputs: &Outputs, targets: &Targets) -> Result<TableReport, TableModelError> {
    check_width(pre, outputs)?;
    let rows = outputs.rows;
    let mismatch = |what: &str, n: usize| {
        TableModelError::Mismatch(format!("{n} {what} for {rows} rows of outputs (target `{}`)", pre.target.column()))
    };
    match (&pre.target, targets) {
        (TargetSpec::Classes { .. }, Targets::Classes(labels)) => {
            if labels.len() != rows {
                return Err(mismatch("class labels", labels.len()));
            }
            let loss = if rows == 0 {
                0.0
            } else {
                Loss::SoftmaxCrossEntropy.forward_backward(outputs.view()?, nabla::Targets::Classes(labels), None)?
            };
            let Predictions::Classes { predicted, probabilities, classes } = predict(pre, outputs)? else {
                unreachable!("a classification predicts classes")
            };
            let mut confusion = ConfusionMatrix::new(classes);
            confusion.record(labels, &predicted);
            let auc = if classes == 2 {
                let positive: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
                let p1: Vec<f64> = probabilities.chunks_exact(2).map(|p| f64::from(p[1])).collect();
                roc_auc(&positive, &p1)
            } else {
                None
            };
            Ok(TableReport::Classification(ClassificationReport { confusion, loss, auc }))
        }
        (TargetSpec::Value { .. }, Targets::Values(values)) => {
            if values.len() != rows {
                return Err(mismatch("target values", values.len()));
            }
            let loss = if rows == 0 {
                0.0
            } else {
                Loss::Mse.forward_backward(
                    outputs.view()?,
                    nabla::Targets::Values(MatRef::new(values, rows, 1)?),
                    None,
                )?
            };
            let truth: Vec<f64> = values.iter().map(|&t| pre.target.unscale(f64::from(t))).collect();
            let predicted: Vec<f64> = outputs.values.iter().map(|&z| pre.target.unscale(f64::from(z))).collect();
            Ok(TableReport::Regression(RegressionReport { scores: regression_scores(&truth, &predicted), loss, rows }))
        }
        (TargetSpec::Classes { .. }, Targets::Values(v)) => Err(mismatch("values (not class labels)", v.len())),
        (TargetSpec::Value { .. }, Targets::Classes(l)) => Err(mismatch("class labels (not values)", l.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla::{Activation, Mlp, MlpSpec, Network};
    use nabla_data::table::{FeatureSpec, Unknown};

    fn preprocessor(target: TargetSpec) -> Preprocessor {
        Preprocessor {
            features: vec![FeatureSpec::Numeric { column: "x".into(), mean: 0.0, std: 1.0, fill: None }],
            target,
            ignored: Vec::new(),
            impute: None,
            unknown: Unknown::Error,
            scale: nabla_data::table::Scale::Standard,
        }
    }

    fn classes() -> Preprocessor {
        preprocessor(TargetSpec::Classes { column: "y".into(), names: vec!["no".into(), "yes, really".into()] })
    }

    /// A 1-2 identity network whose logits are `(−x, x)`: class 1 when x > 0.
    fn sign_net() -> Mlp {
        let spec = MlpSpec::new(vec![1, 2], Activation::Relu, Activation::Identity).unwrap();
        Mlp::from_params(spec, vec![-1.0, 1.0, 0.0, 0.0]).unwrap()
    }

    #[test]
    fn rows_go_through_in_batches_of_any_remainder() {
        let mlp = sign_net();
        let x = [-2.0, -1.0, 0.5, 3.0, 4.0];
        let out = forward_rows(&mut Runner::f32(&Network::from(mlp.clone()), 2), 2, &x, 1).unwrap();
        assert_eq!((out.rows, out.width), (5, 2));
        assert_eq!(out.row(4), [-4.0, 4.0]);
        assert!(forward_rows(&mut Runner::f32(&Network::from(mlp.clone()), 2), 2, &x, 2).is_err());
    }

    #[test]
    fn classes_come_with_probabilities_that_sum_to_one() {
        let mlp = sign_net();
        let out = forward_rows(&mut Runner::f32(&Network::from(mlp.clone()), 8), 8, &[-1.0, 2.0], 1).unwrap();
        let pre = classes();
        let p = predict(&pre, &out).unwrap();
        let Predictions::Classes { predicted, probabilities, .. } = &p else { panic!("{p:?}") };
        assert_eq!(predicted, &[0, 1]);
        assert!((probabilities[0] + probabilities[1] - 1.0).abs() < 1e-6);
        assert!((probabilities[2] - 1.0 / (1.0 + 4.0f32.exp())).abs() < 1e-6);
        let csv = p.to_csv(pre.classes().unwrap());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], r#"prediction,p_no,"p_yes, really""#);
        assert!(lines[1].starts_with("no,0.88") && lines[2].starts_with(r#""yes, really",0.01"#), "{csv}");
    }

    #[test]
    fn classification_scores_by_hand() {
        // Logits (−x, x) for x = −1, 2, 3, −0.5 against labels 0, 1, 0, 0: three right.
        let mlp = sign_net();
        let out =
            forward_rows(&mut Runner::f32(&Network::from(mlp.clone()), 8), 8, &[-1.0, 2.0, 3.0, -0.5], 1).unwrap();
        let TableReport::Classification(r) = score(&classes(), &out, &Targets::Classes(vec![0, 1, 0, 0])).unwrap()
        else {
            panic!()
        };
        assert_eq!((r.confusion.correct(), r.confusion.total()), (3, 4));
        // −ln softmax: ln(1 + e^{−2|x|}) for the right ones, ln(1 + e^{2x}) for the wrong one.
        let ce = |margin: f64| (1.0 + (-margin).exp()).ln();
        let expected = (ce(2.0) + ce(4.0) + ce(-6.0) + ce(1.0)) / 4.0;
        assert!((r.loss - expected).abs() < 1e-6, "{} vs {expected}", r.loss);
        // Positive scores: 0.88 (x = 2) against negatives at x = −1, 3, −0.5: above two of three.
        assert!((r.auc.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn regression_is_reported_in_the_targets_units() {
        // Target mean 100, std 10; the net outputs x itself (a 1-1 identity).
        let spec = MlpSpec::new(vec![1, 1], Activation::Relu, Activation::Identity).unwrap();
        let mlp = Mlp::from_params(spec, vec![1.0, 0.0]).unwrap();
        let pre = preprocessor(TargetSpec::Value { column: "price".into(), mean: 100.0, std: 10.0 });
        let out = forward_rows(&mut Runner::f32(&Network::from(mlp.clone()), 4), 4, &[0.0, 1.0, -1.0], 1).unwrap();
        assert_eq!(predict(&pre, &out).unwrap(), Predictions::Values(vec![100.0, 110.0, 90.0]));
        // Standardised targets 0, 1, −0.5: errors 0, 0, −0.5 (−5 in units).
        let TableReport::Regression(r) = score(&pre, &out, &Targets::Values(vec![0.0, 1.0, -0.5])).unwrap() else {
            panic!()
        };
        assert!((r.scores.mae - 5.0 / 3.0).abs() < 1e-9 && (r.scores.rmse - (25.0f64 / 3.0).sqrt()).abs() < 1e-9);
        assert!((r.loss - 0.5 * 0.25 / 3.0).abs() < 1e-9, "{}", r.loss);
        // Class labels for a regression are refused.
        let err = score(&pre, &out, &Targets::Classes(vec![0, 1, 0])).unwrap_err().to_string();
        assert!(err.contains("class labels (not values)") && err.contains("`price`"), "{err}");
    }
}
