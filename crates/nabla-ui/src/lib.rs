//! nabla's web dashboard: a local HTTP server with a JSON API over the run store (see
//! `docs/API.md`) and a page whose HTML, CSS and JavaScript are embedded in the binary.
//!
//! [`Server::start`] binds the address and serves on a runtime of its own thread; the returned
//! handle reports the bound address (port 0 picks a free port) and stops the server when it is
//! dropped. The store is opened read-only per request on tokio's blocking pool, because SQLite
//! calls block.

mod api;
mod assets;
mod auth;
mod cache;
pub mod downsample;
mod ingest;
mod limits;
pub use limits::raise_open_files_limit;
mod mlflow;
mod report;
mod serve;
mod stream;
mod tls;
mod upload;
mod users;
mod writer;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

pub use tls::Tls;

/// How many of the most recent runs are summarised in the background at start.
const PREWARM_RUNS: usize = 50;

/// What can go wrong while starting the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The async runtime could not be created.
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
    /// A TLS certificate or key file is missing, unreadable or wrong.
    #[error("{}: {message}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The OS random source failed while generating an access token.
    #[error("cannot generate an access token: {0}")]
    Random(String),
}

/// How to serve the dashboard.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where to listen. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// The tracking directory whose store is shown.
    pub tracking_dir: PathBuf,
    /// The access token. `None` on a loopback address means no token is needed; on any other
    /// address a token is generated (see [`Server::token`]).
    pub token: Option<String>,
    /// Summarise the recent runs' metrics in the background at start, so that their pages
    /// open fast (on by default).
    pub prewarm: bool,
    /// Serve as `nabla server`: requests carry a token of one of the store's users (not
    /// [`ServerOptions::token`]), each user sees what they may, and the write API is on.
    pub users: bool,
    /// With `users`: reads need no token (writes still do).
    pub public_read: bool,
    /// How long a connection may take to send a request's header: a client that sends part
    /// of one and stops is disconnected then, instead of holding its connection for ever
    /// (default [`HEADER_TIMEOUT`]; the same limit applies to an idle kept-alive connection,
    /// and to a pause between two chunks of a request body).
    pub header_timeout: Duration,
    /// The largest artifact `nabla server` accepts in one upload (default
    /// [`MAX_ARTIFACT_BYTES`]).
    pub max_artifact_bytes: u64,
    /// Serve HTTPS with this certificate and key (see [`Tls::from_pem_files`]).
    pub tls: Option<Tls>,
}

/// How long a request's header may take to arrive, by default.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest artifact upload, by default: 1 GiB.
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

impl ServerOptions {
    /// Options for serving `tracking_dir` on `addr` with no token given.
    pub fn new(addr: SocketAddr, tracking_dir: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            addr,
            tracking_dir: tracking_dir.into(),
            token: None,
            prewarm: true,
            users: false,
            public_read: false,
            header_timeout: HEADER_TIMEOUT,
            max_artifact_bytes: MAX_ARTIFACT_BYTES,
            tls: None,
        }
    }

    /// Refuses artifact uploads larger than `bytes`.
    #[must_use]
    pub fn max_artifact_bytes(mut self, bytes: u64) -> ServerOptions {
        self.max_artifact_bytes = bytes;
        self
    }

    /// Serves HTTPS with `tls` instead of plain HTTP.
    #[must_use]
    pub fn tls(mut self, tls: Tls) -> ServerOptions {
        self.tls = Some(tls);
        self
    }

    /// Disconnects a client whose request header is not complete after `timeout`.
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> ServerOptions {
        self.header_timeout = timeout;
        self
    }

    /// Requires this token on every request.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> ServerOptions {
        self.token = Some(token.into());
        self
    }

    /// Serves as `nabla server`: the store's users and their tokens decide who reads and writes
    /// what; with `public_read`, reads need no token.
    #[must_use]
    pub fn users(mut self, public_read: bool) -> ServerOptions {
        self.users = true;
        self.public_read = public_read;
        self
    }

    /// Turns the background summarising at start on or off.
    #[must_use]
    pub fn prewarm(mut self, prewarm: bool) -> ServerOptions {
        self.prewarm = prewarm;
        self
    }
}

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The tracking directory.
    pub tracking_dir: PathBuf,
    /// The token every request must carry, if any.
    pub token: Option<String>,
    /// How often a live stream looks for new points.
    pub poll_interval: Duration,
    /// Bound to loopback: the `Host` header must name this machine (against DNS rebinding).
    pub local_host_only: bool,
    /// Per-metric summaries for fast histories of long metrics.
    pub cache: cache::Cache,
    /// Live event streams open at once, at most [`stream::MAX_STREAMS`].
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Users and tokens from the store decide access (`nabla server`).
    pub users: bool,
    /// With `users`: reads need no token.
    pub public_read: bool,
    /// The largest artifact upload.
    pub max_artifact_bytes: u64,
    /// The longest pause within a request body.
    pub body_idle_timeout: Duration,
    /// Where writes go (`nabla server`): one thread, one connection, grouped commits.
    pub writer: writer::Writer,
}

