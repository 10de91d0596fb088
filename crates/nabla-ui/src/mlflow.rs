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

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use nabla_track::{IngestPoint, OldSteps, Principal, RunInit, RunRecord, RunStatus, RunUpdate, Store, TrackError};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::users::Viewer;
use crate::AppState;

/// MLflow's own limits on one `log-batch` request.
const MAX_BATCH_METRICS: usize = 1000;
const MAX_BATCH_PARAMS: usize = 100;
const MAX_BATCH_TAGS: usize = 100;

/// The project MLflow's default experiment (id `0`) is for `who`: one per user, since a
/// project belongs to its first writer and a class shares one server.
fn default_project(who: &Principal) -> String {
    format!("Default ({})", who.name)
}

/// The MLflow routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    const API: &str = "/api/2.0/mlflow";
    Router::new()
        .route(&format!("{API}/experiments/get-by-name"), get(experiment_by_name))
        .route(&format!("{API}/experiments/get"), get(experiment_by_id))
        .route(&format!("{API}/experiments/create"), post(create_experiment))
        .route(&format!("{API}/runs/create"), post(create_run))
        .route(&format!("{API}/runs/get"), get(get_run))
        .route(&format!("{API}/runs/update"), post(update_run))
        .route(&format!("{API}/runs/log-parameter"), post(log_parameter))
        .route(&format!("{API}/runs/log-metric"), post(log_metric))
        .route(&format!("{API}/runs/log-batch"), post(log_batch))
        .route(&format!("{API}/runs/set-tag"), post(set_tag))
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

// ---- experiments ----

/// The experiment id of `project`.
fn experiment_id(store: &Store, project: &str) -> Result<String, MlflowError> {
    Ok(store.project_number(project)?.map_or_else(String::new, |n| n.to_string()))
}

/// The project of experiment `id` for `who`.
fn project_of(store: &Store, who: &Principal, id: &str) -> Result<String, MlflowError> {
    if id == "0" {
        return Ok(default_project(who));
    }
    let unknown = || MlflowError::not_found(format!("no experiment with id `{id}`"));
    let number: i64 = id.parse().map_err(|_| unknown())?;
    store.project_named_by_number(number)?.ok_or_else(unknown)
}

/// Experiment `project` as MLflow shows one, if `who` may see it. A project that exists but
/// is not shared with `who` is refused by name (it cannot be created either), so that a
/// script stops at `mlflow.set_experiment` instead of logging elsewhere.
fn experiment(store: &Store, who: &Principal, project: &str) -> Result<Value, MlflowError> {
    let Some(sharing) = store.project_sharing(project)? else {
        return Err(MlflowError::not_found(format!("no experiment named `{project}`")));
    };
    if !who.admin && store.project_access(who, project)?.is_none() {
        return Err(MlflowError {
            status: StatusCode::FORBIDDEN,
            code: "PERMISSION_DENIED",
            message: format!(
                "experiment `{project}` belongs to {}, who has not shared it with {} \
                 (`nabla server share {project} {} --write`)",
                sharing.owner, who.name, who.name
            ),
        });
    }
    Ok(json!({ "experiment": {
        "experiment_id": experiment_id(store, project)?,
        "name": project,
        "artifact_location": "",
        "lifecycle_stage": "active",
    }}))
}

#[derive(Deserialize)]
struct ByName {
    experiment_name: String,
}

async fn experiment_by_name(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    query: axum::extract::RawQuery,
) -> Answer {
    let who = user(&viewer)?;
    let ByName { experiment_name } = query_params(query)?;
    on_store(&state, move |store| experiment(store, &who, &experiment_name)).await.map(Json)
}

#[derive(Deserialize)]
struct ById {
    experiment_id: String,
}

async fn experiment_by_id(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    query: axum::extract::RawQuery,
) -> Answer {
    let who = user(&viewer)?;
    let ById { experiment_id } = query_params(query)?;
    on_store(&state, move |store| {
        let project = project_of(store, &who, &experiment_id)?;
        if experiment_id == "0" {
            store.claim_project(&who, &project)?;
        }
        experiment(store, &who, &project)
    })
    .await
    .map(Json)
}

/// A query string's fields as `T` (every field a string).
fn query_params<T: DeserializeOwned>(query: axum::extract::RawQuery) -> Result<T, MlflowError> {
    let text = query.0.unwrap_or_default();
    let fields: Map<String, Value> =
        form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
    serde_json::from_value(Value::Object(fields)).map_err(|e| MlflowError::invalid(format!("query string: {e}")))
}

#[derive(Deserialize)]
struct NewExperiment {
    name: String,
}

