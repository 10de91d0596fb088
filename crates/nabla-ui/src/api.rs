//! The JSON API under `/api` (documented in `docs/API.md`). Every handler opens the store
//! read-only on the blocking pool, answers, and closes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use nabla_track::wire::{ArtifactView, Columns};
use nabla_track::{is_sha256, MetricSummary, RunQuery, RunRecord, RunStatus, Store, TrackError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::users::Viewer;
use crate::{stream, AppState};

/// The routes of the API, without state.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/projects", get(projects))
        .route("/api/runs", get(runs))
        .route("/api/runs/{id}", get(run))
        .route("/api/runs/{id}/metrics", get(metrics))
        .route("/api/runs/{id}/metrics/{*name}", get(history))
        .route("/api/runs/{id}/stream", get(stream::stream))
        .route("/api/runs/{id}/artifacts/{sha}", get(artifact))
        .route("/api/report", get(crate::report::report))
        .route("/api/{*rest}", get(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such API endpoint") }))
}

/// An error answered as `{"error": "…"}` with its status code.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
}

/// axum's `Path` extractor, with a malformed path (bad percent-encoding, a value of the wrong
/// type) answered as the API's `{"error": …}` like every other error, not as plain text.
pub(crate) struct UrlPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for UrlPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(UrlPath(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// axum's `Query` extractor, with a query string that does not parse answered as the API's
/// `{"error": …}`.
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

impl From<TrackError> for ApiError {
    fn from(err: TrackError) -> ApiError {
        let status = match err {
            TrackError::UnknownRun(_) | TrackError::UnknownMetric { .. } | TrackError::NoStore { .. } => {
                StatusCode::NOT_FOUND
            }
            TrackError::AmbiguousRun { .. } | TrackError::InvalidExpression { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// Runs `f` on a read-only store on the blocking pool.
pub(crate) async fn with_store<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
{
    let dir = state.tracking_dir.clone();
    tokio::task::spawn_blocking(move || f(&Store::open_read_only(&dir)?))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// A run as the API shows it: the stored record plus its duration so far.
#[derive(Serialize)]
struct RunView {
    #[serde(flatten)]
    run: RunRecord,
    /// Seconds, to its end or to now while it runs.
    duration: f64,
}

impl From<RunRecord> for RunView {
    fn from(run: RunRecord) -> RunView {
        RunView { duration: run.duration(nabla_track::now_secs()), run }
    }
}

#[derive(Serialize)]
struct Project {
    name: String,
    runs: usize,
    running: usize,
    last_started: f64,
}

/// `GET /api/projects`: every project with its number of runs, newest activity first.
async fn projects(
    State(state): State<Arc<AppState>>,
    viewer: Option<Extension<Viewer>>,
) -> Result<Json<Vec<Project>>, ApiError> {
    let query = RunQuery { visible_to: viewer.and_then(|Extension(v)| v.filter()), ..RunQuery::default() };
    let runs = match with_store(&state, move |store| Ok(store.runs(&query)?)).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => Vec::new(),
        other => other?,
    };
    let mut projects: Vec<Project> = Vec::new();
    for run in runs {
        let index = match projects.iter().position(|p| p.name == run.project) {
            Some(i) => i,
            None => {
                projects.push(Project { name: run.project.clone(), runs: 0, running: 0, last_started: run.started });
                projects.len() - 1
            }
        };
        let project = &mut projects[index];
        project.runs += 1;
        project.running += usize::from(run.status == RunStatus::Running);
        project.last_started = project.last_started.max(run.started);
    }
    projects.sort_by(|a, b| b.last_started.total_cmp(&a.last_started));
    Ok(Json(projects))
}

#[derive(Serialize)]
struct RunsPage {
    total: usize,
    offset: usize,
    runs: Vec<RunView>,
}

/// `GET /api/runs?project=&filter=&sort=&limit=&offset=` (`filter` may repeat). On `nabla
/// server`, a `project` the user may not read answers 403.
async fn runs(
    State(state): State<Arc<AppState>>,
    viewer: Option<Extension<Viewer>>,
    RawQuery(query): RawQuery,
) -> Result<Json<RunsPage>, ApiError> {
    let mut project = None;
    let mut filters = Vec::new();
    let mut sort = None;
    let mut limit = None;
    let mut offset = 0usize;
    let bad = |what: &str, value: &str| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid {what} `{value}`"));
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "project" if !value.is_empty() => project = Some(value.into_owned()),
            "filter" if !value.is_empty() => filters.push(value.into_owned()),
            "sort" if !value.is_empty() => sort = Some(value.into_owned()),
            "limit" => limit = Some(value.parse::<usize>().map_err(|_| bad("limit", &value))?),
            "offset" => offset = value.parse::<usize>().map_err(|_| bad("offset", &value))?,
            _ => {}
        }
    }
    let mut query = RunQuery::parse(project.as_deref(), &filters, sort.as_deref(), None)?;
    query.visible_to = viewer.and_then(|Extension(v)| v.filter());
    let all = with_store(&state, move |store| {
        // A project named that exists and is not the user's nor shared with them is refused,
        // rather than shown empty: the user learns they need it shared.
        if let (Some(who), Some(project)) = (&query.visible_to, &query.project) {
            if store.project_access(who, project)?.is_none() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("{} has no access to project `{project}`: its owner or the server's operator can share it (`nabla server share {project} {} --read`)", who.name, who.name),
                ));
            }
        }
        Ok(store.runs(&query)?)
    })
    .await;
    let all = match all {
        Err(e) if e.status == StatusCode::NOT_FOUND => Vec::new(),
        other => other?,
    };
    let total = all.len();
    let runs = all.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).map(RunView::from).collect();
    Ok(Json(RunsPage { total, offset, runs }))
}

/// `GET /api/runs/{id}`: the run, its metrics and its artifacts.
async fn run(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    let cached = state.clone();
    with_store(&state, move |store| {
        let run = store.run(&id)?;
        let metrics = summaries(&cached, store, &run.id)?;
        let artifacts: Vec<ArtifactView> =
            store.artifacts(&run.id)?.into_iter().map(|a| ArtifactView::new(&run.id, a)).collect();
        Ok(Json(json!({ "run": RunView::from(run), "metrics": metrics, "artifacts": artifacts })))
    })
    .await
}

/// `GET /api/runs/{id}/metrics`: the run's metrics with counts, last values, minima and maxima.
async fn metrics(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Vec<MetricSummary>>, ApiError> {
    let cached = state.clone();
    with_store(&state, move |store| Ok(Json(summaries(&cached, store, &store.resolve_run_id(&id)?)?))).await
}

/// What [`Store::metrics`] says of a run's metrics, from the in-memory summaries (which it
/// brings up to date): a million-point metric is scanned once, not on every page view.
fn summaries(state: &AppState, store: &Store, run: &str) -> Result<Vec<MetricSummary>, ApiError> {
    let mut out = Vec::new();
    for name in store.metric_names(run)? {
        out.push(state.cache.with_series(store, run, &name, |series| Ok(series.summary(&name)))?);
    }
    Ok(out)
}

/// How many points a history asks for when it does not say.
pub(crate) const DEFAULT_POINTS: usize = 2000;

#[derive(Deserialize)]
struct HistoryParams {
    points: Option<usize>,
    from: Option<u64>,
    to: Option<u64>,
}

#[derive(Serialize)]
struct History {
    run: String,
    metric: String,
    /// Points in the requested step range before downsampling.
    total: usize,
    #[serde(flatten)]
    columns: Columns,
}

/// `GET /api/runs/{id}/metrics/{name}?points=2000&from=&to=`: a metric's history, downsampled
/// to about `points` points keeping every bucket's minimum and maximum.
async fn history(
    State(state): State<Arc<AppState>>,
    UrlPath((id, name)): UrlPath<(String, String)>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let target = params.points.unwrap_or(DEFAULT_POINTS).clamp(2, 1_000_000);
    let from = params.from.unwrap_or(0);
    let to = params.to.unwrap_or(u64::MAX);
    let cached = state.clone();
    with_store(&state, move |store| {
        let run = store.resolve_run_id(&id)?;
        let (total, points) = cached
            .cache
            .with_series(store, &run, &name, |series| series.history(store, &run, &name, from, to, target))?;
        let columns = Columns::from_points(&points);
        Ok(Json(History { run, metric: name, total, columns }))
    })
    .await
}

/// The artifact's file if it really lies inside the artifacts folder (after resolving links).
fn inside_store(artifacts_dir: &Path, file: &Path) -> Option<PathBuf> {
    let root = artifacts_dir.canonicalize().ok()?;
    let file = file.canonicalize().ok()?;
    (file.starts_with(&root) && file.is_file()).then_some(file)
}

/// Keeps a download's file name to characters that need no quoting in a header.
fn header_file_name(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if cleaned.trim_matches('.').is_empty() {
        "artifact".into()
    } else {
        cleaned
    }
}

/// `GET /api/runs/{id}/artifacts/{sha256}`: the artifact's bytes as a download.
async fn artifact(
    State(state): State<Arc<AppState>>,
    UrlPath((id, sha)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    if !is_sha256(&sha) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "an artifact is named by its sha256 (64 lowercase hex digits)",
        ));
    }
    let (name, bytes) = with_store(&state, move |store| {
        let run = store.resolve_run_id(&id)?;
        let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("run {run} has no artifact {sha}"));
        let record = store.artifacts(&run)?.into_iter().find(|a| a.sha256 == sha).ok_or_else(not_found)?;
        let file = inside_store(&store.artifacts_dir(), &store.artifact_path(&sha)).ok_or_else(not_found)?;
        let bytes = std::fs::read(&file).map_err(|_| not_found())?;
        Ok((record.name, bytes))
    })
    .await?;
    let disposition = format!("attachment; filename=\"{}\"", header_file_name(&name));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_names_pass() {
        assert!(is_sha256(&"ab".repeat(32)));
        for bad in [
            "..",
            "../../nabla.db",
            "/etc/passwd",
            &"AB".repeat(32),
            &"ab".repeat(31),
            &format!("{}/x", "a".repeat(62)),
        ] {
            assert!(!is_sha256(bad), "{bad}");
        }
    }

    #[test]
    fn download_names_are_header_safe() {
        assert_eq!(header_file_name("model.safetensors"), "model.safetensors");
        assert_eq!(header_file_name("a\"b\r\nc d"), "a_b__c_d");
        assert_eq!(header_file_name(".."), "artifact");
    }
}
