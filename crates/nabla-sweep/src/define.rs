//! A sweep's definition: a new one from its settings (the command line's, over a sweep file's,
//! over the defaults), or a stored one resumed with what a resume may change.

use std::path::{Path, PathBuf};

use crate::table::{self, OpenedTable, SPLIT_KEYS};
use crate::{grid, random, ParamSpec, SweepDef, SweepError, SweepFile, TableSource};

/// The settings of a new sweep as given (the command line's flags); a `None` falls back to
/// the sweep file, then to the default.
#[derive(Debug, Clone, Default)]
pub struct SweepSettings {
    /// What to train: mnist, fashion-mnist, digits, xor, or a table's file.
    pub target: Option<String>,
    /// A table's column, task and reading flags as given (`None` when no table flag was);
    /// an empty column or task falls back to the sweep file, then to the default.
    pub table: Option<TableSource>,
    /// Swept settings; each replaces the file's parameter of the same key.
    pub grid: Vec<(String, ParamSpec)>,
    /// Trials of a random search instead of the full grid.
    pub random: Option<usize>,
    /// Seed of the random draws (default 0).
    pub seed: Option<u64>,
    /// Settings fixed for every trial, after the file's.
    pub set: Vec<(String, String)>,
    /// Epochs of every trial (short for `epochs` in `set`).
    pub epochs: Option<usize>,
    /// The ranking metric (default `val/acc`; `train/loss` for xor).
    pub metric: Option<String>,
    /// `max` or `min` (default: min for a loss, else max).
    pub goal: Option<String>,
    /// Trials at once (default 1).
    pub jobs: Option<usize>,
    /// Threads in all (default: every core).
    pub threads: Option<usize>,
    /// Where trial checkpoints go (default `runs/sweep-ID`).
    pub out: Option<PathBuf>,
    /// Where data sets are looked for.
    pub data: Option<PathBuf>,
    /// The tracker project of the trials (default: the target).
    pub project: Option<String>,
    /// The command line that makes the sweep, as a reader would type it.
    pub command: String,
}

/// A new sweep from its settings over a sweep file (the settings win), with a fresh id and
/// its trials expanded; paths are made absolute so that a resume from another folder writes
/// to the same place. A table is read here, once, to decide its task; it comes back with the
/// sweep so that its split needs no second read.
pub fn define(settings: &SweepSettings, file: &SweepFile) -> Result<(SweepDef, Option<OpenedTable>), SweepError> {
    let target = settings.target.clone().or(file.target.clone()).ok_or_else(|| {
        SweepError::Input(
            "what to train? give a target (mnist, fashion-mnist, digits, xor, or a table's file) or --file".into(),
        )
    })?;
    let (target, source, opened) = if table::is_table_path(&target) {
        let path = absolute(Path::new(&target))?;
        let mut source = settings.table.clone().unwrap_or_default();
        if source.column.is_empty() {
            source.column = file.column.clone().unwrap_or_default();
        }
        if source.task.is_empty() {
            source.task = file.task.clone().unwrap_or_default();
        }
        source.test = source.test.as_deref().map(absolute).transpose()?;
        source.target_file = source.target_file.as_deref().map(absolute).transpose()?;
        let opened = table::open(&path, &mut source)?;
        (path.display().to_string(), Some(source), Some(opened))
    } else {
        if settings.table.is_some() || file.column.is_some() || file.task.is_some() {
            return Err(SweepError::Input(format!(
                "--target COLUMN and --task are for a table (a .csv, .parquet, .npy or .npz file), not {target}"
            )));
        }
        if target != "xor" {
            nabla_data::spec(&target)?;
        }
        (target, None, None)
    };
    let mut params = file.params.clone();
    for (k, spec) in &settings.grid {
        params.retain(|(key, _)| key != k);
        params.push((k.clone(), spec.clone()));
    }
    if params.is_empty() {
        return Err(SweepError::Input(
            "nothing to sweep: give --grid KEY=VALUES (e.g. --grid lr=0.001,0.01,0.1) or a --file with [grid]".into(),
        ));
    }
    let mut fixed = file.fixed.clone();
    fixed.extend(settings.set.iter().cloned());
    if let Some(e) = settings.epochs {
        fixed.push(("epochs".into(), e.to_string()));
    }
    if let Some(key) = params.iter().map(|(k, _)| k).find(|k| source.is_some() && SPLIT_KEYS.contains(&k.as_str())) {
        return Err(SweepError::Input(format!(
            "{key} decides the split that every trial of a table sweep shares: fix it with --set {key}=…, not --grid"
        )));
    }
    let trials = match settings.random.or(file.random) {
        Some(n) if n > nabla::limits::MAX_TRIALS => {
            return Err(SweepError::Input(format!(
                "--random {n}: a sweep runs at most {} trials (nabla::limits::MAX_TRIALS)",
                nabla::limits::MAX_TRIALS
            )))
        }
        Some(n) => random(&params, n, settings.seed.or(file.seed).unwrap_or(0)),
        None => grid(&params).map_err(SweepError::Input)?,
    };
    let metric = settings.metric.clone().or(file.metric.clone()).unwrap_or_else(|| match (target.as_str(), &source) {
        ("xor", _) => "train/loss".into(),
        (_, Some(t)) if t.task == "regress" => "val/r2".into(),
        _ => "val/acc".into(),
    });
    let goal = settings.goal.clone().or(file.goal.clone()).unwrap_or_else(|| {
        if metric.contains("loss") {
            "min".into()
        } else {
            "max".into()
        }
    });
    if goal != "max" && goal != "min" {
        return Err(SweepError::Input(format!("goal = {goal}: expected max or min")));
    }
    let jobs = settings.jobs.or(file.jobs).unwrap_or(1).max(1);
    let threads = settings.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let id = new_id();
    let out = absolute(&settings.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("sweep-{id}"))))?;
    let data = settings.data.as_deref().map(absolute).transpose()?;
    let project = settings.project.clone().unwrap_or_else(|| match &source {
        Some(_) => Path::new(&target).file_stem().map_or_else(|| target.clone(), |s| s.to_string_lossy().into_owned()),
        None => target.clone(),
    });
    let def = SweepDef {
        id,
        project,
        target,
        table: source,
        keys: params.iter().map(|(k, _)| k.clone()).collect(),
        fixed,
        trials,
        metric,
        goal,
        jobs,
        threads,
        out,
        data,
        command: settings.command.clone(),
    };
    Ok((def, opened))
}

