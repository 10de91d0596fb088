//! Writes that arrive over the network: `nabla server` records runs on behalf of its users.
//!
//! A client names its run's id and every batch of points, so that a request it retries (the
//! answer was lost, the server restarted) changes nothing the second time: creating a run that
//! exists with the same owner and project answers the same run, and a batch id already stored
//! for the run is answered as stored without writing its points again. Each call is one
//! transaction: a batch is stored whole or not at all. The rules of the local [`Run`](crate::Run)
//! API hold: metric names are checked the same way and each metric's steps increase, across
//! batches too.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::blocks::{self, OpenBlock};
use crate::error::{Result, TrackError};
use crate::status::EndStatus;
use crate::store::{now_secs, Store};
use crate::users::{Access, Principal};

/// The most points one batch may hold.
pub const MAX_BATCH_POINTS: usize = 100_000;
/// The longest batch id.
const MAX_BATCH_ID: usize = 128;

/// A run to create, as a client describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInit {
    /// The id the client chose (12 characters of lowercase Crockford base32, as local ids).
    pub id: String,
    /// The project.
    pub project: String,
    /// A name, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// The configuration (a JSON object).
    #[serde(default = "empty_object")]
    pub config: Value,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the run started on the client (Unix seconds); the server's clock if absent.
    #[serde(default)]
    pub started: Option<f64>,
    /// How often the client sends a heartbeat (seconds); 30 if absent.
    #[serde(default)]
    pub heartbeat_secs: Option<f64>,
    /// The client's host name.
    #[serde(default)]
    pub host: Option<String>,
    /// The command line.
    #[serde(default)]
    pub command: Option<String>,
    /// The git commit of the client's working directory.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// The client's nabla version.
    #[serde(default)]
    pub nabla_version: Option<String>,
    /// Threads the run computes with.
    #[serde(default)]
    pub threads: Option<u32>,
    /// A checksum of the data set the run trained on.
    #[serde(default)]
    pub data_checksum: Option<String>,
    /// The id of the process that recorded the run, on the client's machine.
    #[serde(default)]
    pub pid: Option<i64>,
    /// The client's machine (OS, CPU, memory), a JSON object as the local store keeps it.
    #[serde(default)]
    pub system: Option<Value>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// One point of a batch. `value: null` is NaN.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestPoint {
    /// The metric's name.
    pub metric: String,
    /// The step.
    pub step: u64,
    /// The value (`None` for NaN).
    pub value: Option<f64>,
    /// When it was logged (Unix seconds).
    pub wall_time: f64,
}

/// What a batch of points did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ingested {
    /// The points were stored now.
    Stored,
    /// A batch with this id was stored before; nothing was written.
    AlreadyStored,
}

/// What a batch does with a point whose step is not past its metric's last step (stored
/// before, or earlier in the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldSteps {
    /// Refuse the batch ([`TrackError::StepNotIncreasing`]): the rule of nabla's own clients.
    Refuse,
    /// Store the point at the step after its metric's last one, so the order of logging is
    /// kept and nothing is lost. For clients whose steps may repeat (MLflow logs every value
    /// without a `step` at step 0).
    Renumber,
}

/// A change to a run's fields, as a client sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunUpdate {
    /// Replaces the configuration.
    #[serde(default)]
    pub config: Option<Value>,
    /// Summary keys to set (merged into the stored summary).
    #[serde(default)]
    pub summary: Option<Map<String, Value>>,
    /// Ends the run with this status (`finished`, `failed`, `interrupted`).
    #[serde(default)]
    pub status: Option<String>,
    /// Renames the run.
    #[serde(default)]
    pub name: Option<String>,
    /// Replaces the tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// When the run ended on the client (Unix seconds), with `status`; the server's clock if
    /// absent (a live run's end arrives as it happens, a synced one's may come much later).
    #[serde(default)]
    pub ended: Option<f64>,
}

/// Whether `id` has the shape of a run id.
fn check_run_id(id: &str) -> Result<()> {
    let ok = id.len() == crate::RUN_ID_LEN && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(TrackError::InvalidRequest(format!(
            "run id `{}` must be {} lowercase letters and digits",
            id.escape_debug(),
            crate::RUN_ID_LEN
        )))
    }
}

