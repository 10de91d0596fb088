//! MLflow's experiments: nabla's projects, numbered.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use nabla_track::{Principal, Store, TrackError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::default_project;
use super::{on_store, parse, query_params, user, Answer, MlflowError};
use crate::users::Viewer;
use crate::AppState;
use axum::http::StatusCode;

/// The experiment id of `project`.
pub(super) fn experiment_id(store: &Store, project: &str) -> Result<String, MlflowError> {
    Ok(store.project_number(project)?.map_or_else(String::new, |n| n.to_string()))
}

/// The project of experiment `id` for `who`.
pub(super) fn project_of(store: &Store, who: &Principal, id: &str) -> Result<String, MlflowError> {
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
pub(super) fn experiment(store: &Store, who: &Principal, project: &str) -> Result<Value, MlflowError> {
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
pub(super) struct ByName {
    experiment_name: String,
}

pub(super) async fn experiment_by_name(
    State(state): State<Arc<AppState>>,
    Extension(viewer): Extension<Viewer>,
    query: axum::extract::RawQuery,
) -> Answer {
    let who = user(&viewer)?;
    let ByName { experiment_name } = query_params(query)?;
    on_store(&state, move |store| experiment(store, &who, &experiment_name)).await.map(Json)
}

#[derive(Deserialize)]
pub(super) struct ById {
    experiment_id: String,
}

pub(super) async fn experiment_by_id(
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

#[derive(Deserialize)]
pub(super) struct NewExperiment {
    name: String,
}

pub(super) async fn create_experiment(
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
