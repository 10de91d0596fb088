//! The writer thread: takes a run's points off a bounded channel and commits them in batches.
//!
//! A batch is committed when it holds [`RunOptions::batch_points`](crate::RunOptions) points,
//! when its oldest point has waited [`RunOptions::flush_interval`](crate::RunOptions) (100 ms
//! by default, so a point is on disk well within a second of `log` returning), when someone
//! waits on a flush, or at the heartbeat, which is written with every commit and on its own
//! when nothing else is.

use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use crate::blocks::{self, OpenBlock};
use crate::error::Result;
use crate::queue::Queue;
use crate::status::EndStatus;
use crate::store::{now_secs, write_tx};

/// A message from the run (or its sampler) to the writer.
pub(crate) enum Msg {
    /// Metric `id` (local to this run) is called `name`; sent before its first point.
    Metric { id: u32, name: String },
    /// One point.
    Point { metric: u32, step: i64, value: f64, wall: f64 },
    /// Set a summary key.
    Summary(Box<(String, Value)>),
    /// Record an artifact row; answer once it is committed.
    Artifact(Box<ArtifactRow>, SyncSender<Result<(), String>>),
    /// Commit everything received so far; answer once done.
    Flush(SyncSender<Result<(), String>>),
    /// Commit everything and set the final status; the writer then stops.
    Finish(EndStatus),
}

/// An artifact row waiting to be written.
pub(crate) struct ArtifactRow {
    pub sha256: String,
    pub kind: String,
    pub name: String,
    pub source: Option<String>,
    pub bytes: u64,
    pub created: f64,
}

/// How the writer batches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterConfig {
    pub batch_points: usize,
    pub flush_interval: Duration,
    pub heartbeat_interval: Duration,
}

/// The writer's state, owned by its thread.
pub(crate) struct Writer {
    conn: Connection,
    db: PathBuf,
    run_id: String,
    config: WriterConfig,
    /// Local metric id -> row id in `metrics`.
    metric_rows: Vec<i64>,
    /// Local metric id -> its last block summary (see `crate::blocks`).
    open_blocks: Vec<OpenBlock>,
    new_metrics: Vec<(u32, String)>,
    points: Vec<(u32, i64, f64, f64)>,
    summary: Map<String, Value>,
    summary_dirty: bool,
    artifacts: Vec<ArtifactRow>,
    waiting: Vec<SyncSender<Result<(), String>>>,
    last_heartbeat: Instant,
}

impl Writer {
    pub(crate) fn new(conn: Connection, db: PathBuf, run_id: String, config: WriterConfig) -> Writer {
        conn.set_prepared_statement_cache_capacity(16);
        // 32 MiB of page cache keeps every metric's insertion path in memory.
        let _ = conn.pragma_update(None, "cache_size", -32768);
        // A multi-row INSERT keeps a statement journal; in memory it costs no file writes.
        let _ = conn.pragma_update(None, "temp_store", "MEMORY");
        Writer {
            conn,
            db,
            run_id,
            config,
            metric_rows: Vec::new(),
            open_blocks: Vec::new(),
            new_metrics: Vec::new(),
            points: Vec::with_capacity(config.batch_points),
            summary: Map::new(),
            summary_dirty: false,
            artifacts: Vec::new(),
            waiting: Vec::new(),
            last_heartbeat: Instant::now(),
        }
    }

    /// Runs until `Finish`. The first error is stored in `failure` and answered to anyone
    /// waiting; the queue is then closed, so that later calls on the run report it.
    pub(crate) fn run(mut self, queue: &Queue, failure: &Mutex<Option<String>>) {
        if let Err(e) = self.serve(queue) {
            let text = e.to_string();
            if let Ok(mut slot) = failure.lock() {
                slot.get_or_insert(text.clone());
            }
            let left = queue.close();
            let replies = left.into_iter().filter_map(|msg| match msg {
                Msg::Flush(reply) | Msg::Artifact(_, reply) => Some(reply),
                _ => None,
            });
            for reply in self.waiting.drain(..).chain(replies) {
                let _ = reply.send(Err(text.clone()));
            }
        } else {
            queue.close();
        }
    }

    fn serve(&mut self, queue: &Queue) -> Result<()> {
        let mut batch = Vec::new();
        loop {
            let heartbeat_due = self.last_heartbeat + self.config.heartbeat_interval;
            queue.take(&mut batch, self.config.flush_interval, heartbeat_due);
            let mut end = None;
            for msg in batch.drain(..) {
                if let Some(status) = self.take(msg) {
                    end = Some(status);
                }
            }
            // Every wake-up is a reason to commit: a full batch, a flush or finish, the flush
            // deadline of the oldest point, or the heartbeat.
            self.commit(end)?;
            if end.is_some() {
                return Ok(());
            }
        }
    }

