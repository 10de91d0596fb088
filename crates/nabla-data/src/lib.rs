//! nabla's data sets: finding, checking, downloading and loading them, and batching them for
//! training.
//!
//! Three data sets are known by name ([`DATASETS`]): `mnist`, `fashion-mnist` (four IDX files
//! each) and `digits` (one CSV). A data set lives in `ROOT/name/` under a data root; the roots
//! are searched in the order `--data DIR`, `$NABLA_DATA`, the user's data directory
//! ([`data_roots`]).
//!
//! The trainer's path through this crate:
//!
//! ```no_run
//! use nabla_data::{find, BatchBuffers, Normalizer};
//!
//! let found = find("mnist", None)?;           // or fetch(...) first when it is missing
//! let split = found.load()?;                  // Split { train, test }, u8 pixels
//! let (train, val) = split.train.split_validation(0.1, 42)?;
//! let norm = Normalizer::unit(train.max_value);
//! let mut buffers = BatchBuffers::new(128, train.features());
//! let indices: Vec<usize> = (0..128).collect();
//! let (x, labels) = buffers.fill(&train, &indices, &norm); // x: [128, 784], labels: [128]
//! # Ok::<(), nabla_data::DataError>(())
//! ```
//!
//! A user's own data is a [`table::Table`] (CSV/TSV, Parquet, NumPy), turned into network inputs
//! and targets by a [`table::Preprocessor`] fitted on its training split.
//!
//! The library prints nothing; downloads report through a [`Progress`] callback.

mod batch;
mod catalog;
mod content;
mod dataset;
mod digits_csv;
mod error;
mod fetch;
pub mod idx;
mod locate;
mod split;
mod synthetic;
pub mod table;
mod verify;

pub use batch::{BatchBuffers, Normalizer};
pub use catalog::{spec, DatasetSpec, FileSpec, Format, DATASETS, IDX_FILES};
pub use content::{hash_file, read_content, Content, Hashes};
pub use dataset::{load, load_dir, Dataset, Split, DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION};
pub use digits_csv::{parse_digits_csv, read_digits_csv, DigitsRows};
pub use error::DataError;
pub use fetch::{download_root, fetch, fetch_with, find_or_fetch, find_or_fetch_in, FetchOptions, Progress};
pub use locate::{
    data_roots, data_roots_from, existing_file, find, find_in, survey, user_data_dir, DataRoot, Located, Lookup,
    RootSource, DATA_ENV,
};
pub use split::{shuffled_folds, shuffled_split, stratified_folds, stratified_split};
pub use synthetic::{synthetic_images, synthetic_mnist};
pub use verify::{verify, verify_file};
