//! Block summaries of a metric's points, kept in the store beside the points themselves.
//!
//! A metric's points, in step order, are cut into blocks of [`BLOCK_POINTS`] consecutive points
//! (block `k` holds points number `k·64 … k·64 + 63`); each block row remembers its first and
//! last point, its smallest and largest point (NaN ignored, ±∞ included, the first one on a
//! tie), how many points it holds and the sum and count of its finite values. A reader can then
//! downsample a 1,000,000-point metric from 15,625 rows, keeping every minimum and maximum,
//! without reading the points.
//!
//! The writer thread keeps each metric's last (open) block in memory and writes the blocks a
//! batch touched in the batch's own transaction: one row per metric per batch, plus one per
//! block filled. Steps only grow, so a batch only ever extends the last block and opens new
//! ones. Stores written before the table existed are filled in by [`backfill`] when they are
//! migrated.

use std::sync::LazyLock;

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::query::Point;
use crate::store::Store;

/// Points per block.
pub const BLOCK_POINTS: u64 = 64;

/// The summary of up to [`BLOCK_POINTS`] consecutive points of one metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointBlock {
    /// Which block of its metric: it holds the points number `index · BLOCK_POINTS` onwards.
    pub index: u64,
    /// How many points it holds (`BLOCK_POINTS` for every block but the last).
    pub count: u64,
    /// Its first point.
    pub first: Point,
    /// Its last point.
    pub last: Point,
    /// Its smallest non-NaN point (the first on a tie); `None` when every value is NaN.
    pub min: Option<Point>,
    /// Its largest non-NaN point (the first on a tie); `None` when every value is NaN.
    pub max: Option<Point>,
    /// The sum of its finite values.
    pub sum: f64,
    /// How many of its values are finite.
    pub finite: u64,
}

impl PointBlock {
    /// A block of one point.
    pub fn start(index: u64, point: Point) -> PointBlock {
        let real = (!point.value.is_nan()).then_some(point);
        let finite = point.value.is_finite();
        PointBlock {
            index,
            count: 1,
            first: point,
            last: point,
            min: real,
            max: real,
            sum: if finite { point.value } else { 0.0 },
            finite: u64::from(finite),
        }
    }

    /// Adds the next point (its step after the block's last).
    pub fn push(&mut self, point: Point) {
        self.count += 1;
        self.last = point;
        let v = point.value;
        if v.is_nan() {
            return;
        }
        if self.min.is_none_or(|m| v < m.value) {
            self.min = Some(point);
        }
        if self.max.is_none_or(|m| v > m.value) {
            self.max = Some(point);
        }
        if v.is_finite() {
            self.sum += v;
            self.finite += 1;
        }
    }

    /// Whether it holds [`BLOCK_POINTS`] points.
    pub fn is_full(&self) -> bool {
        self.count >= BLOCK_POINTS
    }

    /// The mean of its finite values, if any.
    pub fn mean(&self) -> Option<f64> {
        (self.finite > 0).then(|| self.sum / self.finite as f64)
    }

    /// The blocks of `points` (one metric's, in step order), numbered from `first_index`.
    pub fn of_points(points: &[Point], first_index: u64) -> Vec<PointBlock> {
        let mut blocks = Vec::with_capacity(points.len().div_ceil(BLOCK_POINTS as usize));
        let mut open: Option<PointBlock> = None;
        for &p in points {
            extend(&mut open, p, first_index, |full| blocks.push(full));
        }
        blocks.extend(open);
        blocks
    }
}

/// Adds `point` to the open block (opening block `first_index` when there is none); a block
/// that becomes full is handed to `full` and the next point opens the block after it.
fn extend(open: &mut Option<PointBlock>, point: Point, first_index: u64, mut full: impl FnMut(PointBlock)) {
    match open {
        Some(block) if !block.is_full() => block.push(point),
        Some(block) => {
            let next = block.index + 1;
            *open = Some(PointBlock::start(next, point));
        }
        None => *open = Some(PointBlock::start(first_index, point)),
    }
    if let Some(block) = open.filter(PointBlock::is_full) {
        full(block);
    }
}

