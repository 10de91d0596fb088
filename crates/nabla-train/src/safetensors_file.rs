//! Safetensors files as nabla writes and reads them, whatever model they hold (f32
//! [`checkpoint`](crate::checkpoint)s and [`quantize`](crate::quantize)d models alike): the
//! tensors to write, serialising them with a metadata map that always carries
//! `nabla_version`, writing the bytes atomically, and reading back a file, its metadata
//! fields and its tensors with checked dtypes and shapes. Every error is a
//! [`CheckpointError`] that names the file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What can go wrong reading or writing a nabla model file (an f32 checkpoint or a quantised
/// model). Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file does not exist.
    #[error("{}: no such checkpoint file", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The file is not a (complete) safetensors file.
    #[error("{}: not a safetensors file (truncated or corrupt?): {reason}", path.display())]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What the safetensors reader said.
        reason: String,
    },
    /// The file is safetensors but not a nabla model checkpoint (or from a newer nabla).
    #[error("{}: not a nabla checkpoint: {reason}", path.display())]
    NotNabla {
        /// The file.
        path: PathBuf,
        /// What is missing or different.
        reason: String,
    },
    /// A tensor the architecture needs is not in the file.
    #[error("{}: missing tensor `{name}`", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor has the wrong shape or data type.
    #[error("{}: tensor `{name}` is {found}, expected {expected}", path.display())]
    BadTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The data type and shape the architecture needs, e.g. `F32 [128, 784]`.
        expected: String,
        /// The data type and shape in the file, e.g. `F64 [128, 784]`.
        found: String,
    },
    /// A tensor has the right type and shape but a value the model cannot hold.
    #[error("{}: tensor `{name}`: {reason}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong with its values.
        reason: String,
    },
    /// An f32 checkpoint where a quantised model was expected.
    #[error("{}: an f32 checkpoint, not a quantised model (make one with `nabla quantize`)", path.display())]
    NotQuantized {
        /// The file.
        path: PathBuf,
    },
    /// A metadata field is missing or does not parse.
    #[error("{}: bad metadata field `{field}`: {reason}", path.display())]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint holds another architecture than the one asked for.
    #[error("{}checkpoint is {checkpoint} but the run asks for {requested}", PathPrefix(path))]
    Incompatible {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The checkpoint's architecture, described.
        checkpoint: String,
        /// The requested architecture, described.
        requested: String,
    },
    /// The checkpoint to save is inconsistent (a caller's bug, reported rather than written).
    #[error("{}: cannot save checkpoint: {reason}", path.display())]
    Invalid {
        /// The file that was to be written.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
    /// The file holds a residual net and what was asked is only implemented for plain MLPs.
    #[error("{}: {what} is only implemented for plain MLPs, and this is a residual net ({architecture})", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What was asked (`quantising`).
        what: &'static str,
        /// The file's architecture, described.
        architecture: String,
    },
}

impl CheckpointError {
    /// A metadata `field` of the file at `path` that is missing or does not parse.
    pub(crate) fn bad_metadata(path: &Path, field: &'static str, reason: impl Into<String>) -> Self {
        CheckpointError::BadMetadata { path: path.to_path_buf(), field, reason: reason.into() }
    }
}

/// Displays `path: ` when there is a path, nothing otherwise.
struct PathPrefix<'a>(&'a Option<PathBuf>);

impl fmt::Display for PathPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "{}: ", p.display()),
            None => Ok(()),
        }
    }
}

