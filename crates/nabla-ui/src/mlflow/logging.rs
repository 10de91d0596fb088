//! MLflow's logging calls: params, tags and metric values for a run.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use nabla_track::{Principal, Store};
use serde::Deserialize;
use serde_json::{json, Value};

use super::runs::{integer, metric_value, param_text, param_value, KeyValue, MetricValue, RunRef, Tags};
use super::{on_store, parse, user, Answer, MlflowError};
use super::{MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS};
use crate::users::Viewer;
use crate::AppState;
use nabla_track::{IngestPoint, OldSteps, RunUpdate};
use sha2::{Digest, Sha256};

/// Sets parameters into the run's config; a parameter logged before keeps its value (MLflow's
/// rule): a different value is refused, the same one is accepted (a retry).
pub(super) fn set_params(
    store: &mut Store,
    who: &Principal,
    id: &str,
    params: Vec<KeyValue>,
) -> Result<(), MlflowError> {
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
pub(super) fn set_tags(store: &mut Store, who: &Principal, id: &str, tags: Vec<KeyValue>) -> Result<(), MlflowError> {
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
pub(super) fn log_points(
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
pub(super) struct OneParam {
    #[serde(flatten)]
    run: RunRef,
    key: String,
    value: String,
}

pub(super) async fn log_parameter(
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
pub(super) struct OneTag {
    #[serde(flatten)]
    run: RunRef,
    key: String,
    #[serde(default)]
    value: String,
}

pub(super) async fn set_tag(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Answer {
    let who = user(&viewer)?;
    let t: OneTag = parse(&body)?;
    let id = t.run.id()?;
    let tags = vec![KeyValue { key: t.key, value: t.value }];
    on_store(&state, move |store| set_tags(store, &who, &id, tags)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(super) struct OneMetric {
    #[serde(flatten)]
    run: RunRef,
    #[serde(flatten)]
    metric: MetricValue,
}

pub(super) async fn log_metric(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Answer {
    let who = user(&viewer)?;
    let m: OneMetric = parse(&body)?;
    let id = m.run.id()?;
    on_store(&state, move |store| log_points(store, &who, &id, &body, vec![m.metric])).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(super) struct Batch {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    metrics: Vec<MetricValue>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub(super) async fn log_batch(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    body: Bytes,
) -> Answer {
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
