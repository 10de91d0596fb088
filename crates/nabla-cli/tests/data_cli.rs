//! `nabla data list` and `nabla data fetch` as a user runs them. Downloads come from a local
//! HTTP server on 127.0.0.1 serving the shared data, never from the internet.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

/// The shared data folder: `$NABLA_DATA` (relative to the workspace root when relative),
/// else `../shared/data` beside the workspace.
fn shared_data() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("NABLA_DATA").filter(|v| !v.is_empty()) {
        Some(p) if Path::new(&p).is_absolute() => PathBuf::from(p),
        Some(p) => workspace.join(p),
        None => workspace.join("../shared/data"),
    };
    assert!(dir.join("mnist").is_dir(), "shared data not found at {} (set NABLA_DATA)", dir.display());
    dir.canonicalize().unwrap()
}

/// `nabla` with a clean environment: no `$NABLA_DATA` unless a test sets one, and a home
/// folder of its own so the user data directory is empty.
fn nabla(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    cmd.env_remove("NABLA_DATA").env("HOME", home).env("XDG_DATA_HOME", home.join("share"));
    cmd
}

/// Serves files under `root` (URL path `/a/b` is `root/a/b`), with `overrides` in place of
/// some, over HTTP/1.1 on 127.0.0.1, until dropped or for 60 s at most.
struct FileServer {
    port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FileServer {
    fn start(root: PathBuf, overrides: Vec<(&'static str, Vec<u8>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && !line.ends_with("\r\n\r\n") {}
                let body = overrides
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, b)| b.clone())
                    .or_else(|| std::fs::read(root.join(path.trim_start_matches('/'))).ok());
                let mut out = stream;
                let head = match &body {
                    Some(b) => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()),
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                };
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(body.as_deref().unwrap_or_default());
                let _ = out.shutdown(std::net::Shutdown::Both);
            }
        });
        FileServer { port, stop, handle: Some(handle) }
    }

    fn url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}/{prefix}/", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn list_shows_shared_data_present_and_verified() {
    let home = tempfile::tempdir().unwrap();
    let data = shared_data();
    let assert = nabla(home.path()).args(["data", "list"]).env("NABLA_DATA", &data).assert().success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for name in ["mnist", "fashion-mnist", "digits"] {
        let line = format!("{name}: present in {}, checksums verified", data.join(name).display());
        assert!(out.contains(&line), "missing `{line}` in:\n{out}");
    }
    assert!(out.contains(&format!("looked in: {} (NABLA_DATA): complete", data.join("mnist").display())), "{out}");
    assert!(out.contains("(user data dir): absent"), "{out}");
}

#[test]
fn list_json_reports_where_it_looked() {
    let home = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let data = shared_data();
    let assert = nabla(home.path())
        .args(["data", "list", "--json", "--data"])
        .arg(empty.path())
        .env("NABLA_DATA", &data)
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let datasets = json["datasets"].as_array().unwrap();
    assert_eq!(datasets.len(), 3);
    for d in datasets {
        assert_eq!(d["present"], true, "{d}");
        assert_eq!(d["verified"], true, "{d}");
        let looked = d["looked_in"].as_array().unwrap();
        assert_eq!(looked.len(), 3, "{d}");
        assert_eq!((&looked[0]["source"], &looked[0]["complete"]), (&"--data".into(), &false.into()));
        assert_eq!((&looked[1]["source"], &looked[1]["complete"]), (&"NABLA_DATA".into(), &true.into()));
    }
    assert_eq!(datasets[1]["classes"][0], "T-shirt/top");
}

#[test]
fn list_without_data_says_how_to_get_it() {
    let home = tempfile::tempdir().unwrap();
    nabla(home.path())
        .args(["data", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("mnist: not found (get it with `nabla data fetch mnist`)"));
}

#[test]
fn fetch_unknown_data_set_fails_with_the_known_names() {
    let home = tempfile::tempdir().unwrap();
    nabla(home.path())
        .args(["data", "fetch", "cifar10", "--data"])
        .arg(home.path())
        .assert()
        .failure()
        .code(1)
        .stderr("error: unknown data set `cifar10` (known: mnist, fashion-mnist, digits)\n");
}

#[test]
fn fetch_from_a_local_mirror_into_a_temp_dir() {
    let home = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let server = FileServer::start(shared_data(), Vec::new());
    let assert = nabla(home.path())
        .args(["data", "fetch", "digits", "--mirror", &server.url("digits"), "--data"])
        .arg(dest.path())
        .assert()
        .success();
    let output = assert.get_output();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout, format!("digits is in {}\n", dest.path().join("digits").display()));
    assert!(stderr.contains(&format!("digits.csv.gz: downloading {}digits.csv.gz", server.url("digits"))), "{stderr}");
    assert!(stderr.contains("checksum verified"), "{stderr}");
    let fetched = std::fs::read(dest.path().join("digits/digits.csv.gz")).unwrap();
    assert_eq!(fetched, std::fs::read(shared_data().join("digits/digits.csv.gz")).unwrap());

    // Now `data list` finds it there and verifies it; a second fetch downloads nothing.
    nabla(home.path()).args(["data", "list", "--data"]).arg(dest.path()).assert().success().stdout(
        predicate::str::contains(format!(
            "digits: present in {}, checksums verified",
            dest.path().join("digits").display()
        )),
    );
    drop(server);
    nabla(home.path())
        .args(["data", "fetch", "digits", "--mirror", "http://127.0.0.1:9/none/", "--data"])
        .arg(dest.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("already present and verified"));
}

#[test]
fn fetch_of_a_corrupted_file_fails_and_keeps_nothing() {
    let home = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let server = FileServer::start(shared_data(), vec![("/digits/digits.csv.gz", b"not the digits".to_vec())]);
    nabla(home.path())
        .args(["data", "fetch", "digits", "--mirror", &server.url("digits"), "--data"])
        .arg(dest.path())
        .assert()
        .failure()
        .code(1)
        .stderr(
            predicate::str::contains("checksum mismatch").and(predicate::str::contains("the download was not kept")),
        );
    assert_eq!(std::fs::read_dir(dest.path().join("digits")).unwrap().count(), 0);
}

#[test]
fn fetch_into_the_user_data_dir_by_default() {
    let home = tempfile::tempdir().unwrap();
    let server = FileServer::start(shared_data(), Vec::new());
    nabla(home.path()).args(["data", "fetch", "digits", "--mirror", &server.url("digits")]).assert().success();
    assert!(home.path().join("share/nabla/digits/digits.csv.gz").is_file());
}
