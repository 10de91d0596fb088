//! Where data sets live: the data roots searched in order, and a data set's files in them.
//!
//! The roots are, in order: the folder given explicitly (`--data DIR`), then `$NABLA_DATA`,
//! then the user's data directory (`~/.local/share/nabla` on Linux, the platform's equivalent
//! elsewhere). A data set called `name` is found in `ROOT/name/` when all its files are there,
//! each either as downloaded (`.gz`) or decompressed (the name without `.gz`).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::catalog::{spec, DatasetSpec, FileSpec};
use crate::DataError;

/// The environment variable naming a data root.
pub const DATA_ENV: &str = "NABLA_DATA";

/// Why a folder is a data root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// Given by the caller (`--data DIR`).
    Explicit,
    /// From `$NABLA_DATA`.
    Env,
    /// The user's data directory.
    UserData,
}

impl fmt::Display for RootSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RootSource::Explicit => "--data",
            RootSource::Env => DATA_ENV,
            RootSource::UserData => "user data dir",
        })
    }
}

/// A folder under which data sets are looked for, one sub-folder per data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoot {
    /// The folder.
    pub path: PathBuf,
    /// Where it came from.
    pub source: RootSource,
}

/// The user's data directory for nabla (`$XDG_DATA_HOME/nabla` or `~/.local/share/nabla` on
/// Linux), if the platform has one.
pub fn user_data_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.data_dir().join("nabla"))
}

/// The data roots in search order: `explicit`, then `$NABLA_DATA`, then [`user_data_dir`].
pub fn data_roots(explicit: Option<&Path>) -> Vec<DataRoot> {
    data_roots_from(explicit, std::env::var_os(DATA_ENV), user_data_dir())
}

/// [`data_roots`] with the environment and user directory passed in. Empty values are
/// skipped and a folder listed twice is kept once, at its first place.
pub fn data_roots_from(explicit: Option<&Path>, env: Option<OsString>, user: Option<PathBuf>) -> Vec<DataRoot> {
    let candidates = [
        (explicit.map(Path::to_path_buf), RootSource::Explicit),
        (env.map(PathBuf::from), RootSource::Env),
        (user, RootSource::UserData),
    ];
    let mut roots: Vec<DataRoot> = Vec::new();
    for (path, source) in candidates {
        let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else { continue };
        if !roots.iter().any(|r| r.path == path) {
            roots.push(DataRoot { path, source });
        }
    }
    roots
}

/// The path of `file` in `dir` if it exists there, compressed (`name.gz`) preferred over
/// decompressed (`name` without `.gz`).
pub fn existing_file(dir: &Path, file: &FileSpec) -> Option<PathBuf> {
    let gz = dir.join(file.name);
    if gz.is_file() {
        return Some(gz);
    }
    let plain = dir.join(file.name.strip_suffix(".gz")?);
    plain.is_file().then_some(plain)
}

/// What one data root holds of one data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The root searched.
    pub root: DataRoot,
    /// The data set's folder in it (`ROOT/name`).
    pub dir: PathBuf,
    /// The files found, in the order of [`DatasetSpec::files`] (`None` where missing).
    pub files: Vec<Option<PathBuf>>,
}

impl Lookup {
    /// Whether every file is there.
    pub fn is_complete(&self) -> bool {
        self.files.iter().all(Option::is_some)
    }

    /// The names of the missing files.
    pub fn missing<'a>(&self, spec: &'a DatasetSpec) -> Vec<&'a str> {
        spec.files.iter().zip(&self.files).filter(|(_, found)| found.is_none()).map(|(f, _)| f.name).collect()
    }
}

/// Looks for `spec` in every root, in order.
pub fn survey(spec: &DatasetSpec, roots: &[DataRoot]) -> Vec<Lookup> {
    roots
        .iter()
        .map(|root| {
            let dir = root.path.join(spec.name);
            let files = spec.files.iter().map(|f| existing_file(&dir, f)).collect();
            Lookup { root: root.clone(), dir, files }
        })
        .collect()
}

/// A data set found complete in a data root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// What the data set is.
    pub spec: &'static DatasetSpec,
    /// The root it was found under.
    pub root: DataRoot,
    /// Its folder, `ROOT/name`.
    pub dir: PathBuf,
    /// Its files, in the order of [`DatasetSpec::files`].
    pub files: Vec<PathBuf>,
}

