//! Per-metric summaries kept in memory, so that a long metric is answered from its summary: its
//! points in blocks of [`BLOCK`] consecutive points, each block remembering its first, last,
//! smallest and largest point. The tracker's writer keeps the same blocks in the store
//! ([`Store::point_blocks`]), so a metric seen for the first time loads its ~16,000 block rows
//! per million points and reads only the points after the last full block; a store without
//! blocks (an old schema opened read-only) is read point by point once instead. A downsampled
//! history of a 1,000,000-point metric then works on about 16,000 blocks instead of 1,000,000
//! rows, and a live run's summary grows by reading only the points after the last one seen
//! (steps only grow).
//!
//! A history is exact where it matters: the blocks wholly inside the asked-for step range give
//! their minima and maxima, the points at the range's two ends (partial blocks, and the newest
//! points not yet in a full block) are read from the store, and a range with too few blocks for
//! the number of points asked for is read point by point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nabla_track::{MetricSummary, Point, Store};

use crate::downsample;

/// Points per block: the store's block size, so that its blocks are taken as they are.
pub const BLOCK: usize = nabla_track::BLOCK_POINTS as usize;

/// Points read from the store per query while catching up.
const CHUNK: usize = 1 << 16;

/// The most points summarised in memory across all metrics (about 1.7 MB per million);
/// the least recently used metrics are dropped beyond it.
const MAX_POINTS: u64 = 50_000_000;

/// The summary of [`BLOCK`] consecutive points.
#[derive(Clone, Copy, Debug)]
struct Block {
    first: Point,
    last: Point,
    /// The smallest and largest non-NaN points (`None` when all are NaN).
    min: Option<Point>,
    max: Option<Point>,
}

impl Block {
    fn of(points: &[Point]) -> Block {
        let mut min: Option<Point> = None;
        let mut max: Option<Point> = None;
        for p in points.iter().filter(|p| !p.value.is_nan()) {
            if min.is_none_or(|m| p.value < m.value) {
                min = Some(*p);
            }
            if max.is_none_or(|m| p.value > m.value) {
                max = Some(*p);
            }
        }
        Block { first: points[0], last: points[points.len() - 1], min, max }
    }
}

/// One metric, summarised.
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// Full blocks, in step order.
    blocks: Vec<Block>,
    /// The points after the last full block (fewer than [`BLOCK`]).
    tail: Vec<Point>,
    /// When it was last used, on the cache's clock.
    used: u64,
    /// The store's blocks have been looked for.
    loaded: bool,
}

impl Series {
    /// How many points it covers.
    pub(crate) fn len(&self) -> u64 {
        (self.blocks.len() * BLOCK + self.tail.len()) as u64
    }

    fn last(&self) -> Option<Point> {
        self.tail.last().copied().or_else(|| self.blocks.last().map(|b| b.last))
    }

    fn first(&self) -> Option<Point> {
        self.blocks.first().map(|b| b.first).or_else(|| self.tail.first().copied())
    }

    fn push(&mut self, point: Point) {
        self.tail.push(point);
        if self.tail.len() == BLOCK {
            self.blocks.push(Block::of(&self.tail));
            self.tail.clear();
        }
    }

    /// Reads the points logged since the last one it has; the first time, the store's full
    /// blocks stand in for the points they summarise.
    fn catch_up(&mut self, store: &Store, run: &str, metric: &str) -> nabla_track::Result<()> {
        if !self.loaded {
            self.loaded = true;
            if let Some(stored) = store.point_blocks(run, metric)? {
                let full = stored.iter().take_while(|b| b.count == BLOCK as u64);
                self.blocks = full.map(|b| Block { first: b.first, last: b.last, min: b.min, max: b.max }).collect();
            }
        }
        loop {
            let after = self.last().map(|p| p.step);
            let new = store.history_after(run, metric, after, CHUNK)?;
            for p in &new {
                self.push(*p);
            }
            if new.len() < CHUNK {
                return Ok(());
            }
        }
    }

