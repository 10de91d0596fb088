//! Artifacts that arrive over the network: `nabla server` stores a file a client uploads for
//! one of its runs, by content as a local run stores its own ([`crate::artifacts`]).
//!
//! The client names the content's sha256 before sending it; the bytes are hashed as they are
//! written to a temporary file, and a file whose hash differs never enters the store. An upload
//! repeated (the answer was lost) records nothing twice: a run has each (name, content) once.

use std::io::Read;
use std::path::Path;

use rusqlite::{params, OptionalExtension};

use crate::artifacts::{artifact_lock, blob_path, store_blob_checked};
use crate::error::{Result, TrackError};
use crate::query::ArtifactRecord;
use crate::store::{now_secs, Store};
use crate::users::Principal;

/// The longest artifact name and kind.
const MAX_NAME: usize = 255;

/// Whether `text` is a sha256 as the store names content: 64 lowercase hex digits.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    /// Stores what `reader` yields as the artifact `name` of `run_id` (which `who` must own),
    /// if its sha256 is `sha256`. Answers the record and whether it is new: an artifact the
    /// run has with this name and content is answered as it is.
    pub fn ingest_artifact(
        &mut self,
        who: &Principal,
        run_id: &str,
        sha256: &str,
        name: &str,
        kind: &str,
        reader: impl Read,
    ) -> Result<(ArtifactRecord, bool)> {
        if !is_sha256(sha256) {
            return Err(TrackError::InvalidRequest(
                "an artifact is named by its sha256 (64 lowercase hex digits)".into(),
            ));
        }
        for (field, text) in [("name", name), ("kind", kind)] {
            if text.is_empty() || text.len() > MAX_NAME || text.chars().any(char::is_control) {
                return Err(TrackError::InvalidRequest(format!(
                    "an artifact's `{field}` is 1 to {MAX_NAME} bytes without control characters"
                )));
            }
        }
        self.check_run_writer(who, run_id)?;
        if let Some(record) = self.artifact_named(run_id, sha256, name)? {
            return Ok((record, false));
        }
        let dir = self.dir().to_path_buf();
        // Held until the row is in, so that `gc` cannot remove the file in between.
        let _lock = artifact_lock(&dir, false)?;
        let blob = store_blob_checked(&dir, reader, Path::new(name), Some((sha256, "the upload names"))).map_err(
            |e| match e {
                TrackError::BadExport { reason, .. } => {
                    TrackError::InvalidRequest(format!("artifact `{name}`: {reason}; nothing was stored"))
                }
                other => other,
            },
        )?;
        let created = now_secs();
        let inserted = self.write(|tx| {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM artifacts WHERE run_id = ?1 AND sha256 = ?2 AND name = ?3",
                    params![run_id, sha256, name],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                tx.execute(
                    "INSERT INTO artifacts (run_id, sha256, kind, name, source, bytes, created)
                     VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)",
                    params![run_id, sha256, kind, name, blob.bytes as i64, created],
                )?;
                tx.execute("UPDATE runs SET heartbeat = ?1 WHERE id = ?2", params![created, run_id])?;
            }
            Ok(exists.is_none())
        })?;
        let record = ArtifactRecord {
            path: blob_path(&dir, sha256),
            sha256: sha256.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            source: None,
            bytes: blob.bytes,
            created,
        };
        Ok((record, inserted))
    }

    /// `run_id`'s artifact with this content and name, if it has one.
    fn artifact_named(&self, run_id: &str, sha256: &str, name: &str) -> Result<Option<ArtifactRecord>> {
        Ok(self.artifacts(run_id)?.into_iter().find(|a| a.sha256 == sha256 && a.name == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunInit;
    use sha2::{Digest, Sha256};

    fn sha(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn an_upload_is_stored_once_by_content_and_only_for_the_runs_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        store.add_user("ada", false).unwrap();
        store.add_user("grace", false).unwrap();
        let ada = Principal { name: "ada".into(), admin: false };
        let grace = Principal { name: "grace".into(), admin: false };
        let init: RunInit = serde_json::from_value(serde_json::json!({"id": "0000000000aa", "project": "p"})).unwrap();
        store.create_run_for(&ada, &init).unwrap();
        let bytes = b"weights".repeat(1000);
        let hash = sha(&bytes);
        let (record, new) =
            store.ingest_artifact(&ada, "0000000000aa", &hash, "best.safetensors", "checkpoint", &bytes[..]).unwrap();
        assert!(new);
        assert_eq!(std::fs::read(&record.path).unwrap(), bytes);
        let (_, new) =
            store.ingest_artifact(&ada, "0000000000aa", &hash, "best.safetensors", "checkpoint", &bytes[..]).unwrap();
        assert!(!new, "a repeated upload is recorded once");
        assert_eq!(store.artifacts("0000000000aa").unwrap().len(), 1);
        // Content that is not what the request names leaves nothing behind.
        let wrong =
            store.ingest_artifact(&ada, "0000000000aa", &sha(b"other"), "x.bin", "file", &b"tampered"[..]).unwrap_err();
        assert!(wrong.to_string().contains("nothing was stored"), "{wrong}");
        assert!(!blob_path(tmp.path(), &sha(b"tampered")).exists());
        assert_eq!(store.artifacts("0000000000aa").unwrap().len(), 1);
        let tmp_files = std::fs::read_dir(tmp.path().join("artifacts").join("tmp")).map_or(0, |d| d.count());
        assert_eq!(tmp_files, 0, "no temporary file is left");
        // Another user's run.
        let refused = store.ingest_artifact(&grace, "0000000000aa", &hash, "b", "file", &bytes[..]).unwrap_err();
        assert!(matches!(refused, TrackError::Forbidden(_)), "{refused}");
        assert!(matches!(
            store.ingest_artifact(&ada, "0000000000aa", "ABC", "b", "file", &bytes[..]),
            Err(TrackError::InvalidRequest(_))
        ));
    }
}
