//! From a table in memory to what the trainer takes: the task chosen, the rows split into
//! training, validation and test parts (stratified by class for a classification, shuffled
//! for a regression, every draw from the seed) or into K cross-validation folds, and the
//! preprocessing fitted on each training part alone.
//!
//! A classification's class names come from the whole table, so every part and every fold
//! numbers the classes alike; everything else (means, deviations, categories, a regression
//! target's scale) is fitted on the training rows only, as scikit-learn's pipelines do.

use nabla_data::table::{
    infer_task, Place, PreprocessOptions, Preprocessor, Table, TableError, TargetSpec, Targets, Task, TaskChoice,
};
use nabla_data::{shuffled_folds, shuffled_split, stratified_folds, stratified_split};

use crate::train::TableSet;

/// How a table is split and prepared.
#[derive(Debug, Clone)]
pub struct TableSettings {
    /// The target column.
    pub target: String,
    /// The task (classification or regression).
    pub task: Task,
    /// Missing values and unseen categories.
    pub preprocess: PreprocessOptions,
    /// Share of the rows held out for the test (ignored with a separate test table).
    pub test_split: f64,
    /// Share of the training rows held out for validation (0: none).
    pub val_split: f64,
    /// Seed of the splits.
    pub seed: u64,
}

/// The task for `target` of `table`: as told, or inferred from the column, with the reason
/// in words (`"the target holds text"`, `"--task regress"`).
pub fn choose_task(table: &Table, target: &str, choice: TaskChoice) -> Result<(Task, String), TableError> {
    let column = table.column(target).ok_or_else(|| table.no_such_column(target, "--target"))?;
    Ok(match choice {
        TaskChoice::Fixed(task) => (task, format!("--task {}", task.name())),
        TaskChoice::Auto => infer_task(column),
    })
}

/// The table split once: a held-out test part (or `test`, a separate table), a validation part
/// of the rest, and the preprocessing fitted on the training rows. Returns the warnings a
/// person should see (columns left out).
pub fn prepare(table: &Table, test: Option<&Table>, s: &TableSettings) -> Result<(TableSet, Vec<String>), TableError> {
    let labels = Labels::of(table, s)?;
    let (rest, held) = match test {
        Some(_) => ((0..table.rows).collect(), Vec::new()),
        None => labels.split(&(0..table.rows).collect::<Vec<_>>(), s.test_split, s.seed),
    };
    if test.is_none() && (held.is_empty() || rest.is_empty()) {
        return Err(too_few(table, rest.len(), held.len(), "--test-split"));
    }
    let held_table;
    let (test_table, test_rows) = match test {
        Some(t) => (t, None),
        None => {
            held_table = table.select_rows(&held);
            (&held_table, Some(held.as_slice()))
        }
    };
    build(table, &rest, test_table, test_rows, &labels, s)
}

/// `k` cross-validation folds: fold `f` tests on its own rows and trains (and validates) on
/// all the others, with the preprocessing fitted on its training rows. Stratified by class for
/// a classification, shuffled for a regression.
pub fn folds(table: &Table, k: usize, s: &TableSettings) -> Result<Vec<(TableSet, Vec<String>)>, TableError> {
    if k < 2 || k > table.rows {
        return Err(TableError::unusable(
            &table.path,
            Default::default(),
            format!("--folds {k}: needs 2 to {} folds (the table has {} rows)", table.rows, table.rows),
        ));
    }
    let labels = Labels::of(table, s)?;
    let held_out = match &labels.classes {
        Some((labels, count)) => stratified_folds(labels, *count, k, s.seed),
        None => shuffled_folds(table.rows, k, s.seed),
    };
    let mut out = Vec::with_capacity(k);
    for (f, held) in held_out.iter().enumerate() {
        let rest: Vec<usize> = (0..table.rows).filter(|i| held.binary_search(i).is_err()).collect();
        let test = table.select_rows(held);
        let (mut set, warnings) = build(table, &rest, &test, Some(held), &labels, s)?;
        set.name = format!("{} (fold {} of {k})", set.name, f + 1);
        out.push((set, warnings));
    }
    Ok(out)
}

/// The class of every row, when the task is a classification (for stratified splits), and the
/// class names of the whole table.
struct Labels {
    classes: Option<(Vec<u32>, usize)>,
    spec: Option<TargetSpec>,
}

