//! A small HTTP/1.1 file server on 127.0.0.1 for the download tests: files from a folder,
//! bodies put in place of some, `Range` requests, failures injected, and a log of requests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the file server behaves.
#[derive(Debug, Clone, Default)]
pub struct FileServerOptions {
    /// Folder served (URL path `/a/b` is `root/a/b`).
    pub root: Option<PathBuf>,
    /// Bodies served in place of files, by URL path.
    pub overrides: HashMap<String, Vec<u8>>,
    /// Answer `Range` requests with 206 (else always 200 with the whole file).
    pub honour_range: bool,
    /// Answer the first this-many requests with 503.
    pub fail_first: usize,
    /// Cut the first successful response after this many body bytes.
    pub cut_first_at: Option<usize>,
}

impl FileServerOptions {
    /// The files under `root`, whole, with no failures.
    pub fn serving(root: PathBuf) -> Self {
        FileServerOptions { root: Some(root), ..FileServerOptions::default() }
    }
}

/// One request the server saw: its path, `Range` header and the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The URL path asked for.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// An HTTP/1.1 server on 127.0.0.1 that answers one connection at a time and stops when
/// dropped or after 60 s, whichever comes first.
pub struct FileServer {
    /// The port it listens on.
    pub port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Starts serving on a free port.
    pub fn start(options: FileServerOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut state = options;
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve(stream, &mut state, &seen2);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FileServer { port, seen, stop, handle: Some(handle) }
    }

    /// `http://127.0.0.1:PORT/prefix/`
    pub fn url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}/{prefix}/", self.port)
    }

    /// The requests answered so far, in order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
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

fn serve(stream: TcpStream, state: &mut FileServerOptions, seen: &Mutex<Vec<SeenRequest>>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let body = state
        .overrides
        .get(&path)
        .cloned()
        .or_else(|| state.root.as_ref().and_then(|r| std::fs::read(r.join(path.trim_start_matches('/'))).ok()));
    let mut out = stream;
    let (status, head, payload): (u16, String, &[u8]) = if state.fail_first > 0 {
        state.fail_first -= 1;
        (503, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n".into(), &[])
    } else if let Some(body) = &body {
        let start = range
            .as_deref()
            .filter(|_| state.honour_range)
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|s| s.parse::<usize>().ok());
        match start {
            Some(s) if s >= body.len() => (
                416,
                format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\n",
                    body.len()
                ),
                &[][..],
            ),
            Some(s) => (
                206,
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\nContent-Length: {}\r\n",
                    body.len() - 1,
                    body.len(),
                    body.len() - s
                ),
                &body[s..],
            ),
            None => (200, format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len()), &body[..]),
        }
    } else {
        (404, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n".into(), &[])
    };
    seen.lock().unwrap().push(SeenRequest { path, range, status });
    out.write_all(format!("{head}Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n").as_bytes())?;
    let payload = match state.cut_first_at.take() {
        Some(cut) if status < 300 && cut < payload.len() => &payload[..cut],
        other => {
            state.cut_first_at = other.filter(|_| status >= 300);
            payload
        }
    };
    out.write_all(payload)?;
    out.flush()?;
    let _ = out.shutdown(std::net::Shutdown::Both);
    Ok(())
}