async fn create_experiment(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Answer {
    let who = user(&viewer)?;
    let NewExperiment { name } = parse(&body)?;
    on_store(&state, move |store| {
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(MlflowError::invalid("an experiment name is 1 to 200 bytes without control characters"));
        }
        if store.project_sharing(&name)?.is_some() {
            let code = "RESOURCE_ALREADY_EXISTS";
            return Err(MlflowError {
                status: StatusCode::BAD_REQUEST,
                code,
                message: format!("experiment `{name}` exists"),
            });
        }
        if !store.claim_project(&who, &name)? {
            return Err(TrackError::Forbidden(format!("{} may not write to project `{name}`", who.name)).into());
        }
        Ok(json!({ "experiment_id": experiment_id(store, &name)? }))
    })
    .await
    .map(Json)
}

// ---- runs ----

/// A key and a value, as MLflow sends params and tags.
#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: String,
}

/// One metric value as MLflow sends it (`value` may be `"NaN"` or `"Infinity"`, integers may
/// be strings).
#[derive(Deserialize)]
struct MetricValue {
    key: String,
    value: Value,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    step: Option<Value>,
}

/// `run_id`, or the older `run_uuid`.
#[derive(Deserialize)]
struct RunRef {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_uuid: Option<String>,
}

impl RunRef {
    fn id(self) -> Result<String, MlflowError> {
        self.run_id.or(self.run_uuid).ok_or_else(|| MlflowError::invalid("missing `run_id`"))
    }
}

/// An integer that MLflow may send as a number or as a string.
fn integer(value: Option<&Value>, field: &str) -> Result<Option<i64>, MlflowError> {
    let bad = || MlflowError::invalid(format!("`{field}` must be an integer"));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A metric value: a number, or protobuf's spelling of the ones JSON has none for.
fn metric_value(value: &Value, key: &str) -> Result<f64, MlflowError> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| MlflowError::invalid(format!("metric `{key}`: bad value"))),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => {
                other.parse().map_err(|_| MlflowError::invalid(format!("metric `{key}`: `{other}` is not a number")))
            }
        },
        _ => Err(MlflowError::invalid(format!("metric `{key}`: the value must be a number"))),
    }
}

/// MLflow's status of a run.
fn status_text(status: &RunStatus) -> &'static str {
    match status.as_str() {
        "running" => "RUNNING",
        "finished" => "FINISHED",
        "interrupted" => "KILLED",
        _ => "FAILED",
    }
}

/// A parameter's text as a config value: a number when the text is exactly how that number
/// prints, else the text.
fn param_value(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        if n.to_string() == text {
            return Value::from(n);
        }
    }
    if let Ok(x) = text.parse::<f64>() {
        if x.is_finite() && x.to_string() == text {
            return Value::from(x);
        }
    }
    Value::String(text.to_string())
}

/// A config value as a parameter's text.
fn param_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits MLflow's tags into what nabla keeps in fields and the `key=value` tags.
#[derive(Default)]
struct Tags {
    name: Option<String>,
    command: Option<String>,
    git_commit: Option<String>,
    plain: Vec<(String, String)>,
}

impl Tags {
    fn add(&mut self, key: String, value: String) {
        match key.as_str() {
            "mlflow.runName" => self.name = Some(value),
            "mlflow.source.name" => self.command = Some(value),
            "mlflow.source.git.commit" => self.git_commit = Some(value),
            // The rest of MLflow's system tags (user, source type, …) say what nabla records
            // itself: the owner is the token's user.
            k if k.starts_with("mlflow.") => {}
            _ => self.plain.push((key, value)),
        }
    }

    /// `stored` (nabla tags) with each of these tags set, replacing a tag of the same key.
    fn merged_into(&self, stored: &[String]) -> Vec<String> {
        let mut tags: Vec<String> = stored
            .iter()
            .filter(|t| !self.plain.iter().any(|(k, _)| t.split_once('=').map_or(t.as_str(), |(key, _)| key) == k))
            .cloned()
            .collect();
        tags.extend(self.plain.iter().map(|(k, v)| format!("{k}={v}")));
        tags
    }
}