impl Labels {
    fn of(table: &Table, s: &TableSettings) -> Result<Self, TableError> {
        if s.task == Task::Regress {
            // Checks the target (present, numeric, not constant) before any split.
            TargetSpec::fit(table, &s.target, Task::Regress)?;
            return Ok(Labels { classes: None, spec: None });
        }
        let spec = TargetSpec::fit(table, &s.target, Task::Classify)?;
        let Targets::Classes(labels) = spec.encode(table)? else { unreachable!("a class target encodes to classes") };
        let count = match &spec {
            TargetSpec::Classes { names, .. } => names.len(),
            TargetSpec::Value { .. } => 1,
        };
        Ok(Labels { classes: Some((labels, count)), spec: Some(spec) })
    }

    /// `rows` split into `(kept, held)`: stratified by class, or shuffled.
    fn split(&self, rows: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let (kept, held) = match &self.classes {
            Some((labels, count)) => {
                let sub: Vec<u32> = rows.iter().map(|&i| labels[i]).collect();
                stratified_split(&sub, *count, fraction, seed)
            }
            None => shuffled_split(rows.len(), fraction, seed),
        };
        (kept.into_iter().map(|i| rows[i]).collect(), held.into_iter().map(|i| rows[i]).collect())
    }
}

/// Splits `rest` into training and validation rows, fits on the training rows, and encodes
/// the three parts. `test_rows` are the rows of `table` that `test` holds, when it was cut
/// from it (not a separate test table).
fn build(
    table: &Table,
    rest: &[usize],
    test: &Table,
    test_rows: Option<&[usize]>,
    labels: &Labels,
    s: &TableSettings,
) -> Result<(TableSet, Vec<String>), TableError> {
    // The validation draw uses its own stream of the seed, apart from the test split's.
    let (train_rows, val_rows) = if s.val_split > 0.0 {
        labels.split(rest, s.val_split, s.seed ^ 0x9e37_79b9_7f4a_7c15)
    } else {
        (rest.to_vec(), Vec::new())
    };
    if train_rows.is_empty() || (s.val_split > 0.0 && val_rows.is_empty()) {
        return Err(too_few(table, train_rows.len(), val_rows.len(), "--val-split"));
    }
    let train = table.select_rows(&train_rows);
    let (mut pre, warnings) =
        Preprocessor::fit(&train, &s.target, s.task, &s.preprocess).map_err(|e| in_table(e, &train_rows))?;
    if let Some(spec) = &labels.spec {
        pre.target = spec.clone();
    }
    let val = if val_rows.is_empty() {
        None
    } else {
        Some(pre.transform(&table.select_rows(&val_rows)).map_err(|e| in_table(e, &val_rows))?)
    };
    let test_encoded = pre.transform(test).map_err(|e| match test_rows {
        Some(rows) => in_table(e, rows),
        None => e,
    })?;
    let set = TableSet {
        name: table.path.file_stem().map_or_else(|| "table".to_string(), |s| s.to_string_lossy().into_owned()),
        train: pre.transform(&train).map_err(|e| in_table(e, &train_rows))?,
        val,
        test: test_encoded,
        preprocessor: pre,
    };
    if set.test.targets.is_none() {
        return Err(test.no_such_column(&s.target, "--target (in the test table)"));
    }
    Ok((set, warnings))
}

/// An error about a row of a part of a table (the part holding the table's rows `rows`, in
/// order) as one about the table's own row, which is what a person can find in the file: the
/// parts are shuffled draws, so the part's 5th row may be the file's 31st.
fn in_table(error: TableError, rows: &[usize]) -> TableError {
    let to_table = |mut place: Place| {
        if place.is_row {
            place.line =
                place.line.and_then(|l| rows.get(usize::try_from(l).ok()?.checked_sub(1)?)).map(|&r| r as u64 + 1);
        }
        place
    };
    match error {
        TableError::Bad { path, place, message } => TableError::Bad { path, place: to_table(place), message },
        TableError::Unusable { path, place, message } => TableError::Unusable { path, place: to_table(place), message },
        other => other,
    }
}

