//! The reading side: runs, their metrics and histories, and their artifacts, for the CLI and
//! the dashboard. Everything here works on a read-only [`Store`].

use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, TrackError};
use crate::filter::{Filter, SortKey};
use crate::meta::{crash_threshold, RunMeta};
use crate::status::RunStatus;
use crate::store::{now_secs, Store};

/// One run as stored, with its status as of when it was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id.
    pub id: String,
    /// The project.
    pub project: String,
    /// The run's name, if any.
    pub name: Option<String>,
    /// The status; `crashed` when stored as running with a stale heartbeat.
    pub status: RunStatus,
    /// The run's config (a JSON object for runs made by nabla).
    pub config: Value,
    /// The summary values set with `Run::summary`.
    pub summary: Value,
    /// Tags.
    pub tags: Vec<String>,
    /// Start time, Unix seconds.
    pub started: f64,
    /// End time, Unix seconds (`None` while running or after a crash).
    pub ended: Option<f64>,
    /// The last heartbeat, Unix seconds.
    pub heartbeat: f64,
    /// The writer's heartbeat interval, seconds.
    pub heartbeat_interval: f64,
    /// Host, git commit, command line, nabla version, threads, data checksum.
    #[serde(flatten)]
    pub meta: RunMeta,
    /// The recording process's id.
    pub pid: Option<i64>,
    /// The machine: OS, CPU, memory, GPUs.
    pub system: Value,
}

impl RunRecord {
    /// How long the run ran, in seconds: to its end, to its last heartbeat if it crashed, or
    /// to `now` (Unix seconds) while it runs.
    pub fn duration(&self, now: f64) -> f64 {
        let end = match (self.ended, self.status) {
            (Some(ended), _) => ended,
            (None, RunStatus::Crashed) => self.heartbeat,
            (None, _) => now,
        };
        (end - self.started).max(0.0)
    }

    /// The value a filter or sort key names: `config.PATH` and `summary.PATH` (dots descend
    /// into objects; a key that itself contains dots is matched whole first), or one of `id`,
    /// `project`, `name`, `status`, `tags`, `started`, `ended`, `duration`, `host`,
    /// `git_commit`, `command`, `nabla_version`, `threads`, `data_checksum`.
    pub fn field(&self, key: &str, now: f64) -> Option<Value> {
        if let Some(path) = key.strip_prefix("config.") {
            return lookup(&self.config, path).cloned();
        }
        if let Some(path) = key.strip_prefix("summary.") {
            return lookup(&self.summary, path).cloned();
        }
        let text = |s: &Option<String>| s.clone().map(Value::String);
        match key {
            "id" => Some(Value::String(self.id.clone())),
            "project" => Some(Value::String(self.project.clone())),
            "name" => text(&self.name),
            "status" => Some(Value::String(self.status.as_str().into())),
            "tags" => Some(Value::from(self.tags.clone())),
            "started" => Some(Value::from(self.started)),
            "ended" => self.ended.map(Value::from),
            "duration" => Some(Value::from(self.duration(now))),
            "host" => text(&self.meta.host),
            "git_commit" => text(&self.meta.git_commit),
            "command" => text(&self.meta.command),
            "nabla_version" => text(&self.meta.nabla_version),
            "threads" => self.meta.threads.map(Value::from),
            "data_checksum" => text(&self.meta.data_checksum),
            _ => None,
        }
    }
}

/// Looks `path` up in `value`: the whole path as one key first, then split at each dot.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    if let Some(v) = object.get(path) {
        return Some(v);
    }
    let mut dots = path.match_indices('.').map(|(i, _)| i);
    dots.find_map(|i| object.get(&path[..i]).and_then(|inner| lookup(inner, &path[i + 1..])))
}

/// The field names a filter or sort key may use besides `config.*` and `summary.*`.
pub const RUN_FIELDS: &[&str] = &[
    "id",
    "project",
    "name",
    "status",
    "tags",
    "started",
    "ended",
    "duration",
    "host",
    "git_commit",
    "command",
    "nabla_version",
    "threads",
    "data_checksum",
];

