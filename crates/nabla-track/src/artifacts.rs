//! Content-addressed artifact files: `artifacts/<first two hex digits>/<sha256>`.
//!
//! A file is written to `artifacts/tmp/` while it is hashed, then renamed into place, so a
//! reader never sees half a file; a file already present is not written twice. Deleting a run
//! only deletes its artifact rows: the files go when `gc` finds nothing referring to them.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrackError};
use crate::store::Store;

/// The artifacts folder inside a tracking directory.
pub(crate) const ARTIFACTS_DIR: &str = "artifacts";
const TMP_DIR: &str = "tmp";
/// The lock that keeps `gc` from running between an artifact's file and its row.
const GC_LOCK: &str = "gc.lock";

/// Locks the artifact store of the tracking directory `dir`: shared by a run from writing an
/// artifact's file until its row is in the database, exclusive by [`Store::gc`], so that gc
/// never sees a file whose row is about to be written (with a short grace it removed a live
/// run's new artifact). The lock is an OS file lock, released when the file closes (also when
/// the process dies).
pub(crate) fn artifact_lock(dir: &Path, exclusive: bool) -> Result<File> {
    let root = dir.join(ARTIFACTS_DIR);
    fs::create_dir_all(&root).map_err(|e| TrackError::io("creating", &root, e))?;
    let path = root.join(GC_LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| TrackError::io("opening", &path, e))?;
    let locked = if exclusive { file.lock() } else { file.lock_shared() };
    locked.map_err(|e| TrackError::io("locking", &path, e))?;
    Ok(file)
}

/// Where the file with this sha256 lives under the tracking directory `dir`.
pub(crate) fn blob_path(dir: &Path, sha256: &str) -> PathBuf {
    let shard = sha256.get(..2).unwrap_or("xx");
    dir.join(ARTIFACTS_DIR).join(shard).join(sha256)
}

/// A file stored by content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Blob {
    /// sha256 of the content, lowercase hex.
    pub sha256: String,
    /// Its length in bytes.
    pub bytes: u64,
}

/// Copies `reader` into the artifact store of the tracking directory `dir`.
pub(crate) fn store_blob(dir: &Path, reader: impl Read, what: &Path) -> Result<Blob> {
    store_blob_checked(dir, reader, what, None)
}

