//! MLflow's runs: created, read and ended; their params, tags and metrics as nabla keeps them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use nabla_track::{Store, TrackError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::experiments::{experiment_id, project_of};
use super::{on_store, parse, query_params, user, Answer, MlflowError};
use crate::users::Viewer;
use crate::AppState;
use nabla_track::{RunInit, RunRecord, RunStatus, RunUpdate};

/// A key and a value, as MLflow sends params and tags.
#[derive(Deserialize)]
pub(super) struct KeyValue {
    pub(super) key: String,
    #[serde(default)]
    pub(super) value: String,
}

/// One metric value as MLflow sends it (`value` may be `"NaN"` or `"Infinity"`, integers may
/// be strings).
#[derive(Deserialize)]
pub(super) struct MetricValue {
    pub(super) key: String,
    pub(super) value: Value,
    #[serde(default)]
    pub(super) timestamp: Option<Value>,
    #[serde(default)]
    pub(super) step: Option<Value>,
}

/// `run_id`, or the older `run_uuid`.
#[derive(Deserialize)]
pub(super) struct RunRef {
    #[serde(default)]
    pub(super) run_id: Option<String>,
    #[serde(default)]
    pub(super) run_uuid: Option<String>,
}

impl RunRef {
    pub(super) fn id(self) -> Result<String, MlflowError> {
        self.run_id.or(self.run_uuid).ok_or_else(|| MlflowError::invalid("missing `run_id`"))
    }
}

/// An integer that MLflow may send as a number or as a string.
pub(super) fn integer(value: Option<&Value>, field: &str) -> Result<Option<i64>, MlflowError> {
    let bad = || MlflowError::invalid(format!("`{field}` must be an integer"));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A metric value: a number, or protobuf's spelling of the ones JSON has none for.
pub(super) fn metric_value(value: &Value, key: &str) -> Result<f64, MlflowError> {
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
pub(super) fn status_text(status: &RunStatus) -> &'static str {
    match status.as_str() {
        "running" => "RUNNING",
        "finished" => "FINISHED",
        "interrupted" => "KILLED",
        _ => "FAILED",
    }
}

/// A parameter's text as a config value: a number when the text is exactly how that number
/// prints, else the text.
pub(super) fn param_value(text: &str) -> Value {
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
pub(super) fn param_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits MLflow's tags into what nabla keeps in fields and the `key=value` tags.
#[derive(Default)]
pub(super) struct Tags {
    pub(super) name: Option<String>,
    pub(super) command: Option<String>,
    pub(super) git_commit: Option<String>,
    pub(super) plain: Vec<(String, String)>,
}

impl Tags {
    pub(super) fn add(&mut self, key: String, value: String) {
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
    pub(super) fn merged_into(&self, stored: &[String]) -> Vec<String> {
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
pub(super) fn run_json(store: &Store, run: &RunRecord) -> Result<Value, MlflowError> {
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
pub(super) struct NewRun {
    #[serde(default)]
    experiment_id: Option<String>,
    #[serde(default)]
    run_name: Option<String>,
    #[serde(default)]
    start_time: Option<Value>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub(super) async fn create_run(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Answer {
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
            data_checksum: None,
            pid: None,
            system: None,
        };
        store.create_run_for(&who, &init)?;
        Ok(json!({ "run": run_json(store, &store.run(&init.id)?)? }))
    })
    .await
    .map(Json)
}

pub(super) async fn get_run(
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
pub(super) struct RunChange {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    run_name: Option<String>,
    /// When the run ended, milliseconds (with a terminal `status`).
    #[serde(default)]
    end_time: Option<Value>,
}

pub(super) async fn update_run(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Answer {
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
    // An end time without an end (a RUNNING status) is not one.
    let ended =
        integer(change.end_time.as_ref(), "end_time")?.filter(|_| status.is_some()).map(|ms| ms as f64 / 1000.0);
    let update = RunUpdate {
        status: status.map(str::to_string),
        name: change.run_name.filter(|n| !n.is_empty()),
        ended,
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