/// One metric of a run: how many points it has and where it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// The metric's name (`train/loss`, `sys/rss_mb`, …).
    pub name: String,
    /// How many points.
    pub points: u64,
    /// The first step, if any point.
    pub first_step: Option<u64>,
    /// The last step, if any point.
    pub last_step: Option<u64>,
    /// The value at the last step (NaN is NaN; serialised as null).
    pub last_value: Option<f64>,
    /// The smallest value (NaN ignored).
    pub min: Option<f64>,
    /// The largest value (NaN ignored).
    pub max: Option<f64>,
}

/// One logged point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The step.
    pub step: u64,
    /// The value (NaN when NaN was logged; serialised as null).
    pub value: f64,
    /// When it was logged, Unix seconds.
    pub wall_time: f64,
}

/// An artifact of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// sha256 of the content, lowercase hex: the file's name in the store.
    pub sha256: String,
    /// What it is (`checkpoint`, `plot`, …).
    pub kind: String,
    /// Its name (the file name it was logged from).
    pub name: String,
    /// The path it was logged from, if it came from a file.
    pub source: Option<String>,
    /// Its length in bytes.
    pub bytes: u64,
    /// When it was logged, Unix seconds.
    pub created: f64,
    /// Where the content is in the store.
    pub path: PathBuf,
}

/// One run with its metrics and artifacts: what `nabla runs show` shows, from the local store
/// ([`Store::run_detail`]) or from a server ([`crate::Remote::run`], where an artifact's `path`
/// is the URL that downloads it).
#[derive(Clone, Debug, PartialEq)]
pub struct RunDetail {
    /// The run.
    pub run: RunRecord,
    /// Its metrics, by name.
    pub metrics: Vec<MetricSummary>,
    /// Its artifacts, oldest first.
    pub artifacts: Vec<ArtifactRecord>,
}

/// Which runs [`Store::runs`] returns, in which order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunQuery {
    /// Only runs of this project.
    pub project: Option<String>,
    /// Only runs that match every filter.
    pub filters: Vec<Filter>,
    /// The order; newest first when `None`.
    pub sort: Option<SortKey>,
    /// At most this many (after sorting).
    pub limit: Option<usize>,
    /// Only runs this user may see on a server ([`Store::can_read_run`]); every run when
    /// `None` or an admin.
    pub visible_to: Option<crate::Principal>,
}

impl RunQuery {
    /// A query from command-line strings: `filters` like `config.lr>0.01`, `sort` like
    /// `-summary.test_acc`.
    pub fn parse(project: Option<&str>, filters: &[String], sort: Option<&str>, limit: Option<usize>) -> Result<Self> {
        Ok(RunQuery {
            project: project.map(str::to_string),
            filters: filters.iter().map(|f| f.parse()).collect::<Result<_>>()?,
            sort: sort.map(str::parse).transpose()?,
            limit,
            visible_to: None,
        })
    }
}

const RUN_COLUMNS: &str = "id, project, name, status, config, summary, tags, started, ended, heartbeat, heartbeat_secs,
     host, pid, git_commit, command, nabla_version, threads, data_checksum, system";

fn json_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e)))
}

