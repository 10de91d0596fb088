//! `nabla eval CKPT DATASET`: a checkpoint's accuracy, loss, per-class precision and recall
//! and confusion matrix on a data set's test (or train) split. CKPT may be an f32 checkpoint
//! or a quantised model from `nabla quantize` (told apart by its metadata).
//!
//! A model trained on a table is scored on a table instead (`nabla eval CKPT test.csv`, with
//! the training file's columns and its target): a classification as above, plus ROC AUC for
//! two classes; a regression by RMSE, MAE and R² in the target's units.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nabla::loss::argmax_rows;
use nabla::{Loss, MatRef, Targets};
use nabla_data::table::{Encoded, Preprocessor, ReadOptions, Table, TableFormat};
use nabla_data::{BatchBuffers, DataError, Dataset, Split};
use nabla_train::checkpoint::{describe_architecture, describe_network, Checkpoint, InputSpec, ModelInput};
use nabla_train::metrics::ConfusionMatrix;
use nabla_train::quantize::ModelFile;
use nabla_train::table_model::{self, forward_rows, ClassificationReport, RegressionReport, TableReport};
use serde_json::json;

use super::parse;

/// Which part of a data set to evaluate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitName {
    /// The held-out test examples.
    Test,
    /// The training examples.
    Train,
}

impl SplitName {
    fn as_str(self) -> &'static str {
        match self {
            SplitName::Test => "test",
            SplitName::Train => "train",
        }
    }
}

