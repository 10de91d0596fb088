//! MLflow's tracking REST API on `nabla server` (docs/API.md, "MLflow's clients"): the calls
//! that `mlflow.start_run`, `log_param(s)`, `log_metric(s)`, `log_batch`, `set_tag(s)` and
//! `end_run` make, so a script run with `MLFLOW_TRACKING_URI=http://host:6006` and
//! `MLFLOW_TRACKING_TOKEN=<a nabla token>` logs into nabla unchanged.
//!
//! How MLflow's objects become nabla's:
//! - An experiment is a project; its id is the project's number ([`Store::project_number`]).
//!   MLflow's default experiment (id `0`, where runs go without `mlflow.set_experiment`) is a
//!   project per user, `Default (NAME)`: a project belongs to its first writer.
//! - A run is a run, owned by the token's user; MLflow's `mlflow.runName` tag is its name,
//!   `mlflow.source.name` its command, `mlflow.source.git.commit` its commit.
//! - Parameters are config keys. MLflow sends them as text; a text that is exactly how a number
//!   prints is stored as that number (so sweeps compare numbers), any other as text. As in
//!   MLflow, a parameter once logged keeps its value.
//! - Other tags are nabla tags written `key=value`.
//! - Metrics are points. nabla keeps one value per step and steps that increase; MLflow allows
//!   repeats (every `log_metric` without `step=` is at step 0). A point whose step is not past
//!   its metric's last one is stored at the next step ([`OldSteps::Renumber`]): no value is
//!   lost and the order of logging is kept. Timestamps become wall times.
//! - MLflow sends no request id; a request's body names it, so a retried request (the answer
//!   was lost) stores its points once.
//!
//! Errors are MLflow's `{"error_code": …, "message": …}`, which its client shows.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use nabla_track::{Principal, Store, TrackError};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use crate::api::ApiError;
use crate::users::Viewer;
use crate::AppState;

/// MLflow's own limits on one `log-batch` request.
const MAX_BATCH_METRICS: usize = 1000;
const MAX_BATCH_PARAMS: usize = 100;
const MAX_BATCH_TAGS: usize = 100;

/// The project MLflow's default experiment (id `0`) is for `who`: one per user, since a
/// project belongs to its first writer and a class shares one server.
pub(super) fn default_project(who: &Principal) -> String {
    format!("Default ({})", who.name)
}

/// The MLflow routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    const API: &str = "/api/2.0/mlflow";
    Router::new()
        .route(&format!("{API}/experiments/get-by-name"), get(experiments::experiment_by_name))
        .route(&format!("{API}/experiments/get"), get(experiments::experiment_by_id))
        .route(&format!("{API}/experiments/create"), post(experiments::create_experiment))
        .route(&format!("{API}/runs/create"), post(runs::create_run))
        .route(&format!("{API}/runs/get"), get(runs::get_run))
        .route(&format!("{API}/runs/update"), post(runs::update_run))
        .route(&format!("{API}/runs/log-parameter"), post(logging::log_parameter))
        .route(&format!("{API}/runs/log-metric"), post(logging::log_metric))
        .route(&format!("{API}/runs/log-batch"), post(logging::log_batch))
        .route(&format!("{API}/runs/set-tag"), post(logging::set_tag))
        .route(&format!("{API}/{{*rest}}"), axum::routing::any(unsupported))
        .layer(DefaultBodyLimit::max(crate::ingest::MAX_BODY))
}

/// An error as MLflow's clients read it.
struct MlflowError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl MlflowError {
    fn invalid(message: impl Into<String>) -> MlflowError {
        MlflowError { status: StatusCode::BAD_REQUEST, code: "INVALID_PARAMETER_VALUE", message: message.into() }
    }

    fn not_found(message: impl Into<String>) -> MlflowError {
        MlflowError { status: StatusCode::NOT_FOUND, code: "RESOURCE_DOES_NOT_EXIST", message: message.into() }
    }
}

impl From<TrackError> for MlflowError {
    fn from(err: TrackError) -> MlflowError {
        let (status, code) = match &err {
            TrackError::UnknownRun(_) => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
            TrackError::Forbidden(_) => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            TrackError::InvalidRequest(_)
            | TrackError::InvalidMetricName { .. }
            | TrackError::StepTooLarge(_)
            | TrackError::StepNotIncreasing { .. } => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
            TrackError::RunExists(_) => (StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        };
        MlflowError { status, code, message: err.to_string() }
    }
}

impl From<ApiError> for MlflowError {
    fn from(err: ApiError) -> MlflowError {
        let code = match err.status {
            StatusCode::NOT_FOUND => "RESOURCE_DOES_NOT_EXIST",
            StatusCode::FORBIDDEN => "PERMISSION_DENIED",
            StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
            s if s.is_client_error() => "INVALID_PARAMETER_VALUE",
            _ => "INTERNAL_ERROR",
        };
        MlflowError { status: err.status, code, message: err.message }
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error_code": self.code, "message": self.message }))).into_response()
    }
}

type Answer = Result<Json<Value>, MlflowError>;

async fn unsupported() -> MlflowError {
    MlflowError {
        status: StatusCode::NOT_FOUND,
        code: "ENDPOINT_NOT_FOUND",
        message: "nabla answers MLflow's run-logging calls only (docs/API.md, \"MLflow's clients\")".into(),
    }
}

/// A request body in MLflow's JSON, which may send 64-bit integers as strings.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, MlflowError> {
    serde_json::from_slice(body).map_err(|e| MlflowError::invalid(format!("malformed request body: {e}")))
}

/// The user behind a request (the middleware lets no write through without one).
fn user(viewer: &Viewer) -> Result<Principal, MlflowError> {
    viewer.0.clone().ok_or(MlflowError {
        status: StatusCode::UNAUTHORIZED,
        code: "UNAUTHENTICATED",
        message: "MLflow's calls need a token: MLFLOW_TRACKING_TOKEN=<a token from `nabla server user add`>".into(),
    })
}

/// Runs `f` on the store through the server's writer ([`crate::writer`]): MLflow's calls
/// read and change a run in one step (a parameter logged twice, a tag replaced).
async fn on_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Store) -> Result<T, MlflowError> + Send + 'static,
) -> Result<T, MlflowError> {
    state.writer.write(f).await
}

/// A query string's fields as `T` (every field a string).
fn query_params<T: DeserializeOwned>(query: axum::extract::RawQuery) -> Result<T, MlflowError> {
    let text = query.0.unwrap_or_default();
    let fields: Map<String, Value> =
        form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
    serde_json::from_value(Value::Object(fields)).map_err(|e| MlflowError::invalid(format!("query string: {e}")))
}

mod experiments;
mod logging;
mod runs;