fn run_from_row(row: &Row<'_>, now: f64) -> rusqlite::Result<RunRecord> {
    let stored: String = row.get(3)?;
    let heartbeat: f64 = row.get(9)?;
    let heartbeat_interval: f64 = row.get(10)?;
    let mut status = stored.parse::<RunStatus>().unwrap_or(RunStatus::Failed);
    if status == RunStatus::Running {
        let threshold = crash_threshold(Duration::try_from_secs_f64(heartbeat_interval).unwrap_or(Duration::ZERO));
        if now - heartbeat > threshold.as_secs_f64() {
            status = RunStatus::Crashed;
        }
    }
    let tags = match json_column(row, 6)? {
        Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    Ok(RunRecord {
        id: row.get(0)?,
        project: row.get(1)?,
        name: row.get(2)?,
        status,
        config: json_column(row, 4)?,
        summary: json_column(row, 5)?,
        tags,
        started: row.get(7)?,
        ended: row.get(8)?,
        heartbeat,
        heartbeat_interval,
        meta: RunMeta {
            host: row.get(11)?,
            git_commit: row.get(13)?,
            command: row.get(14)?,
            nabla_version: row.get(15)?,
            threads: row.get::<_, Option<i64>>(16)?.and_then(|t| usize::try_from(t).ok()),
            data_checksum: row.get(17)?,
        },
        pid: row.get(12)?,
        system: json_column(row, 18)?,
    })
}

fn to_step(step: i64) -> u64 {
    u64::try_from(step).unwrap_or(0)
}

fn from_step(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

impl Store {
    /// The runs that match `query`, sorted and limited as it says.
    pub fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        let now = now_secs();
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR project = ?1"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![query.project], |row| run_from_row(row, now)).map_err(|e| self.err(e))?;
        let visible = match &query.visible_to {
            Some(who) if !who.admin => Some(self.visible_run_ids(who)?),
            _ => None,
        };
        let mut runs = Vec::new();
        for run in rows {
            let run = run.map_err(|e| self.err(e))?;
            if visible.as_ref().is_some_and(|ids| !ids.contains(&run.id)) {
                continue;
            }
            if query.filters.iter().all(|f| f.matches(&run, now)) {
                runs.push(run);
            }
        }
        match &query.sort {
            Some(key) => key.sort(&mut runs, now),
            None => runs.sort_by(|a, b| b.started.total_cmp(&a.started).then_with(|| b.id.cmp(&a.id))),
        }
        if let Some(limit) = query.limit {
            runs.truncate(limit);
        }
        Ok(runs)
    }

    /// The ids of the runs `who` may see: their own, and those of projects they own or that
    /// are shared with them.
    fn visible_run_ids(&self, who: &crate::Principal) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM runs WHERE owner = ?1
                    OR project IN (SELECT name FROM projects WHERE owner = ?1)
                    OR project IN (SELECT project FROM project_access WHERE user = ?1)",
            )
            .map_err(|e| self.err(e))?;
        let ids = stmt.query_map([&who.name], |r| r.get(0)).and_then(|rows| rows.collect()).map_err(|e| self.err(e))?;
        Ok(ids)
    }

    /// The full id of the one run whose id starts with `prefix` (case-insensitive).
    pub fn resolve_run_id(&self, prefix: &str) -> Result<String> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.is_empty() {
            return Err(TrackError::UnknownRun(prefix));
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 6")
            .map_err(|e| self.err(e))?;
        let ids: Vec<String> = stmt
            .query_map(params![prefix], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        match ids.len() {
            0 => Err(TrackError::UnknownRun(prefix)),
            1 => Ok(ids.into_iter().next().unwrap_or_default()),
            _ if ids.contains(&prefix) => Ok(prefix),
            _ => Err(TrackError::AmbiguousRun { prefix, matches: ids }),
        }
    }

    /// The run with this id or unique id prefix.
    pub fn run(&self, id_or_prefix: &str) -> Result<RunRecord> {
        let id = self.resolve_run_id(id_or_prefix)?;
        let now = now_secs();
        self.conn
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), params![id], |row| {
                run_from_row(row, now)
            })
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(TrackError::UnknownRun(id))
    }

    /// The run with this id or unique id prefix, with its metrics and artifacts.
    pub fn run_detail(&self, id_or_prefix: &str) -> Result<RunDetail> {
        let run = self.run(id_or_prefix)?;
        Ok(RunDetail { metrics: self.metrics(&run.id)?, artifacts: self.artifacts(&run.id)?, run })
    }

    /// A run's metrics, by name, with point counts and last values. Read from the block
    /// summaries (a few rows per thousand points) where the store keeps them.
    pub fn metrics(&self, run_id: &str) -> Result<Vec<MetricSummary>> {
        if self.has_point_blocks() {
            if let Some(metrics) = self.metrics_from_blocks(run_id)? {
                return Ok(metrics);
            }
        }
        self.metrics_from_points(run_id)
    }

    /// [`Store::metrics`] from the blocks; `None` if some metric's blocks end before its
    /// points (written by a nabla from before the blocks while this one migrated the store).
    fn metrics_from_blocks(&self, run_id: &str) -> Result<Option<Vec<MetricSummary>>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.name, sum(b.count), min(b.first_step), max(b.last_step), min(b.min_value), max(b.max_value),
                        (SELECT last_value FROM point_blocks WHERE metric_id = m.id ORDER BY block DESC LIMIT 1),
                        (SELECT step FROM points WHERE metric_id = m.id ORDER BY step DESC LIMIT 1)
                 FROM metrics m LEFT JOIN point_blocks b ON b.metric_id = m.id
                 WHERE m.run_id = ?1 GROUP BY m.id ORDER BY m.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], |row| {
                let points: Option<i64> = row.get(1)?;
                let last_step: Option<i64> = row.get(3)?;
                let last_point: Option<i64> = row.get(7)?;
                let summary = MetricSummary {
                    name: row.get(0)?,
                    points: points.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    first_step: row.get::<_, Option<i64>>(2)?.map(to_step),
                    last_step: last_step.map(to_step),
                    last_value: last_step
                        .map(|_| row.get::<_, Option<f64>>(6))
                        .transpose()?
                        .map(|v| v.unwrap_or(f64::NAN)),
                    min: row.get(4)?,
                    max: row.get(5)?,
                };
                Ok((last_step == last_point).then_some(summary))
            })
            .map_err(|e| self.err(e))?;
        let all: Vec<Option<MetricSummary>> = rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?;
        Ok(all.into_iter().collect())
    }

    /// [`Store::metrics`] from the points (for stores without blocks).
    fn metrics_from_points(&self, run_id: &str) -> Result<Vec<MetricSummary>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.name, count(p.step), min(p.step), max(p.step), min(p.value), max(p.value),
                        (SELECT value FROM points WHERE metric_id = m.id ORDER BY step DESC LIMIT 1),
                        (SELECT count(*) FROM points WHERE metric_id = m.id AND value IS NULL
                            AND step = (SELECT max(step) FROM points WHERE metric_id = m.id))
                 FROM metrics m LEFT JOIN points p ON p.metric_id = m.id
                 WHERE m.run_id = ?1 GROUP BY m.id ORDER BY m.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], |row| {
                let points: i64 = row.get(1)?;
                let last_is_nan: i64 = row.get(7)?;
                let last: Option<f64> = row.get(6)?;
                Ok(MetricSummary {
                    name: row.get(0)?,
                    points: u64::try_from(points).unwrap_or(0),
                    first_step: row.get::<_, Option<i64>>(2)?.map(to_step),
                    last_step: row.get::<_, Option<i64>>(3)?.map(to_step),
                    last_value: if last_is_nan > 0 { Some(f64::NAN) } else { last },
                    min: row.get(4)?,
                    max: row.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// A run's metric names, sorted. Reads no points, so it costs the same for a metric of a
    /// million points as for one of ten (unlike [`Store::metrics`], which scans them).
    pub fn metric_names(&self, run_id: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM metrics WHERE run_id = ?1 ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![run_id], |row| row.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// The last step of each of a run's metrics (`None` before its first point), by name: one
    /// index lookup per metric.
    pub fn last_steps(&self, run_id: &str) -> Result<Vec<(String, Option<u64>)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.name, (SELECT step FROM points WHERE metric_id = m.id ORDER BY step DESC LIMIT 1)
                 FROM metrics m WHERE m.run_id = ?1 ORDER BY m.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], |row| Ok((row.get(0)?, row.get::<_, Option<i64>>(1)?.map(to_step))))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    pub(crate) fn metric_row(&self, run_id: &str, metric: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT id FROM metrics WHERE run_id = ?1 AND name = ?2", params![run_id, metric], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| TrackError::UnknownMetric { run: run_id.to_string(), metric: metric.to_string() })
    }

    /// A metric's points with steps in `steps`, in step order (`..` for all of them).
    pub fn history(&self, run_id: &str, metric: &str, steps: impl RangeBounds<u64>) -> Result<Vec<Point>> {
        let lo = match steps.start_bound() {
            Bound::Included(&s) => from_step(s),
            Bound::Excluded(&s) => from_step(s).saturating_add(1),
            Bound::Unbounded => i64::MIN,
        };
        let hi = match steps.end_bound() {
            Bound::Included(&s) => from_step(s),
            Bound::Excluded(&s) => from_step(s).saturating_sub(1),
            Bound::Unbounded => i64::MAX,
        };
        self.points_between(self.metric_row(run_id, metric)?, lo, hi, None)
    }

    /// Up to `limit` points of a metric after step `after` (from the first when `None`): a
    /// cursor for following a live run without refetching its history.
    pub fn history_after(&self, run_id: &str, metric: &str, after: Option<u64>, limit: usize) -> Result<Vec<Point>> {
        let lo = after.map_or(i64::MIN, |s| from_step(s).saturating_add(1));
        self.points_between(self.metric_row(run_id, metric)?, lo, i64::MAX, Some(limit))
    }

    fn points_between(&self, metric_row: i64, lo: i64, hi: i64, limit: Option<usize>) -> Result<Vec<Point>> {
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT step, value, wall_time FROM points WHERE metric_id = ?1 AND step BETWEEN ?2 AND ?3
                 ORDER BY step LIMIT ?4",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![metric_row, lo, hi, limit], |row| {
                Ok(Point {
                    step: to_step(row.get(0)?),
                    value: row.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
                    wall_time: row.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// A run's artifacts, oldest first.
    pub fn artifacts(&self, run_id: &str) -> Result<Vec<ArtifactRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT sha256, kind, name, source, bytes, created FROM artifacts WHERE run_id = ?1 ORDER BY created, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], |row| {
                let sha256: String = row.get(0)?;
                Ok(ArtifactRecord {
                    path: self.artifact_path(&sha256),
                    sha256,
                    kind: row.get(1)?,
                    name: row.get(2)?,
                    source: row.get(3)?,
                    bytes: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
                    created: row.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Deletes a run with its metrics, points and artifact rows (the artifact files stay until
    /// [`Store::gc`]). Returns how many points went.
    pub fn delete_run(&mut self, run_id: &str) -> Result<u64> {
        let id = self.resolve_run_id(run_id)?;
        self.write(|tx| {
            let points = tx.execute(
                "DELETE FROM points WHERE metric_id IN (SELECT id FROM metrics WHERE run_id = ?1)",
                params![id],
            )?;
            tx.execute(
                "DELETE FROM point_blocks WHERE metric_id IN (SELECT id FROM metrics WHERE run_id = ?1)",
                params![id],
            )?;
            tx.execute("DELETE FROM metrics WHERE run_id = ?1", params![id])?;
            tx.execute("DELETE FROM artifacts WHERE run_id = ?1", params![id])?;
            tx.execute("DELETE FROM ingested_batches WHERE run_id = ?1", params![id])?;
            tx.execute("DELETE FROM runs WHERE id = ?1", params![id])?;
            Ok(points as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{EndStatus, Run, RunOptions, Store};

    #[test]
    fn metric_names_and_last_steps_read_no_points_but_agree_with_metrics() {
        let tmp = tempfile::tempdir().unwrap();
        let mut run = Run::start(tmp.path(), RunOptions::new("p").system_interval(None)).unwrap();
        for step in 0..300u64 {
            run.log(step, &[("train/loss", 1.0 / (step as f64 + 1.0))]).unwrap();
            if step % 100 == 99 {
                run.log(step, &[("val/acc", 0.5)]).unwrap();
            }
        }
        let id = run.id().to_string();
        run.finish(EndStatus::Finished).unwrap();
        let store = Store::open_read_only(tmp.path()).unwrap();
        assert_eq!(store.metric_names(&id).unwrap(), ["train/loss", "val/acc"]);
        let expected: Vec<(String, Option<u64>)> =
            store.metrics(&id).unwrap().into_iter().map(|m| (m.name, m.last_step)).collect();
        assert_eq!(store.last_steps(&id).unwrap(), expected);
        assert_eq!(expected[1], ("val/acc".to_string(), Some(299)));
        assert!(store.metric_names("nosuchrun").unwrap().is_empty());
    }
}
