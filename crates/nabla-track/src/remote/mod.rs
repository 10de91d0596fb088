//! Sending a run recorded in the local store to a `nabla server`.
//!
//! The local store is the journal: a run that logs to a server is recorded locally first, as
//! every run is (durable, crash-safe, readable offline), and [`Store::sync_run`] sends the
//! server what it does not have yet. It asks the server for each metric's last step and sends
//! the points after it in batches whose ids are made from the metric and the step range, so a
//! batch repeated after a lost answer, a killed client or a restarted server is stored once.
//! Nothing is lost when the server is away: the points wait in the local store until a later
//! sync (the run's own background thread, or `nabla runs sync`) delivers them. A run is marked
//! delivered once it has ended and the server holds all of it.
//!
//! Over `https://` the server's certificate is verified against the system's root
//! certificates, plus a CA file given for a server with its own certificate (a class's
//! self-signed one): `--tls-ca FILE` or `$NABLA_TLS_CA`.

mod read;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rusqlite::params;
use serde_json::{json, Value};

use crate::error::{Result, TrackError};
use crate::status::RunStatus;
use crate::store::Store;

/// The environment variables a client reads: the server's URL and the user's token.
pub const URI_ENV: &str = "NABLA_TRACKING_URI";
/// See [`URI_ENV`].
pub const TOKEN_ENV: &str = "NABLA_TOKEN";
/// A PEM file of CA certificates trusted for the server's HTTPS certificate, besides the
/// system's roots.
pub const TLS_CA_ENV: &str = "NABLA_TLS_CA";

/// Points per batch sent.
const BATCH_POINTS: usize = 10_000;

/// A server to send runs to.
#[derive(Clone)]
pub struct Remote {
    base: String,
    /// `None` only for a reader of a `--public-read` server ([`Remote::reader`]).
    token: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Remote {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("uri", &self.base).finish_non_exhaustive()
    }
}

/// What one sync sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Points sent (and stored, or found already stored) in this sync.
    pub points: u64,
    /// The run has ended and the server holds all of it (but the artifacts it refused).
    pub delivered: bool,
    /// Artifacts the server refused as larger than it accepts (413): the run is delivered
    /// without them, and they are not sent again.
    pub refused_artifacts: Vec<RefusedArtifact>,
}

/// An artifact a server refused as too large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedArtifact {
    /// Its sha256.
    pub sha256: String,
    /// Its name.
    pub name: String,
    /// The server's answer (`HTTP 413: …`).
    pub reason: String,
}

impl Remote {
    /// A server at `uri` (`http://host:port` or `https://…`), with a user's token; an HTTPS
    /// server's certificate is verified against the system's roots.
    pub fn new(uri: &str, token: &str) -> Result<Remote> {
        Remote::with_ca(uri, token, None)
    }

    /// Like [`Remote::new`], also trusting the CA certificates in the PEM file `ca` (a server
    /// with a self-signed certificate: give that certificate).
    pub fn with_ca(uri: &str, token: &str, ca: Option<&Path>) -> Result<Remote> {
        Remote::connect(uri, Some(token), ca)
    }

    /// A server to read runs from (`nabla runs … --tracking-uri`): as [`Remote::with_ca`],
    /// but with no token the requests carry none, for a server started with `--public-read`
    /// (any other answers 401, reported as a token being needed). Sending runs needs a token.
    pub fn reader(uri: &str, token: Option<&str>, ca: Option<&Path>) -> Result<Remote> {
        Remote::connect(uri, token.filter(|t| !t.trim().is_empty()), ca)
    }