/// [`store_blob`], refusing content whose sha256 is not `expected` (when given: the sha256 and
/// who said so, for the error) before it enters the store, so that a refused file leaves
/// nothing behind.
pub(crate) fn store_blob_checked(
    dir: &Path,
    mut reader: impl Read,
    what: &Path,
    expected: Option<(&str, &str)>,
) -> Result<Blob> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp_dir = dir.join(ARTIFACTS_DIR).join(TMP_DIR);
    fs::create_dir_all(&tmp_dir).map_err(|e| TrackError::io("creating", &tmp_dir, e))?;
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let tmp = tmp_dir.join(format!("{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut file = File::create(&tmp).map_err(|e| TrackError::io("creating", &tmp, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TrackError::io("reading", what, e)),
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(|e| TrackError::io("writing", &tmp, e))?;
            bytes += n as u64;
        }
        // Durable before it becomes visible under its final name.
        file.sync_all().map_err(|e| TrackError::io("writing", &tmp, e))?;
        let sha256: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if let Some((expected, said_by)) = expected.filter(|(e, _)| *e != sha256) {
            return Err(TrackError::BadExport {
                path: what.to_path_buf(),
                reason: format!("its sha256 is {sha256}, not the {expected} that {said_by}"),
            });
        }
        let target = blob_path(dir, &sha256);
        if target.is_file() {
            // Already stored: refresh its time so that a concurrent `gc` (which spares recent
            // files) cannot remove it before this run's row refers to it.
            let _ = File::options().append(true).open(&target).and_then(|f| f.set_modified(SystemTime::now()));
            let _ = fs::remove_file(&tmp);
        } else {
            let parent = target.parent().unwrap_or(dir);
            fs::create_dir_all(parent).map_err(|e| TrackError::io("creating", parent, e))?;
            fs::rename(&tmp, &target).map_err(|e| TrackError::io("storing", &target, e))?;
        }
        Ok(Blob { sha256, bytes })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What [`Store::gc`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Files removed (unreferenced artifacts and stale temporary files).
    pub files: u64,
    /// Bytes freed.
    pub bytes: u64,
    /// Artifact files still referenced by some run.
    pub kept: u64,
}

impl Store {
    /// Removes artifact files that no run refers to any more, and temporary files left by
    /// interrupted writes. Files modified within `grace` are spared, because a run that is
    /// logging an artifact right now writes its file a moment before its row.
    pub fn gc(&self, grace: Duration) -> Result<GcReport> {
        // Waits for runs that are between an artifact's file and its row, and holds them off
        // until the scan is done.
        let _lock = artifact_lock(self.dir(), true)?;
        let referenced: std::collections::HashSet<String> = {
            let mut stmt = self.conn.prepare("SELECT DISTINCT sha256 FROM artifacts").map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0)).map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?
        };
        let root = self.artifacts_dir();
        let mut report = GcReport::default();
        let Ok(shards) = fs::read_dir(&root) else { return Ok(report) };
        let now = SystemTime::now();
        for shard in shards {
            let shard = shard.map_err(|e| TrackError::io("reading", &root, e))?.path();
            if !shard.is_dir() {
                continue;
            }
            let is_tmp = shard.file_name().is_some_and(|n| n == TMP_DIR);
            let entries = fs::read_dir(&shard).map_err(|e| TrackError::io("reading", &shard, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| TrackError::io("reading", &shard, e))?;
                let path = entry.path();
                let meta = entry.metadata().map_err(|e| TrackError::io("reading", &path, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_tmp && referenced.contains(&name) {
                    report.kept += 1;
                    continue;
                }
                let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or(Duration::ZERO);
                if age < grace {
                    continue;
                }
                fs::remove_file(&path).map_err(|e| TrackError::io("removing", &path, e))?;
                report.files += 1;
                report.bytes += meta.len();
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression (issue 21): with a short grace, gc ran between a run's artifact file and its
    // row, and the run then listed an artifact whose file was gone.
    #[test]
    fn gc_waits_for_a_run_between_an_artifacts_file_and_its_row() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let run_lock = artifact_lock(tmp.path(), false).unwrap();
        let blob = store_blob(tmp.path(), &b"new weights"[..], Path::new("w")).unwrap();
        let dir = tmp.path().to_path_buf();
        let gc = std::thread::spawn(move || Store::open(&dir).unwrap().gc(Duration::ZERO).unwrap());
        std::thread::sleep(Duration::from_millis(200));
        assert!(!gc.is_finished(), "gc ran while a run held the artifact lock");
        assert!(blob_path(tmp.path(), &blob.sha256).is_file());
        // The run's row goes in, then it lets go: gc finds the file referenced.
        store
            .conn
            .execute(
                "INSERT INTO runs (id, project, status, config, summary, tags, started, heartbeat, heartbeat_secs, system)
                 VALUES ('r1', 'p', 'running', '{}', '{}', '[]', 0, 0, 1, '{}')",
                [],
            )
            .unwrap();
        store
            .conn
            .execute(
                "INSERT INTO artifacts (run_id, sha256, kind, name, bytes, created) VALUES ('r1', ?1, 'k', 'w', 11, 0)",
                [&blob.sha256],
            )
            .unwrap();
        drop(run_lock);
        let report = gc.join().unwrap();
        assert_eq!((report.files, report.kept), (0, 1));
        assert!(blob_path(tmp.path(), &blob.sha256).is_file());
    }

    #[test]
    fn identical_content_is_stored_once_under_its_sha256() {
        let tmp = tempfile::tempdir().unwrap();
        let a = store_blob(tmp.path(), &b"abc"[..], Path::new("a")).unwrap();
        let b = store_blob(tmp.path(), &b"abc"[..], Path::new("b")).unwrap();
        assert_eq!(a, b);
        // sha256("abc"), the FIPS 180-2 example.
        assert_eq!(a.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(fs::read(blob_path(tmp.path(), &a.sha256)).unwrap(), b"abc");
        let tmp_left = fs::read_dir(tmp.path().join(ARTIFACTS_DIR).join(TMP_DIR)).unwrap().count();
        assert_eq!(tmp_left, 0);
    }
}
