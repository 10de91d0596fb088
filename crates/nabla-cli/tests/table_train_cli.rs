//! `nabla train TABLE --target COL` as a user runs it: every bad input (exit code, a message
//! naming the file and the place, nothing written in --out), then the shared UCI tables and
//! tables written here (text features, missing values, separate test files, NumPy inputs,
//! another delimiter) with the flags that change how a table is read and learnt.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use nabla_testkit::numpy::{npy_f8, npy_i8, npz};
use nabla_testkit::shared_data;
use serde_json::Value;
use support::nabla;

/// `nabla train TABLE --no-track --out OUT …` with the shared data folder.
fn train_table(home: &Path, table: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = nabla(home);
    cmd.env("NABLA_DATA", shared_data()).arg("train").arg(table).arg("--no-track").arg("--out").arg(out).args(extra);
    cmd
}

/// A shared UCI table.
fn uci(name: &str) -> PathBuf {
    shared_data().join("tabular").join(name)
}

/// Runs `cmd`, which must fail with exit code `code` and write nothing at `out`; returns
/// its stderr.
fn failure(mut cmd: Command, out: &Path, code: i32) -> String {
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(!out.exists(), "a failed run wrote {}", out.display());
    assert!(output.stdout.is_empty() || !String::from_utf8_lossy(&output.stdout).contains("\"final\""));
    stderr
}

/// Asserts that `text` contains every one of `parts`.
fn contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "`{part}` is not in: {text}");
    }
}

/// Runs `cmd` (with `--json`), which must succeed; returns the final JSON line, its stderr,
/// and checks that every line before it is an epoch.
fn final_line(mut cmd: Command) -> (Value, String) {
    let output = cmd.arg("--json").output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "stderr: {stderr}");
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (last, epochs) = lines.split_last().expect("at least the final line");
    assert_eq!(last["final"], true, "{last}");
    for line in epochs {
        assert!(line["epoch"].as_u64().is_some(), "{line}");
    }
    (last.clone(), stderr)
}

fn number(line: &Value, key: &str) -> f64 {
    line[key].as_f64().unwrap_or_else(|| panic!("no number `{key}` in {line}"))
}

/// A little deterministic generator (a 64-bit LCG) for the tables written here.
struct Lcg(u64);

impl Lcg {
    /// A number in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `rows` rows of `x1,x2,color,label`: the label is `yes` when x1 + x2 plus the colour's
/// offset passes 1 (flipped when `flip`), so the text column matters. `colors` are the
/// colours drawn from.
fn shapes(rows: usize, seed: u64, colors: &[&str], flip: bool) -> String {
    let mut rng = Lcg(seed);
    let mut text = String::from("x1,x2,color,label\n");
    for _ in 0..rows {
        let (x1, x2) = (rng.next(), rng.next());
        let color = colors[(rng.next() * colors.len() as f64) as usize];
        let offset = match color {
            "red" => 0.6,
            "blue" => -0.6,
            _ => 0.0,
        };
        let yes = (x1 + x2 + offset > 1.0) != flip;
        text += &format!("{x1:.4},{x2:.4},{color},{}\n", if yes { "yes" } else { "no" });
    }
    text
}

const COLORS: &[&str] = &["red", "green", "blue"];

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Two numeric features and a class that is whether their sum passes 1.
fn numeric_xy(rows: usize) -> (Vec<f64>, Vec<i64>) {
    let mut rng = Lcg(11);
    let mut x = Vec::with_capacity(rows * 2);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let (a, b) = (rng.next(), rng.next());
        x.extend([a, b]);
        y.push(i64::from(a + b > 1.0));
    }
    (x, y)
}

// ---------------------------------------------------------------------------------------
// Bad input: a non-zero exit, the file and the place named, nothing in --out.

#[test]
fn a_ragged_row_names_its_line() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "ragged.csv", "a,b,y\n1,2,0\n3,4\n5,6,1\n");
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "y"]), &out, 1);
    contains_all(&err, &[&format!("{}, line 3: 2 fields, but the header has 3", table.display())]);
}