const COLUMNS: &str = "block, count, first_step, first_value, first_wall, last_step, last_value, last_wall,
     min_step, min_value, min_wall, max_step, max_value, max_wall, sum, finite";

/// The table, created by the schema migration 1 → 2.
pub(crate) const CREATE_TABLE: &str = "CREATE TABLE point_blocks (
        metric_id INTEGER NOT NULL,
        block INTEGER NOT NULL,         -- points number block*64 .. block*64+63 of the metric
        count INTEGER NOT NULL,
        first_step INTEGER NOT NULL,
        first_value REAL,               -- NULL is NaN, as in points
        first_wall REAL NOT NULL,
        last_step INTEGER NOT NULL,
        last_value REAL,
        last_wall REAL NOT NULL,
        min_step INTEGER,               -- min_* and max_* NULL: every value is NaN
        min_value REAL,
        min_wall REAL,
        max_step INTEGER,
        max_value REAL,
        max_wall REAL,
        sum REAL,                       -- of the finite values
        finite INTEGER NOT NULL,        -- how many values are finite
        PRIMARY KEY (metric_id, block)
    ) WITHOUT ROWID;";

fn step_of(row: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
}

fn value_of(row: &Row<'_>, i: usize) -> rusqlite::Result<f64> {
    Ok(row.get::<_, Option<f64>>(i)?.unwrap_or(f64::NAN))
}

/// A block from a row of [`COLUMNS`].
fn block_from_row(row: &Row<'_>) -> rusqlite::Result<PointBlock> {
    let point = |s: usize| -> rusqlite::Result<Point> {
        Ok(Point { step: step_of(row, s)?, value: value_of(row, s + 1)?, wall_time: row.get(s + 2)? })
    };
    let extreme = |s: usize| -> rusqlite::Result<Option<Point>> {
        match row.get::<_, Option<i64>>(s)? {
            None => Ok(None),
            Some(_) => point(s).map(Some),
        }
    };
    Ok(PointBlock {
        index: step_of(row, 0)?,
        count: step_of(row, 1)?,
        first: point(2)?,
        last: point(5)?,
        min: extreme(8)?,
        max: extreme(11)?,
        sum: value_of(row, 14)?,
        finite: step_of(row, 15)?,
    })
}

/// Rows per multi-row `INSERT` of blocks (17 parameters each).
const BLOCKS_PER_INSERT: usize = 16;

fn insert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=17).map(|i| format!("?{}", r * 17 + i)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!("INSERT OR REPLACE INTO point_blocks (metric_id, {COLUMNS}) VALUES {}", values.join(", "))
}

static WRITE_BLOCK: LazyLock<String> = LazyLock::new(|| insert_sql(1));
static WRITE_BLOCKS: LazyLock<String> = LazyLock::new(|| insert_sql(BLOCKS_PER_INSERT));

/// Binds one block row at parameter `at` (1-based) onwards.
fn bind_block(stmt: &mut rusqlite::Statement<'_>, at: usize, metric_id: i64, b: &PointBlock) -> rusqlite::Result<()> {
    let step = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
    let (min, max) = (b.min.as_ref(), b.max.as_ref());
    stmt.raw_bind_parameter(at, metric_id)?;
    stmt.raw_bind_parameter(at + 1, step(b.index))?;
    stmt.raw_bind_parameter(at + 2, step(b.count))?;
    stmt.raw_bind_parameter(at + 3, step(b.first.step))?;
    stmt.raw_bind_parameter(at + 4, b.first.value)?;
    stmt.raw_bind_parameter(at + 5, b.first.wall_time)?;
    stmt.raw_bind_parameter(at + 6, step(b.last.step))?;
    stmt.raw_bind_parameter(at + 7, b.last.value)?;
    stmt.raw_bind_parameter(at + 8, b.last.wall_time)?;
    stmt.raw_bind_parameter(at + 9, min.map(|p| step(p.step)))?;
    stmt.raw_bind_parameter(at + 10, min.map(|p| p.value))?;
    stmt.raw_bind_parameter(at + 11, min.map(|p| p.wall_time))?;
    stmt.raw_bind_parameter(at + 12, max.map(|p| step(p.step)))?;
    stmt.raw_bind_parameter(at + 13, max.map(|p| p.value))?;
    stmt.raw_bind_parameter(at + 14, max.map(|p| p.wall_time))?;
    stmt.raw_bind_parameter(at + 15, b.sum)?;
    stmt.raw_bind_parameter(at + 16, step(b.finite))?;
    Ok(())
}

