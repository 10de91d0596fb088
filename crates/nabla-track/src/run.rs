//! The recording side: [`Run`], shaped like Weights & Biases' `wandb.init` / `run.log` /
//! `run.summary` / `run.log_artifact` / `run.finish`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::params;
use serde_json::Value;

use crate::artifacts::{artifact_lock, blob_path, store_blob};
use crate::error::{Result, TrackError};
use crate::meta::RunOptions;
use crate::query::ArtifactRecord;
use crate::queue::Queue;
use crate::sampler::{system_info, Sampler};
use crate::status::EndStatus;
use crate::store::{now_secs, Store};
use crate::writer::{ArtifactRow, Msg, Writer, WriterConfig};

/// The longest metric name accepted.
const MAX_METRIC_NAME: usize = 200;

/// The prefix reserved for the system sampler's metrics.
pub const SYSTEM_METRIC_PREFIX: &str = "sys/";

/// One metric's state on the logging side.
struct MetricSlot {
    /// The metric's id within this run (shared with the sampler's metrics).
    id: u32,
    last_step: Option<u64>,
    name: String,
    /// Whether the writer has been told the name (with the metric's first point).
    registered: bool,
}

/// Tells one run's handles from another's.
static NEXT_RUN_TAG: AtomicU32 = AtomicU32::new(0);

/// A metric of one run, from [`Run::metric`]: [`Run::log_handles`] logs by handle without
/// looking the name up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetricHandle {
    slot: u32,
    run: u32,
}

/// A run being recorded.
///
/// `log`, `summary` and the artifact calls hand their data to a writer thread; `finish`
/// commits everything and records how the run ended.
///
/// **Dropped without `finish`** (an early `?` return or a panic in the caller), a run
/// commits what it was given and is marked `failed`: the process is still alive to say so,
/// and a run that was not finished did not succeed. Only a process that dies outright
/// (kill -9, power loss) leaves its run `running`; readers then show it as `crashed` once its
/// heartbeat is older than [`crash_threshold`](crate::crash_threshold).
///
/// ```no_run
/// # fn main() -> Result<(), nabla_track::TrackError> {
/// use nabla_track::{EndStatus, Run};
/// let dir = nabla_track::tracking_dir(None)?;
/// let mut run = Run::init(&dir, "mnist", Some("lr-0.1"), serde_json::json!({"lr": 0.1}), &[])?;
/// for step in 0..100 {
///     run.log(step, &[("train/loss", 1.0 / (step as f64 + 1.0))])?;
/// }
/// run.summary("test/acc", 0.98)?;
/// run.finish(EndStatus::Finished)?;
/// # Ok(()) }
/// ```
pub struct Run {
    id: String,
    project: String,
    name: Option<String>,
    dir: PathBuf,
    queue: Arc<Queue>,
    /// Whether `Finish` has been queued.
    finished: bool,
    /// Metric name -> index into `slots`.
    metrics: HashMap<String, usize>,
    slots: Vec<MetricSlot>,
    /// Reused per `log` call: the slot of each metric in the call.
    scratch: Vec<usize>,
    /// Reused per `log_handles` call: each slot's last step before the call.
    previous_steps: Vec<Option<u64>>,
    /// This run's tag in its [`MetricHandle`]s.
    tag: u32,
    next_metric: Arc<AtomicU32>,
    writer: Option<JoinHandle<()>>,
    failure: Arc<Mutex<Option<String>>>,
    sampler: Option<Sampler>,
    /// Sends the run to a server in the background, if it has one.
    sync: Option<crate::remote::SyncThread>,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").field("id", &self.id).field("project", &self.project).field("dir", &self.dir).finish()
    }
}

impl Run {
    /// Starts a run in the tracking directory `dir` (or a [`Store`]) with the default options
    /// and [`RunMeta::detect`](crate::RunMeta::detect): the `wandb.init(project, name, config, tags)` of nabla.
    pub fn init(
        dir: impl AsRef<Path>,
        project: &str,
        name: Option<&str>,
        config: Value,
        tags: &[String],
    ) -> Result<Run> {
        let mut options = RunOptions::new(project).config(config).tags(tags.iter().cloned());
        options.name = name.map(str::to_string);
        Run::start(dir, options)
    }

