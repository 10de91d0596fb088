//! The run store: where it lives, opening it, and its versioned schema.
//!
//! A store is a directory holding one SQLite database ([`DB_FILE`]) in WAL mode and an
//! `artifacts/` folder of content-addressed files. Writers use `BEGIN IMMEDIATE` transactions
//! with a busy timeout and a retry loop, so several processes can record runs into one store at
//! once; readers use read-only connections and never block the writers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{Result, TrackError};

/// The environment variable naming nabla's home directory; runs are recorded in its
/// `tracking/` subdirectory.
pub const HOME_ENV: &str = "NABLA_HOME";

/// The database file inside a tracking directory.
pub const DB_FILE: &str = "tracking.db";

/// The schema version this build writes (stored as SQLite's `PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long one SQLite call waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write keeps retrying `BEGIN IMMEDIATE` on a busy store in all.
const RETRY_FOR: Duration = Duration::from_secs(120);

/// `MIGRATIONS[v]` takes a store from schema version `v` to `v + 1`. Append only: a released
/// migration is never edited.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema.
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY NOT NULL,
        project TEXT NOT NULL,
        name TEXT,
        status TEXT NOT NULL,           -- running | finished | failed | interrupted
        config TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '[]',
        started REAL NOT NULL,          -- unix seconds
        ended REAL,
        heartbeat REAL NOT NULL,
        heartbeat_secs REAL NOT NULL,   -- the writer's heartbeat interval
        host TEXT,
        pid INTEGER,
        git_commit TEXT,
        command TEXT,
        nabla_version TEXT,
        threads INTEGER,
        data_checksum TEXT,
        system TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_project ON runs (project, started);
    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        UNIQUE (run_id, name)
    );
    CREATE TABLE points (
        metric_id INTEGER NOT NULL,
        step INTEGER NOT NULL,
        value REAL,                     -- NULL is NaN (SQLite cannot store NaN)
        wall_time REAL NOT NULL,
        PRIMARY KEY (metric_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        source TEXT,
        bytes INTEGER NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX artifacts_by_run ON artifacts (run_id);
    CREATE INDEX artifacts_by_sha ON artifacts (sha256);",
    // 1 -> 2: block summaries of the points (crate::blocks), filled from the points already
    // there by `blocks::backfill` in the same transaction.
    crate::blocks::CREATE_TABLE,
    // 2 -> 3: users, their tokens, project owners and sharing, and each run's owner, for
    // `nabla server` (crate::users). Local runs keep `owner` NULL.
    crate::users::CREATE_TABLES,
];

/// The first schema version with the `point_blocks` table.
pub(crate) const POINT_BLOCKS_VERSION: i64 = 2;

/// The tracking directory: `explicit` (a `--tracking-dir` flag), else `$NABLA_HOME/tracking`,
/// else `<user data dir>/nabla/tracking` (`~/.local/share/nabla/tracking` on Linux,
/// `~/Library/Application Support/nabla/tracking` on macOS, `%APPDATA%\nabla\tracking` on
/// Windows).
pub fn tracking_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    tracking_dir_from(explicit, std::env::var_os(HOME_ENV), directories::BaseDirs::new().map(|d| d.data_dir().into()))
}

/// [`tracking_dir`] with the environment and the user data directory passed in (for tests).
pub fn tracking_dir_from(
    explicit: Option<&Path>,
    home_env: Option<std::ffi::OsString>,
    user_data_dir: Option<PathBuf>,
) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    if let Some(home) = home_env.filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home).join("tracking"));
    }
    user_data_dir.map(|d| d.join("nabla").join("tracking")).ok_or(TrackError::NoTrackingDir)
}

/// A tracking directory that exists must be a directory: a file there is an error, not a
/// store with no runs.
fn not_a_file(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(TrackError::NotADirectory { path: dir.to_path_buf() }),
        _ => Ok(()),
    }
}

/// Seconds since the Unix epoch, as stored in every time column (0 on a clock set before
/// 1970): the one clock of the store, and of whoever compares with its times.
pub fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// An open run store: a tracking directory and a connection to its database.
///
/// [`Store::open`] creates and upgrades the store and can write (delete runs, import, gc);
/// [`Store::open_read_only`] is for readers such as `nabla runs list` and the dashboard.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    db: PathBuf,
    pub(crate) conn: Connection,
    /// The schema version of the open database: [`SCHEMA_VERSION`], or older for a store
    /// that was opened read-only and could not be upgraded.
    pub(crate) version: i64,
}

