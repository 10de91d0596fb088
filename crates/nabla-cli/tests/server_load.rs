//! The shared server under load, on loopback: 50 clients each log 20,000 points in batches of
//! 1,000 while the server is killed with SIGKILL and restarted twice; at the end every point
//! is in the store exactly once. Clients retry a batch (same batch id) until the server
//! answers, as `nabla_track::Remote` does. Prints the sustained points per second, the p50/p99
//! latency of a log request and the server's peak memory (docs/benchmarks/tracker.md keeps the
//! figures). Bounded: about half a minute here.

mod support;

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nabla_track::Store;
use serde_json::{json, Value};

const CLIENTS: usize = 50;
const POINTS: u64 = 20_000;
const BATCH: u64 = 1_000;

/// `nabla server` on `port` as a child process.
fn serve(home: &Path, store: &Path, port: u16) -> std::process::Child {
    support::nabla_server(home, store, port).0
}

/// One request; `None` when the connection failed (the server is down or was killed mid-way).
fn call(port: u16, method: &str, path: &str, token: &str, body: &Value) -> Option<(u16, Value)> {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let body = body.to_string();
    let (status, _, bytes) =
        nabla_testkit::http::request(port, method, path, "127.0.0.1", &headers, body.as_bytes()).ok()?;
    Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// Sends until the server answers 2xx; panics on a 4xx (a bug, not an outage).
fn until_ok(port: &AtomicU64, method: &str, path: &str, token: &str, body: &Value, latencies: &Mutex<Vec<f64>>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let start = Instant::now();
        match call(port.load(Ordering::Relaxed) as u16, method, path, token, body) {
            Some((status, _)) if (200..300).contains(&status) => {
                latencies.lock().unwrap().push(start.elapsed().as_secs_f64());
                return;
            }
            Some((status, answer)) if (400..500).contains(&status) => panic!("{method} {path}: {status} {answer}"),
            _ => {
                assert!(Instant::now() < deadline, "{method} {path}: the server never came back");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn fifty_clients_lose_nothing_while_the_server_is_killed_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let tokens: Vec<String> = {
        let mut s = Store::open(&store).unwrap();
        (0..CLIENTS).map(|i| s.add_user(&format!("student-{i}"), false).unwrap()).collect()
    };
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
    let port_cell = Arc::new(AtomicU64::new(u64::from(port)));
    let mut server = serve(tmp.path(), &store, port);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (token, port, latencies, sent) = (tokens[i].clone(), port_cell.clone(), latencies.clone(), sent.clone());
            std::thread::spawn(move || {
                let id = format!("{:0>12}", format!("c{i}"));
                let init = json!({"id": id, "project": format!("load-{i}")});
                until_ok(&port, "POST", "/api/runs", &token, &init, &latencies);
                for b in 0..POINTS / BATCH {
                    let points: Vec<Value> = (b * BATCH..(b + 1) * BATCH)
                        .map(|s| json!({"metric": "train/loss", "step": s, "value": 1.0 / (s as f64 + 1.0), "wall_time": 1.0}))
                        .collect();
                    let body = json!({"batch": format!("b{b}"), "points": points});
                    until_ok(&port, "POST", &format!("/api/runs/{id}/points"), &token, &body, &latencies);
                    sent.fetch_add(BATCH, Ordering::Relaxed);
                }
                id
            })
        })
        .collect();

    // Kill the server twice while the clients log, each time once a third more has arrived.
    let total = CLIENTS as u64 * POINTS;
    let mut peak_kb = 0;
    for k in 1..=2u64 {
        while sent.load(Ordering::Relaxed) < total * k / 3 && !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        peak_kb = peak_kb.max(peak_rss_kb(server.id()));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        server = serve(tmp.path(), &store, port);
    }
    let ids: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    done.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    peak_kb = peak_kb.max(peak_rss_kb(server.id()));
    server.kill().unwrap();
    server.wait().unwrap();

    let s = Store::open_read_only(&store).unwrap();
    for id in &ids {
        let history = s.history(id, "train/loss", ..).unwrap();
        assert_eq!(history.len() as u64, POINTS, "run {id}");
        assert!(history.iter().enumerate().all(|(i, p)| p.step == i as u64), "run {id}: every step once");
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize] * 1e3;
    // The figures for docs/benchmarks/tracker.md (seen with `--nocapture`).
    #[allow(clippy::print_stdout)]
    {
        println!(
        "load: {CLIENTS} clients x {POINTS} points in batches of {BATCH}, server SIGKILLed twice: {:.1} s, {:.0} points/s, \
         log request p50 {:.1} ms, p99 {:.1} ms, server peak RSS {:.0} MB",
        elapsed,
        total as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        peak_kb as f64 / 1024.0
    );
    }
}