    fn connect(uri: &str, token: Option<&str>, ca: Option<&Path>) -> Result<Remote> {
        let base = uri.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() <= "https://".len() {
            return Err(TrackError::InvalidRequest(format!(
                "tracking URI `{}` must start with http:// or https://",
                uri.escape_debug()
            )));
        }
        let token = match token.map(str::trim) {
            None => None,
            Some(t) if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                return Err(TrackError::InvalidRequest(format!("a token for {base} is needed (${TOKEN_ENV})")));
            }
            Some(t) => Some(t.to_string()),
        };
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| base.starts_with(p));
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(60)));
        if loopback {
            config = config.proxy(None);
        }
        let extra = ca.map(read_ca).transpose()?;
        if base.starts_with("https://") {
            let mut roots: Vec<ureq::tls::Certificate<'static>> = system_roots().as_ref().clone();
            roots.extend(extra.unwrap_or_default());
            // No system roots and no CA file: Mozilla's roots, built into ureq.
            let roots = if roots.is_empty() { ureq::tls::RootCerts::WebPki } else { ureq::tls::RootCerts::from(roots) };
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        Ok(Remote { base, token, agent: config.build().into() })
    }

    /// The server from `$NABLA_TRACKING_URI` and `$NABLA_TOKEN` (and `$NABLA_TLS_CA`), if the
    /// URI is set.
    pub fn from_env() -> Option<Result<Remote>> {
        let uri = std::env::var(URI_ENV).ok().filter(|u| !u.trim().is_empty())?;
        let ca = ca_from_env();
        Some(Remote::with_ca(&uri, &std::env::var(TOKEN_ENV).unwrap_or_default(), ca.as_deref()))
    }

    /// The server's URL.
    pub fn uri(&self) -> &str {
        &self.base
    }

    /// One JSON request; a status ≥ 400 is an error naming the server and its message.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let auth = self.authorization()?;
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .content_type("application/json")
                .send(body.to_string()),
            ("PATCH", Some(body)) => self
                .agent
                .patch(&url)
                .header("Authorization", &auth)
                .content_type("application/json")
                .send(body.to_string()),
            _ => return Err(TrackError::InvalidRequest(format!("{method} {path}"))),
        };
        self.answer(response)
    }

    /// The `Authorization` header's value; sending (everything but the reads of
    /// [`Remote::reader`]) needs a token.
    fn authorization(&self) -> Result<String> {
        match &self.token {
            Some(token) => Ok(format!("Bearer {token}")),
            None => Err(TrackError::InvalidRequest(format!("a token for {} is needed (${TOKEN_ENV})", self.base))),
        }
    }

    /// Uploads the file at `path` as the artifact `name` of run `id`, streamed from disk,
    /// with no overall deadline (a large checkpoint on a slow link takes what it takes).
    fn put_artifact(&self, id: &str, record: &crate::ArtifactRecord) -> Result<Value> {
        let file = std::fs::File::open(&record.path).map_err(|e| TrackError::io("opening", &record.path, e))?;
        let url = format!("{}/api/runs/{id}/artifacts/{}", self.base, record.sha256);
        let response = self
            .agent
            .put(&url)
            .query("name", &record.name)
            .query("kind", &record.kind)
            .header("Authorization", &self.authorization()?)
            .content_type("application/octet-stream")
            .config()
            .timeout_global(None)
            .build()
            .send(file);
        self.answer(response)
    }

    /// A response's JSON; a status ≥ 400 is an error naming the server and its message.
    fn answer(&self, response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value> {
        let unreachable =
            |e: ureq::Error| TrackError::Remote { uri: self.base.clone(), message: describe(&e), status: None };
        let mut response = response.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(64 << 20).read_to_string().map_err(unreachable)?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            let mut message =
                value["error"].as_str().map_or_else(|| format!("HTTP {status}"), |e| format!("HTTP {status}: {e}"));
            if status == 401 && self.token.is_none() {
                message.push_str(&format!(
                    " (no token was given: this server is not --public-read; pass --token or set ${TOKEN_ENV})"
                ));
            }
            return Err(TrackError::Remote { uri: self.base.clone(), message, status: Some(status) });
        }
        Ok(value)
    }
}

/// The CA file named by `$NABLA_TLS_CA`, if set.
pub fn ca_from_env() -> Option<std::path::PathBuf> {
    std::env::var_os(TLS_CA_ENV).filter(|p| !p.is_empty()).map(std::path::PathBuf::from)
}

