//! Fixtures the nabla test suites share, each written once. A dev-dependency only.
//!
//! - [`data`]: where the shared data sets are (`$NABLA_DATA`, else `../shared/data`).
//! - [`files`]: the names of the files in a folder, sorted.
//! - [`file_server`]: an HTTP/1.1 file server on 127.0.0.1 with ranges and injected failures.
//! - [`http`]: one GET over loopback, with a chunked body decoded.
//! - [`alloc`]: a counting global allocator for the zero-allocation tests.
//! - [`numpy`]: `.npy` and `.npz` files written from the formats' definitions.
//! - [`unprivileged`]: a test of what permissions forbid, run as `nobody` when the suite runs
//!   as root (as CI does).
//! - `store` (feature `track`): runs recorded through the tracker's API; with feature `sweep`,
//!   a sweep's record too.
//! - `tls` (feature `tls`): a self-signed certificate for 127.0.0.1 and its key, as PEM files.

pub mod alloc;
pub mod data;
pub mod file_server;
pub mod files;
pub mod http;
pub mod numpy;
#[cfg(feature = "track")]
pub mod store;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(unix)]
pub mod unprivileged;

pub use alloc::CountingAllocator;
pub use data::{data_dir, shared_data};
pub use file_server::{FileServer, FileServerOptions, SeenRequest};
pub use files::files_in;