impl SweepDef {
    /// The stored sweep with what a resume may change: how many trials at once, the threads,
    /// and where the data is (when it moved). Everything else is as the sweep was made.
    pub fn resumed(
        mut self,
        jobs: Option<usize>,
        threads: Option<usize>,
        data: Option<&Path>,
    ) -> Result<SweepDef, SweepError> {
        if let Some(jobs) = jobs {
            self.jobs = jobs;
        }
        if let Some(threads) = threads {
            self.threads = threads;
        }
        if let Some(data) = data {
            self.data = Some(absolute(data)?);
        }
        Ok(self)
    }
}

/// A fresh sweep id: 8 hex digits from the clock and the process.
fn new_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut rng = nabla::Rng::new((nanos as u64) ^ (u64::from(std::process::id()) << 32));
    format!("{:08x}", rng.next_u64() as u32)
}

/// `path` from the current folder (not required to exist yet).
fn absolute(path: &Path) -> Result<PathBuf, SweepError> {
    std::path::absolute(path).map_err(|source| SweepError::Resolve { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{is_sweep_id, parse_param};

    fn settings(target: &str, grid: &[&str]) -> SweepSettings {
        SweepSettings {
            target: Some(target.into()),
            grid: grid.iter().map(|g| parse_param(g).unwrap()).collect(),
            ..SweepSettings::default()
        }
    }

    #[test]
    fn settings_win_over_the_file_and_defaults_follow_the_target_and_metric() {
        let file = crate::parse_file(
            "target = \"xor\"\njobs = 3\n[grid]\nlr = [0.1, 1]\noptimizer = [\"sgd\", \"adam\"]\n[set]\nepochs = 9\n",
        )
        .unwrap();
        let mut s = settings("digits", &["lr=0.5"]);
        s.epochs = Some(2);
        s.threads = Some(4);
        let d = define(&s, &file).unwrap().0;
        assert!(is_sweep_id(&d.id) && d.id.len() == 8, "{}", d.id);
        assert_eq!((d.target.as_str(), d.project.as_str()), ("digits", "digits"));
        assert_eq!(d.keys, ["optimizer", "lr"]);
        assert_eq!(d.trials.len(), 2);
        assert_eq!(d.fixed, [("epochs".to_string(), "9".to_string()), ("epochs".to_string(), "2".to_string())]);
        assert_eq!((d.metric.as_str(), d.goal.as_str(), d.jobs, d.threads), ("val/acc", "max", 3, 4));
        assert!(d.out.is_absolute() && d.out.ends_with(format!("runs/sweep-{}", d.id)));

        let d = define(&settings("xor", &["lr=0.1,1"]), &SweepFile::default()).unwrap().0;
        assert_eq!((d.metric.as_str(), d.goal.as_str()), ("train/loss", "min"));
    }

    #[test]
    fn bad_settings_say_what_is_missing() {
        let none = SweepFile::default();
        let e = define(&SweepSettings::default(), &none).unwrap_err().to_string();
        assert!(e.starts_with("what to train?"), "{e}");
        assert!(define(&settings("digits", &[]), &none).unwrap_err().to_string().starts_with("nothing to sweep"));
        assert!(define(&settings("nosuch", &["lr=1"]), &none).is_err());
        let mut s = settings("digits", &["lr=1"]);
        s.goal = Some("up".into());
        assert_eq!(define(&s, &none).unwrap_err().to_string(), "goal = up: expected max or min");
        let e = define(&settings("digits", &["lr=0.1..1"]), &none).unwrap_err().to_string();
        assert!(e.contains("--random"), "{e}");
        // Regression (issue 21): `--random 1000000000` aborted on a 24 GB allocation, and a grid
        // of 18 million trials grew to 4 GB before failing.
        let mut s = settings("xor", &["lr=0.1..1"]);
        s.random = Some(1_000_000_000);
        assert!(define(&s, &none).unwrap_err().to_string().contains("at most 10000 trials"));
        let ten = "=0,1,2,3,4,5,6,7,8,9";
        let keys = ["lr", "hidden", "epochs", "seed", "init"].map(|k| format!("{k}{ten}"));
        let e = define(&settings("xor", &keys.each_ref().map(String::as_str)), &none).unwrap_err().to_string();
        assert!(e.contains("a grid of 100000 trials"), "{e}");
    }

    #[test]
    fn a_resume_changes_only_jobs_threads_and_data() {
        let d = define(&settings("digits", &["lr=0.1,1"]), &SweepFile::default()).unwrap().0;
        let r = d.clone().resumed(Some(2), None, Some(Path::new("data"))).unwrap();
        assert_eq!((r.jobs, r.threads), (2, d.threads));
        assert!(r.data.as_ref().is_some_and(|p| p.is_absolute() && p.ends_with("data")));
        assert_eq!(SweepDef { jobs: 1, data: None, ..r }, d);
    }
}
