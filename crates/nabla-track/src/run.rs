//! The recording side: [`Run`], shaped like Weights & Biases' `wandb.init` / `run.log` /
//! `run.summary` / `run.log_artifact` / `run.finish`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifacts::{blob_path, store_blob};
use crate::error::{Result, TrackError};
use crate::query::ArtifactRecord;
use crate::queue::Queue;
use crate::sampler::{system_info, Sampler};
use crate::store::{now_secs, Store};
use crate::writer::{ArtifactRow, Msg, Writer, WriterConfig};

/// The longest metric name accepted.
const MAX_METRIC_NAME: usize = 200;

/// The prefix reserved for the system sampler's metrics.
pub const SYSTEM_METRIC_PREFIX: &str = "sys/";

/// How a run ended, as passed to [`Run::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndStatus {
    /// Ran to the end.
    Finished,
    /// Stopped by an error (also what dropping an unfinished [`Run`] records).
    Failed,
    /// Stopped by the user (Ctrl-C).
    Interrupted,
}

impl EndStatus {
    /// The stored name: `finished`, `failed` or `interrupted`.
    pub fn as_str(self) -> &'static str {
        RunStatus::from(self).as_str()
    }
}

/// A run's status as readers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Recording, with a recent heartbeat.
    Running,
    /// Ended with [`EndStatus::Finished`].
    Finished,
    /// Ended with [`EndStatus::Failed`], or dropped without `finish`.
    Failed,
    /// Ended with [`EndStatus::Interrupted`] (Ctrl-C).
    Interrupted,
    /// Stored as running, but its heartbeat stopped: the process died (kill -9, power loss)
    /// without ending the run. Never stored; decided when the run is read.
    Crashed,
}

impl RunStatus {
    /// The lowercase name used in the store, filters and output.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Crashed => "crashed",
        }
    }
}

impl From<EndStatus> for RunStatus {
    fn from(status: EndStatus) -> RunStatus {
        match status {
            EndStatus::Finished => RunStatus::Finished,
            EndStatus::Failed => RunStatus::Failed,
            EndStatus::Interrupted => RunStatus::Interrupted,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<RunStatus, String> {
        Ok(match s {
            "running" => RunStatus::Running,
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            "crashed" => RunStatus::Crashed,
            other => return Err(format!("unknown run status `{other}`")),
        })
    }
}

/// Where and how a run was made: recorded with the run so that it can be reproduced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The machine's host name.
    pub host: Option<String>,
    /// `git rev-parse HEAD` of the working directory, if it is in a git repository.
    pub git_commit: Option<String>,
    /// The command line, arguments quoted where they need it.
    pub command: Option<String>,
    /// The nabla version that made the run.
    pub nabla_version: Option<String>,
    /// How many threads the run computes with.
    pub threads: Option<usize>,
    /// A checksum (e.g. sha256) of the data set the run trained on.
    pub data_checksum: Option<String>,
}

impl RunMeta {
    /// Everything that can be found out here: host name, git commit of the current directory,
    /// this process's command line, this nabla's version and the available parallelism. The
    /// data checksum is left for the caller ([`RunMeta::with_data_checksum`]).
    pub fn detect() -> RunMeta {
        RunMeta {
            host: sysinfo::System::host_name().ok(),
            git_commit: std::env::current_dir().ok().and_then(|dir| git_commit(&dir)),
            command: Some(command_line(std::env::args())),
            nabla_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            threads: std::thread::available_parallelism().ok().map(usize::from),
            data_checksum: None,
        }
    }

    /// Sets the data set checksum.
    #[must_use]
    pub fn with_data_checksum(mut self, checksum: impl Into<String>) -> RunMeta {
        self.data_checksum = Some(checksum.into());
        self
    }

    /// Sets the thread count.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> RunMeta {
        self.threads = Some(threads);
        self
    }
}

/// The commit checked out in `dir` (`git rev-parse HEAD`), or `None` outside a git repository
/// or without git.
pub fn git_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let commit = text.trim();
    (out.status.success() && !commit.is_empty()).then(|| commit.to_string())
}

/// Joins arguments into one line, single-quoting those a shell would split or expand.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    let quote = |a: String| {
        let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    args.into_iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// Everything [`Run::start`] needs: the run's identity and how it records.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The project the run belongs to (`mnist`, `xor`, …).
    pub project: String,
    /// A human name for the run; the id is the handle, the name need not be unique.
    pub name: Option<String>,
    /// The run's configuration (the trainer's typed config, serialised).
    pub config: Value,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Host, git commit, command line and so on.
    pub meta: RunMeta,
    /// How often the writer proves the process alive (default 5 s). A run whose heartbeat is
    /// older than [`crash_threshold`] of this is shown as crashed.
    pub heartbeat_interval: Duration,
    /// How often the system sampler logs `sys/*` metrics; `None` turns it off (default 5 s).
    pub system_interval: Option<Duration>,
    /// The longest a logged point waits before it is committed (default 100 ms).
    pub flush_interval: Duration,
    /// Commit as soon as this many points are waiting (default 8192).
    pub batch_points: usize,
    /// How many points (and other messages) may wait for the writer before `log` blocks
    /// (default 65536).
    pub channel_capacity: usize,
}