/// A tensor to write: little-endian bytes of `dtype` with a shape.
pub(crate) struct RawTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl RawTensor {
    /// An F32 tensor.
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Self {
        RawTensor { dtype: Dtype::F32, shape, bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }
}

impl safetensors::View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The safetensors bytes of `tensors` with `metadata` and nabla's version (for checkpoints and
/// quantised files alike); an error names `path`.
pub(crate) fn serialize(
    path: &Path,
    tensors: &[(String, RawTensor)],
    metadata: Vec<(&str, String)>,
) -> Result<Vec<u8>, CheckpointError> {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .chain([("nabla_version", env!("CARGO_PKG_VERSION").to_string())])
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
        .map_err(|e| CheckpointError::Invalid { path: path.to_path_buf(), reason: format!("safetensors: {e}") })
}

/// Writes `bytes` to `path` atomically ([`write_atomic`]); an error names `path`.
pub(crate) fn save_bytes(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_atomic(path, bytes).map_err(|error| CheckpointError::Io { path: path.to_path_buf(), error })
}

/// Writes `bytes` to `path` through a temporary sibling file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?
        .to_string_lossy();
    // Unique per process and call, so concurrent saves (best and last) never share a file.
    let tmp = dir.join(format!(".{file_name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a folder, so best effort.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    if result.is_ok() {
        remove_stale_temporaries(dir, &file_name);
    }
    result
}

/// Removes the temporary files of `file_name` left in `dir` by a process that no longer runs
/// (a run killed with SIGKILL mid-save leaves `.last.safetensors.PID.N.tmp`, as large as a
/// checkpoint, for good). Only on Linux, where `/proc/PID` says whether a process lives; a
/// file whose writer may still be running is never touched.
fn remove_stale_temporaries(dir: &Path, file_name: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    let prefix = format!(".{file_name}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|r| r.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, n)) = rest.split_once('.') else { continue };
        let (Ok(pid), true) = (pid.parse::<u32>(), !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The bytes of the file at `path`; a missing file is [`CheckpointError::NotFound`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    fs::read(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => CheckpointError::NotFound { path: path.to_path_buf() },
        _ => CheckpointError::Io { path: path.to_path_buf(), error },
    })
}

/// The safetensors view of `bytes` and its `__metadata__` map (empty when absent).
pub(crate) fn open_safetensors<'b>(
    path: &Path,
    bytes: &'b [u8],
) -> Result<(SafeTensors<'b>, HashMap<String, String>), CheckpointError> {
    let not = |e: safetensors::SafeTensorError| CheckpointError::NotSafetensors {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let st = SafeTensors::deserialize(bytes).map_err(not)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(not)?;
    Ok((st, header.metadata().clone().unwrap_or_default()))
}

/// Checks the `format` and `format_version` fields against what this reader understands.
pub(crate) fn check_format(
    path: &Path,
    meta: &HashMap<String, String>,
    format: &str,
    newest: u32,
) -> Result<(), CheckpointError> {
    let file = || path.to_path_buf();
    match meta.get("format") {
        Some(f) if f == format => {}
        Some(f) => {
            return Err(CheckpointError::NotNabla { path: file(), reason: format!("format is `{f}`, not `{format}`") })
        }
        None => {
            return Err(CheckpointError::NotNabla {
                path: file(),
                reason: "its metadata has no `format` field (a plain safetensors file?)".into(),
            })
        }
    }
    let text = metadata_field(path, meta, "format_version")?;
    let version: u32 = text.parse().map_err(|_| CheckpointError::BadMetadata {
        path: file(),
        field: "format_version",
        reason: format!("`{text}` is not a whole number"),
    })?;
    if version > newest || version == 0 {
        return Err(CheckpointError::NotNabla {
            path: file(),
            reason: format!("format version {version}; this nabla reads version {newest}"),
        });
    }
    Ok(())
}

/// A metadata field that must be present.
pub(crate) fn metadata_field<'m>(
    path: &Path,
    meta: &'m HashMap<String, String>,
    name: &'static str,
) -> Result<&'m str, CheckpointError> {
    meta.get(name).map(String::as_str).ok_or_else(|| CheckpointError::BadMetadata {
        path: path.to_path_buf(),
        field: name,
        reason: "missing".into(),
    })
}

/// A metadata field holding a count (`epoch`, `step`).
pub(crate) fn count_field<T: FromStr>(
    path: &Path,
    meta: &HashMap<String, String>,
    name: &'static str,
) -> Result<T, CheckpointError> {
    let text = metadata_field(path, meta, name)?;
    text.parse().map_err(|_| CheckpointError::BadMetadata {
        path: path.to_path_buf(),
        field: name,
        reason: format!("`{text}` is not a count"),
    })
}

/// A metadata field holding any JSON value (`config`, `metrics`).
pub(crate) fn json_field<T: DeserializeOwned>(
    path: &Path,
    meta: &HashMap<String, String>,
    name: &'static str,
) -> Result<T, CheckpointError> {
    serde_json::from_str(metadata_field(path, meta, name)?).map_err(|e| CheckpointError::BadMetadata {
        path: path.to_path_buf(),
        field: name,
        reason: format!("not JSON: {e}"),
    })
}

/// `value` as the JSON text of a metadata field, for a file to be written at `path`.
pub(crate) fn to_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<String, CheckpointError> {
    serde_json::to_string(value).map_err(|e| CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason: format!("cannot write JSON metadata: {e}"),
    })
}

/// Reads the F32 tensor `name` of shape `expected` into `out`; the error names the file and
/// the tensor.
pub(crate) fn read_f32(
    path: &Path,
    st: &SafeTensors<'_>,
    name: &str,
    expected: &[usize],
    out: &mut [f32],
) -> Result<(), CheckpointError> {
    let view = tensor(path, st, name, Dtype::F32, expected)?;
    decode_f32(&view, out);
    Ok(())
}

/// The tensor `name`, checked to be of `dtype` and shape `expected`.
pub(crate) fn tensor<'b>(
    path: &Path,
    st: &SafeTensors<'b>,
    name: &str,
    dtype: Dtype,
    expected: &[usize],
) -> Result<TensorView<'b>, CheckpointError> {
    let view =
        st.tensor(name).map_err(|_| CheckpointError::MissingTensor { path: path.to_path_buf(), name: name.into() })?;
    if view.dtype() != dtype || view.shape() != expected {
        return Err(CheckpointError::BadTensor {
            path: path.to_path_buf(),
            name: name.into(),
            expected: format!("{dtype:?} {expected:?}"),
            found: format!("{:?} {:?}", view.dtype(), view.shape()),
        });
    }
    Ok(view)
}

/// Copies a little-endian F32 tensor into `out` (same element count, checked by the caller).
/// The data may sit at any byte offset, so it is decoded rather than cast.
fn decode_f32(view: &TensorView<'_>, out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(view.data().chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression (issue 21): a run killed with SIGKILL while saving left its temporary file
    // (as large as a checkpoint) in the output folder for good.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_save_removes_the_temporaries_of_dead_writers_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        // Above the kernel's largest pid (2^22), so no process has it.
        let dead = dir.path().join(".last.safetensors.4194399.7.tmp");
        let ours = dir.path().join(format!(".last.safetensors.{}.99.tmp", std::process::id()));
        let other_file = dir.path().join(".best.safetensors.4194399.0.tmp");
        let not_ours = dir.path().join(".last.safetensors.x.tmp");
        for p in [&dead, &ours, &other_file, &not_ours] {
            fs::write(p, b"partial").unwrap();
        }
        write_atomic(&dir.path().join("last.safetensors"), b"weights").unwrap();
        assert_eq!(fs::read(dir.path().join("last.safetensors")).unwrap(), b"weights");
        assert!(!dead.exists(), "the dead writer's temporary is left");
        for kept in [&ours, &other_file, &not_ours] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
    }
}
