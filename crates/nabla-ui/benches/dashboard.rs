//! The dashboard's API under load, end to end over HTTP on loopback: a store seeded with 1,000
//! runs of one project (config, summary and two 100-point metrics each) and one run whose
//! `train/loss` has 1,000,000 points. The targets: the runs list under 300 ms, the
//! downsampled metric (2,000 points) under 100 ms, also for the first request on a freshly
//! started server. The first requests are timed on five fresh servers in this process and five
//! in new processes (this bench run again as a child); then criterion times the warm requests.
//!
//! Run: `cargo bench -p nabla-ui --bench dashboard` (seeding takes about 30 s).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::Criterion;
use nabla_testkit::store::record_run;
use nabla_track::{EndStatus, RunOptions};
use nabla_ui::{Server, ServerOptions};
use serde_json::json;

const RUNS: usize = 1_000;
const LONG_POINTS: u64 = 1_000_000;

/// Seeds the store; returns the id of the long run.
fn seed(dir: &Path) -> String {
    for i in 0..RUNS {
        let lr = [0.001, 0.003, 0.01, 0.03, 0.1][i % 5];
        let hidden = [64, 128, 256, 512][i % 4];
        let optimizer = ["sgd", "adam"][i % 2];
        let config = json!({
            "lr": lr, "hidden": hidden, "optimizer": optimizer,
            "batch_size": 128, "epochs": 10, "seed": i, "dropout": 0.1 * (i % 3) as f64,
        });
        let opts = RunOptions::new("sweep").name(format!("run-{i:04}")).config(config);
        record_run(dir, opts, |run| {
            for step in 0..100u64 {
                let loss = 2.3 / (1.0 + step as f64 * lr * 10.0);
                run.log(step, &[("train/loss", loss), ("train/lr", lr)]).expect("log");
            }
            run.summary("test_acc", 0.9 + (i % 97) as f64 / 1000.0).expect("summary");
            run.summary("best_loss", 0.05 + (i % 13) as f64 / 100.0).expect("summary");
            EndStatus::Finished
        });
    }
    record_run(dir, RunOptions::new("long").name("one-million"), |run| {
        for step in 0..LONG_POINTS {
            let value = 2.0 * (-(step as f64) / 200_000.0).exp() + 0.1 * (step as f64 * 0.01).sin();
            run.log(step, &[("train/loss", value)]).expect("log");
        }
        EndStatus::Finished
    })
}

/// One GET over a fresh connection; panics unless it answers 200. Returns the body's length.
fn get(addr: SocketAddr, path: &str) -> usize {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    assert!(raw.starts_with(b"HTTP/1.1 200"), "{path}: {}", String::from_utf8_lossy(&raw[..raw.len().min(300)]));
    raw.len()
}

/// Set in a child process of this bench: serve the store in this directory, time one request
/// (the path in `COLD_PATH_ENV`) and print the milliseconds.
const COLD_DIR_ENV: &str = "NABLA_UI_BENCH_COLD_DIR";
const COLD_PATH_ENV: &str = "NABLA_UI_BENCH_COLD_PATH";

/// The first request on a fresh server with nothing summarised in memory (no background
/// summarising either): the time from sending it until the whole answer is read, in ms.
fn first_request(dir: &Path, path: &str) -> f64 {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let cold = Server::start(ServerOptions::new(loopback, dir).prewarm(false)).expect("serve");
    let start = Instant::now();
    get(cold.addr(), path);
    start.elapsed().as_secs_f64() * 1e3
}

/// [`first_request`] in a new process of this bench (nothing of this process's state shared).
fn first_request_in_new_process(dir: &Path, path: &str) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env(COLD_DIR_ENV, dir)
        .env(COLD_PATH_ENV, path)
        .output()
        .expect("start the bench again");
    assert!(out.status.success(), "child: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("milliseconds from the child")
}

/// The median, min and max of five measurements.
fn five(mut measure: impl FnMut() -> f64) -> (f64, f64, f64) {
    let mut times: Vec<f64> = (0..5).map(|_| measure()).collect();
    times.sort_by(f64::total_cmp);
    (times[2], times[0], times[4])
}

/// Criterion entry point (a plain `main`, as the bench has `harness = false`).
fn main() {
    if let (Some(dir), Some(path)) = (std::env::var_os(COLD_DIR_ENV), std::env::var(COLD_PATH_ENV).ok()) {
        let ms = first_request(Path::new(&dir), &path);
        let _ = writeln!(std::io::stdout(), "{ms}");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let long = seed(tmp.path());
    let seeded = started.elapsed();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "seeded {RUNS} runs and a {LONG_POINTS}-point run in {:.1} s", seeded.as_secs_f64());
    // The first request of each kind on a fresh server: a new server in this process, and a
    // new process; five of each, the store written and its file in the OS cache.
    for (name, path) in [
        ("cold runs_list_1000", "/api/runs?project=sweep".to_string()),
        ("cold run_page_1M", format!("/api/runs/{long}")),
        ("cold history_1M_to_2000", format!("/api/runs/{long}/metrics/train/loss?points=2000")),
    ] {
        let (median, min, max) = five(|| first_request(tmp.path(), &path));
        let _ = writeln!(out, "{name}: median {median:.1} ms (min {min:.1}, max {max:.1}) over 5 fresh servers");
        let (median, min, max) = five(|| first_request_in_new_process(tmp.path(), &path));
        let _ = writeln!(out, "{name}: median {median:.1} ms (min {min:.1}, max {max:.1}) over 5 fresh processes");
    }
    drop(out);
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = Server::start(ServerOptions::new(loopback, tmp.path())).expect("serve");
    let addr = server.addr();
    // The background summarising of the recent runs is done once the long run's page answers.
    get(addr, &format!("/api/runs/{long}"));

    let mut criterion =
        Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5)).configure_from_args();
    let mut group = criterion.benchmark_group("dashboard_api");
    let requests = [
        ("runs_list_1000", "/api/runs?project=sweep".to_string()),
        ("runs_list_first_page_100", "/api/runs?project=sweep&limit=100".to_string()),
        ("run_page_1M", format!("/api/runs/{long}")),
        ("history_1M_to_2000", format!("/api/runs/{long}/metrics/train/loss?points=2000")),
        (
            "history_1M_zoom_10k_to_2000",
            format!("/api/runs/{long}/metrics/train/loss?points=2000&from=500000&to=510000"),
        ),
        ("history_100_points", "/api/runs/{first}/metrics/train/loss?points=2000".to_string()),
    ];
    let first = {
        let mut stream = TcpStream::connect(addr).expect("connect");
        write!(stream, "GET /api/runs?project=sweep&limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let at = raw.find("\"id\":\"").expect("a run id") + 6;
        raw[at..at + raw[at..].find('"').expect("end of id")].to_string()
    };
    for (name, path) in requests {
        let path = path.replace("{first}", &first);
        group.bench_function(name, |b| b.iter(|| get(addr, &path)));
    }
    group.finish();
    criterion.final_summary();
    drop(server);
}
