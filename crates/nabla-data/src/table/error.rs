//! What can go wrong reading a table or fitting its preprocessing: every message names the file
//! and, where there is one, the line, the column and the value.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in a table a problem is: a line of the file, a column, a value, each when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The 1-based line of the file (CSV) or row of the table (other formats).
    pub line: Option<u64>,
    /// Whether `line` counts rows of the table (Parquet, NumPy) rather than lines of a file.
    pub is_row: bool,
    /// The column's name.
    pub column: Option<String>,
}

impl Place {
    /// A line of a text file.
    pub fn line(line: u64) -> Self {
        Place { line: Some(line), ..Place::default() }
    }

    /// A column.
    pub fn column(name: &str) -> Self {
        Place { column: Some(name.to_string()), ..Place::default() }
    }

    /// A cell of a text file: its line and its column.
    pub fn cell(line: u64, column: &str) -> Self {
        Place { line: Some(line), is_row: false, column: Some(column.to_string()) }
    }

    /// A cell given by its row of the table (counting from 1) and its column.
    pub fn row_cell(row: u64, column: &str) -> Self {
        Place { line: Some(row), is_row: true, column: Some(column.to_string()) }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, ", {} {line}", if self.is_row { "row" } else { "line" })?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{}`", printable(column))?;
        }
        Ok(())
    }
}

/// An error reading a table or preparing it for training.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file could not be opened or read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },

    /// The file's name does not say which format it is in.
    #[error("{}: unknown table format (supported: .csv, .tsv, .csv.gz, .tsv.gz, .parquet, .npy with --target-file, .npz with arrays `x` and `y`)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// The file's contents are not what its format requires, at a place in it.
    #[error("{}{place}: {message}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        place: Place,
        /// What is wrong, for a person.
        message: String,
    },

    /// The table (or a split of it) cannot be used as asked: a missing column, a target with
    /// one class, a value never seen in training.
    #[error("{}{place}: {message}", path.display())]
    Unusable {
        /// The table the problem is in.
        path: PathBuf,
        /// Where in the table.
        place: Place,
        /// What is wrong, for a person.
        message: String,
    },
}

impl TableError {
    /// A problem with the file's contents at `place`.
    pub fn bad(path: &Path, place: Place, message: impl Into<String>) -> Self {
        TableError::Bad { path: path.to_path_buf(), place, message: message.into() }
    }

    /// A table that cannot be used as asked.
    pub fn unusable(path: &Path, place: Place, message: impl Into<String>) -> Self {
        TableError::Unusable { path: path.to_path_buf(), place, message: message.into() }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        TableError::Io { path: path.to_path_buf(), error }
    }
}

/// A cell or a name as it may be shown in a message: control characters escaped and long
/// values cut, so a hostile file cannot move the terminal's cursor or fill the screen.
pub fn printable(text: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_read_as_a_person_writes_them() {
        let e = TableError::bad(Path::new("a.csv"), Place::cell(7, "age"), "`x` is not a number");
        assert_eq!(e.to_string(), "a.csv, line 7, column `age`: `x` is not a number");
        let e = TableError::unusable(Path::new("t.parquet"), Place::row_cell(3, "y"), "missing");
        assert_eq!(e.to_string(), "t.parquet, row 3, column `y`: missing");
        let e = TableError::bad(Path::new("a.csv"), Place::default(), "empty");
        assert_eq!(e.to_string(), "a.csv: empty");
    }

    #[test]
    fn control_characters_are_escaped_and_long_values_cut() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        let long = "x".repeat(100);
        assert_eq!(printable(&long).chars().count(), 61);
    }
}