#[test]
fn a_word_in_a_numeric_column_names_the_value_line_and_column() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "word.csv", "a,y\n1,0\n2,1\nthree,0\n4,1\n");
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "y"]), &out, 1);
    contains_all(&err, &[&format!("{}, line 4, column `a`: `three` is not a number", table.display())]);
}

#[test]
fn a_missing_target_column_lists_the_columns() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "t.csv", shapes(40, 1, COLORS, false));
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "nope"]), &out, 1);
    contains_all(&err, &[&table.display().to_string(), "no column `nope`", "the columns are: x1, x2, color, label"]);

    // No --target at all on a CSV file: the same list.
    let err = failure(train_table(home.path(), &table, &out, &[]), &out, 1);
    contains_all(&err, &["--target COLUMN", "x1, x2, color, label"]);
}

#[test]
fn a_target_with_a_single_class_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "one.csv", "a,y\n1,z\n2,z\n3,z\n4,z\n5,z\n");
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "y"]), &out, 1);
    contains_all(&err, &[&table.display().to_string(), "column `y`", "a single class, `z`"]);
}

#[test]
fn an_empty_file_is_named() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "empty.csv", "");
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "y"]), &out, 1);
    contains_all(&err, &[&format!("{}: the file is empty", table.display())]);

    let table = write(home.path(), "header_only.csv", "a,y\n");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "y"]), &out, 1);
    contains_all(&err, &[&format!("{}: the table has no rows", table.display())]);
}

#[test]
fn a_parquet_file_that_is_not_parquet_is_named() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "fake.parquet", "a,y\n1,0\n2,1\n");
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "y"]), &out, 1);
    contains_all(&err, &[&format!("{}: not a readable Parquet file", table.display())]);
}

#[test]
fn npy_features_and_target_of_different_lengths_are_named() {
    let home = tempfile::tempdir().unwrap();
    let (x, y) = numeric_xy(10);
    let features = write(home.path(), "x.npy", npy_f8(&x, 2));
    let target = write(home.path(), "y.npy", npy_i8(&y[..7]));
    let out = home.path().join("out");
    let cmd = train_table(home.path(), &features, &out, &["--target-file", target.to_str().unwrap()]);
    let err = failure(cmd, &out, 1);
    contains_all(
        &err,
        &[&format!(
            "{}: the target has 7 values, but the features ({}) have 10 rows",
            target.display(),
            features.display()
        )],
    );
}

#[test]
fn an_unknown_task_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "t.csv", shapes(40, 1, COLORS, false));
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "label", "--task", "sideways"]), &out, 2);
    contains_all(&err, &["--task", "unknown task `sideways` (expected classify, regress or auto)"]);
}

#[test]
fn an_unknown_extension_lists_the_supported_ones() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "data.xlsx", "not read");
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "y"]), &out, 1);
    contains_all(&err, &[&table.display().to_string(), ".csv", ".tsv", ".csv.gz", ".parquet", ".npy", ".npz"]);
}

#[test]
fn a_table_flag_on_a_data_set_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), Path::new("digits"), &out, &["--target", "x"]), &out, 1);
    contains_all(&err, &["--target is for a table", "not a data set"]);
    let err = failure(train_table(home.path(), Path::new("digits"), &out, &["--loss", "huber"]), &out, 1);
    contains_all(&err, &["--loss is for a table"]);
}

