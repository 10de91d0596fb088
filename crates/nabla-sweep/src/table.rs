//! A table sweep's data: the user's table read (once, when the sweep is made), its task decided
//! and said, and one split with preprocessing fitted on its training rows, shared by every
//! trial — so that trials differ only in what they sweep, as the runs of a scikit-learn grid
//! search share their data. The split's seed and validation share are the sweep's fixed
//! settings (`--set seed=…`, `--set val-split=…`), never a trial's.

use std::path::Path;

use nabla_data::table::{Impute, PreprocessOptions, ReadOptions, Scale, Table, TableFormat, Task, TaskChoice, Unknown};
use nabla_train::config::TrainConfig;
use nabla_train::tabular::{self, TableSettings};
use nabla_train::train::TableSet;

use crate::trial::apply;
use crate::{SweepDef, SweepError, TableSource};

/// The settings a table sweep may fix but not sweep: they decide the split every trial shares.
pub const SPLIT_KEYS: [&str; 2] = ["seed", "val-split"];

/// Whether `target` names a table file (by its extension) rather than a data set.
pub fn is_table_path(target: &str) -> bool {
    TableFormat::of(Path::new(target)).is_some()
}

/// A new sweep's table, read once: the rows its trials split, and why its task is what it is.
#[derive(Debug)]
pub struct OpenedTable {
    /// The table as read.
    pub table: Table,
    /// The reason for the task, in words (`the target holds text`, `--task regress`).
    pub why: String,
}

/// Reads a new sweep's table at `path` and decides its task: `source.task` as told
/// (`classify`, `regress`) or, when empty or `auto`, from the column. Fills in the column
/// (`y` for NumPy files), the task and the rows.
pub fn open(path: &Path, source: &mut TableSource) -> Result<OpenedTable, SweepError> {
    let table = Table::read(path, &read_options(source))?;
    if source.column.is_empty() {
        match TableFormat::of(path) {
            Some(TableFormat::Npy | TableFormat::Npz) => source.column = "y".into(),
            _ => {
                return Err(SweepError::Input(format!(
                    "{}: --target COLUMN (`column` in a sweep file) says which column to predict (the columns are: {})",
                    path.display(),
                    table.names().join(", ")
                )))
            }
        }
    }
    let choice: TaskChoice =
        if source.task.is_empty() { TaskChoice::Auto } else { source.task.parse().map_err(SweepError::Input)? };
    let (task, why) = tabular::choose_task(&table, &source.column, choice)?;
    source.task = task.name().to_string();
    source.rows = table.rows;
    Ok(OpenedTable { table, why })
}

/// The recipe a table sweep's trials start from: `nabla train TABLE`'s defaults for the
/// table's rows and task, as when the sweep was made.
pub fn recipe(source: &TableSource) -> Result<TrainConfig, SweepError> {
    Ok(TrainConfig::for_table(source.rows, task(source)?))
}

/// The split every trial of a table sweep trains on, with the warnings a person should see
/// (columns left out). `table` is the table when it has just been read, else the sweep's file
/// is read again (a resume).
pub fn split(def: &SweepDef, table: Option<Table>) -> Result<(TableSet, Vec<String>), SweepError> {
    let source = def
        .table
        .as_ref()
        .ok_or_else(|| SweepError::Input(format!("sweep {} trains on {}, not a table", def.id, def.target)))?;
    let options = read_options(source);
    let table = match table {
        Some(t) => t,
        None => Table::read(Path::new(&def.target), &options)?,
    };
    let test = source.test.as_deref().map(|p| Table::read(p, &options)).transpose()?;
    let fixed = apply(&recipe(source)?, &def.fixed, &[]).map_err(SweepError::Input)?;
    let settings = TableSettings {
        target: source.column.clone(),
        task: task(source)?,
        preprocess: preprocess(source)?,
        test_split: source.test_split.unwrap_or(0.2),
        val_split: fixed.val_split,
        seed: fixed.seed,
    };
    Ok(tabular::prepare(&table, test.as_ref(), &settings)?)
}

/// The task a sweep decided for its table.
pub fn task(source: &TableSource) -> Result<Task, SweepError> {
    match source.task.parse::<TaskChoice>() {
        Ok(TaskChoice::Fixed(task)) => Ok(task),
        _ => Err(SweepError::Input(format!("task `{}`: expected classify or regress", source.task))),
    }
}

fn read_options(source: &TableSource) -> ReadOptions {
    ReadOptions {
        delimiter: source.delimiter.and_then(|c| u8::try_from(c).ok()),
        target_file: source.target_file.clone(),
        drop: source.drop.clone(),
        threads: None,
    }
}

