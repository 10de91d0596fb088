//! What is recorded about a run besides its data ([`RunMeta`]) and how it records
//! ([`RunOptions`]).

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// Everything [`Run::start`](crate::Run::start) needs: the run's identity and how it records.
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
    /// A `nabla server` that also receives the run (recorded locally first, sent in the
    /// background; see [`Remote`](crate::Remote)).
    pub remote: Option<crate::Remote>,
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
            remote: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let args = ["nabla", "train", "--name", "my run", "--filter", "config.lr>0.1", "it's"].map(String::from);
        assert_eq!(command_line(args), r"nabla train --name 'my run' --filter 'config.lr>0.1' 'it'\''s'");
    }
}
