//! Limits that keep one client from holding the server for the others (docs/API.md,
//! "Access"): a request body must keep arriving — a pause of more than the server's header
//! deadline between two chunks ends the request — and the open-files limit is raised to what
//! the system allows, so that thousands of idle connections cannot use up the descriptors
//! that the store and new clients need. Bodies are also bounded in size, per route (16 MiB of
//! JSON, the artifact limit for uploads).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

use crate::AppState;

/// Replaces the request's body with one that fails when no bytes arrive for
/// [`AppState::body_idle_timeout`]: the handler reading it answers an error and the connection
/// is closed, instead of waiting for a client that sends a byte and stops.
pub(crate) async fn body_deadline(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let idle = state.body_idle_timeout;
    let (parts, body) = request.into_parts();
    let stream = body.into_data_stream();
    let timed = futures_util::stream::unfold(Some(stream), move |stream| async move {
        let mut stream = stream?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((Err(axum::Error::new(Stalled(idle))), None)),
        }
    });
    next.run(Request::from_parts(parts, Body::from_stream(timed))).await
}

/// A body that stopped arriving.
#[derive(Debug)]
struct Stalled(Duration);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body stalled for {:.1} s", self.0.as_secs_f64())
    }
}

impl std::error::Error for Stalled {}

/// Raises this process's soft limit on open files to its hard limit (best effort: a limit
/// that cannot be raised stays as it was) and answers the limit in force (`None`: unlimited).
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current
}

/// Connections the kernel completes and queues for the server to accept, at most: std binds
/// with 128, which a burst of clients (a class starting at once, or a flood of connections)
/// overflows in moments, and a client whose handshake is dropped retries only a second later.
pub(crate) const BACKLOG: i32 = 4096;

/// Raises `listener`'s accept queue to [`BACKLOG`] (calling `listen` again on a listening
/// socket changes its backlog; the system caps it at `net.core.somaxconn`). Best effort.
pub(crate) fn deepen_backlog(listener: &std::net::TcpListener) {
    let _ = rustix::net::listen(listener, BACKLOG);
}