#[test]
fn a_missing_value_without_impute_names_its_row_and_column() {
    let home = tempfile::tempdir().unwrap();
    // The 31st data row (line 32) has no x2; the rows are shuffled before the split, so the
    // row named must be the file's, not the training part's.
    let mut lines: Vec<String> = shapes(60, 2, COLORS, false).lines().map(str::to_string).collect();
    let fields: Vec<String> = lines[31].split(',').map(str::to_string).collect();
    lines[31] = format!("{},,{},{}", fields[0], fields[2], fields[3]);
    let table = write(home.path(), "gap.csv", lines.join("\n") + "\n");
    let out = home.path().join("out");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "label"]), &out, 1);
    contains_all(&err, &[&format!("{}, row 31, column `x2`: missing value", table.display()), "--impute"]);

    // A text column's missing value, with --folds (every row is in some fold's training part).
    lines[31] = format!("{},{},,{}", fields[0], fields[1], fields[3]);
    let table = write(home.path(), "gap_text.csv", lines.join("\n") + "\n");
    let err = failure(train_table(home.path(), &table, &out, &["--target", "label", "--folds", "3"]), &out, 1);
    contains_all(&err, &[&format!("{}, row 31, column `color`: missing value", table.display())]);
}

#[test]
fn a_category_the_training_rows_lack_is_an_error_unless_ignored() {
    let home = tempfile::tempdir().unwrap();
    let train = write(home.path(), "train.csv", shapes(120, 3, COLORS, false));
    let test = write(home.path(), "test.csv", shapes(30, 4, &["red", "green", "blue", "purple"], false));
    let out = home.path().join("out");
    let base = ["--target", "label", "--epochs", "5", "--test", test.to_str().unwrap()];
    let err = failure(train_table(home.path(), &train, &out, &base), &out, 1);
    contains_all(
        &err,
        &[
            &test.display().to_string(),
            "column `color`",
            "category `purple` was not in the training data",
            "--unknown ignore",
        ],
    );

    let (last, _) = final_line(train_table(home.path(), &train, &out, &[&base[..], &["--unknown", "ignore"]].concat()));
    assert!((0.0..=1.0).contains(&number(&last, "test_acc")), "{last}");
    assert!(out.join("model.safetensors").is_file());
}

// ---------------------------------------------------------------------------------------
// Happy paths.

#[test]
fn iris_is_classified_with_the_default_flags() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let (last, stderr) = final_line(train_table(home.path(), &uci("iris.csv"), &out, &["--target", "species"]));
    // With --json the task line goes to stderr, so stdout is JSON alone.
    contains_all(&stderr, &["task: classifying `species` (the target holds text; --task overrides)"]);
    let mut keys: Vec<&str> = last.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "best_epoch",
            "checkpoint",
            "epochs",
            "final",
            "interrupted",
            "stopped_early",
            "target",
            "task",
            "test_acc",
            "test_loss",
            "test_per_class"
        ]
    );
    let per_class = last["test_per_class"].as_array().unwrap();
    let names: Vec<&str> = per_class.iter().map(|c| c["class"].as_str().unwrap()).collect();
    assert_eq!(names, ["setosa", "versicolor", "virginica"]);
    let support: u64 = per_class.iter().map(|c| c["support"].as_u64().unwrap()).sum();
    assert_eq!(support, 30, "the 20% test split of 150 rows");
    assert!(per_class.iter().all(|c| (0.0..=1.0).contains(&c["f1"].as_f64().unwrap())));
    assert_eq!((last["task"].as_str(), last["target"].as_str()), (Some("classify"), Some("species")));
    assert!(number(&last, "test_acc") > 0.8, "{last}");
    assert!(number(&last, "test_loss").is_finite() && number(&last, "test_loss") > 0.0);
    let epochs = last["epochs"].as_u64().unwrap();
    assert!((1..=300).contains(&epochs) && (1..=epochs).contains(&last["best_epoch"].as_u64().unwrap()), "{last}");
    let checkpoint = PathBuf::from(last["checkpoint"].as_str().unwrap());
    assert_eq!(checkpoint, out.join("model.safetensors"));
    assert!(checkpoint.is_file());

    // Without --json, the task line is on stdout with the rest.
    let output = train_table(
        home.path(),
        &uci("iris.csv"),
        &home.path().join("out2"),
        &["--target", "species", "--epochs", "3"],
    )
    .output()
    .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    contains_all(&stdout, &["task: classifying `species`", "a classifier of 3 classes", "test acc"]);
}