impl RunOptions {
    /// Options for a run in `project`, with an empty config, no tags, [`RunMeta::detect`] and
    /// the default intervals.
    pub fn new(project: impl Into<String>) -> RunOptions {
        RunOptions {
            project: project.into(),
            name: None,
            config: Value::Object(serde_json::Map::new()),
            tags: Vec::new(),
            meta: RunMeta::detect(),
            heartbeat_interval: Duration::from_secs(5),
            system_interval: Some(Duration::from_secs(5)),
            flush_interval: Duration::from_millis(100),
            batch_points: 8192,
            channel_capacity: 1 << 16,
        }
    }

    /// Names the run.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> RunOptions {
        self.name = Some(name.into());
        self
    }

    /// Sets the config (any JSON value; an object is what filters like `config.lr>0.01` read).
    #[must_use]
    pub fn config(mut self, config: Value) -> RunOptions {
        self.config = config;
        self
    }

    /// Sets the tags.
    #[must_use]
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> RunOptions {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the run's metadata.
    #[must_use]
    pub fn meta(mut self, meta: RunMeta) -> RunOptions {
        self.meta = meta;
        self
    }

    /// Sets the heartbeat interval.
    #[must_use]
    pub fn heartbeat_interval(mut self, every: Duration) -> RunOptions {
        self.heartbeat_interval = every;
        self
    }

    /// Sets the system sampler's interval, or turns it off with `None`.
    #[must_use]
    pub fn system_interval(mut self, every: Option<Duration>) -> RunOptions {
        self.system_interval = every;
        self
    }

    /// Sets the longest time a point waits before it is committed.
    #[must_use]
    pub fn flush_interval(mut self, every: Duration) -> RunOptions {
        self.flush_interval = every;
        self
    }
}

/// How stale a running run's heartbeat must be before readers call it crashed: three missed
/// heartbeats plus one second of slack.
pub fn crash_threshold(heartbeat_interval: Duration) -> Duration {
    heartbeat_interval * 3 + Duration::from_secs(1)
}

/// One metric's state on the logging side.
struct MetricSlot {
    /// The metric's id within this run (shared with the sampler's metrics).
    id: u32,
    last_step: Option<u64>,
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
/// heartbeat is older than [`crash_threshold`].
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
    next_metric: Arc<AtomicU32>,
    writer: Option<JoinHandle<()>>,
    failure: Arc<Mutex<Option<String>>>,
    sampler: Option<Sampler>,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").field("id", &self.id).field("project", &self.project).field("dir", &self.dir).finish()
    }
}

impl Run {
    /// Starts a run in the tracking directory `dir` (or a [`Store`]) with the default options
    /// and [`RunMeta::detect`]: the `wandb.init(project, name, config, tags)` of nabla.
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
        Ok(Run {
            id,
            project: options.project,
            name: options.name,
            dir: store_dir,
            queue,
            finished: false,
            metrics: HashMap::new(),
            slots: Vec::new(),
            scratch: Vec::new(),
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
                    self.slots.push(MetricSlot { id, last_step: None });
                    self.metrics.insert((*name).to_string(), self.slots.len() - 1);
                    self.scratch[i] = self.slots.len() - 1;
                }
            }
        }
        for &slot in &self.scratch {
            self.slots[slot].last_step = Some(step);
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

    /// Sets a summary value (final accuracy, best loss, success rate…): what `runs list` shows
    /// and sorts by. Setting a key again replaces it.
    pub fn summary(&mut self, key: &str, value: impl Into<Value>) -> Result<()> {
        self.send(Msg::Summary(Box::new((key.to_string(), value.into()))))
    }

    /// Stores the file at `path` as an artifact of this run (a checkpoint: `kind` =
    /// `"checkpoint"`), by content: a file already in the store is not copied again. Returns
    /// once the artifact is recorded.
    pub fn log_artifact_path(&mut self, path: impl AsRef<Path>, kind: &str) -> Result<ArtifactRecord> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| TrackError::io("opening", path, e))?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let source = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
        let blob = store_blob(&self.dir, file, path)?;
        self.record_artifact(blob, kind, name, Some(source))
    }

    /// Stores `bytes` as an artifact called `name` (see [`Run::log_artifact_path`]).
    pub fn log_artifact_bytes(&mut self, name: &str, bytes: &[u8], kind: &str) -> Result<ArtifactRecord> {
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
        queued.map_err(|_| writer_error(&self.failure))
    }
}

impl Drop for Run {
    /// Commits what was logged and marks the run `failed` (see the type's documentation).
    fn drop(&mut self) {
        let _ = self.close(EndStatus::Failed);
    }
}

fn check_metric_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_METRIC_NAME {
        "longer than 200 bytes"
    } else if name.chars().any(char::is_control) {
        "control characters (such as newlines) are not allowed"
    } else if name.starts_with(SYSTEM_METRIC_PREFIX) {
        "the `sys/` prefix is reserved for system metrics"
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
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let args = ["nabla", "train", "--name", "my run", "--filter", "config.lr>0.1", "it's"].map(String::from);
        assert_eq!(command_line(args), r"nabla train --name 'my run' --filter 'config.lr>0.1' 'it'\''s'");
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in
            [RunStatus::Running, RunStatus::Finished, RunStatus::Failed, RunStatus::Interrupted, RunStatus::Crashed]
        {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        }
        assert_eq!(EndStatus::Interrupted.as_str(), "interrupted");
    }
}