    /// What `Store::metrics` says of this metric, from the summary.
    pub(crate) fn summary(&self, name: &str) -> MetricSummary {
        let blocks = self.blocks.iter().flat_map(|b| [b.min, b.max]).flatten();
        let values = blocks.chain(self.tail.iter().copied().filter(|p| !p.value.is_nan())).map(|p| p.value);
        let (min, max) = values.fold((None, None), |(lo, hi): (Option<f64>, Option<f64>), v| {
            (Some(lo.map_or(v, |l| l.min(v))), Some(hi.map_or(v, |h| h.max(v))))
        });
        MetricSummary {
            name: name.to_string(),
            points: self.len(),
            first_step: self.first().map(|p| p.step),
            last_step: self.last().map(|p| p.step),
            last_value: self.last().map(|p| p.value),
            min,
            max,
        }
    }

    /// The points with steps in `from..=to` reduced to about `target` (see
    /// [`downsample::min_max`]), and how many points the range holds.
    pub(crate) fn history(
        &self,
        store: &Store,
        run: &str,
        metric: &str,
        from: u64,
        to: u64,
        target: usize,
    ) -> nabla_track::Result<(usize, Vec<Point>)> {
        // The full blocks wholly inside the range: blocks[i0..i1].
        let i0 = self.blocks.partition_point(|b| b.first.step < from);
        let i1 = self.blocks.partition_point(|b| b.last.step <= to).max(i0);
        // Too few blocks to fill the buckets (or none): the range is small, read it whole.
        if i1 - i0 < target / 2 + 1 {
            let points = store.history(run, metric, from..=to)?;
            return Ok((points.len(), downsample::min_max(&points, target)));
        }
        let inside = &self.blocks[i0..i1];
        let head = match inside[0].first.step.checked_sub(1) {
            Some(before) if before >= from => store.history(run, metric, from..=before)?,
            _ => Vec::new(),
        };
        let after = inside[inside.len() - 1].last.step;
        let tail = if after < to { store.history(run, metric, after + 1..=to)? } else { Vec::new() };
        let total = head.len() + inside.len() * BLOCK + tail.len();
        // Each block stands in by its extremes, in step order; the range's own first and last
        // points frame them so the line spans the range.
        let mut reduced = Vec::with_capacity(inside.len() * 2 + head.len() + tail.len() + 2);
        reduced.push(head.first().copied().unwrap_or(inside[0].first));
        reduced.extend_from_slice(&head);
        for b in inside {
            match (b.min, b.max) {
                (Some(lo), Some(hi)) if lo.step <= hi.step => reduced.extend([lo, hi]),
                (Some(lo), Some(hi)) => reduced.extend([hi, lo]),
                // All NaN: one NaN point keeps the gap visible.
                _ => reduced.push(b.first),
            }
        }
        reduced.extend_from_slice(&tail);
        reduced.push(tail.last().copied().unwrap_or(inside[inside.len() - 1].last));
        reduced.dedup_by_key(|p| p.step);
        Ok((total, downsample::min_max(&reduced, target)))
    }
}

/// A metric: (run id, metric name).
type Key = (String, String);