#[test]
fn diabetes_is_a_regression_with_a_huber_loss() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let (last, stderr) = final_line(train_table(
        home.path(),
        &uci("diabetes.csv"),
        &out,
        &["--target", "progression", "--loss", "huber", "--epochs", "30"],
    ));
    contains_all(&stderr, &["task: regressing `progression`"]);
    assert_eq!(last["task"], "regress");
    for key in ["test_r2", "test_rmse", "test_mae", "test_loss"] {
        assert!(number(&last, key).is_finite(), "{key} in {last}");
    }
    assert!(last.get("test_acc").is_none(), "{last}");
    assert!(number(&last, "test_r2") > 0.2, "{last}");
    // The errors are in the target's units (progression runs from 25 to 346).
    assert!(number(&last, "test_rmse") > number(&last, "test_mae") && number(&last, "test_mae") > 10.0, "{last}");
    assert!(out.join("model.safetensors").is_file());
}

#[test]
fn folds_report_each_metrics_mean_and_spread() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let (last, _) = final_line(train_table(
        home.path(),
        &uci("wine.csv"),
        &out,
        &["--target", "cultivar", "--folds", "3", "--epochs", "20"],
    ));
    assert_eq!(last["folds"], 3);
    let cv = last["cv"].as_object().unwrap();
    assert_eq!(cv.keys().map(String::as_str).collect::<Vec<_>>(), ["acc", "loss"]);
    for (metric, stats) in cv {
        let (mean, std) = (number(stats, "mean"), number(stats, "std"));
        assert!(std >= 0.0 && std.is_finite(), "{metric}: {stats}");
        assert!(mean.is_finite() && mean >= 0.0, "{metric}: {stats}");
    }
    assert!((0.0..=1.0).contains(&number(&cv["acc"], "mean")));
    assert_eq!(number(&last, "test_acc"), number(&cv["acc"], "mean"));
    assert!(last.get("checkpoint").is_none() && !out.exists(), "cross-validation keeps no model");
}

#[test]
fn a_text_feature_and_a_missing_value_with_impute_median() {
    let home = tempfile::tempdir().unwrap();
    // Row 3 has no x1 and row 8 no colour.
    let mut lines: Vec<String> = shapes(200, 5, COLORS, false).lines().map(str::to_string).collect();
    lines[3] = lines[3].split_once(',').map(|(_, rest)| format!(",{rest}")).unwrap();
    lines[8] = lines[8].replace(&format!(",{},", lines[8].split(',').nth(2).unwrap()), ",NA,");
    assert!(lines[3].starts_with(',') && lines[8].contains(",NA,"));
    let table = write(home.path(), "gaps.csv", lines.join("\n") + "\n");
    let out = home.path().join("out");
    let (last, _) = final_line(train_table(home.path(), &table, &out, &["--target", "label", "--impute", "median"]));
    // The label depends on the colour too; both gaps were filled rather than refused.
    assert!(number(&last, "test_acc") > 0.85, "{last}");
    assert!(out.join("model.safetensors").is_file());
}

#[test]
fn drop_leaves_a_column_out() {
    let home = tempfile::tempdir().unwrap();
    // An `id` column of text that no model should learn from.
    let text: String = shapes(60, 6, COLORS, false)
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!("id,{l}\n") } else { format!("r{i},{l}\n") })
        .collect();
    let table = write(home.path(), "ids.csv", text);
    let out = home.path().join("out");
    let run = |extra: &[&str]| {
        let output = train_table(home.path(), &table, &out, &[&["--target", "label", "--epochs", "2"], extra].concat())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    // Kept, every id is a category only its own row has: the validation rows' ids were never
    // seen in training.
    let err = failure(train_table(home.path(), &table, &out, &["--target", "label", "--epochs", "2"]), &out, 1);
    contains_all(
        &err,
        &["column `id`", "was not in the training data", "is `id` an identifier? --drop id leaves it out"],
    );
    // Dropped, the inputs are x1, x2 and three colours.
    let dropped = run(&["--drop", "id"]);
    contains_all(&dropped, &["training 5-"]);

    let err = failure(
        train_table(home.path(), &table, &home.path().join("out3"), &["--target", "label", "--drop", "nope"]),
        &home.path().join("out3"),
        1,
    );
    contains_all(&err, &["--drop: no column `nope`", "id, x1, x2, color, label"]);
}

