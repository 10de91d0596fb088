//! The write API of `nabla server` (docs/API.md, "Writing runs"): create a run, log a batch of
//! points (idempotent by batch id), and update a run's config, summary and status. Each
//! request is one transaction in the store on the blocking pool; the user comes from
//! [`crate::users`]. A dashboard without users (`nabla ui`) has none of these routes.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::routing::{patch, post};
use axum::{Extension, Json, Router};
use nabla_track::{IngestPoint, Ingested, Principal, RunInit, RunUpdate, Store, TrackError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{ApiError, UrlPath};
use crate::users::Viewer;
use crate::AppState;

/// The largest request body: a full batch of points ([`nabla_track::MAX_BATCH_POINTS`]) at
/// about 100 bytes a point.
pub(crate) const MAX_BODY: usize = 16 << 20;

/// The write routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/runs", post(create))
        .route("/api/runs/{id}", patch(update))
        .route("/api/runs/{id}/points", post(points))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Streamed and limited by the server's own artifact limit (crate::upload).
        .route("/api/runs/{id}/artifacts/{sha}", axum::routing::put(crate::upload::upload))
}

/// axum's `Json` body, with a body that does not parse answered as the API's `{"error": …}`.
pub(crate) struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// The user behind a write (the middleware lets no write through without one).
fn writer(viewer: &Viewer) -> Result<Principal, ApiError> {
    viewer.0.clone().ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "writes need a token"))
}

/// A store error of a write, with the status a client acts on.
pub(crate) fn write_error(err: TrackError) -> ApiError {
    let status = match &err {
        TrackError::Forbidden(_) => StatusCode::FORBIDDEN,
        TrackError::RunExists(_) | TrackError::StepNotIncreasing { .. } => StatusCode::CONFLICT,
        TrackError::InvalidRequest(_) | TrackError::InvalidMetricName { .. } | TrackError::StepTooLarge(_) => {
            StatusCode::BAD_REQUEST
        }
        TrackError::UnknownRun(_) => StatusCode::NOT_FOUND,
        _ => return ApiError::from(err),
    };
    ApiError::new(status, err.to_string())
}

/// Runs a write on the store through the server's writer ([`crate::writer`]).
async fn with_writable_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Store) -> nabla_track::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    state.writer.write(f).await.map_err(write_error)
}

/// `POST /api/runs` with a [`RunInit`]: 201 and `{"id": …}`; 200 for a run that already
/// exists with the same owner and project (a retried request).
async fn create(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    Body(init): Body<RunInit>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let who = writer(&viewer)?;
    let id = init.id.clone();
    let existed = with_writable_store(&state, move |store| {
        let existed = store.run(&init.id).is_ok_and(|r| r.id == init.id);
        store.create_run_for(&who, &init)?;
        Ok(existed)
    })
    .await?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(json!({ "id": id }))))
}

/// A batch of points as a client sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    /// Chosen by the client, unique within the run: a retry sends the same id.
    batch: String,
    points: Vec<IngestPoint>,
}

/// `POST /api/runs/{id}/points` with `{"batch": ID, "points": [{metric, step, value,
/// wall_time}, …]}`: `{"stored": N}`, or `{"stored": 0, "duplicate": true}` for a batch id the
/// run already has.
async fn points(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    UrlPath(id): UrlPath<String>,
    Body(batch): Body<Batch>,
) -> Result<Json<Value>, ApiError> {
    let who = writer(&viewer)?;
    let count = batch.points.len();
    let outcome =
        with_writable_store(&state, move |store| store.ingest_points(&who, &id, &batch.batch, &batch.points)).await?;
    Ok(Json(match outcome {
        Ingested::Stored => json!({ "stored": count }),
        Ingested::AlreadyStored => json!({ "stored": 0, "duplicate": true }),
    }))
}

/// `PATCH /api/runs/{id}` with a [`RunUpdate`] (`config`, `summary` keys to merge, `status`
/// to end it); `{}` is a heartbeat.
async fn update(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    UrlPath(id): UrlPath<String>,
    Body(update): Body<RunUpdate>,
) -> Result<Json<Value>, ApiError> {
    let who = writer(&viewer)?;
    with_writable_store(&state, move |store| store.update_run_for(&who, &id, &update)).await?;
    Ok(Json(json!({})))
}