    fn take(&mut self, msg: Msg) -> Option<EndStatus> {
        match msg {
            Msg::Metric { id, name } => self.new_metrics.push((id, name)),
            Msg::Point { metric, step, value, wall } => self.points.push((metric, step, value, wall)),
            Msg::Summary(entry) => {
                let (key, value) = *entry;
                self.summary.insert(key, value);
                self.summary_dirty = true;
            }
            Msg::Artifact(row, reply) => {
                self.artifacts.push(*row);
                self.waiting.push(reply);
            }
            Msg::Flush(reply) => self.waiting.push(reply),
            Msg::Finish(status) => return Some(status),
        }
        None
    }

    /// Writes everything pending, the heartbeat, and (at the end) the final status, in one
    /// transaction.
    fn commit(&mut self, end: Option<EndStatus>) -> Result<()> {
        let now = now_secs();
        let Writer {
            conn,
            db,
            ref run_id,
            metric_rows,
            open_blocks,
            new_metrics,
            points,
            summary,
            summary_dirty,
            artifacts,
            ..
        } = self;
        write_tx(conn, db, |tx| {
            for (id, name) in new_metrics.iter() {
                tx.prepare_cached("INSERT INTO metrics (run_id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                    .execute(params![run_id, name])?;
                let row: i64 = tx
                    .prepare_cached("SELECT id FROM metrics WHERE run_id = ?1 AND name = ?2")?
                    .query_row(params![run_id, name], |r| r.get(0))?;
                let slot = *id as usize;
                if metric_rows.len() <= slot {
                    metric_rows.resize(slot + 1, -1);
                    open_blocks.resize(slot + 1, OpenBlock::default());
                }
                metric_rows[slot] = row;
                // Empty for a new metric; a metric that already has points is appended to.
                open_blocks[slot] = OpenBlock { block: blocks::last_block(tx, row)?, dirty: false };
            }
            // Points are clustered by (metric, step): inserting a batch in that order writes
            // each metric's rows into neighbouring pages instead of hopping between metrics.
            points.sort_unstable_by_key(|&(metric, step, _, _)| (metric, step));
            insert_points(tx, metric_rows, points)?;
            blocks::record(tx, metric_rows, open_blocks, points)?;
            if *summary_dirty {
                let text = Value::Object(summary.clone()).to_string();
                tx.prepare_cached("UPDATE runs SET summary = ?1 WHERE id = ?2")?.execute(params![text, run_id])?;
            }
            for a in artifacts.iter() {
                tx.prepare_cached(
                    "INSERT INTO artifacts (run_id, sha256, kind, name, source, bytes, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![run_id, a.sha256, a.kind, a.name, a.source, a.bytes as i64, a.created])?;
            }
            match end {
                None => {
                    tx.prepare_cached("UPDATE runs SET heartbeat = ?1 WHERE id = ?2")?.execute(params![now, run_id])?
                }
                Some(status) => tx
                    .prepare_cached("UPDATE runs SET heartbeat = ?1, ended = ?1, status = ?2 WHERE id = ?3")?
                    .execute(params![now, status.as_str(), run_id])?,
            };
            Ok(())
        })?;
        self.new_metrics.clear();
        self.points.clear();
        self.summary_dirty = false;
        self.artifacts.clear();
        self.last_heartbeat = Instant::now();
        for reply in self.waiting.drain(..) {
            let _ = reply.send(Ok(()));
        }
        Ok(())
    }
}

/// Rows per multi-row `INSERT`: one statement step per 64 points instead of per point.
const ROWS_PER_INSERT: usize = 64;

static MULTI_INSERT: LazyLock<String> = LazyLock::new(|| {
    let rows: Vec<String> = (0..ROWS_PER_INSERT)
        .map(|i| format!("(?{}, ?{}, ?{}, ?{})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
        .collect();
    format!("INSERT INTO points (metric_id, step, value, wall_time) VALUES {}", rows.join(", "))
});

/// Inserts `points` (local metric id, step, value, wall time), mostly 64 rows per statement.
pub(crate) fn insert_points(
    tx: &rusqlite::Connection,
    metric_rows: &[i64],
    points: &[(u32, i64, f64, f64)],
) -> rusqlite::Result<()> {
    let mut chunks = points.chunks_exact(ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let mut multi = tx.prepare_cached(&MULTI_INSERT)?;
        for chunk in &mut chunks {
            for (i, &(metric, step, value, wall)) in chunk.iter().enumerate() {
                multi.raw_bind_parameter(4 * i + 1, metric_rows[metric as usize])?;
                multi.raw_bind_parameter(4 * i + 2, step)?;
                multi.raw_bind_parameter(4 * i + 3, value)?;
                multi.raw_bind_parameter(4 * i + 4, wall)?;
            }
            multi.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut single =
            tx.prepare_cached("INSERT INTO points (metric_id, step, value, wall_time) VALUES (?1, ?2, ?3, ?4)")?;
        for &(metric, step, value, wall) in rest {
            single.execute(params![metric_rows[metric as usize], step, value, wall])?;
        }
    }
    Ok(())
}