#[test]
fn a_separate_test_file_is_what_is_tested_on() {
    let home = tempfile::tempdir().unwrap();
    let train = write(home.path(), "train.csv", shapes(200, 7, COLORS, false));
    // The same rule with every label flipped: a model that learnt the rule scores low here.
    let test = write(home.path(), "flipped.csv", shapes(60, 8, COLORS, true));
    let out = home.path().join("out");
    let args = ["--target", "label", "--epochs", "30", "--test", test.to_str().unwrap()];
    let (last, _) = final_line(train_table(home.path(), &train, &out, &args));
    assert!(number(&last, "test_acc") < 0.2, "{last}");

    // Every row of the training file is trained on or validated on (10% of them).
    let output = train_table(home.path(), &train, &home.path().join("out2"), &args).output().unwrap();
    assert!(output.status.success());
    contains_all(
        &String::from_utf8(output.stdout).unwrap(),
        &["on 180 examples, evaluating on 20 validation examples"],
    );

    // And not with --test-split too.
    let out3 = home.path().join("out3");
    let err =
        failure(train_table(home.path(), &train, &out3, &[&args[..], &["--test-split", "0.3"]].concat()), &out3, 1);
    contains_all(&err, &["--test FILE and --test-split"]);
}

#[test]
fn npz_and_npy_with_a_target_file() {
    let home = tempfile::tempdir().unwrap();
    let (x, y) = numeric_xy(200);
    let archive = write(home.path(), "xy.npz", npz(&[("x", npy_f8(&x, 2)), ("y", npy_i8(&y))]));
    let out = home.path().join("out");
    let (last, stderr) = final_line(train_table(home.path(), &archive, &out, &["--epochs", "30"]));
    contains_all(&stderr, &["task: classifying `y` (the target holds 2 distinct whole numbers"]);
    assert!(number(&last, "test_acc") > 0.85, "{last}");
    assert!(out.join("model.safetensors").is_file());

    let features = write(home.path(), "x.npy", npy_f8(&x, 2));
    let target = write(home.path(), "y.npy", npy_i8(&y));
    let out = home.path().join("out2");
    let (last, _) = final_line(train_table(
        home.path(),
        &features,
        &out,
        &["--target-file", target.to_str().unwrap(), "--epochs", "30"],
    ));
    assert!(number(&last, "test_acc") > 0.85, "{last}");
    assert_eq!(last["target"], "y");
}

#[test]
fn task_regress_overrides_an_integer_target() {
    let home = tempfile::tempdir().unwrap();
    let mut rng = Lcg(9);
    let mut text = String::from("a,b,k\n");
    for _ in 0..150 {
        let (a, b) = (rng.next(), rng.next());
        text += &format!("{a:.4},{b:.4},{}\n", (2.0 * a + 3.0 * b).round());
    }
    let table = write(home.path(), "ints.csv", text);
    let out = home.path().join("out");
    let (auto, stderr) = final_line(train_table(home.path(), &table, &out, &["--target", "k", "--epochs", "2"]));
    contains_all(&stderr, &["task: classifying `k` (the target holds 6 distinct whole numbers"]);
    assert_eq!(auto["task"], "classify");

    let out = home.path().join("out2");
    let (last, stderr) = final_line(train_table(home.path(), &table, &out, &["--target", "k", "--task", "regress"]));
    contains_all(&stderr, &["task: regressing `k` (--task regress; --task overrides)"]);
    assert_eq!(last["task"], "regress");
    assert!(number(&last, "test_r2") > 0.8, "{last}");
    assert!(last.get("test_acc").is_none());
}