/// A run as MLflow shows one.
fn run_json(store: &Store, run: &RunRecord) -> Result<Value, MlflowError> {
    let ms = |secs: f64| (secs * 1000.0).round() as i64;
    let mut info = json!({
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name.clone().unwrap_or_default(),
        "experiment_id": experiment_id(store, &run.project)?,
        "status": status_text(&run.status),
        "start_time": ms(run.started),
        "artifact_uri": "",
        "lifecycle_stage": "active",
    });
    if let Some(ended) = run.ended {
        info["end_time"] = json!(ms(ended));
    }
    let metrics: Vec<Value> = store
        .metrics(&run.id)?
        .into_iter()
        .filter_map(|m| {
            let value = match m.last_value? {
                v if v.is_nan() => json!("NaN"),
                v if v == f64::INFINITY => json!("Infinity"),
                v if v == f64::NEG_INFINITY => json!("-Infinity"),
                v => json!(v),
            };
            Some(json!({ "key": m.name, "value": value, "step": m.last_step.unwrap_or(0), "timestamp": 0 }))
        })
        .collect();
    let params: Vec<Value> = run
        .config
        .as_object()
        .map(|c| c.iter().map(|(k, v)| json!({ "key": k, "value": param_text(v) })).collect())
        .unwrap_or_default();
    let mut tags: Vec<Value> = run
        .tags
        .iter()
        .map(|t| match t.split_once('=') {
            Some((k, v)) => json!({ "key": k, "value": v }),
            None => json!({ "key": t, "value": "" }),
        })
        .collect();
    if let Some(name) = &run.name {
        tags.push(json!({ "key": "mlflow.runName", "value": name }));
    }
    Ok(json!({ "info": info, "data": { "metrics": metrics, "params": params, "tags": tags } }))
}