fn preprocess(source: &TableSource) -> Result<PreprocessOptions, SweepError> {
    let impute = source.impute.as_deref().map(str::parse::<Impute>).transpose().map_err(SweepError::Input)?;
    let unknown = match source.unknown.as_deref() {
        None | Some("error") => Unknown::Error,
        Some("ignore") => Unknown::Ignore,
        Some(other) => return Err(SweepError::Input(format!("unknown = {other}: expected ignore or error"))),
    };
    let scale = source.scale.as_deref().map(str::parse::<Scale>).transpose().map_err(SweepError::Input)?;
    Ok(PreprocessOptions { impute, unknown, scale: scale.unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::{define, parse_param, SweepFile, SweepSettings};

    /// A CSV of `rows` rows: two numeric features, a class `kind` and a number `size`.
    fn csv(dir: &Path, rows: usize) -> std::path::PathBuf {
        let mut text = String::from("a,b,kind,size\n");
        for i in 0..rows {
            let (a, b) = ((i % 7) as f64, (i % 5) as f64 * 0.5);
            let _ = writeln!(text, "{a},{b},{},{}", if a + b > 4.0 { "big" } else { "small" }, 2.0 * a - b);
        }
        let path = dir.join("shapes.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn settings(target: &Path, column: &str, grid: &str) -> SweepSettings {
        SweepSettings {
            target: Some(target.display().to_string()),
            table: Some(TableSource { column: column.into(), ..TableSource::default() }),
            grid: vec![parse_param(grid).unwrap()],
            threads: Some(1),
            ..SweepSettings::default()
        }
    }

    #[test]
    fn a_table_sweep_decides_its_task_once_and_keeps_the_table_recipe() {
        let dir = tempfile::tempdir().unwrap();
        let path = csv(dir.path(), 60);
        let (def, opened) = define(&settings(&path, "kind", "lr=0.01,0.1"), &SweepFile::default()).unwrap();
        let source = def.table.clone().unwrap();
        assert_eq!((source.task.as_str(), source.rows), ("classify", 60));
        assert_eq!((def.project.as_str(), def.metric.as_str(), def.goal.as_str()), ("shapes", "val/acc", "max"));
        assert!(Path::new(&def.target).is_absolute());
        let opened = opened.unwrap();
        assert!(opened.why.contains("text"), "{}", opened.why);
        let base = recipe(&source).unwrap();
        assert_eq!((base.hidden.clone(), base.batch_size), (vec![128], 32));

        // Every trial trains on one split; its seed and validation share are the fixed ones.
        let mut fixed = def.clone();
        fixed.fixed.push(("val-split".into(), "0.25".into()));
        let (set, _) = split(&fixed, Some(opened.table)).unwrap();
        let (again, _) = split(&fixed, None).unwrap();
        let val = set.val.as_ref().unwrap();
        assert_eq!(val.x, again.val.as_ref().unwrap().x, "a resume reads the table again into the same split");
        assert_eq!(set.train.rows + val.rows + set.test.rows, 60);
        assert!((11..=13).contains(&val.rows), "about a quarter of the 48 training rows: {}", val.rows);

        let (def, _) = define(&settings(&path, "size", "l2=0.01,0.1"), &SweepFile::default()).unwrap();
        assert_eq!((def.table.unwrap().task.as_str(), def.metric.as_str()), ("regress", "val/r2"));
    }

    #[test]
    fn a_table_sweep_refuses_what_it_cannot_do_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = csv(dir.path(), 20);
        let e = define(&settings(&path, "", "lr=0.1"), &SweepFile::default()).unwrap_err().to_string();
        assert!(e.contains("--target COLUMN") && e.contains("a, b, kind, size"), "{e}");
        let e = define(&settings(&path, "colour", "lr=0.1"), &SweepFile::default()).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let e = define(&settings(&path, "kind", "seed=1,2"), &SweepFile::default()).unwrap_err().to_string();
        assert!(e.starts_with("seed decides the split"), "{e}");
        let mut s = settings(&path, "kind", "lr=0.1");
        s.target = Some("digits".into());
        let e = define(&s, &SweepFile::default()).unwrap_err().to_string();
        assert!(e.contains("are for a table"), "{e}");
        let file =
            crate::parse_file(&format!("target = {:?}\ncolumn = \"kind\"\ntask = \"sideways\"\n", path.display()))
                .unwrap();
        let s = SweepSettings { grid: vec![parse_param("lr=0.1").unwrap()], ..SweepSettings::default() };
        assert!(define(&s, &file).unwrap_err().to_string().contains("sideways"));
    }
}
