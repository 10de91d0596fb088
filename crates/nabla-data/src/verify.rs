//! Checking data files against their published sha256 sums.
//!
//! The sum checked is that of the **decompressed** content: one of the MNIST `.gz` files in
//! circulation is recompressed, so only the content is stable (see `shared/data/README.md`).

use std::path::Path;

use crate::catalog::{DatasetSpec, FileSpec};
use crate::content::hash_file;
use crate::locate::{existing_file, Located};
use crate::DataError;

/// Checks one file (gzip or plain) against `file`'s sums: its decompressed content must have
/// [`FileSpec::sha256`], or the whole file [`FileSpec::alt_file_sha256`].
pub fn verify_file(path: &Path, file: &FileSpec) -> Result<(), DataError> {
    let hashes = hash_file(path)?;
    if hashes.content == file.sha256 || file.alt_file_sha256 == Some(hashes.file.as_str()) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected: file.sha256.to_string(),
            found: hashes.content,
        })
    }
}

/// Checks every file of `spec` in its folder `dir` (`ROOT/name`); a missing file is a
/// [`DataError::NotFound`] naming `dir`.
pub fn verify(spec: &DatasetSpec, dir: &Path) -> Result<(), DataError> {
    for file in spec.files {
        let path = existing_file(dir, file)
            .ok_or_else(|| DataError::NotFound { name: spec.name.to_string(), looked_in: vec![dir.to_path_buf()] })?;
        verify_file(&path, file)?;
    }
    Ok(())
}

impl Located {
    /// Checks every file of the data set found (see [`verify_file`]).
    pub fn verify(&self) -> Result<(), DataError> {
        for (path, file) in self.files.iter().zip(self.spec.files) {
            verify_file(path, file)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::DATASETS;

    #[test]
    fn mismatch_names_the_file_and_both_sums() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("digits");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("digits.csv"), "abc").unwrap();
        let err = verify(&DATASETS[2], &dir).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::ChecksumMismatch { .. }));
        assert!(msg.contains("digits.csv"), "{msg}");
        assert!(msg.contains("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "{msg}");
        assert!(msg.contains(DATASETS[2].files[0].sha256), "{msg}");

        let err = verify(&DATASETS[0], &dir).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    }
}
