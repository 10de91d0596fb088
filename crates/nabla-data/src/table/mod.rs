//! Tables: a user's own data, whatever file it came in.
//!
//! Every reader (`csv` for CSV/TSV, optionally gzipped; `parquet`; `npy` for NumPy's `.npy` and
//! `.npz`) produces the one in-memory [`Table`]: named columns of equal length, each either numbers
//! (`f64`, NaN for a missing value) or text (as written, `None` for a missing value). What a column
//! means for a model — a numeric feature, a category, the target — is decided later, by
//! [`crate::table::Task`] and the [`Preprocessor`], from the training split alone.

mod csv;
mod error;
mod npy;
mod parquet;
mod preprocess;
mod task;

use std::path::{Path, PathBuf};

pub use error::{printable, Place, TableError};
pub use preprocess::{
    Encoded, FeatureSpec, Impute, PreprocessOptions, Preprocessor, Scale, TargetSpec, Targets, Unknown, Z_LIMIT,
};
pub use task::{infer_task, Task, TaskChoice, MAX_CLASSES};

/// The cells of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    /// Numbers; a missing value is NaN.
    Numbers(Vec<f64>),
    /// Text as written; a missing value is `None`.
    Text(Vec<Option<String>>),
}

impl Cells {
    /// Number of cells.
    pub fn len(&self) -> usize {
        match self {
            Cells::Numbers(v) => v.len(),
            Cells::Text(v) => v.len(),
        }
    }

    /// Whether the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether cell `i` is missing.
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            Cells::Numbers(v) => v[i].is_nan(),
            Cells::Text(v) => v[i].is_none(),
        }
    }

    /// The cells at `rows`, in that order.
    fn select(&self, rows: &[usize]) -> Cells {
        match self {
            Cells::Numbers(v) => Cells::Numbers(rows.iter().map(|&r| v[r]).collect()),
            Cells::Text(v) => Cells::Text(rows.iter().map(|&r| v[r].clone()).collect()),
        }
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name (the header of a CSV file, the field of a Parquet file, `x0`, `x1`, …
    /// for a NumPy array's columns and `y` for its target).
    pub name: String,
    /// Its cells, one per row.
    pub cells: Cells,
}

/// A table in memory: named columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file it was read from (named in every error about it).
    pub path: PathBuf,
    /// The columns, in the file's order.
    pub columns: Vec<Column>,
    /// Number of rows.
    pub rows: usize,
}

/// How to read a table.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The field delimiter of a CSV file (default: tab for `.tsv`, else comma).
    pub delimiter: Option<u8>,
    /// The target of a `.npy` feature file: another `.npy` file with one value per row.
    pub target_file: Option<PathBuf>,
    /// Columns not to read at all (so that a column of a type nabla cannot read can be left out).
    pub drop: Vec<String>,
    /// Threads that parse a CSV file's body and read a Parquet file's columns (default: the
    /// machine's available parallelism). The table is the same whatever the count.
    pub threads: Option<usize>,
}

impl ReadOptions {
    /// The threads a reader may use: [`ReadOptions::threads`], else the available parallelism.
    fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get)).max(1)
    }
}

/// The formats a table can be read from, told by the file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma- or tab-separated text with a header row, optionally gzipped.
    Csv {
        /// Whether the file is gzipped (`.gz`).
        gzip: bool,
        /// Whether it is tab-separated by name (`.tsv`).
        tsv: bool,
    },
    /// Apache Parquet.
    Parquet,
    /// A NumPy `.npy` array of features (the target in another file).
    Npy,
    /// A NumPy `.npz` archive with arrays `x` and `y`.
    Npz,
}

impl TableFormat {
    /// The format of `path`, from its extension; `None` if it names no table format.
    pub fn of(path: &Path) -> Option<TableFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let (stem, gzip) = match name.strip_suffix(".gz") {
            Some(stem) => (stem.to_string(), true),
            None => (name, false),
        };
        let ext = Path::new(&stem).extension()?.to_str()?;
        match (ext, gzip) {
            ("csv", _) => Some(TableFormat::Csv { gzip, tsv: false }),
            ("tsv" | "tab", _) => Some(TableFormat::Csv { gzip, tsv: true }),
            ("parquet" | "pq", false) => Some(TableFormat::Parquet),
            ("npy", false) => Some(TableFormat::Npy),
            ("npz", false) => Some(TableFormat::Npz),
            _ => None,
        }
    }
}