/// Writes (or rewrites) one block of metric row `metric_id`.
pub(crate) fn write_block(tx: &rusqlite::Connection, metric_id: i64, b: &PointBlock) -> rusqlite::Result<()> {
    write_blocks(tx, &[(metric_id, *b)])
}

/// Writes (or rewrites) blocks, given with their metric rows, mostly 16 per statement.
fn write_blocks(tx: &rusqlite::Connection, blocks: &[(i64, PointBlock)]) -> rusqlite::Result<()> {
    let mut chunks = blocks.chunks_exact(BLOCKS_PER_INSERT);
    if chunks.len() > 0 {
        let mut multi = tx.prepare_cached(&WRITE_BLOCKS)?;
        for chunk in &mut chunks {
            for (i, (metric, b)) in chunk.iter().enumerate() {
                bind_block(&mut multi, i * 17 + 1, *metric, b)?;
            }
            multi.raw_execute()?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut single = tx.prepare_cached(&WRITE_BLOCK)?;
        for (metric, b) in chunks.remainder() {
            bind_block(&mut single, 1, *metric, b)?;
            single.raw_execute()?;
        }
    }
    Ok(())
}

/// The last block of metric row `metric_id`, to append to. If the blocks do not end where
/// the points do (points written by a nabla from before the table, while this store was
/// migrated), the metric's blocks are rebuilt from its points first.
pub(crate) fn last_block(tx: &rusqlite::Connection, metric_id: i64) -> rusqlite::Result<Option<PointBlock>> {
    let last = read_last_block(tx, metric_id)?;
    let last_step: Option<i64> = tx
        .prepare_cached("SELECT step FROM points WHERE metric_id = ?1 ORDER BY step DESC LIMIT 1")?
        .query_row(params![metric_id], |r| r.get(0))
        .optional()?;
    if last.map(|b| i64::try_from(b.last.step).unwrap_or(i64::MAX)) == last_step {
        return Ok(last);
    }
    rebuild_metric(tx, metric_id)?;
    read_last_block(tx, metric_id)
}

fn read_last_block(tx: &rusqlite::Connection, metric_id: i64) -> rusqlite::Result<Option<PointBlock>> {
    tx.prepare_cached(&format!("SELECT {COLUMNS} FROM point_blocks WHERE metric_id = ?1 ORDER BY block DESC LIMIT 1"))?
        .query_row(params![metric_id], block_from_row)
        .optional()
}

/// Rewrites one metric's blocks from its points.
pub(crate) fn rebuild_metric(tx: &rusqlite::Connection, metric_id: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM point_blocks WHERE metric_id = ?1")?.execute(params![metric_id])?;
    let mut stmt = tx.prepare_cached("SELECT step, value, wall_time FROM points WHERE metric_id = ?1 ORDER BY step")?;
    let mut rows = stmt.query(params![metric_id])?;
    let mut open = None;
    while let Some(row) = rows.next()? {
        let p = Point { step: step_of(row, 0)?, value: value_of(row, 1)?, wall_time: row.get(2)? };
        let mut full = None;
        extend(&mut open, p, 0, |b| full = Some(b));
        if let Some(b) = full {
            write_block(tx, metric_id, &b)?;
        }
    }
    if let Some(b) = open.filter(|b| !b.is_full()) {
        write_block(tx, metric_id, &b)?;
    }
    Ok(())
}

/// Fills the table from every metric's points: one pass over the points in their stored order.
pub(crate) fn backfill(tx: &rusqlite::Connection) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare("SELECT metric_id, step, value, wall_time FROM points ORDER BY metric_id, step")?;
    let mut rows = stmt.query([])?;
    let mut current: Option<(i64, PointBlock)> = None;
    while let Some(row) = rows.next()? {
        let metric: i64 = row.get(0)?;
        let p = Point { step: step_of(row, 1)?, value: value_of(row, 2)?, wall_time: row.get(3)? };
        let mut open = match current.take() {
            Some((m, b)) if m == metric => Some(b),
            Some((m, b)) => {
                if !b.is_full() {
                    write_block(tx, m, &b)?;
                }
                None
            }
            None => None,
        };
        let mut full = None;
        extend(&mut open, p, 0, |b| full = Some(b));
        if let Some(b) = full {
            write_block(tx, metric, &b)?;
        }
        current = open.map(|b| (metric, b));
    }
    if let Some((m, b)) = current.filter(|(_, b)| !b.is_full()) {
        write_block(tx, m, &b)?;
    }
    Ok(())
}