#[derive(Deserialize)]
struct NewRun {
    #[serde(default)]
    experiment_id: Option<String>,
    #[serde(default)]
    run_name: Option<String>,
    #[serde(default)]
    start_time: Option<Value>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn create_run(State(state): State<Arc<AppState>>, Extension(viewer): Extension<Viewer>, body: Bytes) -> Answer {
    let who = user(&viewer)?;
    let new: NewRun = parse(&body)?;
    let started = integer(new.start_time.as_ref(), "start_time")?.map(|ms| ms as f64 / 1000.0);
    let mut tags = Tags::default();
    for tag in new.tags {
        tags.add(tag.key, tag.value);
    }
    on_store(&state, move |store| {
        let project = project_of(store, &who, new.experiment_id.as_deref().unwrap_or("0"))?;
        let init = RunInit {
            id: nabla_track::new_run_id(),
            project,
            name: new.run_name.filter(|n| !n.is_empty()).or(tags.name.take()),
            config: Value::Object(Map::new()),
            tags: tags.merged_into(&[]),
            started,
            heartbeat_secs: None,
            host: None,
            command: tags.command.take(),
            git_commit: tags.git_commit.take(),
            nabla_version: None,
            threads: None,
        };
        store.create_run_for(&who, &init)?;
        Ok(json!({ "run": run_json(store, &store.run(&init.id)?)? }))
    })
    .await
    .map(Json)
}

async fn get_run(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    query: axum::extract::RawQuery,
) -> Answer {
    let who = user(&viewer)?;
    let id = query_params::<RunRef>(query)?.id()?;
    on_store(&state, move |store| {
        if !store.can_read_run(&who, &id)? {
            return Err(TrackError::UnknownRun(id).into());
        }
        Ok(json!({ "run": run_json(store, &store.run(&id)?)? }))
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct RunChange {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    run_name: Option<String>,
}

async fn update_run(State(state): State<Arc<AppState>>, Extension(viewer): Extension<Viewer>, body: Bytes) -> Answer {
    let who = user(&viewer)?;
    let change: RunChange = parse(&body)?;
    let id = change.run.id()?;
    let status = match change.status.as_deref() {
        None | Some("RUNNING") | Some("SCHEDULED") => None,
        Some("FINISHED") => Some("finished"),
        Some("FAILED") => Some("failed"),
        Some("KILLED") => Some("interrupted"),
        Some(other) => return Err(MlflowError::invalid(format!("unknown run status `{other}`"))),
    };
    let update = RunUpdate {
        status: status.map(str::to_string),
        name: change.run_name.filter(|n| !n.is_empty()),
        ..RunUpdate::default()
    };
    on_store(&state, move |store| {
        store.update_run_for(&who, &id, &update)?;
        let run = run_json(store, &store.run(&id)?)?;
        Ok(json!({ "run_info": run["info"] }))
    })
    .await
    .map(Json)
}

/// Sets parameters into the run's config; a parameter logged before keeps its value (MLflow's
/// rule): a different value is refused, the same one is accepted (a retry).
fn set_params(store: &mut Store, who: &Principal, id: &str, params: Vec<KeyValue>) -> Result<(), MlflowError> {
    if params.is_empty() {
        return Ok(());
    }
    let run = store.run(id)?;
    let mut config = run.config.as_object().cloned().unwrap_or_default();
    for KeyValue { key, value } in params {
        if key.is_empty() || key.len() > 250 {
            return Err(MlflowError::invalid("a parameter's key is 1 to 250 bytes"));
        }
        match config.get(&key) {
            Some(old) if param_text(old) != value => {
                return Err(MlflowError::invalid(format!(
                    "parameter `{key}` is `{}` already; a logged parameter keeps its value",
                    param_text(old)
                )))
            }
            Some(_) => {}
            None => {
                config.insert(key, param_value(&value));
            }
        }
    }
    let update = RunUpdate { config: Some(Value::Object(config)), ..RunUpdate::default() };
    store.update_run_for(who, id, &update)?;
    Ok(())
}

/// Sets tags: the run's name or the `key=value` tags.
fn set_tags(store: &mut Store, who: &Principal, id: &str, tags: Vec<KeyValue>) -> Result<(), MlflowError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut split = Tags::default();
    for KeyValue { key, value } in tags {
        if key.is_empty() || key.len() > 250 {
            return Err(MlflowError::invalid("a tag's key is 1 to 250 bytes"));
        }
        split.add(key, value);
    }
    let run = store.run(id)?;
    let update =
        RunUpdate { name: split.name.take(), tags: Some(split.merged_into(&run.tags)), ..RunUpdate::default() };
    store.update_run_for(who, id, &update)?;
    Ok(())
}

/// Stores metric values as points (renumbering repeated steps), once per request body.
fn log_points(
    store: &mut Store,
    who: &Principal,
    id: &str,
    body: &[u8],
    metrics: Vec<MetricValue>,
) -> Result<(), MlflowError> {
    if metrics.is_empty() {
        return Ok(());
    }
    let mut points = Vec::with_capacity(metrics.len());
    for m in metrics {
        let value = metric_value(&m.value, &m.key)?;
        let step = integer(m.step.as_ref(), "step")?.unwrap_or(0);
        let step =
            u64::try_from(step).map_err(|_| MlflowError::invalid(format!("metric `{}`: step {step} < 0", m.key)))?;
        let ms = integer(m.timestamp.as_ref(), "timestamp")?;
        let wall_time = ms.map_or_else(nabla_track::now_secs, |ms| ms as f64 / 1000.0);
        points.push(IngestPoint { metric: m.key, step, value: (!value.is_nan()).then_some(value), wall_time });
    }
    let digest = Sha256::digest([id.as_bytes(), b"\n", body].concat());
    let batch = format!("mlflow-{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    store.ingest_points_with(who, id, &batch, &points, OldSteps::Renumber)?;
    Ok(())
}

#[derive(Deserialize)]
struct OneParam {
    #[serde(flatten)]
    run: RunRef,
    key: String,
    value: String,
}

async fn log_parameter(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Answer {
    let who = user(&viewer)?;
    let p: OneParam = parse(&body)?;
    let id = p.run.id()?;
    let params = vec![KeyValue { key: p.key, value: p.value }];
    on_store(&state, move |store| set_params(store, &who, &id, params)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OneTag {
    #[serde(flatten)]
    run: RunRef,
    key: String,
    #[serde(default)]
    value: String,
}

async fn set_tag(State(state): State<Arc<AppState>>, Extension(viewer): Extension<Viewer>, body: Bytes) -> Answer {
    let who = user(&viewer)?;
    let t: OneTag = parse(&body)?;
    let id = t.run.id()?;
    let tags = vec![KeyValue { key: t.key, value: t.value }];
    on_store(&state, move |store| set_tags(store, &who, &id, tags)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OneMetric {
    #[serde(flatten)]
    run: RunRef,
    #[serde(flatten)]
    metric: MetricValue,
}

async fn log_metric(State(state): State<Arc<AppState>>, Extension(viewer): Extension<Viewer>, body: Bytes) -> Answer {
    let who = user(&viewer)?;
    let m: OneMetric = parse(&body)?;
    let id = m.run.id()?;
    on_store(&state, move |store| log_points(store, &who, &id, &body, vec![m.metric])).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Batch {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    metrics: Vec<MetricValue>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn log_batch(State(state): State<Arc<AppState>>, Extension(viewer): Extension<Viewer>, body: Bytes) -> Answer {
    let who = user(&viewer)?;
    let b: Batch = parse(&body)?;
    let id = b.run.id()?;
    for (what, count, limit) in [
        ("metrics", b.metrics.len(), MAX_BATCH_METRICS),
        ("params", b.params.len(), MAX_BATCH_PARAMS),
        ("tags", b.tags.len(), MAX_BATCH_TAGS),
    ] {
        if count > limit {
            return Err(MlflowError::invalid(format!("a batch holds at most {limit} {what} ({count} sent)")));
        }
    }
    on_store(&state, move |store| {
        set_params(store, &who, &id, b.params)?;
        set_tags(store, &who, &id, b.tags)?;
        log_points(store, &who, &id, &body, b.metrics)
    })
    .await?;
    Ok(Json(json!({})))
}