    /// Starts a run with explicit options: creates the store if needed, records the run as
    /// `running`, and starts its writer (and, unless turned off, its system sampler).
    pub fn start(dir: impl AsRef<Path>, options: RunOptions) -> Result<Run> {
        let mut store = Store::open(dir.as_ref())?;
        let started = now_secs();
        let config = options.config.to_string();
        let tags = serde_json::to_string(&options.tags)
            .map_err(|source| TrackError::Json { context: "serialising tags".into(), source })?;
        let system = system_info().to_string();
        let meta = &options.meta;
        let threads = meta.threads.map(|t| t as i64);
        let mut id = crate::id::new_run_id();
        // An id already taken (two runs in one millisecond drawing the same bits) draws again.
        for _ in 0..8 {
            let inserted = store.write(|tx| {
                tx.execute(
                    "INSERT INTO runs (id, project, name, status, config, summary, tags, started, heartbeat,
                         heartbeat_secs, host, pid, git_commit, command, nabla_version, threads, data_checksum, system)
                     VALUES (?1, ?2, ?3, 'running', ?4, '{}', ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                     ON CONFLICT (id) DO NOTHING",
                    params![
                        id,
                        options.project,
                        options.name,
                        config,
                        tags,
                        started,
                        options.heartbeat_interval.as_secs_f64(),
                        meta.host,
                        i64::from(std::process::id()),
                        meta.git_commit,
                        meta.command,
                        meta.nabla_version,
                        threads,
                        meta.data_checksum,
                        system,
                    ],
                )
            })?;
            if inserted == 1 {
                break;
            }
            id = crate::id::new_run_id();
        }
        if let Some(remote) = &options.remote {
            store.set_remote(&id, remote)?;
        }
        let db = store.db_path().to_path_buf();
        let store_dir = store.dir().to_path_buf();
        let conn = store.conn;
        let queue = Arc::new(Queue::new(options.channel_capacity, options.batch_points));
        let failure = Arc::new(Mutex::new(None));
        let config = WriterConfig {
            batch_points: options.batch_points.max(1),
            flush_interval: options.flush_interval,
            heartbeat_interval: options.heartbeat_interval,
        };
        let writer = Writer::new(conn, db, id.clone(), config);
        let (writer_queue, writer_failure) = (queue.clone(), failure.clone());
        let handle = std::thread::Builder::new()
            .name("nabla-track-writer".into())
            .spawn(move || writer.run(&writer_queue, &writer_failure))
            .map_err(|e| TrackError::io("starting the writer thread for", &store_dir, e))?;
        let next_metric = Arc::new(AtomicU32::new(0));
        let sampler =
            options.system_interval.and_then(|every| Sampler::start(every, queue.clone(), next_metric.clone()));
        let sync = options.remote.map(|remote| crate::remote::SyncThread::start(store_dir.clone(), id.clone(), remote));
        Ok(Run {
            sync,
            id,
            project: options.project,
            name: options.name,
            dir: store_dir,
            queue,
            finished: false,
            metrics: HashMap::new(),
            slots: Vec::new(),
            scratch: Vec::new(),
            previous_steps: Vec::new(),
            tag: NEXT_RUN_TAG.fetch_add(1, Ordering::Relaxed),
            next_metric,
            writer: Some(handle),
            failure,
            sampler,
        })
    }

    /// The run's id (12 characters; any unique prefix works on the command line).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The run's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The tracking directory the run is recorded in.
    pub fn tracking_dir(&self) -> &Path {
        &self.dir
    }

    /// The command that shows this run: `nabla runs show ID`.
    pub fn show_command(&self) -> String {
        format!("nabla runs show {}", self.id)
    }