/// One metric's open block as the writer keeps it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OpenBlock {
    /// The block (`None` before the metric's first point).
    pub block: Option<PointBlock>,
    /// Changed since it was last written.
    pub dirty: bool,
}

/// Folds `points` (local metric id, step, value, wall time; sorted by metric and step) into
/// the open blocks and writes every block that filled up and every open block that changed.
pub(crate) fn record(
    tx: &rusqlite::Connection,
    metric_rows: &[i64],
    open: &mut [OpenBlock],
    points: &[(u32, i64, f64, f64)],
) -> rusqlite::Result<()> {
    let mut touched: Vec<u32> = Vec::new();
    let mut writes: Vec<(i64, PointBlock)> = Vec::new();
    for &(metric, step, value, wall) in points {
        let slot = &mut open[metric as usize];
        if !slot.dirty {
            slot.dirty = true;
            touched.push(metric);
        }
        let p = Point { step: u64::try_from(step).unwrap_or(0), value, wall_time: wall };
        extend(&mut slot.block, p, 0, |b| writes.push((metric_rows[metric as usize], b)));
    }
    for metric in touched {
        let slot = &mut open[metric as usize];
        slot.dirty = false;
        if let Some(b) = slot.block.filter(|b| !b.is_full()) {
            writes.push((metric_rows[metric as usize], b));
        }
    }
    write_blocks(tx, &writes)
}

impl Store {
    /// Whether this store keeps block summaries. Only a store of an older schema that could
    /// not be upgraded (opened read-only from write-protected files) does not; readers then
    /// read the points.
    pub fn has_point_blocks(&self) -> bool {
        self.version >= crate::store::POINT_BLOCKS_VERSION
    }

    /// A metric's block summaries in order, the last one possibly not full; `None` when the
    /// store keeps none (see [`Store::has_point_blocks`]). The blocks may end before the
    /// metric's last points only while a nabla from before the blocks writes into this store:
    /// a reader that reads the points after the last full block's last step is always exact.
    pub fn point_blocks(&self, run_id: &str, metric: &str) -> Result<Option<Vec<PointBlock>>> {
        if !self.has_point_blocks() {
            return Ok(None);
        }
        let metric_row = self.metric_row(run_id, metric)?;
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM point_blocks WHERE metric_id = ?1 ORDER BY block"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![metric_row], block_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map(Some).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(step: u64, value: f64) -> Point {
        Point { step, value, wall_time: step as f64 * 0.5 }
    }

    #[test]
    fn a_block_keeps_first_last_extremes_and_finite_sum() {
        let points = [p(3, f64::NAN), p(4, 2.0), p(7, -1.0), p(8, f64::INFINITY), p(9, -1.0), p(10, 5.0)];
        let blocks = PointBlock::of_points(&points, 0);
        assert_eq!(blocks.len(), 1);
        let b = blocks[0];
        assert_eq!((b.index, b.count, b.first.step, b.last.step), (0, 6, 3, 10));
        assert!(b.first.value.is_nan());
        // The first of two equal minima; infinity is the largest value.
        assert_eq!(b.min.map(|m| (m.step, m.value)), Some((7, -1.0)));
        assert_eq!(b.max.map(|m| m.step), Some(8));
        assert_eq!((b.sum, b.finite), (5.0, 4));
        assert_eq!(b.mean(), Some(1.25));
        let nan = PointBlock::of_points(&[p(0, f64::NAN), p(1, f64::NAN)], 0)[0];
        assert_eq!((nan.min, nan.max, nan.mean()), (None, None, None));
    }