impl Table {
    /// Reads the table at `path`, in the format its name says.
    pub fn read(path: &Path, options: &ReadOptions) -> Result<Table, TableError> {
        let format = TableFormat::of(path).ok_or_else(|| TableError::UnknownFormat { path: path.to_path_buf() })?;
        let mut table = match format {
            TableFormat::Csv { gzip, tsv } => {
                let delimiter = options.delimiter.unwrap_or(if tsv { b'\t' } else { b',' });
                csv::read(path, gzip, delimiter, &options.drop, options.threads())?
            }
            TableFormat::Parquet => parquet::read(path, &options.drop, options.threads())?,
            TableFormat::Npy => npy::read_npy(path, options.target_file.as_deref())?,
            TableFormat::Npz => npy::read_npz(path)?,
        };
        if !matches!(format, TableFormat::Csv { .. } | TableFormat::Parquet) {
            table.drop_columns(&options.drop)?;
        }
        if table.rows == 0 {
            return Err(TableError::bad(path, Place::default(), "the table has no rows"));
        }
        Ok(table)
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The names of the columns, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Removes the columns named in `names`; a name the table does not have is an error.
    pub fn drop_columns(&mut self, names: &[String]) -> Result<(), TableError> {
        for name in names {
            if self.column(name).is_none() {
                return Err(self.no_such_column(name, "--drop"));
            }
        }
        self.columns.retain(|c| !names.contains(&c.name));
        Ok(())
    }

    /// The rows at `rows`, in that order, as a new table (of the same file).
    pub fn select_rows(&self, rows: &[usize]) -> Table {
        let columns =
            self.columns.iter().map(|c| Column { name: c.name.clone(), cells: c.cells.select(rows) }).collect();
        Table { path: self.path.clone(), columns, rows: rows.len() }
    }

    /// The error for a column `name` that the table does not have, asked for by `what`.
    pub fn no_such_column(&self, name: &str, what: &str) -> TableError {
        no_such_column(&self.path, &self.names(), name, what)
    }
}

/// The error for a column `name` that a table with the columns `names` does not have, asked for
/// by `what` (a flag): it lists the columns there are.
fn no_such_column(path: &Path, names: &[&str], name: &str, what: &str) -> TableError {
    let shown: Vec<String> = names.iter().take(20).map(|c| printable(c)).collect();
    let more = if names.len() > 20 { format!(", … ({} in all)", names.len()) } else { String::new() };
    TableError::unusable(
        path,
        Place::default(),
        format!("{what}: no column `{}` (the columns are: {}{more})", printable(name), shown.join(", ")),
    )
}

/// Checks that every column to `drop` is one of the file's `names`, before a reader skips them.
fn check_drop(path: &Path, names: &[String], drop: &[String]) -> Result<(), TableError> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    match drop.iter().find(|d| !names.contains(&d.as_str())) {
        Some(name) => Err(no_such_column(path, &names, name, "--drop")),
        None => Ok(()),
    }
}

/// The strings that stand for a missing value in a text file (pandas' defaults among them).
pub const MISSING_MARKERS: &[&str] =
    &["", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>", "#N/A", "#NA"];

/// Whether `text` (already trimmed) stands for a missing value.
pub fn is_missing_marker(text: &str) -> bool {
    MISSING_MARKERS.contains(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_name() {
        let f = |p: &str| TableFormat::of(Path::new(p));
        assert_eq!(f("a.csv"), Some(TableFormat::Csv { gzip: false, tsv: false }));
        assert_eq!(f("dir/A.CSV.GZ"), Some(TableFormat::Csv { gzip: true, tsv: false }));
        assert_eq!(f("a.tsv"), Some(TableFormat::Csv { gzip: false, tsv: true }));
        assert_eq!(f("a.parquet"), Some(TableFormat::Parquet));
        assert_eq!(f("a.npy"), Some(TableFormat::Npy));
        assert_eq!(f("a.npz"), Some(TableFormat::Npz));
        assert_eq!(f("a.xlsx"), None);
        assert_eq!(f("mnist"), None);
        assert_eq!(f("a.parquet.gz"), None);
    }

    #[test]
    fn an_unknown_extension_lists_the_supported_ones() {
        let e = Table::read(Path::new("data.xlsx"), &ReadOptions::default()).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("data.xlsx: unknown table format"), "{text}");
        for ext in [".csv", ".tsv", ".parquet", ".npy", ".npz"] {
            assert!(text.contains(ext), "{text}");
        }
    }
}
