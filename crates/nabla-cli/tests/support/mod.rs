//! Helpers shared by the CLI tests: the shared data folder, a `nabla` command with a clean
//! environment, and a small HTTP file server on 127.0.0.1.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The shared data folder: `$NABLA_DATA` (relative to the workspace root when relative),
/// else `../shared/data` beside the workspace.
pub fn shared_data() -> PathBuf {
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
pub fn nabla(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    cmd.env_remove("NABLA_DATA").env("HOME", home).env("XDG_DATA_HOME", home.join("share"));
    cmd
}

/// Serves files under `root` (URL path `/a/b` is `root/a/b`), with `overrides` in place of
/// some, over HTTP/1.1 on 127.0.0.1, until dropped or for 60 s at most.
pub struct FileServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FileServer {
    pub fn start(root: PathBuf, overrides: Vec<(&'static str, Vec<u8>)>) -> Self {
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

    pub fn url(&self, prefix: &str) -> String {
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
