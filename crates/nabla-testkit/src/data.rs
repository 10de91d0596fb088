//! Where the shared data sets are.

use std::path::{Path, PathBuf};

/// The shared data folder: `$NABLA_DATA` (relative to the workspace root when relative), else
/// `../shared/data` beside the workspace. Not checked: a test that loads from it fails there,
/// naming the folder; [`shared_data`] checks first.
pub fn data_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("NABLA_DATA").filter(|v| !v.is_empty()) {
        Some(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
        Some(p) => workspace.join(p),
        None => workspace.join("../shared/data"),
    }
}

/// [`data_dir`], made absolute, after checking that it holds `mnist/`: a test that needs the
/// shared data fails loudly without it, never skips.
pub fn shared_data() -> PathBuf {
    let dir = data_dir();
    assert!(dir.join("mnist").is_dir(), "shared data not found at {} (set NABLA_DATA)", dir.display());
    dir.canonicalize().unwrap()
}
