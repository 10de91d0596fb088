//! The `nabla` command as the CLI tests run it. The fixtures shared with other crates' tests
//! (the shared data folder, the HTTP file server) are in `nabla-testkit`.

#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// The variables of the user's shell that would make a test read or write the user's own
/// data or store (`NABLA_HOME` is the tracking directory), talk to the user's server
/// (`NABLA_TRACKING_URI`, which `nabla runs list` reads, its token and CA), or time itself
/// (`NABLA_PROFILE`).
pub const USER_ENV: [&str; 6] =
    ["NABLA_DATA", "NABLA_HOME", "NABLA_PROFILE", "NABLA_TRACKING_URI", "NABLA_TOKEN", "NABLA_TLS_CA"];

/// `nabla` with a clean environment: none of [`USER_ENV`] unless a test sets one, and a home
/// folder of its own, so the user data directory and the tracking store are the test's.
pub fn nabla(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    for var in USER_ENV {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home).env("XDG_DATA_HOME", home.join("share"));
    cmd
}

/// `nabla server --port PORT --store STORE` as a child process, once it listens: the child and
/// the address it printed. What it prints next is read and dropped in the background (a closed
/// pipe would stop it at its next line).
pub fn nabla_server(home: &Path, store: &Path, port: u16) -> (std::process::Child, String) {
    nabla_server_with(home, store, port, &[])
}

/// [`nabla_server`] with more flags (`--tls-cert FILE --tls-key FILE`).
pub fn nabla_server_with(home: &Path, store: &Path, port: u16, extra: &[String]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("nabla"));
    for var in USER_ENV {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .env("HOME", home)
        .args(["server", "--port", &port.to_string(), "--store"])
        .arg(store)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("listening on"), "{first}");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    (child, addr)
}

/// `nabla server` as a child process on a free port (or `port`), killed when dropped; `url` is
/// `https://ADDR` when `extra` gives it a certificate, else `http://ADDR`.
pub struct Serving {
    pub child: std::process::Child,
    pub url: String,
}

impl Serving {
    pub fn start(home: &Path, store: &Path, port: u16, extra: &[String]) -> Serving {
        let (child, addr) = nabla_server_with(home, store, port, extra);
        let scheme = if extra.iter().any(|a| a == "--tls-cert") { "https" } else { "http" };
        Serving { child, url: format!("{scheme}://{addr}") }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
