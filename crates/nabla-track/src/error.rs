//! The tracker's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while recording or reading runs.
///
/// Messages are one line, name the file or run involved, and leave the hint (which flag, which
/// command) to the caller.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// The store was written by a newer nabla whose schema this one does not know.
    #[error(
        "the run store {path} has schema version {found}, newer than the {supported} this nabla knows; \
         upgrade nabla (the store was left untouched)"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build can read and write.
        supported: i64,
    },
    /// The file is not an SQLite database, or its pages are damaged.
    #[error("the run store {path} is not a valid database (corrupt or not SQLite): {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The database (or its directory) cannot be written.
    #[error("the run store {path} is read-only: {detail}")]
    ReadOnly {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The tracking directory names something that is not a directory (a file).
    #[error("{path} is not a directory: --tracking-dir (or $NABLA_HOME) names the folder that holds the runs", path = path.display())]
    NotADirectory {
        /// What was given.
        path: PathBuf,
    },
    /// There is no store at this location yet (nothing was ever tracked there).
    #[error("no runs recorded in {dir} yet (no {file} there)")]
    NoStore {
        /// The tracking directory.
        dir: PathBuf,
        /// The database file name that is missing.
        file: &'static str,
    },
    /// No run has this id (or id prefix).
    #[error("unknown run `{0}`")]
    UnknownRun(String),
    /// Several runs start with this prefix.
    #[error("run id prefix `{prefix}` is ambiguous: it matches {}", matches.join(", "))]
    AmbiguousRun {
        /// The prefix given.
        prefix: String,
        /// Up to a few of the ids it matches.
        matches: Vec<String>,
    },
    /// A run with this id is already in the store (on import).
    #[error("run {0} already exists in this store")]
    RunExists(String),
    /// The run has no metric of this name.
    #[error("run {run} has no metric `{metric}`")]
    UnknownMetric {
        /// The run id.
        run: String,
        /// The metric name asked for.
        metric: String,
    },
    /// A point's step is not larger than the last step logged for its metric.
    #[error("metric `{metric}`: step {step} is not after the last logged step {last} (steps must increase)")]
    StepNotIncreasing {
        /// The metric name.
        metric: String,
        /// The step given.
        step: u64,
        /// The last step already logged for this metric.
        last: u64,
    },
    /// A metric name that cannot be logged (empty, too long, or in the reserved `sys/` space).
    #[error("invalid metric name `{name}`: {reason}")]
    InvalidMetricName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A step beyond the range the store keeps (2^63 - 1).
    #[error("step {0} is too large (the largest step is 9223372036854775807)")]
    StepTooLarge(u64),
    /// A `--filter` or `--sort` expression that does not parse.
    #[error("invalid {what} `{expr}`: {reason}")]
    InvalidExpression {
        /// "filter" or "sort key".
        what: &'static str,
        /// The expression given.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The background writer stopped after an error; nothing more can be recorded in this run.
    #[error("the run's writer stopped: {0}")]
    WriterStopped(String),
    /// A server could not store a client's write (its store could not be opened, or the
    /// commit of the writes it was grouped with failed).
    #[error("the server could not store this: {0}")]
    ServerWrite(String),
    /// An exported run directory that cannot be imported.
    #[error("cannot import {path}: {reason}")]
    BadExport {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No user data directory could be determined and neither `--tracking-dir` nor `$NABLA_HOME`
    /// was given.
    #[error("no tracking directory: pass --tracking-dir DIR or set $NABLA_HOME")]
    NoTrackingDir,
    /// A file-system operation failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done ("creating", "reading", …).
        context: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other SQLite error.
    #[error("run store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A user name that `nabla server user add` cannot take.
    #[error("invalid user name `{name}`: {reason}")]
    InvalidUserName {
        /// The name, escaped.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// `nabla server user add` of a name that exists (revoked users keep their name).
    #[error("user `{0}` already exists (`nabla server user token NAME` gives an existing user a new token)")]
    UserExists(String),

    /// A user name that is not in the store.
    #[error("unknown user `{0}` (see `nabla server user list`)")]
    UnknownUser(String),

    /// A user who was revoked.
    #[error("user `{0}` is revoked")]
    UserRevoked(String),

    /// A project no server user has written to.
    #[error("unknown project `{0}`: a project exists on a server once a user has recorded a run in it")]
    UnknownProject(String),

    /// A request to a server that does not make sense (malformed id, value or batch).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The CA certificate file given to verify a server's HTTPS certificate is unusable.
    #[error("TLS CA file {path} (--tls-ca or $NABLA_TLS_CA): {reason}", path = path.display())]
    TlsCa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A tracking server could not be reached or refused a request.
    #[error("tracking server {uri}: {message}")]
    Remote {
        /// The server's URL.
        uri: String,
        /// What went wrong.
        message: String,
        /// The HTTP status, when the server answered.
        status: Option<u16>,
    },

    /// A run ended but the server does not hold all of it yet; its points are safe in the local
    /// store.
    #[error("{}", not_delivered(run, uri, reason, *refused))]
    NotDelivered {
        /// The run.
        run: String,
        /// The server's URL.
        uri: String,
        /// The last error.
        reason: String,
        /// The server refused the run (a bad or revoked token, another user's project) rather
        /// than being away: waiting will not deliver it, a valid token will.
        refused: bool,
    },

    /// A user asked for something their access does not allow.
    #[error("forbidden: {0}")]
    Forbidden(String),

    /// The OS random source failed while making a token.
    #[error("cannot make a token: the OS random source failed: {0}")]
    Random(String),

    /// JSON stored in or read for the store that does not (de)serialise.
    #[error("{context}: {source}")]
    Json {
        /// What was being (de)serialised.
        context: String,
        /// The serde error.
        source: serde_json::Error,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = TrackError> = std::result::Result<T, E>;

impl TrackError {
    /// Classifies an SQLite error on the store at `path`: corrupt and read-only files get their
    /// own variants, so that the CLI can say what is wrong in one line.
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(e, msg) = &source {
            let detail = msg.clone().unwrap_or_else(|| e.to_string());
            match e.code {
                ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                    return TrackError::Corrupt { path: path.to_path_buf(), detail };
                }
                ErrorCode::ReadOnly => return TrackError::ReadOnly { path: path.to_path_buf(), detail },
                _ => {}
            }
        }
        TrackError::Sqlite { path: path.to_path_buf(), source }
    }

    pub(crate) fn io(context: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        TrackError::Io { context, path: path.to_path_buf(), source }
    }

    /// Whether this is SQLite saying another connection holds the lock.
    pub(crate) fn is_busy(&self) -> bool {
        matches!(
            self,
            TrackError::Sqlite { source: rusqlite::Error::SqliteFailure(e, _), .. }
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// The text of [`TrackError::NotDelivered`]: what to do differs between a server away and a
/// server that said no.
fn not_delivered(run: &str, uri: &str, reason: &str, refused: bool) -> String {
    if refused {
        format!(
            "{uri} refused run {run} ({reason}); the run is recorded locally only, and `nabla runs sync` \
             with a valid $NABLA_TOKEN sends it"
        )
    } else {
        format!(
            "run {run} is recorded locally but not yet delivered to {uri} ({reason}); `nabla runs sync` sends it \
             when the server is back"
        )
    }
}