/// A running dashboard server; dropping it (or calling [`Server::stop`]) stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    token: Option<String>,
    /// `https` when serving with TLS.
    scheme: &'static str,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `options.addr` and starts serving on a background thread.
    pub fn start(options: ServerOptions) -> Result<Server, UiError> {
        let token = match options.token {
            // A server with users has a token per user instead.
            _ if options.users => None,
            Some(token) => Some(token),
            None if !is_loopback(options.addr.ip()) => Some(generate_token()?),
            None => None,
        };
        let _ = limits::raise_open_files_limit();
        let listener =
            TcpListener::bind(options.addr).map_err(|source| UiError::Bind { addr: options.addr, source })?;
        listener.set_nonblocking(true).map_err(|source| UiError::Bind { addr: options.addr, source })?;
        limits::deepen_backlog(&listener);
        let addr = listener.local_addr().map_err(|source| UiError::Bind { addr: options.addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nabla-ui")
            .enable_all()
            .build()
            .map_err(UiError::Runtime)?;
        let state = Arc::new(AppState {
            tracking_dir: options.tracking_dir.clone(),
            token: token.clone(),
            poll_interval: Duration::from_millis(500),
            local_host_only: is_loopback(addr.ip()),
            cache: cache::Cache::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(stream::MAX_STREAMS)),
            users: options.users,
            public_read: options.public_read,
            max_artifact_bytes: options.max_artifact_bytes,
            body_idle_timeout: options.header_timeout,
            writer: writer::Writer::start(options.tracking_dir.clone()).map_err(UiError::Runtime)?,
        });
        let prewarm = options.prewarm;
        let header_timeout = options.header_timeout;
        let scheme = if options.tls.is_some() { "https" } else { "http" };
        let acceptor = options.tls.map(|tls| tls.acceptor);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(|source| UiError::Bind { addr, source })?
        };
        let thread = std::thread::Builder::new()
            .name("nabla-ui".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if prewarm {
                        let state = state.clone();
                        // Best effort: a store that cannot be read now shows its error on the page.
                        tokio::task::spawn_blocking(move || {
                            let _ = nabla_track::Store::open_read_only(&state.tracking_dir)
                                .and_then(|store| state.cache.prewarm(&store, PREWARM_RUNS));
                        });
                    }
                    let stopped = async {
                        let _ = stopped.await;
                    };
                    serve::serve(listener, router(state), header_timeout, acceptor, stopped).await;
                });
                // Live streams hold their connections open: do not wait for them long.
                runtime.shutdown_timeout(Duration::from_millis(500));
            })
            .map_err(UiError::Runtime)?;
        Ok(Server { addr, token, scheme, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// The address it listens on (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token requests must carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The URL to open: the bound address (loopback when it listens on every interface) with
    /// `?token=…` when a token is needed.
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base = format!("{}://{}/", self.scheme, SocketAddr::new(ip, self.addr.port()));
        match &self.token {
            Some(token) => format!("{base}?token={token}"),
            None => base,
        }
    }

    /// Blocks until the server stops (it only stops on its own if it fails).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the server and waits for its thread.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether binding `ip` only accepts connections from this machine.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// 128 random bits from the OS, as 32 hex digits.
fn generate_token() -> Result<String, UiError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| UiError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn router(state: Arc<AppState>) -> axum::Router {
    let routes = if state.users {
        ingest::routes()
            .merge(mlflow::routes())
            .merge(api::routes())
            .merge(assets::routes())
            .layer(axum::middleware::from_fn_with_state(state.clone(), users::require_user))
    } else {
        api::routes()
            .merge(assets::routes())
            .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
    };
    routes
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::body_deadline))
        // The outer layer runs first: a foreign Host is refused before the token is looked at.
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_local_host))
        .with_state(state)
}