/// The certificates of a PEM CA file; at least one, or an error naming the file.
fn read_ca(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let bad = |reason: String| TrackError::TlsCa { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        // A key or anything else beside the certificates is not a CA.
        if let ureq::tls::PemItem::Certificate(cert) = item.map_err(|e| bad(format!("not valid PEM: {e}")))? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(bad("holds no certificate (expected a PEM block `-----BEGIN CERTIFICATE-----`)".into()));
    }
    Ok(certs)
}

/// The system's root certificates, read once per process (none if the system has none).
fn system_roots() -> Arc<Vec<ureq::tls::Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<ureq::tls::Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            // Unreadable entries are skipped: what loads is what the system trusts.
            let found = rustls_native_certs::load_native_certs();
            Arc::new(found.certs.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect())
        })
        .clone()
}

/// A transport error in words, saying what to do when the server's certificate was refused.
fn describe(e: &ureq::Error) -> String {
    let tls = match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    let unreachable = match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
        ),
        _ => false,
    };
    match tls {
        Some(rustls::Error::InvalidCertificate(reason)) => format!(
            "TLS certificate verification failed ({reason:?}): if the server uses its own (self-signed) \
             certificate, pass it with --tls-ca FILE or ${TLS_CA_ENV}"
        ),
        _ if unreachable => {
            format!("{e}: no server answered; check the URL, and that `nabla server` runs there and is reachable")
        }
        _ => e.to_string(),
    }
}