/// A project name: 1 to 200 bytes without control characters (as a metric name).
fn check_project_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "project `{}` must be 1 to 200 bytes without control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> TrackError {
    TrackError::InvalidRequest(message.into())
}

impl Store {
    /// Creates `init`'s run owned by `who`, claiming its project if nobody owns it. Creating a
    /// run that already exists with the same owner and project is not an error (a retried
    /// request); another owner's run with that id is [`TrackError::RunExists`].
    pub fn create_run_for(&mut self, who: &Principal, init: &RunInit) -> Result<()> {
        check_run_id(&init.id)?;
        check_project_name(&init.project)?;
        if !init.config.is_object() {
            return Err(invalid("`config` must be a JSON object"));
        }
        if init.system.as_ref().is_some_and(|s| !s.is_object()) {
            return Err(invalid("`system` must be a JSON object"));
        }
        if init.data_checksum.as_ref().is_some_and(|c| c.len() > 200 || c.chars().any(char::is_control)) {
            return Err(invalid("`data_checksum` must be at most 200 bytes without control characters"));
        }
        if !self.claim_project(who, &init.project)? {
            return Err(TrackError::Forbidden(format!("{} may not write to project `{}`", who.name, init.project)));
        }
        let now = now_secs();
        let started = init.started.filter(|t| t.is_finite()).unwrap_or(now);
        let heartbeat = init.heartbeat_secs.filter(|h| h.is_finite() && *h > 0.0).unwrap_or(30.0);
        let tags = serde_json::to_string(&init.tags)
            .map_err(|source| TrackError::Json { context: "serialising tags".into(), source })?;
        let system = init.system.as_ref().map_or_else(|| "{}".to_string(), Value::to_string);
        self.write_checked(|tx| {
            let existing: Option<(Option<String>, String)> = tx
                .query_row("SELECT owner, project FROM runs WHERE id = ?1", [&init.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((owner, project)) = existing {
                return Ok(if owner.as_deref() == Some(who.name.as_str()) && project == init.project {
                    Ok(())
                } else {
                    Err(TrackError::RunExists(init.id.clone()))
                });
            }
            tx.execute(
                "INSERT INTO runs (id, project, name, status, config, summary, tags, started, heartbeat,
                     heartbeat_secs, host, git_commit, command, nabla_version, threads, owner, data_checksum,
                     pid, system)
                 VALUES (?1, ?2, ?3, 'running', ?4, '{}', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    init.id,
                    init.project,
                    init.name,
                    init.config.to_string(),
                    tags,
                    started,
                    now,
                    heartbeat,
                    init.host,
                    init.git_commit,
                    init.command,
                    init.nabla_version,
                    init.threads,
                    who.name,
                    init.data_checksum,
                    init.pid,
                    system
                ],
            )?;
            Ok(Ok(()))
        })
    }

    /// Stores a batch of points for `run_id` (which `who` must own), once per `batch_id`, and
    /// refreshes the run's heartbeat. Each metric's steps must increase, within the batch and
    /// past what is stored.
    pub fn ingest_points(
        &mut self,
        who: &Principal,
        run_id: &str,
        batch_id: &str,
        points: &[IngestPoint],
    ) -> Result<Ingested> {
        self.ingest_points_with(who, run_id, batch_id, points, OldSteps::Refuse).map(|(outcome, _)| outcome)
    }

    /// [`Store::ingest_points`] with a choice of what a step that does not increase does;
    /// also answers how many points were stored at a step other than their own.
    pub fn ingest_points_with(
        &mut self,
        who: &Principal,
        run_id: &str,
        batch_id: &str,
        points: &[IngestPoint],
        old_steps: OldSteps,
    ) -> Result<(Ingested, usize)> {
        if batch_id.is_empty() || batch_id.len() > MAX_BATCH_ID || batch_id.chars().any(char::is_control) {
            return Err(invalid("`batch` must be 1 to 128 characters without control characters"));
        }
        if points.len() > MAX_BATCH_POINTS {
            return Err(invalid(format!("a batch holds at most {MAX_BATCH_POINTS} points ({} sent)", points.len())));
        }
        // Checks that need no database: names, steps, times; and the order within the batch.
        let mut last_in_batch: HashMap<&str, u64> = HashMap::new();
        for p in points {
            crate::run::check_stored_metric_name(&p.metric)?;
            if i64::try_from(p.step).is_err() {
                return Err(TrackError::StepTooLarge(p.step));
            }
            if !p.wall_time.is_finite() {
                return Err(invalid(format!(
                    "metric `{}` step {}: `wall_time` must be a finite number",
                    p.metric, p.step
                )));
            }
            if let Some(&last) = last_in_batch.get(p.metric.as_str()) {
                if p.step <= last && old_steps == OldSteps::Refuse {
                    return Err(TrackError::StepNotIncreasing { metric: p.metric.clone(), step: p.step, last });
                }
            }
            last_in_batch.insert(&p.metric, p.step);
        }
        self.check_run_writer(who, run_id)?;
        let now = now_secs();
        self.write_checked(|tx| {
            let new = tx.execute(
                "INSERT INTO ingested_batches (run_id, batch_id, points, received) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![run_id, batch_id, points.len() as i64, now],
            )?;
            if new == 0 {
                return Ok(Ok((Ingested::AlreadyStored, 0)));
            }
            // Local metric slots for this batch, as the writer thread keeps them for a run, with
            // each metric's last step so far (stored, then in this batch).
            let mut slots: HashMap<&str, u32> = HashMap::new();
            let mut metric_rows: Vec<i64> = Vec::new();
            let mut last: Vec<Option<u64>> = Vec::new();
            let mut open: Vec<OpenBlock> = Vec::new();
            let mut rows: Vec<(u32, i64, f64, f64)> = Vec::with_capacity(points.len());
            let mut renumbered = 0;
            for p in points {
                let slot = match slots.get(p.metric.as_str()) {
                    Some(&slot) => slot,
                    None => {
                        tx.prepare_cached("INSERT INTO metrics (run_id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                            .execute(params![run_id, p.metric])?;
                        let row: i64 = tx
                            .prepare_cached("SELECT id FROM metrics WHERE run_id = ?1 AND name = ?2")?
                            .query_row(params![run_id, p.metric], |r| r.get(0))?;
                        let block = blocks::last_block(tx, row)?;
                        let stored_last: Option<i64> = tx
                            .prepare_cached("SELECT MAX(step) FROM points WHERE metric_id = ?1")?
                            .query_row([row], |r| r.get(0))?;
                        let slot = metric_rows.len() as u32;
                        metric_rows.push(row);
                        last.push(stored_last.map(|s| s as u64));
                        open.push(OpenBlock { block, dirty: false });
                        slots.insert(&p.metric, slot);
                        slot
                    }
                };
                let mut step = p.step;
                if let Some(before) = last[slot as usize].filter(|&before| step <= before) {
                    if old_steps == OldSteps::Refuse {
                        return Ok(Err(TrackError::StepNotIncreasing { metric: p.metric.clone(), step, last: before }));
                    }
                    step = before + 1;
                    if i64::try_from(step).is_err() {
                        return Ok(Err(TrackError::StepTooLarge(step)));
                    }
                    renumbered += 1;
                }
                last[slot as usize] = Some(step);
                rows.push((slot, step as i64, p.value.unwrap_or(f64::NAN), p.wall_time));
            }
            rows.sort_unstable_by_key(|&(metric, step, _, _)| (metric, step));
            crate::writer::insert_points(tx, &metric_rows, &rows)?;
            blocks::record(tx, &metric_rows, &mut open, &rows)?;
            tx.execute("UPDATE runs SET heartbeat = ?1 WHERE id = ?2", params![now, run_id])?;
            Ok(Ok((Ingested::Stored, renumbered)))
        })
    }

    /// Applies `update` to `run_id` (which `who` must own) and refreshes its heartbeat; an
    /// empty update is a heartbeat.
    pub fn update_run_for(&mut self, who: &Principal, run_id: &str, update: &RunUpdate) -> Result<()> {
        if update.config.as_ref().is_some_and(|c| !c.is_object()) {
            return Err(invalid("`config` must be a JSON object"));
        }
        if let Some(name) = &update.name {
            if name.len() > 200 || name.chars().any(char::is_control) {
                return Err(invalid("`name` must be at most 200 bytes without control characters"));
            }
        }
        let status = match update.status.as_deref() {
            None => None,
            Some(text) => Some(serde_json::from_value::<EndStatus>(Value::String(text.to_string())).map_err(|_| {
                invalid(format!(
                    "`status` must be finished, failed, interrupted or diverged, not `{}`",
                    text.escape_debug()
                ))
            })?),
        };
        if update.ended.is_some_and(|t| !t.is_finite()) || (update.ended.is_some() && status.is_none()) {
            return Err(invalid("`ended` must be a finite number of Unix seconds, sent with `status`"));
        }
        self.check_run_writer(who, run_id)?;
        let now = now_secs();
        self.write(|tx| {
            if let Some(config) = &update.config {
                tx.execute("UPDATE runs SET config = ?1 WHERE id = ?2", params![config.to_string(), run_id])?;
            }
            if let Some(name) = &update.name {
                tx.execute("UPDATE runs SET name = ?1 WHERE id = ?2", params![name, run_id])?;
            }
            if let Some(tags) = &update.tags {
                let tags = Value::from(tags.clone()).to_string();
                tx.execute("UPDATE runs SET tags = ?1 WHERE id = ?2", params![tags, run_id])?;
            }
            if let Some(keys) = &update.summary {
                let stored: String = tx.query_row("SELECT summary FROM runs WHERE id = ?1", [run_id], |r| r.get(0))?;
                let mut summary: Map<String, Value> = serde_json::from_str(&stored).unwrap_or_default();
                summary.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
                tx.execute(
                    "UPDATE runs SET summary = ?1 WHERE id = ?2",
                    params![Value::Object(summary).to_string(), run_id],
                )?;
            }
            match status {
                Some(status) => tx.execute(
                    "UPDATE runs SET heartbeat = ?1, ended = ?2, status = ?3 WHERE id = ?4",
                    params![now, update.ended.unwrap_or(now), status.as_str(), run_id],
                )?,
                None => tx.execute("UPDATE runs SET heartbeat = ?1 WHERE id = ?2", params![now, run_id])?,
            };
            Ok(())
        })
    }

    /// `Ok` when `who` may change `run_id`: its owner or an admin. An unknown run is
    /// [`TrackError::UnknownRun`]; somebody else's is [`TrackError::Forbidden`].
    pub(crate) fn check_run_writer(&self, who: &Principal, run_id: &str) -> Result<()> {
        let owner: Option<Option<String>> = self
            .conn
            .query_row("SELECT owner FROM runs WHERE id = ?1", [run_id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        match owner {
            None => Err(TrackError::UnknownRun(run_id.to_string())),
            Some(owner) if who.admin || owner.as_deref() == Some(who.name.as_str()) => Ok(()),
            Some(_) => Err(TrackError::Forbidden(format!("run {run_id} belongs to another user"))),
        }
    }

    /// Whether `who` may see `run_id`: an admin, its owner, or a user with access to its
    /// project (which somebody owns). An unknown run is [`TrackError::UnknownRun`].
    pub fn can_read_run(&self, who: &Principal, run_id: &str) -> Result<bool> {
        let row: Option<(Option<String>, String)> = self
            .conn
            .query_row("SELECT owner, project FROM runs WHERE id = ?1", [run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((owner, project)) = row else {
            return Err(TrackError::UnknownRun(run_id.to_string()));
        };
        if who.admin || owner.as_deref() == Some(who.name.as_str()) {
            return Ok(true);
        }
        // A project nobody owns gives no access to read (its runs are local ones).
        let sharing = self.project_sharing(&project)?;
        Ok(sharing.is_some() && self.project_access(who, &project)?.is_some_and(|a| a >= Access::Read))
    }
}

#[cfg(test)]
mod tests;
