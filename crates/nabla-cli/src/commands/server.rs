//! `nabla server`: the shared tracking server's users, tokens and project sharing.
//!
//! `nabla server user add NAME [--admin]` prints the user's token once (the store keeps only
//! its hash); `user list`, `user revoke NAME`, `user token NAME` (a new token, the old ones
//! revoked); `share PROJECT USER --read|--write` and `unshare PROJECT USER`. Each works on the
//! store in `--store DIR` whether or not a server is running on it (SQLite in WAL mode: the
//! server sees the change at its next request). With `--tls-cert FILE --tls-key FILE` it
//! serves HTTPS, and may then listen beyond loopback.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use nabla_track::{Access, Principal, Store};

/// `nabla server …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `nabla server [--host H] [--port P] [--store DIR] [--public-read]`: serve.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on. Anything but loopback needs --tls-cert and --tls-key (or
    /// --insecure-http, behind a TLS proxy or on a trusted network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6006)]
    pub port: u16,
    /// Reads (the dashboard, `GET /api/…`) need no token; writes still do.
    #[arg(long)]
    pub public_read: bool,
    /// Listen beyond loopback without TLS: tokens then cross the network in clear text.
    #[arg(long, conflicts_with = "tls_cert")]
    pub insecure_http: bool,
    /// Serve HTTPS with this certificate (PEM: the server's certificate, then any intermediates).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, RSA or EC; no passphrase).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

/// What `nabla server` does.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Add, list and revoke the server's users and their tokens.
    #[command(subcommand)]
    User(UserCommand),
    /// Share a project with a user, to read its runs or also to record runs into it.
    Share(ShareArgs),
    /// Take a user's access to a project away.
    Unshare(UnshareArgs),
}

/// The store a server command works on.
#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// The server's run store (default `$NABLA_HOME/tracking`, else the user data directory).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

/// `nabla server user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user and print their token (shown once: only its hash is kept).
    Add {
        /// The user's name: letters, digits, `.`, `_`, `-`.
        name: String,
        /// The user may do everything: read and write every project, share any project.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// List the users: admin or not, when added, revoked or not, active tokens.
    List {
        /// One JSON array instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Revoke a user: their tokens are refused from the next request on; their runs stay.
    Revoke {
        /// The user's name.
        name: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Give a user a new token and revoke their old ones (a token lost or leaked).
    Token {
        /// The user's name.
        name: String,
        #[command(flatten)]
        store: StoreArg,
    },
}

/// `nabla server share PROJECT USER --read|--write`.
#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The project.
    pub project: String,
    /// The user to share it with.
    pub user: String,
    /// The user may see the project's runs.
    #[arg(long, conflicts_with = "write", required_unless_present = "write")]
    pub read: bool,
    /// The user may see the project's runs and record new runs into it.
    #[arg(long)]
    pub write: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

/// `nabla server unshare PROJECT USER`.
#[derive(Debug, Args)]
pub struct UnshareArgs {
    /// The project.
    pub project: String,
    /// The user whose access ends.
    pub user: String,
    #[command(flatten)]
    pub store: StoreArg,
}

/// Runs `nabla server …`.
pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let Some(command) = args.command else {
        return serve(&args.serve);
    };
    match command {
        ServerCommand::User(cmd) => user(cmd),
        ServerCommand::Share(a) => {
            let access = if a.write { Access::Write } else { Access::Read };
            open(&a.store)?.share_project(&operator(), &a.project, &a.user, access)?;
            say(&format!(
                "project `{}` shared with {} ({})",
                a.project,
                a.user,
                if a.write { "read and write" } else { "read" }
            ))
        }
        ServerCommand::Unshare(a) => {
            open(&a.store)?.unshare_project(&operator(), &a.project, &a.user)?;
            say(&format!("{} no longer has access to project `{}` (unless they own it)", a.user, a.project))
        }
    }
}

/// Serves the store's runs to its users until the process is stopped.
fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let addr = super::ui::listen_addr(&args.host, args.port)?;
    // The files are checked before anything is bound or opened.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(nabla_ui::Tls::from_pem_files(cert, key)?),
        _ => None,
    };
    if !nabla_ui::is_loopback(addr.ip()) && tls.is_none() && !args.insecure_http {
        bail!(
            "--host {} is reachable from other machines: without TLS, tokens would cross the network in clear \
             text. Pass --tls-cert FILE --tls-key FILE, or --insecure-http behind a TLS proxy, or listen on 127.0.0.1",
            args.host
        );
    }
    let store = open_store(&args.store, true)?;
    let users = store.users()?.iter().filter(|u| u.revoked.is_none()).count();
    let dir = store.dir().to_path_buf();
    drop(store);
    let mut options = nabla_ui::ServerOptions::new(addr, &dir).users(args.public_read);
    if let Some(tls) = tls {
        options = options.tls(tls);
    }
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    let server = nabla_ui::Server::start(options)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "nabla server: runs in {}, {users} active user(s), listening on {}", dir.display(), server.addr())?;
    if users == 0 {
        writeln!(out, "no users yet: add one with `nabla server user add NAME --store {}`", dir.display())?;
    }
    writeln!(
        out,
        "dashboard: {scheme}://{}/?token=YOUR_TOKEN{}",
        server.addr(),
        if args.public_read { " (or without a token: reads are public)" } else { "" }
    )?;
    writeln!(out, "(Ctrl-C to stop)")?;
    out.flush()?;
    drop(out);
    server.wait();
    Ok(())
}