fn too_few(table: &Table, kept: usize, held: usize, flag: &str) -> TableError {
    let why = if held == 0 && kept > 1 {
        format!(
            "{flag} holds no row out (give a share that is at least one row, or {})",
            if flag == "--test-split" { "--test FILE" } else { "--val-split 0 for none" }
        )
    } else {
        format!("{flag} leaves {kept} row(s) to train on and {held} held out: the table is too small for it")
    };
    TableError::unusable(&table.path, Default::default(), why)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use nabla_data::table::{Cells, Column};

    use super::*;

    fn table(rows: usize) -> Table {
        let x: Vec<f64> = (0..rows).map(|i| i as f64).collect();
        let y: Vec<Option<String>> = (0..rows).map(|i| Some(if i % 3 == 0 { "a" } else { "b" }.to_string())).collect();
        let v: Vec<f64> = (0..rows).map(|i| (i * i) as f64).collect();
        Table {
            path: PathBuf::from("t.csv"),
            columns: vec![
                Column { name: "x".into(), cells: Cells::Numbers(x) },
                Column { name: "y".into(), cells: Cells::Text(y) },
                Column { name: "v".into(), cells: Cells::Numbers(v) },
            ],
            rows,
        }
    }

    fn settings(target: &str, task: Task) -> TableSettings {
        TableSettings {
            target: target.into(),
            task,
            preprocess: PreprocessOptions::default(),
            test_split: 0.2,
            val_split: 0.25,
            seed: 3,
        }
    }

    #[test]
    fn a_split_is_stratified_disjoint_and_complete() {
        let t = table(60);
        let (set, _) = prepare(&t, None, &settings("y", Task::Classify)).unwrap();
        let val = set.val.as_ref().unwrap();
        assert_eq!((set.train.rows, val.rows, set.test.rows), (36, 12, 12));
        // Stratified: a third of each part is class `a`.
        for part in [&set.train, val, &set.test] {
            let Some(Targets::Classes(c)) = &part.targets else { panic!() };
            assert_eq!(c.iter().filter(|&&k| k == 0).count() * 3, c.len());
        }
        // Disjoint and complete: the raw `x` values (0..60) of the three parts.
        let x_of = |e: &nabla_data::table::Encoded| -> Vec<i64> {
            let FeatureSpecNumeric { mean, std } = numeric(&set.preprocessor, "x");
            (0..e.rows).map(|i| (f64::from(e.x[i * e.features]) * std + mean).round() as i64).collect()
        };
        let mut all: Vec<i64> = [x_of(&set.train), x_of(val), x_of(&set.test)].concat();
        all.sort_unstable();
        assert_eq!(all, (0..60).collect::<Vec<_>>());
    }

    struct FeatureSpecNumeric {
        mean: f64,
        std: f64,
    }

    fn numeric(pre: &Preprocessor, column: &str) -> FeatureSpecNumeric {
        for f in &pre.features {
            if let nabla_data::table::FeatureSpec::Numeric { column: c, mean, std, .. } = f {
                if c == column {
                    return FeatureSpecNumeric { mean: *mean, std: *std };
                }
            }
        }
        panic!("no numeric feature {column}")
    }

    #[test]
    fn folds_cover_every_row_once_and_fit_on_their_training_rows() {
        let t = table(50);
        let s = TableSettings { val_split: 0.0, ..settings("v", Task::Regress) };
        let folds = folds(&t, 5, &s).unwrap();
        assert_eq!(folds.len(), 5);
        assert!(folds.iter().all(|(f, _)| f.test.rows == 10 && f.train.rows == 40 && f.val.is_none()));
        // Each fold's scaling comes from its own training rows: the means differ.
        let means: Vec<f64> = folds.iter().map(|(f, _)| numeric(&f.preprocessor, "x").mean).collect();
        assert!(means.windows(2).any(|w| w[0] != w[1]), "{means:?}");
        assert!(folds[2].0.name.contains("fold 3 of 5"));
        assert!(super::folds(&t, 1, &s).unwrap_err().to_string().contains("--folds 1"));
    }

    /// The parts are shuffled draws: an error about a part's row names the table's row.
    #[test]
    fn an_error_in_a_part_names_the_tables_row() {
        let mut t = table(60);
        let Cells::Numbers(x) = &mut t.columns[0].cells else { panic!() };
        x[44] = f64::NAN;
        for result in [
            prepare(&t, None, &settings("y", Task::Classify)).map(|_| ()),
            folds(&t, 3, &settings("y", Task::Classify)).map(|_| ()),
        ] {
            assert_eq!(result.unwrap_err().to_string().split(": missing").next().unwrap(), "t.csv, row 45, column `x`");
        }
    }

    #[test]
    fn the_task_is_told_or_inferred() {
        let t = table(30);
        assert_eq!(choose_task(&t, "y", TaskChoice::Auto).unwrap().0, Task::Classify);
        assert_eq!(choose_task(&t, "v", TaskChoice::Auto).unwrap().0, Task::Regress);
        assert_eq!(choose_task(&t, "x", TaskChoice::Fixed(Task::Classify)).unwrap().1, "--task classify");
        assert!(choose_task(&t, "nope", TaskChoice::Auto).unwrap_err().to_string().contains("no column `nope`"));
    }
}