    /// Logs named scalars at `step`. Each metric's steps must increase: a step not larger than
    /// the last one logged for any of the named metrics is an error and nothing of the call is
    /// logged. The wall time is recorded with every point. Names starting with `sys/` are
    /// reserved for the system sampler. NaN is stored (and read back) as NaN.
    ///
    /// Does not wait for the disk: points go to the writer thread, and `log` only waits when
    /// the writer is a whole channel behind.
    pub fn log(&mut self, step: u64, metrics: &[(&str, f64)]) -> Result<()> {
        let stored_step = i64::try_from(step).map_err(|_| TrackError::StepTooLarge(step))?;
        // Check every metric before queueing any point, so that a rejected call logs nothing.
        self.scratch.clear();
        let mut new_names = 0;
        for (i, (name, _)) in metrics.iter().enumerate() {
            match self.metrics.get(*name) {
                Some(&slot) => {
                    if let Some(last) = self.slots[slot].last_step.filter(|&last| step <= last) {
                        return Err(TrackError::StepNotIncreasing { metric: (*name).to_string(), step, last });
                    }
                    self.scratch.push(slot);
                }
                None => {
                    check_metric_name(name)?;
                    new_names += 1;
                    self.scratch.push(usize::MAX);
                }
            }
            let repeated = if metrics.len() <= 16 {
                metrics[..i].iter().any(|(other, _)| other == name)
            } else {
                i + 1 == metrics.len() && {
                    let mut seen = std::collections::HashSet::new();
                    !metrics.iter().all(|(n, _)| seen.insert(*n))
                }
            };
            if repeated {
                return Err(TrackError::StepNotIncreasing { metric: (*name).to_string(), step, last: step });
            }
        }
        let mut registrations = Vec::new();
        if new_names > 0 {
            for (i, (name, _)) in metrics.iter().enumerate() {
                if self.scratch[i] == usize::MAX {
                    let id = self.next_metric.fetch_add(1, Ordering::Relaxed);
                    registrations.push(Msg::Metric { id, name: (*name).to_string() });
                    self.slots.push(MetricSlot { id, last_step: None, name: (*name).to_string(), registered: true });
                    self.metrics.insert((*name).to_string(), self.slots.len() - 1);
                    self.scratch[i] = self.slots.len() - 1;
                }
            }
        }
        for &slot in &self.scratch {
            let slot = &mut self.slots[slot];
            slot.last_step = Some(step);
            // A metric made by `metric` but not logged yet is registered with its first point.
            if !slot.registered {
                slot.registered = true;
                registrations.push(Msg::Metric { id: slot.id, name: slot.name.clone() });
            }
        }
        let wall = now_secs();
        let slots = &self.slots;
        let points = metrics.iter().zip(&self.scratch).map(|(&(_, value), &slot)| Msg::Point {
            metric: slots[slot].id,
            step: stored_step,
            value,
            wall,
        });
        self.queue.push(registrations.into_iter().chain(points)).map_err(|_| writer_error(&self.failure))
    }

    /// The handle of the metric `name`, for [`Run::log_handles`]: checks the name (as `log`
    /// does) and makes the metric if it is new. Nothing is written until its first point.
    pub fn metric(&mut self, name: &str) -> Result<MetricHandle> {
        let slot = match self.metrics.get(name) {
            Some(&slot) => slot,
            None => {
                check_metric_name(name)?;
                let id = self.next_metric.fetch_add(1, Ordering::Relaxed);
                self.slots.push(MetricSlot { id, last_step: None, name: name.to_string(), registered: false });
                self.metrics.insert(name.to_string(), self.slots.len() - 1);
                self.slots.len() - 1
            }
        };
        let slot = u32::try_from(slot).map_err(|_| TrackError::InvalidMetricName {
            name: name.to_string(),
            reason: "a run holds at most 2^32 metrics",
        })?;
        Ok(MetricHandle { slot, run: self.tag })
    }

