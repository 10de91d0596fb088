//! Downloading a data set's files: resumable, retried, verified, and written atomically.
//!
//! Each file is downloaded to `NAME.part` in the data set's folder. An existing `.part` is
//! resumed with an HTTP `Range` request; a server that ignores `Range` (answers 200) makes
//! the download start over. A network error or a 5xx/408/429 status is retried with
//! exponential backoff. When the bytes are complete, the decompressed content's sha256 is
//! checked; only a file that passes is renamed to its final name, so a final name never holds a
//! partial or unverified file. A file that fails is deleted (after one fresh retry if it was
//! resumed, since a resume across a changed file can splice two files together).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::{spec, DatasetSpec, FileSpec};
use crate::locate::{data_roots, existing_file, find_in, DataRoot, Located};
use crate::verify::verify_file;
use crate::DataError;

/// What a download is doing, reported to the caller's callback as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A file is already in place and verifies; it is not downloaded.
    AlreadyPresent {
        /// The file name.
        file: &'static str,
        /// Where it is.
        path: PathBuf,
    },
    /// A request for a file begins.
    Start {
        /// The file name.
        file: &'static str,
        /// Where it comes from.
        url: String,
        /// Bytes already on disk from an earlier attempt, carried on (0 for a fresh start).
        resumed_from: u64,
        /// The whole file's size, when the server says.
        total: Option<u64>,
    },
    /// Bytes arrived.
    Bytes {
        /// The file name.
        file: &'static str,
        /// Bytes of the file on disk so far (including resumed ones).
        downloaded: u64,
        /// The whole file's size, when the server says.
        total: Option<u64>,
    },
    /// An attempt failed; another follows after `wait`.
    Retry {
        /// The file name.
        file: &'static str,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Why it failed.
        error: String,
        /// The pause before the next attempt.
        wait: Duration,
    },
    /// The file is downloaded, verified and in place.
    Done {
        /// The file name.
        file: &'static str,
        /// Its final path.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
    },
}

/// How to download.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchOptions {
    /// A base URL under which the data set's files sit (`http://host/mnist/`), instead of the
    /// official source.
    pub mirror: Option<String>,
    /// Attempts per file before giving up (at least 1).
    pub attempts: u32,
    /// The pause after the first failed attempt; it doubles after each further one.
    pub backoff: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { mirror: None, attempts: 4, backoff: Duration::from_secs(1) }
    }
}

/// Downloads the data set `name` into `dest_root/name/` from its official source, or from
/// `mirror` (a base URL holding the data set's files), verifying every file. Files already
/// there and verified are kept. Returns the data set's folder.
pub fn fetch(
    name: &str,
    dest_root: &Path,
    mirror: Option<&str>,
    progress: &mut dyn FnMut(Progress),
) -> Result<PathBuf, DataError> {
    let options = FetchOptions { mirror: mirror.map(str::to_string), ..FetchOptions::default() };
    fetch_with(spec(name)?, dest_root, &options, progress)
}

/// The data root a download goes to: the first of [`data_roots`]`(explicit)` (`--data DIR`,
/// else `$NABLA_DATA`, else the user data directory).
pub fn download_root(explicit: Option<&Path>) -> Option<DataRoot> {
    data_roots(explicit).into_iter().next()
}

/// Finds the data set `name` in the data roots; when no root holds it, downloads it into
/// [`download_root`] first (as torchvision's `download=True` does) and returns it from there.
/// With no data root at all, the error is [`DataError::NotFound`] saying how to name one.
pub fn find_or_fetch(
    name: &str,
    explicit: Option<&Path>,
    mirror: Option<&str>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Located, DataError> {
    let options = FetchOptions { mirror: mirror.map(str::to_string), ..FetchOptions::default() };
    find_or_fetch_in(spec(name)?, &data_roots(explicit), &options, progress)
}

/// [`find_or_fetch`] over the given roots (downloading into the first).
pub fn find_or_fetch_in(
    spec: &'static DatasetSpec,
    roots: &[DataRoot],
    options: &FetchOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Located, DataError> {
    match find_in(spec, roots) {
        Err(DataError::NotFound { .. }) if !roots.is_empty() => {
            fetch_with(spec, &roots[0].path, options, progress)?;
            find_in(spec, &roots[..1])
        }
        other => other,
    }
}

/// [`fetch`] with every option.
pub fn fetch_with(
    spec: &DatasetSpec,
    dest_root: &Path,
    options: &FetchOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<PathBuf, DataError> {
    let dir = dest_root.join(spec.name);
    fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    let base = options.mirror.as_deref().unwrap_or(spec.base_url);
    let agent = agent(base);
    for file in spec.files {
        if let Some(path) = existing_file(&dir, file) {
            if verify_file(&path, file).is_ok() {
                progress(Progress::AlreadyPresent { file: file.name, path });
                continue;
            }
        }
        let url = DatasetSpec::url(base, file);
        fetch_file(&agent, &url, &dir, file, options, progress)?;
    }
    Ok(dir)
}

/// An HTTP agent that reports statuses as responses (not errors), and goes direct (no
/// proxy from the environment) to a server on this machine.
fn agent(base: &str) -> ureq::Agent {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| base.starts_with(p));
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)));
    if loopback {
        config = config.proxy(None);
    }
    config.build().into()
}