impl Store {
    /// Marks `run_id` as sent to `remote` (the run's `remote` column), so that `nabla runs sync`
    /// knows where it goes.
    pub fn set_remote(&mut self, run_id: &str, remote: &Remote) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE runs SET remote = ?1, delivered = 0 WHERE id = ?2", params![remote.uri(), run_id])
        })?;
        Ok(())
    }

    /// The runs meant for a server that it does not hold whole yet, with the server's URL.
    pub fn undelivered_runs(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, remote FROM runs WHERE remote IS NOT NULL AND delivered = 0 ORDER BY started")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Sends `run_id` to `remote`: creates it there if needed, the points the server lacks,
    /// the config and summary, and the status once it has ended. Safe to repeat and to run in
    /// several processes at once (every request is idempotent).
    ///
    /// An artifact the server refuses as too large (413) does not stop the rest: the run is
    /// delivered without it, and the report names it.
    pub fn sync_run(&mut self, run_id: &str, remote: &Remote) -> Result<SyncReport> {
        let mut refused = Vec::new();
        let mut report = self.sync_run_skipping(run_id, remote, &mut refused)?;
        report.refused_artifacts = refused;
        Ok(report)
    }

    /// [`Store::sync_run`], not sending again the artifacts in `refused` (refused as too
    /// large by an earlier sync of this run); those refused now are added to it.
    pub(crate) fn sync_run_skipping(
        &mut self,
        run_id: &str,
        remote: &Remote,
        refused: &mut Vec<RefusedArtifact>,
    ) -> Result<SyncReport> {
        let run = self.run(run_id)?;
        let id = run.id.clone();
        remote.call(
            "POST",
            "/api/runs",
            Some(&json!({
                "id": id, "project": run.project, "name": run.name, "config": run.config, "tags": run.tags,
                "started": run.started, "heartbeat_secs": run.heartbeat_interval, "host": run.meta.host,
                "command": run.meta.command, "git_commit": run.meta.git_commit,
                "nabla_version": run.meta.nabla_version, "threads": run.meta.threads,
                "data_checksum": run.meta.data_checksum, "pid": run.pid, "system": run.system,
            })),
        )?;
        let on_server = remote.call("GET", &format!("/api/runs/{id}/metrics"), None)?;
        let last_step = |name: &str| -> Option<u64> {
            on_server.as_array()?.iter().find(|m| m["name"] == name)?["last_step"].as_u64()
        };
        let mut sent = 0u64;
        for metric in self.metrics(&id)? {
            let from = last_step(&metric.name).map_or(0, |s| s.saturating_add(1));
            let points = self.history(&id, &metric.name, from..)?;
            for chunk in points.chunks(BATCH_POINTS) {
                let (first, last) = (chunk[0].step, chunk[chunk.len() - 1].step);
                let body = json!({
                    "batch": format!("{}@{first}-{last}", metric.name),
                    "points": chunk.iter().map(|p| json!({
                        "metric": metric.name, "step": p.step,
                        "value": Some(p.value).filter(|v| !v.is_nan()), "wall_time": p.wall_time,
                    })).collect::<Vec<_>>(),
                });
                remote.call("POST", &format!("/api/runs/{id}/points"), Some(&body))?;
                sent += chunk.len() as u64;
            }
        }
        // Artifacts the server lacks (by content and name), streamed from the local store.
        let artifacts = self.artifacts(&id)?;
        if !artifacts.is_empty() {
            let there = remote.call("GET", &format!("/api/runs/{id}"), None)?;
            let has = |a: &crate::ArtifactRecord| {
                there["artifacts"].as_array().is_some_and(|list| {
                    list.iter().any(|b| b["sha256"] == a.sha256.as_str() && b["name"] == a.name.as_str())
                })
            };
            let known = |a: &crate::ArtifactRecord, refused: &[RefusedArtifact]| {
                refused.iter().any(|r| r.sha256 == a.sha256 && r.name == a.name)
            };
            for artifact in artifacts.iter().filter(|a| !has(a)) {
                if known(artifact, refused) {
                    continue;
                }
                match remote.put_artifact(&id, artifact) {
                    Ok(_) => {}
                    // Too large for this server: sending it again would not change that.
                    Err(TrackError::Remote { status: Some(413), message, .. }) => refused.push(RefusedArtifact {
                        sha256: artifact.sha256.clone(),
                        name: artifact.name.clone(),
                        reason: message,
                    }),
                    Err(e) => return Err(e),
                }
            }
        }
        let status = match run.status {
            RunStatus::Running => None,
            // The local process died: the server hears the run failed.
            RunStatus::Crashed => Some("failed"),
            status => Some(status.as_str()),
        };
        let mut update = json!({"config": run.config, "summary": run.summary});
        if let Some(status) = status {
            update["status"] = json!(status);
            // A crashed run has no end time: it ended at its last heartbeat.
            update["ended"] = json!(run.ended.unwrap_or(run.heartbeat));
        }
        remote.call("PATCH", &format!("/api/runs/{id}"), Some(&update))?;
        let delivered = status.is_some();
        if delivered {
            self.write(|tx| tx.execute("UPDATE runs SET delivered = 1 WHERE id = ?1", [&id]))?;
        }
        Ok(SyncReport { points: sent, delivered, refused_artifacts: Vec::new() })
    }
}

/// How often a running run sends what it logged.
const SYNC_EVERY: Duration = Duration::from_secs(2);
/// How long the final sync of a finishing run keeps trying.
const FINAL_SYNC_FOR: Duration = Duration::from_secs(10);

/// A run's background sender: every [`SYNC_EVERY`] it sends the server what the run has
/// committed locally. Errors (the server away) are kept for later; nothing waits on them. A
/// refusal (4xx: a bad token, another user's project) stops the sends, since waiting will not
/// change it, and is kept for the run's owner to report once ([`SyncThread::take_refusal`]).
pub(crate) struct SyncThread {
    stop: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    refusal: std::sync::Arc<Refusal>,
    /// The artifacts the server refused as too large, not sent again.
    too_large: std::sync::Arc<std::sync::Mutex<Vec<RefusedArtifact>>>,
    handle: Option<std::thread::JoinHandle<()>>,
    dir: std::path::PathBuf,
    run_id: String,
    remote: Remote,
}

/// The first refusal a background sync met: `pending` is checked on every `log`, so it is an
/// atomic; the text waits behind it.
#[derive(Default)]
struct Refusal {
    pending: std::sync::atomic::AtomicBool,
    text: std::sync::Mutex<Option<String>>,
}