    /// [`Run::log`] by handle ([`Run::metric`]): the same rules (each metric's steps increase,
    /// a refused call logs nothing) without a name lookup per point. A handle of another run
    /// is an error.
    pub fn log_handles(&mut self, step: u64, points: &[(MetricHandle, f64)]) -> Result<()> {
        let stored_step = i64::try_from(step).map_err(|_| TrackError::StepTooLarge(step))?;
        self.previous_steps.clear();
        for &(handle, _) in points {
            let slot = match self.slots.get_mut(handle.slot as usize) {
                Some(slot) if handle.run == self.tag => slot,
                _ => {
                    self.restore_steps(points);
                    return Err(TrackError::InvalidMetricName {
                        name: format!("{handle:?}"),
                        reason: "the handle belongs to another run",
                    });
                }
            };
            // A metric named twice in one call finds its own step here the second time.
            if let Some(last) = slot.last_step.filter(|&last| step <= last) {
                let metric = slot.name.clone();
                self.restore_steps(points);
                return Err(TrackError::StepNotIncreasing { metric, step, last });
            }
            self.previous_steps.push(slot.last_step);
            slot.last_step = Some(step);
        }
        let wall = now_secs();
        let slots = &mut self.slots;
        let mut registrations = Vec::new();
        for &(handle, _) in points {
            let slot = &mut slots[handle.slot as usize];
            if !slot.registered {
                slot.registered = true;
                registrations.push(Msg::Metric { id: slot.id, name: slot.name.clone() });
            }
        }
        let slots = &self.slots;
        let msgs = points.iter().map(|&(handle, value)| Msg::Point {
            metric: slots[handle.slot as usize].id,
            step: stored_step,
            value,
            wall,
        });
        self.queue.push(registrations.into_iter().chain(msgs)).map_err(|_| writer_error(&self.failure))
    }

    /// Undoes the step updates of a refused `log_handles` call.
    fn restore_steps(&mut self, points: &[(MetricHandle, f64)]) {
        for (&(handle, _), &previous) in points.iter().zip(&self.previous_steps) {
            self.slots[handle.slot as usize].last_step = previous;
        }
    }

    /// Sets a summary value (final accuracy, best loss, success rate…): what `runs list` shows
    /// and sorts by. Setting a key again replaces it.
    pub fn summary(&mut self, key: &str, value: impl Into<Value>) -> Result<()> {
        self.send(Msg::Summary(Box::new((key.to_string(), value.into()))))
    }

    /// Replaces the run's stored config (`wandb.config.update` after `init`). Written at once
    /// through its own connection, not through the writer: configs change rarely, and the
    /// writer never touches the config column.
    pub fn set_config(&mut self, config: &Value) -> Result<()> {
        let mut store = Store::open(&self.dir)?;
        let text = config.to_string();
        store.write(|tx| tx.execute("UPDATE runs SET config = ?1 WHERE id = ?2", params![text, self.id]))?;
        Ok(())
    }