impl AsRef<Path> for Store {
    /// The tracking directory, so that `Run::init(&store, …)` works.
    fn as_ref(&self) -> &Path {
        &self.dir
    }
}

impl Store {
    /// Opens the store in `dir` for reading and writing, creating the directory and the database
    /// on first use and migrating an older schema. A store from a newer nabla, a corrupt file
    /// or a write-protected one is an error and is left as it was.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        not_a_file(&dir)?;
        std::fs::create_dir_all(&dir).map_err(|e| TrackError::io("creating the tracking directory", &dir, e))?;
        let db = dir.join(DB_FILE);
        let mut conn = open_connection(&db, false)?;
        let found = user_version(&conn, &db)?;
        check_not_newer(&db, found)?;
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(|e| TrackError::sqlite(&db, e))? {
            return Err(TrackError::ReadOnly { path: db, detail: "the file is write-protected".into() });
        }
        if found == 0 {
            // Only takes effect on a new, empty database: bigger pages make the points tree
            // shallower and batch inserts cheaper.
            conn.pragma_update(None, "page_size", 16384).map_err(|e| TrackError::sqlite(&db, e))?;
        }
        retry_busy(&db, || {
            let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
            Ok(mode)
        })?;
        if found < SCHEMA_VERSION {
            migrate(&mut conn, &db)?;
        }
        Ok(Store { dir, db, conn, version: SCHEMA_VERSION })
    }

    /// Opens an existing store for reading only. A store that does not exist yet is
    /// [`TrackError::NoStore`]; an older schema is upgraded first. A store of schema 1 whose
    /// files cannot be written is opened as it is: everything reads the same, only without
    /// the block summaries ([`Store::has_point_blocks`]), so long histories read every point.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_read_only_upgrading(dir.as_ref(), true)
    }

    /// Opens an existing store for reading and never writes to it, not even to upgrade an older
    /// schema: a store of schema 1 is read as it is, without block summaries. For looking at a
    /// store that must stay exactly as it was found (a backup, another version's store).
    pub fn open_read_only_as_is(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_read_only_upgrading(dir.as_ref(), false)
    }

    /// [`Store::open_read_only`], with the upgrade of an older schema left out when `upgrade`
    /// is false.
    fn open_read_only_upgrading(dir: &Path, upgrade: bool) -> Result<Store> {
        let dir = dir.to_path_buf();
        not_a_file(&dir)?;
        let db = dir.join(DB_FILE);
        if !db.is_file() {
            return Err(TrackError::NoStore { dir, file: DB_FILE });
        }
        let conn = open_connection(&db, true)?;
        let found = user_version(&conn, &db)?;
        check_not_newer(&db, found)?;
        if found < SCHEMA_VERSION {
            if upgrade {
                match Store::open(&dir) {
                    Ok(upgraded) => {
                        drop(upgraded);
                        return Store::open_read_only_upgrading(&dir, false);
                    }
                    // Schema 1 has every table but the block summaries: read it as it is.
                    Err(TrackError::ReadOnly { .. } | TrackError::Io { .. }) if found >= 1 => {}
                    Err(e) => return Err(e),
                }
            }
            if found < 1 {
                // An empty database file: nothing was ever recorded in it.
                return Err(TrackError::NoStore { dir, file: DB_FILE });
            }
            return Ok(Store { dir, db, conn, version: found });
        }
        Ok(Store { dir, db, conn, version: SCHEMA_VERSION })
    }

    /// The tracking directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// The folder of content-addressed artifact files.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.dir.join(crate::artifacts::ARTIFACTS_DIR)
    }

    /// Where the artifact with this sha256 (lowercase hex) is kept.
    pub fn artifact_path(&self, sha256: &str) -> PathBuf {
        crate::artifacts::blob_path(&self.dir, sha256)
    }

    /// Maps an SQLite error on this store to a [`TrackError`].
    pub(crate) fn err(&self, e: rusqlite::Error) -> TrackError {
        TrackError::sqlite(&self.db, e)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, retrying the `BEGIN` while another process
    /// holds the write lock.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Result<T> {
        write_tx(&mut self.conn, &self.db, f)
    }

    /// Runs `f`, which writes several times, in one transaction: each write inside it is a
    /// savepoint (undone alone when it fails or is refused) and they are committed together
    /// at the end — one commit for many small writes, as `nabla server`'s writer groups its
    /// clients' requests. Answers `f`'s answer and whether the commit succeeded (if not,
    /// nothing of the group is stored); an error when the transaction could not begin (then
    /// `f` did not run).
    pub fn group<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> Result<(T, Result<()>)> {
        retry_busy(&self.db, || self.conn.execute_batch("BEGIN IMMEDIATE"))?;
        let value = f(self);
        let committed = self.conn.execute_batch("COMMIT").map_err(|e| {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.err(e)
        });
        Ok((value, committed))
    }

    /// [`Store::write`] for a change that can be refused halfway: `f` answers `Ok(Err(e))` to
    /// refuse, and then everything it wrote is rolled back and `e` returned.
    pub(crate) fn write_checked<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<Result<T>>,
    ) -> Result<T> {
        let mut refused = None;
        // An `Err` from the closure rolls the transaction back; the refusal is carried out beside it.
        let outcome = write_tx(&mut self.conn, &self.db, |tx| match f(tx)? {
            Ok(value) => Ok(value),
            Err(e) => {
                refused = Some(e);
                Err(rusqlite::Error::QueryReturnedNoRows)
            }
        });
        match refused {
            Some(e) => Err(e),
            None => outcome,
        }
    }
}