/// Whoever can open the store's files on this machine administers it.
fn operator() -> Principal {
    Principal { name: "(the store's operator)".into(), admin: true }
}

/// Opens the store for writing; only `user add` creates it (a mistyped `--store` elsewhere is an
/// error, not a new empty store).
fn open_store(store: &StoreArg, create: bool) -> anyhow::Result<Store> {
    let dir = nabla_track::tracking_dir(store.store.as_deref())?;
    if !create && !dir.join(nabla_track::DB_FILE).is_file() {
        bail!("no store in {}: add the first user with `nabla server user add NAME --store DIR`", dir.display());
    }
    Store::open(&dir).with_context(|| format!("opening the server's store {}", dir.display()))
}

fn open(store: &StoreArg) -> anyhow::Result<Store> {
    open_store(store, false)
}

fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { name, admin, store } => {
            let token = open_store(&store, true)?.add_user(&name, admin)?;
            say(&format!(
                "added {}user {name}; their token (shown only now, keep it secret):\n{token}",
                if admin { "admin " } else { "" }
            ))
        }
        UserCommand::Token { name, store } => {
            let token = open(&store)?.renew_token(&name)?;
            say(&format!("new token for {name} (their earlier tokens are revoked; shown only now):\n{token}"))
        }
        UserCommand::Revoke { name, store } => {
            open(&store)?.revoke_user(&name)?;
            say(&format!("revoked {name}: their tokens are refused from now on; their runs stay"))
        }
        UserCommand::List { json, store } => {
            let users = open(&store)?.users()?;
            if json {
                return say(&serde_json::to_string_pretty(&users)?);
            }
            if users.is_empty() {
                return say("no users yet: add one with `nabla server user add NAME`");
            }
            let mut text = format!("{:<24} {:<6} {:<20} {:<20} {}\n", "user", "admin", "added", "revoked", "tokens");
            for u in users {
                text.push_str(&format!(
                    "{:<24} {:<6} {:<20} {:<20} {}\n",
                    u.name,
                    if u.admin { "yes" } else { "no" },
                    super::runs::format_time(u.created),
                    u.revoked.map_or_else(|| "-".to_string(), super::runs::format_time),
                    u.active_tokens
                ));
            }
            say(text.trim_end())
        }
    }
}

fn say(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}