/// Downloads one file to `dir/NAME.part`, verifies it and renames it to `dir/NAME`.
fn fetch_file(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    file: &FileSpec,
    options: &FetchOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), DataError> {
    let final_path = dir.join(file.name);
    let part = dir.join(format!("{}.part", file.name));
    let attempts = options.attempts.max(1);
    let mut attempt = 0;
    let mut fresh_retry_used = false;
    loop {
        attempt += 1;
        let resumed = match download(agent, url, &part, file.name, progress) {
            Ok(resumed) => resumed,
            Err(failure) if failure.retryable && attempt < attempts => {
                let wait = options.backoff * 2u32.saturating_pow(attempt - 1);
                progress(Progress::Retry { file: file.name, attempt, error: failure.error.to_string(), wait });
                std::thread::sleep(wait);
                continue;
            }
            Err(failure) => return Err(failure.error),
        };
        if let Err(error) = verify_file(&part, file) {
            let _ = fs::remove_file(&part);
            if resumed && !fresh_retry_used {
                fresh_retry_used = true;
                progress(Progress::Retry {
                    file: file.name,
                    attempt,
                    error: format!("{error}; downloading afresh"),
                    wait: Duration::ZERO,
                });
                continue;
            }
            let error = match error {
                DataError::ChecksumMismatch { expected, found, .. } => {
                    DataError::ChecksumMismatch { path: final_path, expected, found }
                }
                other => other,
            };
            return Err(DataError::BadDownload { url: url.to_string(), error: Box::new(error) });
        }
        fs::rename(&part, &final_path).map_err(|e| DataError::io(&final_path, e))?;
        let bytes = fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
        progress(Progress::Done { file: file.name, path: final_path, bytes });
        return Ok(());
    }
}

/// A failed attempt and whether trying again might help.
struct Failure {
    error: DataError,
    retryable: bool,
}

impl Failure {
    fn network(url: &str, message: impl Into<String>) -> Self {
        Failure { error: DataError::Network { url: url.to_string(), message: message.into() }, retryable: true }
    }

    fn local(error: DataError) -> Self {
        Failure { error, retryable: false }
    }
}

/// One attempt: brings `part` up to the whole file, resuming what is there. Returns whether
/// the file was resumed rather than downloaded from its first byte.
fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    name: &'static str,
    progress: &mut dyn FnMut(Progress),
) -> Result<bool, Failure> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let mut response = request.call().map_err(|e| {
        let retryable = !matches!(e, ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl);
        Failure { retryable, ..Failure::network(url, e.to_string()) }
    })?;
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let (mut out, start) = match status {
        206 if have > 0 => {
            // `Content-Range: bytes START-END/TOTAL` must continue exactly where the file stops.
            let range = header("content-range").unwrap_or_default();
            let start = range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse().ok());
            if start != Some(have) {
                let _ = fs::remove_file(part);
                return Err(Failure::network(url, format!("server resumed at `{range}`, not at byte {have}")));
            }
            let out = OpenOptions::new().append(true).open(part).map_err(|e| Failure::local(DataError::io(part, e)))?;
            (out, have)
        }
        200 => (File::create(part).map_err(|e| Failure::local(DataError::io(part, e)))?, 0),
        416 => {
            // The range is past the end: the .part is not a prefix of this file. Start over.
            let _ = fs::remove_file(part);
            return Err(Failure::network(url, "server refused to resume (HTTP 416); restarting"));
        }
        _ => {
            let retryable = status >= 500 || status == 408 || status == 429;
            return Err(Failure { error: DataError::HttpStatus { url: url.to_string(), status }, retryable });
        }
    };
    let total = content_length.map(|n| n + start);
    progress(Progress::Start { file: name, url: url.to_string(), resumed_from: start, total });
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut downloaded = start;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // What arrived stays in the .part file for the next attempt to resume.
            Err(e) => return Err(Failure::network(url, format!("connection lost after {downloaded} bytes: {e}"))),
        };
        out.write_all(&buf[..n]).map_err(|e| Failure::local(DataError::io(part, e)))?;
        downloaded += n as u64;
        progress(Progress::Bytes { file: name, downloaded, total });
    }
    out.sync_all().map_err(|e| Failure::local(DataError::io(part, e)))?;
    if let Some(total) = total {
        if downloaded != total {
            return Err(Failure::network(url, format!("connection closed after {downloaded} of {total} bytes")));
        }
    }
    Ok(start > 0)
}