    /// Stores the file at `path` as an artifact of this run (a checkpoint: `kind` =
    /// `"checkpoint"`), by content: a file already in the store is not copied again. Returns
    /// once the artifact is recorded.
    pub fn log_artifact_path(&mut self, path: impl AsRef<Path>, kind: &str) -> Result<ArtifactRecord> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| TrackError::io("opening", path, e))?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let source = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
        // Held until the row is in, so that `gc` cannot remove the file in between.
        let _lock = artifact_lock(&self.dir, false)?;
        let blob = store_blob(&self.dir, file, path)?;
        self.record_artifact(blob, kind, name, Some(source))
    }

    /// Stores `bytes` as an artifact called `name` (see [`Run::log_artifact_path`]).
    pub fn log_artifact_bytes(&mut self, name: &str, bytes: &[u8], kind: &str) -> Result<ArtifactRecord> {
        let _lock = artifact_lock(&self.dir, false)?;
        let blob = store_blob(&self.dir, bytes, Path::new(name))?;
        self.record_artifact(blob, kind, name.to_string(), None)
    }

    fn record_artifact(
        &mut self,
        blob: crate::artifacts::Blob,
        kind: &str,
        name: String,
        source: Option<String>,
    ) -> Result<ArtifactRecord> {
        let created = now_secs();
        let row = ArtifactRow {
            sha256: blob.sha256.clone(),
            kind: kind.to_string(),
            name: name.clone(),
            source: source.clone(),
            bytes: blob.bytes,
            created,
        };
        let (reply, answer) = sync_channel(1);
        self.send(Msg::Artifact(Box::new(row), reply))?;
        wait(&answer, &self.failure)?;
        Ok(ArtifactRecord {
            path: blob_path(&self.dir, &blob.sha256),
            sha256: blob.sha256,
            kind: kind.to_string(),
            name,
            source,
            bytes: blob.bytes,
            created,
        })
    }

    /// The server's refusal of this run (a bad or revoked token, another user's project), the
    /// first time it is asked after a background sync was refused; `None` otherwise, and for a
    /// run without a server. Cheap enough to ask after every `log` (one atomic load). The run
    /// goes on recording locally; `finish` reports it as [`TrackError::NotDelivered`] too.
    pub fn take_sync_refusal(&self) -> Option<String> {
        self.sync.as_ref()?.take_refusal()
    }

    /// The server this run is sent to, if any.
    pub fn server(&self) -> Option<&str> {
        self.sync.as_ref().map(crate::remote::SyncThread::uri)
    }

    /// Waits until everything logged so far is committed.
    pub fn flush(&mut self) -> Result<()> {
        let (reply, answer) = sync_channel(1);
        self.send(Msg::Flush(reply))?;
        wait(&answer, &self.failure)
    }

    /// Ends the run: stops the sampler, commits everything, records `status` and the end time,
    /// and waits for the writer. An error the writer met on the way is returned here.
    pub fn finish(mut self, status: EndStatus) -> Result<()> {
        self.close(status)
    }

    fn send(&self, msg: Msg) -> Result<()> {
        if self.finished {
            return Err(writer_error(&self.failure));
        }
        self.queue.push([msg]).map_err(|_| writer_error(&self.failure))
    }

    fn close(&mut self, status: EndStatus) -> Result<()> {
        if let Some(mut sampler) = self.sampler.take() {
            sampler.stop();
        }
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        let queued = self.queue.push([Msg::Finish(status)]);
        if let Some(handle) = self.writer.take() {
            if handle.join().is_err() {
                return Err(TrackError::WriterStopped("the writer thread panicked".into()));
            }
        }
        if let Some(text) = self.failure.lock().ok().and_then(|slot| slot.clone()) {
            return Err(TrackError::WriterStopped(text));
        }
        queued.map_err(|_| writer_error(&self.failure))?;
        match self.sync.take() {
            Some(sync) => sync.finish(),
            None => Ok(()),
        }
    }
}

impl Drop for Run {
    /// Commits what was logged and marks the run `failed` (see the type's documentation).
    fn drop(&mut self) {
        let _ = self.close(EndStatus::Failed);
    }
}

pub(crate) fn check_metric_name(name: &str) -> Result<()> {
    if name.starts_with(SYSTEM_METRIC_PREFIX) {
        return Err(TrackError::InvalidMetricName {
            name: name.to_string(),
            reason: "the `sys/` prefix is reserved for system metrics",
        });
    }
    check_stored_metric_name(name)
}

/// The rules every stored metric name follows, system metrics included (what a server takes
/// from a client, whose sampler logs `sys/*`).
pub(crate) fn check_stored_metric_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_METRIC_NAME {
        "longer than 200 bytes"
    } else if name.chars().any(char::is_control) {
        "control characters (such as newlines) are not allowed"
    } else {
        return Ok(());
    };
    Err(TrackError::InvalidMetricName { name: name.to_string(), reason })
}

fn writer_error(failure: &Mutex<Option<String>>) -> TrackError {
    let text = failure.lock().ok().and_then(|slot| slot.clone()).unwrap_or_else(|| "the writer thread is gone".into());
    TrackError::WriterStopped(text)
}

fn wait(answer: &std::sync::mpsc::Receiver<Result<(), String>>, failure: &Mutex<Option<String>>) -> Result<()> {
    match answer.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(text)) => Err(TrackError::WriterStopped(text)),
        Err(_) => Err(writer_error(failure)),
    }
}

#[cfg(test)]
mod tests;