/// The summaries of the metrics looked at.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    series: Mutex<HashMap<Key, Arc<Mutex<Series>>>>,
    clock: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cache {
    /// The metric's summary, brought up to date with the store; `f` reads it.
    pub(crate) fn with_series<T>(
        &self,
        store: &Store,
        run: &str,
        metric: &str,
        f: impl FnOnce(&Series) -> nabla_track::Result<T>,
    ) -> nabla_track::Result<T> {
        let now = {
            let mut clock = lock(&self.clock);
            *clock += 1;
            *clock
        };
        let entry = lock(&self.series).entry((run.to_string(), metric.to_string())).or_default().clone();
        let grew = {
            let mut series = lock(&entry);
            let before = series.len();
            series.used = now;
            if let Err(e) = series.catch_up(store, run, metric) {
                drop(series);
                lock(&self.series).remove(&(run.to_string(), metric.to_string()));
                return Err(e);
            }
            series.len() > before
        };
        if grew {
            self.evict();
        }
        let series = lock(&entry);
        f(&series)
    }

    /// Drops the least recently used summaries while they hold more than [`MAX_POINTS`].
    fn evict(&self) {
        let mut map = lock(&self.series);
        let mut sizes: Vec<(Key, u64, u64)> =
            map.iter().filter_map(|(k, v)| v.try_lock().ok().map(|s| (k.clone(), s.len(), s.used))).collect();
        let mut total: u64 = sizes.iter().map(|s| s.1).sum();
        if total <= MAX_POINTS {
            return;
        }
        sizes.sort_by_key(|s| s.2);
        for (key, len, _) in sizes {
            if total <= MAX_POINTS {
                break;
            }
            map.remove(&key);
            total -= len;
        }
    }

    /// Summarises the metrics of the most recent runs, newest first, so that their pages open
    /// fast: at most `runs` runs, and never more than half of [`MAX_POINTS`].
    pub(crate) fn prewarm(&self, store: &Store, runs: usize) -> nabla_track::Result<()> {
        let recent = store.runs(&nabla_track::RunQuery { limit: Some(runs), ..Default::default() })?;
        let mut points = 0;
        for run in recent {
            for name in store.metric_names(&run.id)? {
                points += self.with_series(store, &run.id, &name, |s| Ok(s.len()))?;
                if points > MAX_POINTS / 2 {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_track::{EndStatus, Run, RunOptions};

    /// A store with one run whose `m` has `values`, one point per step from 0.
    fn store_with(values: &[f64]) -> (tempfile::TempDir, Store, String) {
        let tmp = tempfile::tempdir().unwrap();
        let mut run = Run::start(tmp.path(), RunOptions::new("p").system_interval(None)).unwrap();
        for (i, v) in values.iter().enumerate() {
            run.log(i as u64, &[("m", *v)]).unwrap();
        }
        let id = run.id().to_string();
        run.finish(EndStatus::Finished).unwrap();
        let store = Store::open_read_only(tmp.path()).unwrap();
        (tmp, store, id)
    }

    #[test]
    fn summaries_match_the_store_and_histories_keep_every_extreme() {
        let n = 50_000usize;
        let mut values: Vec<f64> = (0..n).map(|i| (i as f64 * 0.013).sin()).collect();
        values[12_345] = -7.0;
        values[40_001] = 8.0;
        for v in &mut values[20_000..20_200] {
            *v = f64::NAN;
        }
        values[n - 1] = 0.25;
        let (_tmp, store, run) = store_with(&values);
        let cache = Cache::default();
        let summary = cache.with_series(&store, &run, "m", |s| Ok(s.summary("m"))).unwrap();
        let mut expected = store.metrics(&run).unwrap().remove(0);
        assert_eq!(summary.points, expected.points);
        assert_eq!((summary.first_step, summary.last_step), (expected.first_step, expected.last_step));
        assert_eq!((summary.min, summary.max, summary.last_value), (expected.min, expected.max, expected.last_value));
        expected.name.clear();

        for (from, to) in [(0, u64::MAX), (100, 49_000), (12_000, 41_000), (19_990, 20_300)] {
            let (total, points) =
                cache.with_series(&store, &run, "m", |s| s.history(&store, &run, "m", from, to, 200)).unwrap();
            let raw = store.history(&run, "m", from..=to).unwrap();
            assert_eq!(total, raw.len(), "{from}..{to}");
            assert!(points.len() <= 202, "{} points for {from}..{to}", points.len());
            assert_eq!(points.first().map(|p| p.step), raw.first().map(|p| p.step), "first of {from}..{to}");
            assert_eq!(points.last().map(|p| p.step), raw.last().map(|p| p.step), "last of {from}..{to}");
            assert!(points.windows(2).all(|w| w[0].step < w[1].step), "not in step order");
            // Every point answered is a real point, and the range's extremes are among them.
            for p in &points {
                let real = &values[p.step as usize];
                assert!(p.value == *real || (p.value.is_nan() && real.is_nan()), "step {} made up", p.step);
            }
            let finite = raw.iter().filter(|p| !p.value.is_nan());
            let lo = finite.clone().min_by(|a, b| a.value.total_cmp(&b.value)).unwrap();
            let hi = finite.max_by(|a, b| a.value.total_cmp(&b.value)).unwrap();
            assert!(points.iter().any(|p| p.value == lo.value), "min of {from}..{to} lost");
            assert!(points.iter().any(|p| p.value == hi.value), "max of {from}..{to} lost");
        }
    }

    #[test]
    fn a_live_metric_is_extended_not_reread() {
        let tmp = tempfile::tempdir().unwrap();
        let mut run = Run::start(tmp.path(), RunOptions::new("p").system_interval(None)).unwrap();
        for i in 0..1000u64 {
            run.log(i, &[("m", i as f64)]).unwrap();
        }
        run.flush().unwrap();
        let id = run.id().to_string();
        let store = Store::open_read_only(tmp.path()).unwrap();
        let cache = Cache::default();
        assert_eq!(cache.with_series(&store, &id, "m", |s| Ok(s.len())).unwrap(), 1000);
        for i in 1000..1100u64 {
            run.log(i, &[("m", -(i as f64))]).unwrap();
        }
        run.flush().unwrap();
        let summary = cache.with_series(&store, &id, "m", |s| Ok(s.summary("m"))).unwrap();
        assert_eq!((summary.points, summary.last_step, summary.min), (1100, Some(1099), Some(-1099.0)));
        run.finish(EndStatus::Finished).unwrap();
    }

    /// Copies the store in `from` to `to` as a schema-1 store: no block table.
    fn without_blocks(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        let conn = rusqlite::Connection::open(from.join(nabla_track::DB_FILE)).unwrap();
        conn.execute("VACUUM INTO ?1", [to.join(nabla_track::DB_FILE).to_str().unwrap()]).unwrap();
        let old = rusqlite::Connection::open(to.join(nabla_track::DB_FILE)).unwrap();
        old.execute_batch("DROP TABLE point_blocks; PRAGMA user_version = 1;").unwrap();
    }

    #[test]
    fn a_cold_cache_answers_from_the_stored_blocks_as_it_would_from_the_points() {
        // Deterministic noise with a spike and a dip at places that vary with the seed.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 40_000 + 17;
        let mut values: Vec<f64> = (0..n).map(|_| next() * 2.0 - 1.0).collect();
        for v in &mut values[30_000..30_100] {
            *v = f64::NAN;
        }
        let (hi_at, lo_at) = ((next() * n as f64) as usize, (next() * n as f64) as usize);
        values[hi_at] = 50.0;
        values[lo_at] = -50.0;
        let (tmp, store, run) = store_with(&values);
        let old_dir = tmp.path().join("old");
        without_blocks(tmp.path(), &old_dir);
        let old = Store::open_read_only_as_is(&old_dir).unwrap();
        assert!(store.has_point_blocks() && !old.has_point_blocks());
        for (from, to, target) in
            [(0, u64::MAX, 2000), (0, u64::MAX, 300), (5_000, 39_000, 1000), (29_990, 30_500, 200)]
        {
            // A fresh cache each time: the first request of a freshly started server.
            let answer = |store: &Store| {
                Cache::default()
                    .with_series(store, &run, "m", |s| s.history(store, &run, "m", from, to, target))
                    .unwrap()
            };
            let (total, points) = answer(&store);
            let (old_total, old_points) = answer(&old);
            assert_eq!(total, old_total, "{from}..{to}");
            assert_eq!(format!("{points:?}"), format!("{old_points:?}"), "{from}..{to}: blocks and points disagree");
            let inside = |i: usize| (from..=to).contains(&(i as u64));
            for at in [hi_at, lo_at].into_iter().filter(|&i| inside(i)) {
                assert!(points.iter().any(|p| p.step == at as u64 && p.value == values[at]), "extreme at {at} lost");
            }
        }
        let summary = |store: &Store| Cache::default().with_series(store, &run, "m", |s| Ok(s.summary("m"))).unwrap();
        assert_eq!(format!("{:?}", summary(&store)), format!("{:?}", summary(&old)));
        assert_eq!((summary(&store).max, summary(&store).min), (Some(50.0), Some(-50.0)));
    }

    #[test]
    fn a_cold_cache_takes_the_stored_blocks_without_reading_their_points() {
        let values: Vec<f64> = (0..1000).map(|i| f64::from(i % 10)).collect();
        let (tmp, _store, run) = store_with(&values);
        // Change one stored block's maximum: a summary read from the blocks shows it, one
        // computed from the points would not.
        let conn = rusqlite::Connection::open(tmp.path().join(nabla_track::DB_FILE)).unwrap();
        conn.execute("UPDATE point_blocks SET max_value = 1234.5 WHERE block = 3", []).unwrap();
        let store = Store::open_read_only(tmp.path()).unwrap();
        let summary = Cache::default().with_series(&store, &run, "m", |s| Ok(s.summary("m"))).unwrap();
        assert_eq!((summary.points, summary.max), (1000, Some(1234.5)));
    }

    #[test]
    fn an_unknown_metric_is_an_error_and_not_kept() {
        let (_tmp, store, run) = store_with(&[1.0, 2.0]);
        let cache = Cache::default();
        assert!(cache.with_series(&store, &run, "nope", |s| Ok(s.len())).is_err());
        assert!(lock(&cache.series).is_empty());
    }
}