/// Finds the data set `name` in the first root (of [`data_roots`]`(explicit)`) that holds all
/// its files. The error lists every folder looked in.
pub fn find(name: &str, explicit: Option<&Path>) -> Result<Located, DataError> {
    find_in(spec(name)?, &data_roots(explicit))
}

/// [`find`] over the given roots.
pub fn find_in(spec: &'static DatasetSpec, roots: &[DataRoot]) -> Result<Located, DataError> {
    let lookups = survey(spec, roots);
    for lookup in &lookups {
        if lookup.is_complete() {
            return Ok(Located {
                spec,
                root: lookup.root.clone(),
                dir: lookup.dir.clone(),
                files: lookup.files.iter().flatten().cloned().collect(),
            });
        }
    }
    // A folder (or anything not a file) where a data file belongs is named, rather than
    // reported as nothing found, which would send `find_or_fetch` to download over it.
    for lookup in &lookups {
        for file in spec.files {
            let candidates =
                [Some(lookup.dir.join(file.name)), file.name.strip_suffix(".gz").map(|p| lookup.dir.join(p))];
            if let Some(path) = candidates.into_iter().flatten().find(|p| p.exists() && !p.is_file()) {
                return Err(DataError::NotAFile { name: spec.name.to_string(), file: file.name.to_string(), path });
            }
        }
    }
    Err(DataError::NotFound { name: spec.name.to_string(), looked_in: lookups.into_iter().map(|l| l.dir).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::DATASETS;

    #[test]
    fn roots_in_order_without_empties_or_repeats() {
        let roots = data_roots_from(Some(Path::new("/a")), Some("/b".into()), Some("/c".into()));
        let order: Vec<_> = roots.iter().map(|r| (r.path.to_str().unwrap(), r.source)).collect();
        assert_eq!(order, [("/a", RootSource::Explicit), ("/b", RootSource::Env), ("/c", RootSource::UserData)]);

        let roots = data_roots_from(None, Some("".into()), Some("/c".into()));
        assert_eq!(roots.len(), 1);
        let roots = data_roots_from(Some(Path::new("/a")), Some("/a".into()), None);
        assert_eq!(roots, [DataRoot { path: "/a".into(), source: RootSource::Explicit }]);
    }

    #[test]
    fn found_only_when_complete_and_raw_files_count() {
        let tmp = tempfile::tempdir().unwrap();
        let digits = &DATASETS[2];
        let roots = [
            DataRoot { path: tmp.path().join("empty"), source: RootSource::Explicit },
            DataRoot { path: tmp.path().join("full"), source: RootSource::Env },
        ];
        let err = find_in(digits, &roots).unwrap_err().to_string();
        assert!(err.contains("looked in: ") && err.contains("empty/digits") && err.contains("full/digits"), "{err}");

        let dir = tmp.path().join("full/digits");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("digits.csv"), "x").unwrap();
        let found = find_in(digits, &roots).unwrap();
        assert_eq!(found.root.source, RootSource::Env);
        assert_eq!(found.files, [dir.join("digits.csv")]);

        std::fs::write(dir.join("digits.csv.gz"), "x").unwrap();
        assert_eq!(find_in(digits, &roots).unwrap().files, [dir.join("digits.csv.gz")]);

        // Regression (issue 21): a folder where the file belongs was "not found" (and `train`
        // would download over it).
        let blocked = tmp.path().join("blocked");
        std::fs::create_dir_all(blocked.join("digits/digits.csv")).unwrap();
        let roots2 = [DataRoot { path: blocked, source: RootSource::Explicit }];
        let err = find_in(digits, &roots2).unwrap_err();
        assert!(matches!(err, DataError::NotAFile { .. }), "{err}");
        assert!(err.to_string().contains("digits.csv is not a file"), "{err}");

        let mnist = survey(&DATASETS[0], &roots);
        assert_eq!(mnist[1].missing(&DATASETS[0]).len(), 4);
        assert!(!mnist[1].is_complete());
    }

    #[test]
    fn no_roots_says_how_to_give_one() {
        let err = find_in(&DATASETS[0], &[]).unwrap_err().to_string();
        assert!(err.contains("--data DIR") && err.contains("NABLA_DATA"), "{err}");
    }
}