/// Flags of `nabla eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The checkpoint: a .safetensors file written by `nabla train` or `nabla quantize`.
    pub checkpoint: PathBuf,
    /// The data set: mnist, fashion-mnist or digits. For a table model: a table (.csv, .tsv,
    /// .csv.gz, .parquet, .npz) with the training file's columns, its target among them.
    pub dataset: String,
    /// Look for the data in DIR first (then $NABLA_DATA, then the user data directory).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Which split of a data set to evaluate on [default: test].
    #[arg(long, value_enum)]
    pub split: Option<SplitName>,
    /// Table models: the field delimiter of a CSV file (default: tab for .tsv, else comma).
    #[arg(long, value_name = "CHAR", value_parser = parse::delimiter)]
    pub delimiter: Option<u8>,
    /// Examples per forward pass.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = parse::batch_size)]
    pub batch_size: usize,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Runs `nabla eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let model = ModelFile::load(&args.checkpoint)?;
    if let Some(pre) = model.table() {
        return eval_table(args, &model, pre);
    }
    if args.delimiter.is_some() {
        bail!(
            "{}: --delimiter is for models trained on a table; this one was trained on {} images",
            args.checkpoint.display(),
            model.dataset()
        );
    }
    if TableFormat::of(Path::new(&args.dataset)).is_some() {
        bail!(
            "{}: the model was trained on {} images: it is evaluated on a data set (mnist, fashion-mnist, digits), not on the rows of {}",
            args.checkpoint.display(),
            model.dataset(),
            args.dataset
        );
    }
    let split = load_data(&args.dataset, args.data.as_deref())?;
    let ds = match args.split.unwrap_or(SplitName::Test) {
        SplitName::Test => &split.test,
        SplitName::Train => &split.train,
    };
    let input = image_input(&args.checkpoint, model.input(), model.dataset())?;
    check_fits(&args.checkpoint, input, model.classes().len(), &args.dataset, ds)?;
    let result = evaluate(&model, input, ds, args.batch_size)?;

    let mut out = io::stdout().lock();
    if args.json {
        print_json(&mut out, args, &model, ds, &result)?;
    } else {
        print_tables(&mut out, args, &model, ds, &result)?;
    }
    out.flush()?;
    Ok(())
}

/// Loads a data set by name; when it is missing, says how to fetch it.
pub(crate) fn load_data(name: &str, data: Option<&Path>) -> anyhow::Result<Split> {
    let located = nabla_data::find(name, data).map_err(|e| match e {
        DataError::NotFound { .. } => anyhow::anyhow!("{e} (download it with `nabla data fetch {name}`)"),
        other => other.into(),
    })?;
    Ok(located.load()?)
}

/// The image input of the model at `path` (trained on `dataset`); a table model is an error
/// that says how to use it.
pub(crate) fn image_input<'m>(path: &Path, input: &'m ModelInput, dataset: &str) -> anyhow::Result<&'m InputSpec> {
    match input {
        ModelInput::Image(spec) => Ok(spec),
        ModelInput::Table(pre) => bail!(
            "{}: the model was trained on the table {dataset} (target `{}`), not on images; use `nabla predict {} rows.csv` (or `nabla eval {} table.csv`)",
            path.display(),
            pre.target.column(),
            path.display(),
            path.display()
        ),
    }
}

/// Checks that the model is an image model and that the data set's images and classes are
/// the ones it was built for; returns its input.
pub(crate) fn check_data_fits<'c>(
    path: &Path,
    ckpt: &'c Checkpoint,
    name: &str,
    ds: &Dataset,
) -> anyhow::Result<&'c InputSpec> {
    let input = image_input(path, &ckpt.input, &ckpt.dataset)?;
    check_fits(path, input, ckpt.classes.len(), name, ds)?;
    Ok(input)
}

/// [`check_data_fits`] for a model of any precision: its input and its number of classes.
pub(crate) fn check_fits(
    path: &Path,
    input: &InputSpec,
    classes: usize,
    name: &str,
    ds: &Dataset,
) -> anyhow::Result<()> {
    if (ds.height, ds.width) != (input.height, input.width) {
        bail!(
            "{}: the model takes {}×{} images ({} inputs) but {name} has {}×{} images ({} inputs)",
            path.display(),
            input.height,
            input.width,
            input.features(),
            ds.height,
            ds.width,
            ds.features()
        );
    }
    if ds.num_classes() != classes {
        bail!("{}: the model has {classes} classes but {name} has {}", path.display(), ds.num_classes());
    }
    Ok(())
}

/// What one evaluation pass measured.
struct Evaluation {
    confusion: ConfusionMatrix,
    /// Mean softmax cross-entropy over all examples.
    loss: f64,
}

/// Runs the model over every example of `ds`, `batch` at a time.
fn evaluate(model: &ModelFile, input: &InputSpec, ds: &Dataset, batch: usize) -> anyhow::Result<Evaluation> {
    let features = ds.features();
    let norm = input.normalizer(ds.max_value);
    let mut buffers = BatchBuffers::new(batch, features);
    let mut runner = model.runner(batch);
    let mut confusion = ConfusionMatrix::new(model.classes().len());
    let (mut labels, mut predicted) = (vec![0u32; batch], vec![0u32; batch]);
    let mut loss_sum = 0.0f64;
    let indices: Vec<usize> = (0..ds.len).collect();
    for chunk in indices.chunks(batch) {
        let n = chunk.len();
        let (x, y) = buffers.fill(ds, chunk, &norm);
        for (l, &y) in labels.iter_mut().zip(y) {
            *l = u32::from(y);
        }
        let logits = runner.forward(MatRef::new(x, n, features)?)?;
        // The loss is a batch mean; weight it by the batch size so a short last batch counts right.
        let loss = Loss::SoftmaxCrossEntropy
            .forward_backward(logits, Targets::Classes(&labels[..n]), None)
            .context("computing the loss")?;
        loss_sum += loss * n as f64;
        argmax_rows(logits, &mut predicted[..n]);
        confusion.record(&labels[..n], &predicted[..n]);
    }
    Ok(Evaluation { confusion, loss: loss_sum / ds.len.max(1) as f64 })
}

fn print_json(
    out: &mut impl Write,
    args: &EvalArgs,
    model: &ModelFile,
    ds: &Dataset,
    r: &Evaluation,
) -> io::Result<()> {
    let per_class = per_class_json(&ds.classes, &r.confusion);
    let doc = json!({
        "checkpoint": args.checkpoint.display().to_string(),
        "precision": model.precision(),
        "dataset": args.dataset,
        "split": args.split.unwrap_or(SplitName::Test).as_str(),
        "examples": ds.len,
        "accuracy": r.confusion.accuracy(),
        "loss": r.loss,
        "per_class": per_class,
        "confusion": r.confusion.rows(),
    });
    writeln!(out, "{doc}")
}

fn print_tables(
    out: &mut impl Write,
    args: &EvalArgs,
    model: &ModelFile,
    ds: &Dataset,
    r: &Evaluation,
) -> io::Result<()> {
    let c = &r.confusion;
    print_model(out, args, model)?;
    let split = args.split.unwrap_or(SplitName::Test);
    writeln!(out, "data        {}, {} split: {} examples", args.dataset, split.as_str(), ds.len)?;
    writeln!(out, "accuracy    {:.2}%  ({} / {})", 100.0 * c.accuracy(), c.correct(), c.total())?;
    writeln!(out, "loss        {:.4}  (mean softmax cross-entropy)", r.loss)?;

    print_classes(out, &ds.classes, c)
}

/// The `checkpoint` and `model` lines.
fn print_model(out: &mut impl Write, args: &EvalArgs, model: &ModelFile) -> io::Result<()> {
    writeln!(out, "checkpoint  {}", args.checkpoint.display())?;
    match model {
        ModelFile::F32(ckpt) => writeln!(
            out,
            "model       {}, trained on {}: epoch {}, step {}",
            describe_network(&ckpt.spec()),
            ckpt.dataset,
            ckpt.epoch,
            ckpt.step
        )?,
        ModelFile::Quantized(q) => writeln!(
            out,
            "model       {}, {} weights (from {}), trained on {}: epoch {}, step {}",
            describe_architecture(q.spec()),
            q.model.precision(),
            q.source,
            q.dataset,
            q.epoch,
            q.step
        )?,
    }
    Ok(())
}

/// The per-class scores and the confusion matrix of a classification with `classes`.
fn print_classes(out: &mut impl Write, classes: &[String], c: &ConfusionMatrix) -> io::Result<()> {
    // Row labels: the class name, with its index in front when the name is not the index.
    let labels: Vec<String> = classes
        .iter()
        .enumerate()
        .map(|(i, name)| if *name == i.to_string() { name.clone() } else { format!("{i} {name}") })
        .collect();
    let w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(5);

    writeln!(out)?;
    writeln!(out, "{:<w$}  precision  recall      f1  support", "class")?;
    for (label, s) in labels.iter().zip(c.per_class()) {
        writeln!(out, "{label:<w$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}", s.precision, s.recall, s.f1, s.support)?;
    }
    if (0..c.classes()).any(|k| c.support(k) == 0 || c.predicted(k) == 0) {
        writeln!(out, "(a class never seen or never predicted has its 0/0 ratios shown as 0)")?;
    }

    writeln!(out)?;
    writeln!(out, "confusion matrix (rows: true class, columns: predicted class)")?;
    let cell =
        c.rows().iter().flatten().map(|v| v.to_string().len()).max().unwrap_or(1).max(c.classes().to_string().len());
    write!(out, "{:<w$}", "")?;
    for j in 0..c.classes() {
        write!(out, " {j:>cell$}")?;
    }
    writeln!(out)?;
    for (label, row) in labels.iter().zip(c.rows()) {
        write!(out, "{label:<w$}")?;
        for v in row {
            write!(out, " {v:>cell$}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Each class's precision, recall, F1 and support, as JSON objects.
pub(crate) fn per_class_json(classes: &[String], c: &ConfusionMatrix) -> Vec<serde_json::Value> {
    c.per_class()
        .iter()
        .zip(classes)
        .map(|(s, class)| {
            json!({"class": class, "precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support})
        })
        .collect()
}

/// Reads the table at `path` and encodes it with the preprocessing `pre` of the model at
/// `ckpt` (trained on the table `dataset`): a path that names no table format, or a table
/// whose columns are not the model's, is an error saying so.
pub(crate) fn read_table(
    ckpt: &Path,
    dataset: &str,
    pre: &Preprocessor,
    path: &Path,
    delimiter: Option<u8>,
) -> anyhow::Result<Encoded> {
    if TableFormat::of(path).is_none() {
        bail!(
            "{}: the model was trained on the table {dataset}: give a table with its columns (.csv, .tsv, .csv.gz, .parquet or .npz), not `{}`",
            ckpt.display(),
            path.display()
        );
    }
    let table = Table::read(path, &ReadOptions { delimiter, ..ReadOptions::default() })?;
    Ok(pre.transform(&table)?)
}

/// `nabla eval` of a table model on the table named by DATASET.
fn eval_table(args: &EvalArgs, model: &ModelFile, pre: &Preprocessor) -> anyhow::Result<()> {
    if args.split.is_some() {
        bail!("--split chooses a split of a data set; a table is evaluated whole");
    }
    let path = Path::new(&args.dataset);
    let encoded = read_table(&args.checkpoint, model.dataset(), pre, path, args.delimiter)?;
    let Some(targets) = &encoded.targets else {
        bail!(
            "{}: no target column `{}`: eval scores the model's predictions against it (`nabla predict {} {}` predicts without it)",
            path.display(),
            pre.target.column(),
            args.checkpoint.display(),
            path.display()
        );
    };
    let outputs = forward_rows(&mut model.runner(args.batch_size), args.batch_size, &encoded.x, encoded.features)?;
    let report = table_model::score(pre, &outputs, targets)?;
    let mut out = io::stdout().lock();
    let (target, rows) = (pre.target.column(), encoded.rows);
    if args.json {
        let mut doc = json!({
            "checkpoint": args.checkpoint.display().to_string(),
            "precision": model.precision(),
            "table": args.dataset,
            "target": target,
            "rows": rows,
            "loss": report.loss(),
        });
        match &report {
            TableReport::Classification(r) => {
                doc["acc"] = json!(r.confusion.accuracy());
                doc["per_class"] = json!(per_class_json(model.classes(), &r.confusion));
                doc["confusion"] = json!(r.confusion.rows());
                doc["auc"] = json!(r.auc);
            }
            TableReport::Regression(r) => {
                doc["rmse"] = json!(r.scores.rmse);
                doc["mae"] = json!(r.scores.mae);
                doc["r2"] = json!(r.scores.r2);
            }
        }
        writeln!(out, "{doc}")?;
        return Ok(());
    }
    print_model(&mut out, args, model)?;
    writeln!(out, "data        {}: {rows} rows, target `{target}`", args.dataset)?;
    match &report {
        TableReport::Classification(r) => print_table_classification(&mut out, model.classes(), r)?,
        TableReport::Regression(r) => print_table_regression(&mut out, target, r)?,
    }
    out.flush()?;
    Ok(())
}

fn print_table_classification(out: &mut impl Write, classes: &[String], r: &ClassificationReport) -> io::Result<()> {
    let c = &r.confusion;
    writeln!(out, "accuracy    {:.2}%  ({} / {})", 100.0 * c.accuracy(), c.correct(), c.total())?;
    writeln!(out, "loss        {:.4}  (mean softmax cross-entropy)", r.loss)?;
    if let Some(auc) = r.auc {
        writeln!(out, "ROC AUC     {auc:.4}  (positive class `{}`)", classes[1])?;
    }
    print_classes(out, classes, c)
}

fn print_table_regression(out: &mut impl Write, target: &str, r: &RegressionReport) -> io::Result<()> {
    let s = &r.scores;
    writeln!(out, "RMSE        {:.6}  (in the units of `{target}`)", s.rmse)?;
    writeln!(out, "MAE         {:.6}", s.mae)?;
    writeln!(out, "R²          {:.4}", s.r2)?;
    writeln!(out, "loss        {:.4}  (mse as trained: half the mean squared error of the standardised target)", r.loss)
}