#[test]
fn a_semicolon_delimiter() {
    let home = tempfile::tempdir().unwrap();
    let table = write(home.path(), "semi.csv", shapes(150, 10, COLORS, false).replace(',', ";"));
    let out = home.path().join("out");
    let (last, _) = final_line(train_table(
        home.path(),
        &table,
        &out,
        &["--target", "label", "--delimiter", ";", "--epochs", "30"],
    ));
    assert!(number(&last, "test_acc") > 0.8, "{last}");

    // Read with commas, the file is one column called `x1;x2;color;label`.
    let out2 = home.path().join("out2");
    let err = failure(train_table(home.path(), &table, &out2, &["--target", "label"]), &out2, 1);
    contains_all(&err, &["no column `label` (the columns are: x1;x2;color;label)"]);
}

/// The whole round: a table model trained by `nabla train` predicts one row per input row and
/// evaluates to the accuracy its training reported on the same rows.
#[test]
fn a_trained_table_model_predicts_and_evaluates() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let (last, _) = final_line(train_table(home.path(), &uci("wine.csv"), &out, &["--target", "cultivar"]));
    let model = PathBuf::from(last["checkpoint"].as_str().unwrap());
    let predictions = home.path().join("p.csv");
    nabla(home.path()).arg("predict").arg(&model).arg(uci("wine.csv")).arg("-o").arg(&predictions).assert().success();
    let text = std::fs::read_to_string(&predictions).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "prediction,p_0,p_1,p_2");
    assert_eq!(lines.len(), 179, "one prediction per row of wine.csv");
    let output = nabla(home.path()).arg("eval").arg(&model).arg(uci("wine.csv")).arg("--json").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let eval: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(number(&eval, "acc") > 0.9, "{eval}");
    assert_eq!(eval["rows"], 178);
    // The file the model was trained on without its first column: the missing one is named.
    let table = std::fs::read_to_string(uci("wine.csv")).unwrap();
    let cut: String = table.lines().map(|l| l.split_once(',').map_or(l, |(_, tail)| tail).to_string() + "\n").collect();
    let cut = write(home.path(), "cut.csv", cut);
    let output = nabla(home.path()).arg("predict").arg(&model).arg(&cut).output().unwrap();
    assert!(!output.status.success());
    contains_all(&String::from_utf8_lossy(&output.stderr), &["cut.csv", "missing column(s) alcohol"]);
}

/// Two classes: the final line has the test ROC AUC, and cross-validation its mean and spread.
#[test]
fn two_classes_report_roc_auc() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let table = uci("breast_cancer.csv");
    let (last, _) = final_line(train_table(home.path(), &table, &out, &["--target", "diagnosis", "--epochs", "40"]));
    let auc = number(&last, "test_auc");
    assert!(auc > 0.95 && auc <= 1.0, "{last}");
    let (cv, _) = final_line(train_table(
        home.path(),
        &table,
        &out,
        &["--target", "diagnosis", "--epochs", "20", "--folds", "3"],
    ));
    let keys: Vec<&str> = cv["cv"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["acc", "auc", "loss"]);
    assert!(cv["cv"]["auc"]["mean"].as_f64().unwrap() > 0.95, "{cv}");
}

/// `--test-split 0` holds nothing out: the error says so, not that the table is too small.
#[test]
fn a_test_split_of_zero_says_what_is_wrong() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let cmd = train_table(home.path(), &uci("iris.csv"), &out, &["--target", "species", "--test-split", "0"]);
    let err = failure(cmd, &out, 1);
    contains_all(&err, &["iris.csv", "--test-split holds no row out", "--test FILE"]);
}
