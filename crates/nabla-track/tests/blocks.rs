//! The block summaries the writer keeps beside the points (`Store::point_blocks`): they equal
//! the blocks recomputed here from the points, for random logging patterns (NaN, infinities,
//! huge values, gaps in the steps, many metrics and runs at once, commits that cut blocks);
//! a store written with the first schema gets them when it is migrated; imports and deletes
//! keep them in step with the points.

use std::path::Path;

use nabla_track::{
    EndStatus, MetricSummary, Point, PointBlock, Run, RunOptions, Store, BLOCK_POINTS, DB_FILE, SCHEMA_VERSION,
};
use proptest::prelude::*;

/// The blocks of one metric's points, computed from scratch: chunks of 64 in step order, the
/// first smallest and first largest non-NaN point, the sum and count of the finite values.
fn reference(points: &[Point]) -> Vec<PointBlock> {
    points
        .chunks(BLOCK_POINTS as usize)
        .enumerate()
        .map(|(i, chunk)| {
            let mut min: Option<Point> = None;
            let mut max: Option<Point> = None;
            for p in chunk.iter().filter(|p| !p.value.is_nan()) {
                if min.is_none_or(|m| p.value < m.value) {
                    min = Some(*p);
                }
                if max.is_none_or(|m| p.value > m.value) {
                    max = Some(*p);
                }
            }
            let finite: Vec<f64> = chunk.iter().map(|p| p.value).filter(|v| v.is_finite()).collect();
            PointBlock {
                index: i as u64,
                count: chunk.len() as u64,
                first: chunk[0],
                last: chunk[chunk.len() - 1],
                min,
                max,
                sum: finite.iter().sum(),
                finite: finite.len() as u64,
            }
        })
        .collect()
}

fn same_point(a: &Point, b: &Point) -> bool {
    a.step == b.step && a.wall_time == b.wall_time && (a.value == b.value || (a.value.is_nan() && b.value.is_nan()))
}

/// Asserts that every metric of every run in `store` has exactly the blocks of its points, and
/// that `Store::metrics` (read from the blocks) says what the points say.
fn check_store(store: &Store) {
    for run in store.runs(&Default::default()).unwrap() {
        for m in store.metrics(&run.id).unwrap() {
            let points = store.history(&run.id, &m.name, ..).unwrap();
            let blocks = store.point_blocks(&run.id, &m.name).unwrap().expect("a current store keeps blocks");
            let expected = reference(&points);
            assert_eq!(blocks.len(), expected.len(), "{} {}: block count", run.id, m.name);
            for (b, e) in blocks.iter().zip(&expected) {
                let at = format!("{} {} block {}", run.id, m.name, e.index);
                assert_eq!((b.index, b.count, b.finite), (e.index, e.count, e.finite), "{at}");
                assert!(same_point(&b.first, &e.first) && same_point(&b.last, &e.last), "{at}: ends {b:?} {e:?}");
                for (got, want) in [(b.min, e.min), (b.max, e.max)] {
                    match (got, want) {
                        (Some(g), Some(w)) => assert!(same_point(&g, &w), "{at}: extreme {g:?} != {w:?}"),
                        (None, None) => {}
                        _ => panic!("{at}: extremes {b:?} != {e:?}"),
                    }
                }
                assert!(b.sum == e.sum || (b.sum.is_nan() && e.sum.is_nan()), "{at}: sum {} != {}", b.sum, e.sum);
            }
            // Compared as text: `==` on a NaN last value is false.
            assert_eq!(format!("{m:?}"), format!("{:?}", summary_of(&m.name, &points)), "{} {}", run.id, m.name);
        }
    }
}

/// What `Store::metrics` should say of a metric with these points (NaN last values as NaN).
fn summary_of(name: &str, points: &[Point]) -> MetricSummary {
    let real = points.iter().map(|p| p.value).filter(|v| !v.is_nan());
    MetricSummary {
        name: name.to_string(),
        points: points.len() as u64,
        first_step: points.first().map(|p| p.step),
        last_step: points.last().map(|p| p.step),
        last_value: points.last().map(|p| p.value),
        min: real.clone().reduce(f64::min),
        max: real.reduce(f64::max),
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        12 => -10.0..10.0f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
        1 => prop::num::f64::NORMAL,
    ]
}

/// One `log` call: the step advances by `gap`, the metrics whose bit is set in `mask` get the
/// values, and the run may flush after it (a commit in the middle of a block).
#[derive(Clone, Debug)]
struct Call {
    gap: u64,
    mask: u8,
    values: Vec<f64>,
    flush: bool,
}

