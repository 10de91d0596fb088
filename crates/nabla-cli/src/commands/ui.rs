//! `nabla ui`: serves the web dashboard over the local run store until Ctrl-C.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{bail, Context};
use nabla_ui::{Server, ServerOptions};

/// The flags of `nabla ui`.
#[derive(Debug, Clone, clap::Args)]
pub struct UiArgs {
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6006)]
    pub port: u16,
    /// The address to listen on. Anything but loopback needs a token (given with --token, or
    /// generated and printed in the URL).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Where the tracker keeps its runs (default `$NABLA_HOME/tracking`, else the user data
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub tracking_dir: Option<PathBuf>,
    /// Require this token on every request (`?token=`, `Authorization: Bearer`, or the cookie
    /// the first page load sets).
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// Open the dashboard in the default browser.
    #[arg(long)]
    pub open: bool,
}

/// Resolves `host` (an IP address or `localhost`) and `port` to one socket address.
pub(crate) fn listen_addr(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    if host == "localhost" {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --host {host}"))?
        .next()
        .with_context(|| format!("--host {host} has no address"))
}

/// Starts the server, prints its URL and serves until the process is stopped.
pub fn run(args: &UiArgs) -> anyhow::Result<()> {
    let addr = listen_addr(&args.host, args.port)?;
    if args.token.as_deref().is_some_and(|t| t.is_empty() || t.chars().any(|c| c.is_whitespace() || c == ';')) {
        bail!("--token must be non-empty, without spaces or `;`");
    }
    let dir = nabla_track::tracking_dir(args.tracking_dir.as_deref())?;
    let mut options = ServerOptions::new(addr, &dir);
    if let Some(token) = &args.token {
        options = options.token(token.clone());
    }
    let server = Server::start(options)?;
    let url = server.url();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "nabla ui: runs in {}, listening on {}", dir.display(), server.addr())?;
        writeln!(out, "open {url}")?;
        writeln!(out, "(Ctrl-C to stop)")?;
        out.flush()?;
    }
    if args.open {
        open_browser(&url);
    }
    server.wait();
    Ok(())
}

/// Asks the desktop to open `url`; failing to is not an error (the URL is printed).
fn open_browser(url: &str) {
    let command = if cfg!(target_os = "macos") {
        std::process::Command::new("open").arg(url).spawn()
    } else if cfg!(windows) {
        std::process::Command::new("cmd").args(["/C", "start", "", url]).spawn()
    } else {
        std::process::Command::new("xdg-open").arg(url).spawn()
    };
    if let Err(e) = command {
        let _ = writeln!(std::io::stderr(), "note: could not open a browser ({e}); open the URL above");
    }
}