impl SyncThread {
    pub(crate) fn start(dir: std::path::PathBuf, run_id: String, remote: Remote) -> SyncThread {
        let stop = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let refusal = std::sync::Arc::new(Refusal::default());
        let (flag, thread_dir, thread_id, thread_remote) = (stop.clone(), dir.clone(), run_id.clone(), remote.clone());
        let thread_refusal = refusal.clone();
        let too_large = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let thread_too_large = too_large.clone();
        let handle = std::thread::Builder::new()
            .name("nabla-track-sync".into())
            .spawn(move || loop {
                let (lock, wake) = &*flag;
                let Ok(guard) = lock.lock() else { return };
                let Ok((guard, _)) = wake.wait_timeout_while(guard, SYNC_EVERY, |stopped| !*stopped) else { return };
                if *guard {
                    return;
                }
                drop(guard);
                // The server may be away: the points stay in the local store for the next try.
                let Ok(mut skipped) = thread_too_large.lock() else { return };
                let synced = Store::open(&thread_dir)
                    .and_then(|mut store| store.sync_run_skipping(&thread_id, &thread_remote, &mut skipped));
                drop(skipped);
                match synced {
                    Err(e) if refused(&e) => {
                        if let Ok(mut text) = thread_refusal.text.lock() {
                            *text = Some(reason(&e));
                        }
                        thread_refusal.pending.store(true, std::sync::atomic::Ordering::Release);
                        return;
                    }
                    _ => {}
                }
            })
            .ok();
        SyncThread { stop, refusal, too_large, handle, dir, run_id, remote }
    }

    /// The server's refusal of this run, once: `None` until a background sync is refused, and
    /// after the first call that returned it.
    pub(crate) fn take_refusal(&self) -> Option<String> {
        if !self.refusal.pending.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.refusal.pending.store(false, std::sync::atomic::Ordering::Release);
        self.refusal.text.lock().ok().and_then(|mut text| text.take())
    }

    /// The server's URL.
    pub(crate) fn uri(&self) -> &str {
        self.remote.uri()
    }

    /// Stops the background sends and delivers the rest of the (now ended) run, trying for a
    /// while; an error says what is left and how to send it later, or which artifacts the
    /// server refused as too large ([`TrackError::ArtifactsRefused`], the run delivered).
    pub(crate) fn finish(mut self) -> Result<()> {
        {
            let (lock, wake) = &*self.stop;
            if let Ok(mut stopped) = lock.lock() {
                *stopped = true;
            }
            wake.notify_all();
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(200);
        let mut too_large = self.too_large.lock().map(|mut list| std::mem::take(&mut *list)).unwrap_or_default();
        loop {
            let synced = Store::open(&self.dir)
                .and_then(|mut store| store.sync_run_skipping(&self.run_id, &self.remote, &mut too_large));
            match synced {
                Ok(_) if too_large.is_empty() => return Ok(()),
                Ok(_) => {
                    return Err(TrackError::ArtifactsRefused {
                        run: self.run_id.clone(),
                        uri: self.remote.uri().to_string(),
                        artifacts: too_large.iter().map(|a| format!("{} ({})", a.name, a.reason)).collect(),
                    })
                }
                // A refusal (bad token, another user's run) will not change by waiting; an
                // outage may, for a while.
                Err(e) if refused(&e) || start.elapsed() + pause > FINAL_SYNC_FOR => {
                    return Err(TrackError::NotDelivered {
                        run: self.run_id.clone(),
                        uri: self.remote.uri().to_string(),
                        reason: reason(&e),
                        refused: refused(&e),
                    })
                }
                Err(_) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// What went wrong, without the server's URL that the caller names already.
fn reason(err: &TrackError) -> String {
    match err {
        TrackError::Remote { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Whether the server answered with a refusal (4xx) rather than being away.
fn refused(err: &TrackError) -> bool {
    matches!(err, TrackError::Remote { status: Some(400..=499), .. })
}