fn call(metrics: usize) -> impl Strategy<Value = Call> {
    (1u64..4, 1u8..(1 << metrics), prop::collection::vec(value(), metrics), prop::bool::weighted(0.05))
        .prop_map(|(gap, mask, values, flush)| Call { gap, mask, values, flush })
}

/// Up to three runs at once, each with up to five metrics and its own batch size.
fn pattern() -> impl Strategy<Value = Vec<(usize, Vec<Call>)>> {
    prop::collection::vec(
        (1usize..6, 1usize..300).prop_flat_map(|(metrics, batch)| {
            (Just(batch), prop::collection::vec(call(metrics), 0..400)).prop_map(|(b, calls)| (b, calls))
        }),
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn blocks_equal_those_recomputed_from_the_points(runs in pattern()) {
        let tmp = tempfile::tempdir().unwrap();
        let mut live: Vec<(Run, Vec<Call>, u64)> = runs
            .into_iter()
            .map(|(batch, calls)| {
                let mut options = RunOptions::new("p").system_interval(None);
                options.batch_points = batch;
                (Run::start(tmp.path(), options).unwrap(), calls, 0)
            })
            .collect();
        // The runs log in turns, so their writers commit into the store at the same time.
        let longest = live.iter().map(|l| l.1.len()).max().unwrap_or(0);
        for i in 0..longest {
            for (run, calls, step) in &mut live {
                let Some(c) = calls.get(i) else { continue };
                *step += c.gap;
                let names: Vec<String> = (0..c.values.len()).map(|m| format!("m{m}")).collect();
                let points: Vec<(&str, f64)> = names
                    .iter()
                    .zip(&c.values)
                    .enumerate()
                    .filter(|(m, _)| c.mask & (1 << m) != 0)
                    .map(|(_, (n, v))| (n.as_str(), *v))
                    .collect();
                run.log(*step, &points).unwrap();
                if c.flush {
                    run.flush().unwrap();
                }
            }
        }
        for (run, _, _) in live {
            run.finish(EndStatus::Finished).unwrap();
        }
        check_store(&Store::open_read_only(tmp.path()).unwrap());
    }
}

/// The schema nabla wrote before the block summaries (schema version 1), as it was released.
const SCHEMA_1: &str = "CREATE TABLE runs (
        id TEXT PRIMARY KEY NOT NULL, project TEXT NOT NULL, name TEXT, status TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}', summary TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '[]',
        started REAL NOT NULL, ended REAL, heartbeat REAL NOT NULL, heartbeat_secs REAL NOT NULL, host TEXT,
        pid INTEGER, git_commit TEXT, command TEXT, nabla_version TEXT, threads INTEGER, data_checksum TEXT,
        system TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_project ON runs (project, started);
    CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (run_id, name));
    CREATE TABLE points (
        metric_id INTEGER NOT NULL, step INTEGER NOT NULL, value REAL, wall_time REAL NOT NULL,
        PRIMARY KEY (metric_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, sha256 TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
        source TEXT, bytes INTEGER NOT NULL, created REAL NOT NULL
    );
    CREATE INDEX artifacts_by_run ON artifacts (run_id);
    CREATE INDEX artifacts_by_sha ON artifacts (sha256);
    PRAGMA user_version = 1;";

/// Writes a schema-1 store in `dir` with two runs: `old-a` with metrics of 1,000 points (a
/// NaN stretch and infinities in it), exactly 64 points and none; `old-b` with 130 points.
fn old_store(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch(SCHEMA_1).unwrap();
    for id in ["old-a", "old-b"] {
        conn.execute(
            "INSERT INTO runs (id, project, status, started, ended, heartbeat, heartbeat_secs)
             VALUES (?1, 'old', 'finished', 1.0, 2.0, 2.0, 5.0)",
            [id],
        )
        .unwrap();
    }
    let metrics = [("old-a", "long", 1000u64), ("old-a", "exact", 64), ("old-a", "empty", 0), ("old-b", "loss", 130)];
    for (run, name, n) in metrics {
        conn.execute("INSERT INTO metrics (run_id, name) VALUES (?1, ?2)", [run, name]).unwrap();
        let metric = conn.last_insert_rowid();
        for i in 0..n {
            let value = match i {
                100..=170 => f64::NAN,
                500 => f64::INFINITY,
                501 => f64::NEG_INFINITY,
                _ => ((i * 37 % 101) as f64 - 50.0) / 7.0,
            };
            conn.execute(
                "INSERT INTO points (metric_id, step, value, wall_time) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![metric, (i * 3) as i64, value, 1.0 + i as f64],
            )
            .unwrap();
        }
    }
}

#[test]
fn a_schema_1_store_is_migrated_and_its_blocks_filled_in() {
    let tmp = tempfile::tempdir().unwrap();
    old_store(tmp.path());
    // Opened as it is, it reads the same and says it has no blocks.
    let as_is = Store::open_read_only_as_is(tmp.path()).unwrap();
    assert!(!as_is.has_point_blocks());
    assert_eq!(as_is.point_blocks("old-a", "long").unwrap(), None);
    let before: Vec<_> = ["old-a", "old-b"].iter().map(|id| as_is.metrics(id).unwrap()).collect();
    assert_eq!(before[0].iter().map(|m| m.points).collect::<Vec<_>>(), [0, 64, 1000]);
    drop(as_is);
    let version = |dir: &Path| -> i64 {
        let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    };
    assert_eq!(version(tmp.path()), 1, "opening as it is wrote to the store");

    // A read-only open of a writable store upgrades it and fills the blocks from the points.
    let store = Store::open_read_only(tmp.path()).unwrap();
    assert_eq!(version(tmp.path()), SCHEMA_VERSION);
    assert!(store.has_point_blocks());
    check_store(&store);
    let long = store.point_blocks("old-a", "long").unwrap().unwrap();
    assert_eq!(long.len(), 16);
    assert_eq!((long[15].count, long[15].last.step), (1000 - 15 * 64, 999 * 3));
    let after: Vec<_> = ["old-a", "old-b"].iter().map(|id| store.metrics(id).unwrap()).collect();
    assert_eq!(format!("{before:?}"), format!("{after:?}"), "metrics read differently from the blocks");
    assert_eq!(store.point_blocks("old-a", "empty").unwrap(), Some(Vec::new()));
    drop(store);

    // New runs in the migrated store get blocks as they log.
    let mut run = Run::start(tmp.path(), RunOptions::new("new").system_interval(None)).unwrap();
    for step in 0..200u64 {
        run.log(step, &[("x", step as f64)]).unwrap();
    }
    run.finish(EndStatus::Finished).unwrap();
    check_store(&Store::open_read_only(tmp.path()).unwrap());
}

#[test]
fn imported_runs_get_blocks_and_deleted_runs_lose_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, to, out) = (tmp.path().join("from"), tmp.path().join("to"), tmp.path().join("out"));
    let mut run = Run::start(&from, RunOptions::new("p").system_interval(None)).unwrap();
    for step in 0..300u64 {
        let v = if step % 50 == 7 { f64::NAN } else { (step as f64 * 0.1).sin() };
        run.log(step * 2, &[("a", v), ("b", -v)]).unwrap();
    }
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();
    Store::open_read_only(&from).unwrap().export_run(&id, &out).unwrap();
    let mut target = Store::open(&to).unwrap();
    target.import_runs(&out).unwrap();
    check_store(&target);
    assert_eq!(target.point_blocks(&id, "a").unwrap().unwrap().len(), 5);

    target.delete_run(&id).unwrap();
    let conn = rusqlite::Connection::open(to.join(DB_FILE)).unwrap();
    let left: i64 = conn.query_row("SELECT count(*) FROM point_blocks", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0, "blocks of a deleted run are left behind");
}

// As root (CI), the checks run as `nobody`, whom the permissions do stop (issue 21).
#[cfg(unix)]
#[test]
fn a_write_protected_schema_1_store_is_read_without_blocks() {
    use std::os::unix::fs::PermissionsExt;
    let checks = |dir: &Path| {
        let db = dir.join(DB_FILE);
        assert!(std::fs::OpenOptions::new().write(true).open(&db).is_err(), "the database is writable");
        let store = Store::open_read_only(dir).unwrap();
        assert!(!store.has_point_blocks());
        assert_eq!(store.metrics("old-b").unwrap()[0].points, 130);
        assert_eq!(store.history("old-a", "long", ..).unwrap().len(), 1000);
    };
    if let Some(dir) = nabla_testkit::unprivileged::child_dir() {
        return checks(&dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    old_store(tmp.path());
    let db = tmp.path().join(DB_FILE);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    nabla_testkit::unprivileged::run("a_write_protected_schema_1_store_is_read_without_blocks", tmp.path(), checks);
}