    #[test]
    fn a_writer_appending_to_a_metric_with_points_continues_its_blocks() {
        use std::sync::Mutex;
        use std::time::Duration;

        use crate::queue::Queue;
        use crate::writer::{Msg, Writer, WriterConfig};
        use crate::{EndStatus, Run, RunOptions};

        let tmp = tempfile::tempdir().unwrap();
        let mut run = Run::start(tmp.path(), RunOptions::new("p").system_interval(None)).unwrap();
        for s in 0..100u64 {
            run.log(s, &[("clean", s as f64), ("stale", 1.0 / (s as f64 + 1.0))]).unwrap();
        }
        let id = run.id().to_string();
        run.finish(EndStatus::Finished).unwrap();
        let store = Store::open(tmp.path()).unwrap();
        // Points written behind the blocks' back, as a nabla from before them would have.
        let stale = store.metric_row(&id, "stale").unwrap();
        for s in 100..150i64 {
            store.conn.execute("INSERT INTO points VALUES (?1, ?2, ?3, 0.0)", params![stale, s, -(s as f64)]).unwrap();
        }
        // A second writer on the same run (a resumed run) appends over several commits.
        let config = WriterConfig {
            batch_points: 16,
            flush_interval: Duration::from_millis(10),
            heartbeat_interval: Duration::from_secs(5),
        };
        let db = store.db_path().to_path_buf();
        let writer = Writer::new(store.conn, db, id.clone(), config);
        let queue = std::sync::Arc::new(Queue::new(4096, 16));
        let thread = {
            let queue = queue.clone();
            std::thread::spawn(move || writer.run(&queue, &Mutex::new(None)))
        };
        let names = [Msg::Metric { id: 0, name: "clean".into() }, Msg::Metric { id: 1, name: "stale".into() }];
        queue.push(names).unwrap();
        for chunk in (150..400i64).collect::<Vec<_>>().chunks(37) {
            let points = chunk.iter().flat_map(|&s| {
                let v = ((s * 7919) % 1000) as f64;
                [
                    Msg::Point { metric: 0, step: s, value: v, wall: 0.0 },
                    Msg::Point { metric: 1, step: s, value: -v, wall: 0.0 },
                ]
            });
            queue.push(points).unwrap();
            let (reply, answer) = std::sync::mpsc::sync_channel(1);
            queue.push([Msg::Flush(reply)]).unwrap();
            answer.recv().unwrap().unwrap();
        }
        queue.push([Msg::Finish(EndStatus::Finished)]).unwrap();
        thread.join().unwrap();

        let store = Store::open_read_only(tmp.path()).unwrap();
        for name in ["clean", "stale"] {
            let points = store.history(&id, name, ..).unwrap();
            assert_eq!(points.len(), if name == "clean" { 350 } else { 400 });
            let blocks = store.point_blocks(&id, name).unwrap().unwrap();
            assert_eq!(format!("{blocks:?}"), format!("{:?}", PointBlock::of_points(&points, 0)), "{name}");
        }
    }

    #[test]
    fn points_fill_blocks_of_64_in_order() {
        let points: Vec<Point> = (0..200).map(|i| p(i * 2, i as f64)).collect();
        let blocks = PointBlock::of_points(&points, 5);
        assert_eq!(blocks.iter().map(|b| (b.index, b.count)).collect::<Vec<_>>(), [(5, 64), (6, 64), (7, 64), (8, 8)]);
        assert_eq!((blocks[1].first.step, blocks[1].last.step), (128, 254));
        assert!(PointBlock::of_points(&[], 0).is_empty());
    }
}
