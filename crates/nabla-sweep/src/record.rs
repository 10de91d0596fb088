//! The sweep record: the definition `nabla sweep` keeps in the tracking directory
//! (`sweeps/ID.json`, pretty-printed JSON), with every setting the sweep was made with, so
//! that resuming it and reading its results need nothing else.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::SweepError;

/// One trial: the swept keys and the values it takes, as text, in the sweep's key order.
pub type Trial = Vec<(String, String)>;

/// A sweep as stored in `sweeps/ID.json`: enough to resume it and to read its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDef {
    /// The sweep's id (the tag of its runs is `sweep:ID`).
    pub id: String,
    /// What it trains: a data set's name, `xor`, or a table's path (absolute).
    pub target: String,
    /// What a table's trials learn and how its rows are read and split; `None` for a data
    /// set or xor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableSource>,
    /// The tracker project of its runs.
    pub project: String,
    /// The swept keys, in order.
    pub keys: Vec<String>,
    /// The settings fixed for every trial.
    pub fixed: Vec<(String, String)>,
    /// Every trial's values.
    pub trials: Vec<Trial>,
    /// The ranking metric.
    pub metric: String,
    /// `max` or `min`.
    pub goal: String,
    /// Trials at once.
    pub jobs: usize,
    /// Total threads.
    pub threads: usize,
    /// Where trial checkpoints go (absolute since sweeps record it so; older sweeps may hold a
    /// path relative to where they were started).
    pub out: PathBuf,
    /// Where data sets were looked for (`--data`), if given; absolute.
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// The command line that made it.
    pub command: String,
}

/// A table sweep's data: the column to predict, the task decided when the sweep was made, and
/// the reading, splitting and preprocessing flags of `nabla train TABLE`, as text (so that
/// readers of the record need no table code). Every trial trains on the same split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableSource {
    /// The column to predict (`y` for NumPy files).
    pub column: String,
    /// `classify` or `regress`.
    pub task: String,
    /// The table's rows when the sweep was made: the table recipe's defaults depend on them
    /// (`TrainConfig::for_table`), and a resume keeps the recipe it started with.
    pub rows: usize,
    /// Share of the rows held out for the test (default 0.2), unless `test` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_split: Option<f64>,
    /// A separate table to test on (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Columns left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    /// How missing feature values are filled (`mean`, `median`, `zero`), if at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impute: Option<String>,
    /// `ignore` when an unseen category becomes zeros.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// How numeric columns are scaled (`minmax`, `none`), when not standardised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    /// A CSV file's field delimiter, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// The target of a `.npy` feature file (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_file: Option<PathBuf>,
}

impl SweepDef {
    /// Whether its trials train on a table (a CSV, Parquet or NumPy file).
    pub fn is_table(&self) -> bool {
        self.table.is_some()
    }

    /// Whether a larger metric is better.
    pub fn maximises(&self) -> bool {
        self.goal == "max"
    }

    /// The matrix threads of each job: the sweep's threads shared between its jobs.
    pub fn threads_per_job(&self) -> usize {
        (self.threads / self.jobs).max(1)
    }
}

/// Whether `id` can name a sweep: letters, digits, `-` and `_` (so that an id taken from a URL
/// never reaches outside the `sweeps` folder).
pub fn is_sweep_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The path of a sweep's definition in a tracking directory.
pub fn def_path(tracking: &Path, id: &str) -> PathBuf {
    tracking.join("sweeps").join(format!("{id}.json"))
}

/// Whether the tracking directory holds a sweep of this id.
pub fn exists(tracking: &Path, id: &str) -> bool {
    is_sweep_id(id) && def_path(tracking, id).is_file()
}

/// Reads a sweep's definition; the error says where it looked.
pub fn load_def(tracking: &Path, id: &str) -> Result<SweepDef, SweepError> {
    if !is_sweep_id(id) {
        return Err(SweepError::Input(format!("`{id}` is not a sweep id (letters, digits, - and _)")));
    }
    let path = def_path(tracking, id);
    let text = std::fs::read_to_string(&path).map_err(|source| SweepError::UnknownSweep {
        id: id.to_string(),
        dir: tracking.to_path_buf(),
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SweepError::BadSweep { path, source })
}

/// Writes a sweep's definition atomically (creating `sweeps/`).
pub fn save_def(tracking: &Path, def: &SweepDef) -> Result<(), SweepError> {
    let path = def_path(tracking, &def.id);
    let dir = tracking.join("sweeps");
    std::fs::create_dir_all(&dir).map_err(|source| SweepError::Io { context: "creating", path: dir, source })?;
    let text =
        serde_json::to_string_pretty(def).map_err(|source| SweepError::BadSweep { path: path.clone(), source })?;
    nabla_plot::write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// A sweep record for unit tests: one key (`lr`), no trials, the given goal.
#[cfg(test)]
pub(crate) fn sample_def(goal: &str) -> SweepDef {
    SweepDef {
        id: "abc123".into(),
        target: "digits".into(),
        table: None,
        project: "digits".into(),
        keys: vec!["lr".into()],
        fixed: Vec::new(),
        trials: Vec::new(),
        metric: "val/acc".into(),
        goal: goal.into(),
        jobs: 1,
        threads: 1,
        out: PathBuf::from("/tmp/x"),
        data: None,
        command: "nabla sweep".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_ids_stay_inside_the_sweeps_folder() {
        assert!(is_sweep_id("0a1b2c3d") && is_sweep_id("my_sweep-2"));
        for bad in ["", "..", "../x", "a/b", "a.json", "a b", "%2e%2e"] {
            assert!(!is_sweep_id(bad), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_def(dir.path(), "../../etc/passwd"), Err(SweepError::Input(_))));
        let e = load_def(dir.path(), "nosuch").unwrap_err();
        assert!(e.to_string().contains("no sweep `nosuch`"), "{e}");
    }

    #[test]
    fn definitions_round_trip_and_older_ones_without_data_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = sample_def("max");
        d.data = Some(PathBuf::from("/data"));
        save_def(dir.path(), &d).unwrap();
        assert_eq!(load_def(dir.path(), "abc123").unwrap(), d);
        let mut old = serde_json::to_value(sample_def("max")).unwrap();
        old.as_object_mut().unwrap().remove("data");
        std::fs::write(def_path(dir.path(), "old"), old.to_string()).unwrap();
        assert_eq!(load_def(dir.path(), "old").unwrap().data, None);
        std::fs::write(def_path(dir.path(), "bad"), "{}").unwrap();
        assert!(load_def(dir.path(), "bad").unwrap_err().to_string().contains("bad.json"));
    }
}
