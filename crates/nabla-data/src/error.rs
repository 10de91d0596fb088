//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while finding, reading, checking or downloading a data set.
///
/// Each variant names the file (or URL) involved and, where there is one, what was expected
/// versus what was found, so the CLI can print it as one line.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data set name is not one of [`crate::DATASETS`].
    #[error("unknown data set `{name}` (known: {known})")]
    UnknownDataset {
        /// The name that was asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// The data set's files are in none of the data directories.
    #[error("data set `{name}` not found; looked in: {}", join_paths(looked_in))]
    NotFound {
        /// The data set.
        name: String,
        /// Every folder that was searched, in order.
        looked_in: Vec<PathBuf>,
    },

    /// Something other than a file (a directory) stands where a data file belongs.
    #[error("{} is not a file: data set `{name}` expects its file `{file}` there (move it away, or name another folder with --data)", path.display())]
    NotAFile {
        /// The data set.
        name: String,
        /// The file it expects.
        file: String,
        /// What is there instead.
        path: PathBuf,
    },

    /// A file could not be opened, read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error (part of the message, so not a separate `source`).
        error: std::io::Error,
    },

    /// A gzip file could not be decompressed (it is damaged or cut short).
    #[error("{}: corrupt gzip data: {error}", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        error: std::io::Error,
    },

    /// An IDX file starts with the wrong magic number.
    #[error("{}: not an IDX {kind} file: magic number {found} (0x{found:08x}), expected {expected} (0x{expected:08x})", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// `images` or `labels`.
        kind: &'static str,
        /// The magic number this kind of file has.
        expected: u32,
        /// The first four bytes of the file, big-endian.
        found: u32,
    },

    /// An IDX file is shorter or longer than its header says.
    #[error("{}: {what}: expected {expected}, found {found}", path.display())]
    BadLength {
        /// The file.
        path: PathBuf,
        /// What was measured, with what the size is made of.
        what: String,
        /// What the header (or format) requires.
        expected: u64,
        /// What is there.
        found: u64,
    },

    /// An IDX image file has image dimensions other than the data set's.
    #[error("{}: images are {found_rows}x{found_cols}, expected {rows}x{cols}", path.display())]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// The rows the data set has.
        rows: u32,
        /// The columns the data set has.
        cols: u32,
        /// The rows in the file's header.
        found_rows: u32,
        /// The columns in the file's header.
        found_cols: u32,
    },

    /// The image file and the label file hold different numbers of examples.
    #[error("{} holds {images} images but {} holds {labels} labels", image_path.display(), label_path.display())]
    CountMismatch {
        /// The image file.
        image_path: PathBuf,
        /// How many images it holds.
        images: usize,
        /// The label file.
        label_path: PathBuf,
        /// How many labels it holds.
        labels: usize,
    },

    /// A label is not a class of the data set.
    #[error("{}: label {label} at index {index} is out of range (the data set has {classes} classes)", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// The example's index.
        index: usize,
        /// The label found.
        label: u8,
        /// How many classes there are.
        classes: usize,
    },

    /// A line of a CSV file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },

    /// A file's content does not have the published sha256.
    #[error("{}: checksum mismatch: sha256 of the decompressed content is {found}, expected {expected}", path.display())]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The published sha256 (hex).
        expected: String,
        /// The sha256 of what is there (hex).
        found: String,
    },

    /// A validation fraction outside (0, 1), or one that leaves a side empty.
    #[error("validation fraction {fraction} must be in (0, 1) and leave examples on both sides of {len}")]
    BadFraction {
        /// The fraction asked for.
        fraction: f64,
        /// How many training examples there are.
        len: usize,
    },

    /// A downloaded file failed its check (checksum or format) and was deleted.
    #[error("{url}: {error} (the download was not kept)")]
    BadDownload {
        /// Where it came from.
        url: String,
        /// What was wrong with it (usually [`DataError::ChecksumMismatch`]).
        error: Box<DataError>,
    },

    /// The server answered with an HTTP error status.
    #[error("{url}: HTTP status {status}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },

    /// The download failed below HTTP (DNS, connection, TLS, a cut connection).
    #[error("{url}: {message}")]
    Network {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        DataError::Io { path: path.into(), error }
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(no data directory: pass --data DIR or set NABLA_DATA)".to_string();
    }
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
