//! `PUT /api/runs/{id}/artifacts/{sha256}?name=&kind=`: a file uploaded for a run, streamed
//! into the store as it arrives (never whole in memory), hashed on the way and refused if its
//! sha256 is not the one named, or if it grows past the server's limit
//! ([`crate::ServerOptions::max_artifact_bytes`]). A refused upload leaves nothing behind.

use std::io::Read;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::api::{ApiError, UrlPath};
use crate::users::Viewer;
use crate::AppState;

/// An upload's name and kind.
#[derive(Deserialize)]
pub(crate) struct Described {
    name: String,
    #[serde(default = "file_kind")]
    kind: String,
}

fn file_kind() -> String {
    "file".into()
}

/// Why the body stopped arriving.
enum Cut {
    TooLarge,
    Broken(String),
}

/// The body's chunks, read on the blocking pool as they arrive.
struct ChunkReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    UrlPath((id, sha)): UrlPath<(String, String)>,
    Query(described): Query<Described>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let who = viewer.0.clone().ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "writes need a token"))?;
    let limit = state.max_artifact_bytes;
    let (send, chunks) = mpsc::channel::<Result<Bytes, String>>(8);
    let dir = state.tracking_dir.clone();
    let store = tokio::task::spawn_blocking(move || {
        let reader = ChunkReader { chunks, current: Bytes::new() };
        let mut store = nabla_track::Store::open(&dir)?;
        store.ingest_artifact(&who, &id, &sha, &described.name, &described.kind, reader)
    });
    // Feed the body to the store; stop at the limit or when the store stops reading.
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    let mut cut = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                cut = Some(Cut::Broken(e.to_string()));
                break;
            }
        };
        received += chunk.len() as u64;
        if received > limit {
            cut = Some(Cut::TooLarge);
            break;
        }
        if send.send(Ok(chunk)).await.is_err() {
            break; // the store refused already (another user's run, a bad name): its answer says why
        }
    }
    match &cut {
        Some(Cut::TooLarge) => {
            let _ = send.send(Err("the upload is larger than the server accepts".into())).await;
        }
        Some(Cut::Broken(e)) => {
            let _ = send.send(Err(format!("the upload broke off: {e}"))).await;
        }
        None => {}
    }
    drop(send);
    let stored = store.await.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match cut {
        Some(Cut::TooLarge) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("an artifact may be at most {limit} bytes on this server; nothing was stored"),
            ))
        }
        Some(Cut::Broken(e)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the upload broke off ({e}); nothing was stored"),
            ))
        }
        None => {}
    }
    let (record, new) = stored.map_err(crate::ingest::write_error)?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "sha256": record.sha256, "name": record.name, "bytes": record.bytes, "new": new }))))
}