/// Opens a connection with the settings every connection to a store uses.
pub(crate) fn open_connection(db: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(db, flags).map_err(|e| TrackError::sqlite(db, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| TrackError::sqlite(db, e))?;
    if !read_only {
        // WAL with synchronous=NORMAL: a commit survives the process being killed (not a
        // power cut), and costs no fsync.
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| TrackError::sqlite(db, e))?;
    }
    Ok(conn)
}

fn user_version(conn: &Connection, db: &Path) -> Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(|e| TrackError::sqlite(db, e))
}

fn check_not_newer(db: &Path, found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(TrackError::NewerSchema { path: db.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    Ok(())
}

/// Applies the missing migrations in one transaction. The version is read again inside the
/// transaction: another process may have migrated the store meanwhile.
fn migrate(conn: &mut Connection, db: &Path) -> Result<()> {
    let found = write_tx(conn, db, |tx| {
        let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if found >= SCHEMA_VERSION {
            return Ok(found);
        }
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            tx.execute_batch(sql)?;
            if from as i64 + 1 == POINT_BLOCKS_VERSION {
                crate::blocks::backfill(tx)?;
            }
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(found)
    })?;
    check_not_newer(db, found)
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction on `conn` and commits it. `BEGIN IMMEDIATE`
/// takes the write lock up front, so the busy timeout applies there and a transaction never
/// has to upgrade a read lock (which in WAL mode fails at once with `SQLITE_BUSY`); a `BEGIN`
/// that still reports busy is retried with backoff.
pub(crate) fn write_tx<T>(
    conn: &mut Connection,
    db: &Path,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T> {
    if !conn.is_autocommit() {
        // Inside a group of writes (`Store::group`): a savepoint, so that this write is undone
        // alone when it fails or is refused, and the group's transaction commits the rest.
        let savepoint = conn.savepoint().map_err(|e| TrackError::sqlite(db, e))?;
        let value = f(&savepoint).map_err(|e| TrackError::sqlite(db, e))?;
        savepoint.commit().map_err(|e| TrackError::sqlite(db, e))?;
        return Ok(value);
    }
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    let tx = loop {
        match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => break tx,
            Err(e) => {
                let err = TrackError::sqlite(db, e);
                if !err.is_busy() || start.elapsed() > RETRY_FOR {
                    return Err(err);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(250));
            }
        }
    };
    let value = f(&tx).map_err(|e| TrackError::sqlite(db, e))?;
    tx.commit().map_err(|e| TrackError::sqlite(db, e))?;
    Ok(value)
}

/// Retries `f` while SQLite reports the database busy or locked (for statements outside a
/// transaction, such as switching the journal mode).
pub(crate) fn retry_busy<T>(db: &Path, mut f: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) => {
                let err = TrackError::sqlite(db, e);
                if !err.is_busy() || start.elapsed() > RETRY_FOR {
                    return Err(err);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(250));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_commits_its_writes_together_and_a_refused_one_alone_is_undone() {
        use crate::{IngestPoint, Principal, RunInit};
        let points = |metric: &str, steps: std::ops::Range<u64>| -> Vec<IngestPoint> {
            steps.map(|s| IngestPoint { metric: metric.into(), step: s, value: Some(1.0), wall_time: 1.0 }).collect()
        };
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        store.add_user("ada", false).unwrap();
        let ada = Principal { name: "ada".into(), admin: false };
        let init: RunInit = serde_json::from_value(serde_json::json!({"id": "0000000000aa", "project": "p"})).unwrap();
        let outcomes = store
            .group(|s| {
                let created = s.create_run_for(&ada, &init).is_ok();
                let first = s.ingest_points(&ada, "0000000000aa", "b1", &points("loss", 0..10)).is_ok();
                // Refused halfway: its `acc` points were written before the `loss` step failed.
                let mut bad = points("acc", 0..5);
                bad.extend(points("loss", 5..12));
                let refused = s.ingest_points(&ada, "0000000000aa", "b2", &bad).is_err();
                let last = s.ingest_points(&ada, "0000000000aa", "b3", &points("loss", 10..12)).is_ok();
                // Inside the group the writes are visible already.
                let seen = s.history("0000000000aa", "loss", ..).unwrap().len();
                (created, first, refused, last, seen)
            })
            .unwrap();
        outcomes.1.unwrap();
        let outcomes = outcomes.0;
        assert_eq!(outcomes, (true, true, true, true, 12));
        let read = Store::open_read_only(tmp.path()).unwrap();
        assert_eq!(read.history("0000000000aa", "loss", ..).unwrap().len(), 12);
        assert!(read.history("0000000000aa", "acc", ..).map_or(true, |h| h.is_empty()), "the refused batch is undone");
        // Its id was not kept: sent again, corrected, it is stored.
        store.ingest_points(&ada, "0000000000aa", "b2", &points("acc", 0..5)).unwrap();
        assert_eq!(store.history("0000000000aa", "acc", ..).unwrap().len(), 5);
    }

    #[test]
    fn tracking_dir_prefers_flag_then_home_then_data_dir() {
        let flag = Path::new("/flag");
        let home = Some(std::ffi::OsString::from("/home-env"));
        let data = Some(PathBuf::from("/data"));
        assert_eq!(tracking_dir_from(Some(flag), home.clone(), data.clone()).unwrap(), flag);
        assert_eq!(tracking_dir_from(None, home, data.clone()).unwrap(), Path::new("/home-env/tracking"));
        assert_eq!(tracking_dir_from(None, Some("".into()), data).unwrap(), Path::new("/data/nabla/tracking"));
        assert!(matches!(tracking_dir_from(None, None, None), Err(TrackError::NoTrackingDir)));
    }

    #[test]
    fn open_creates_a_wal_store_at_the_current_version() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path().join("t")).unwrap();
        assert_eq!(user_version(&store.conn, store.db_path()).unwrap(), SCHEMA_VERSION);
        let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        // Opening again (and read-only) finds the same version and changes nothing.
        Store::open(tmp.path().join("t")).unwrap();
        Store::open_read_only(tmp.path().join("t")).unwrap();
    }

    #[test]
    fn read_only_open_of_a_missing_store_is_no_store() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(Store::open_read_only(tmp.path()), Err(TrackError::NoStore { .. })));
        // Regression (issue 21): a regular file given as the tracking directory listed "no runs".
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        for e in [Store::open_read_only(&file).unwrap_err(), Store::open(&file).unwrap_err()] {
            assert!(matches!(e, TrackError::NotADirectory { .. }), "{e}");
            assert!(e.to_string().contains("a-file is not a directory"), "{e}");
        }
        assert!(!tmp.path().join(DB_FILE).exists());
    }

    #[test]
    fn writes_through_a_read_only_connection_are_read_only_errors() {
        let tmp = tempfile::tempdir().unwrap();
        drop(Store::open(tmp.path()).unwrap());
        let mut store = Store::open_read_only(tmp.path()).unwrap();
        let err = store.write(|tx| tx.execute("DELETE FROM runs", [])).unwrap_err();
        assert!(matches!(err, TrackError::ReadOnly { .. }), "{err}");
    }
}
