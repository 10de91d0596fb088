//! `GET /api/runs/{id}/stream`: Server-Sent Events with the new points of a live run.
//!
//! The stream keeps one cursor (the last step sent) per metric, starting at each metric's last
//! step when the client connects, and polls the store: every poll sends one `points` event with
//! whatever came after the cursors. When the run is no longer running, the last points are sent,
//! then an `end` event with its status, and the stream closes.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use nabla_track::wire::Columns;
use nabla_track::{RunStatus, Store};
use serde_json::json;

use crate::api::{with_store, ApiError, UrlPath};
use crate::AppState;

/// The most points of one metric sent in one event; the rest follow at once.
const BATCH: usize = 10_000;
/// The metric list is reread every this many polls, to pick up metrics logged for the first time.
const RELIST_EVERY: u32 = 4;

/// Where one stream is.
struct Cursor {
    state: Arc<AppState>,
    run: String,
    /// The last step sent per metric (`None`: nothing yet).
    after: BTreeMap<String, Option<u64>>,
    polls: u32,
    /// The first event (`hello`, with the cursors) is still to be sent.
    hello: bool,
    done: bool,
    /// This stream's place among [`MAX_STREAMS`], given back when the stream is dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// What one poll found.
struct Poll {
    points: BTreeMap<String, Columns>,
    after: BTreeMap<String, Option<u64>>,
    status: RunStatus,
    more: bool,
}

/// Live streams open at once: each polls the store every `poll_interval`, so hundreds of them
/// (one web page can open them) would take every core from the other requests. One more is
/// answered 503.
pub(crate) const MAX_STREAMS: usize = 32;

pub(crate) async fn stream(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Held by the stream until it ends or its client goes.
    let permit = Arc::clone(&state.streams).try_acquire_owned().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("too many live streams open ({MAX_STREAMS}): close a dashboard tab and reload"),
        )
    })?;
    let (run, after) = with_store(&state, move |store| {
        let run = store.resolve_run_id(&id)?;
        let after = store.last_steps(&run)?.into_iter().collect();
        Ok((run, after))
    })
    .await?;
    let cursor = Cursor { state, run, after, polls: 0, hello: true, done: false, _permit: permit };
    let events = stream::unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return None;
        }
        if cursor.hello {
            cursor.hello = false;
            let event = json_event("hello", &json!({ "run": cursor.run, "after": cursor.after }));
            return Some((Ok(event), cursor));
        }
        loop {
            let relist = cursor.polls % RELIST_EVERY == 0;
            cursor.polls = cursor.polls.wrapping_add(1);
            let (run, after) = (cursor.run.clone(), cursor.after.clone());
            let poll = match with_store(&cursor.state, move |store| Ok(poll(store, &run, after, relist)?)).await {
                Ok(poll) => poll,
                Err(_) => {
                    cursor.done = true;
                    return Some((Ok(Event::default().event("end").data("{\"status\":null}")), cursor));
                }
            };
            cursor.after = poll.after;
            if !poll.points.is_empty() {
                return Some((Ok(json_event("points", &poll.points)), cursor));
            }
            if poll.status != RunStatus::Running {
                cursor.done = true;
                return Some((Ok(json_event("end", &json!({ "status": poll.status }))), cursor));
            }
            if !poll.more {
                tokio::time::sleep(cursor.state.poll_interval).await;
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// An event of this name with `value` as JSON (maps of strings and numbers always serialise).
fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default().event(name).data(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
}

/// Reads the points after the cursors (and, when `relist`, notices new metrics).
fn poll(store: &Store, run: &str, mut after: BTreeMap<String, Option<u64>>, relist: bool) -> nabla_track::Result<Poll> {
    // The status first: points logged before the run ended are then read below.
    let status = store.run(run)?.status;
    if relist {
        for name in store.metric_names(run)? {
            after.entry(name).or_insert(None);
        }
    }
    let mut points = BTreeMap::new();
    let mut more = false;
    for (name, cursor) in &mut after {
        let new = store.history_after(run, name, *cursor, BATCH)?;
        if let Some(last) = new.last() {
            *cursor = Some(last.step);
            more |= new.len() == BATCH;
            points.insert(name.clone(), Columns::from_points(&new));
        }
    }
    Ok(Poll { points, after, status, more })
}
