//! Runs recorded by other processes: one killed with SIGKILL mid-run, and several writing into
//! one store at once.
//!
//! The writer processes are this test binary run again with `CHILD_ENV` set, which makes the
//! `child_process` test act as the writer (without it, that test does nothing).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nabla_track::{EndStatus, Run, RunOptions, RunQuery, RunStatus, Store};
use serde_json::json;

const CHILD_ENV: &str = "NABLA_TRACK_TEST_CHILD";
const DIR_ENV: &str = "NABLA_TRACK_TEST_DIR";

/// Starts this test binary as a writer child in `mode` ("crash" or "writer:N").
fn spawn_child(mode: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child_process", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The writer side. "crash": log a point every ~2 ms and report each step on stdout until
/// killed. "writer:N": log N steps of three metrics, committing in small batches, then finish.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD_ENV) else { return };
    let dir = std::env::var_os(DIR_ENV).unwrap();
    let mut out = std::io::stdout();
    if mode == "crash" {
        let opts = RunOptions::new("crash")
            .heartbeat_interval(Duration::from_millis(200))
            .system_interval(Some(Duration::from_millis(100)));
        let mut run = Run::start(&dir, opts).unwrap();
        writeln!(out, "\n@@id {}", run.id()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut step = 0u64;
        while Instant::now() < deadline {
            run.log(step, &[("loss", step as f64)]).unwrap();
            writeln!(out, "@@step {step}").unwrap();
            out.flush().unwrap();
            step += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the parent never killed this process");
    }
    let steps: u64 = mode.strip_prefix("writer:").unwrap().parse().unwrap();
    let mut opts = RunOptions::new("concurrent")
        .config(json!({"pid": std::process::id()}))
        .flush_interval(Duration::from_millis(2))
        .heartbeat_interval(Duration::from_millis(50))
        .system_interval(Some(Duration::from_millis(50)));
    opts.batch_points = 256;
    let mut run = Run::start(&dir, opts).unwrap();
    writeln!(out, "\n@@id {}", run.id()).unwrap();
    for step in 0..steps {
        let x = step as f64;
        run.log(step, &[("a", x), ("b", -x), ("c", x * 0.5)]).unwrap();
        if step % 500 == 0 {
            run.summary("progress", step).unwrap();
        }
    }
    run.summary("progress", steps).unwrap();
    run.finish(EndStatus::Finished).unwrap();
}

/// Reads `@@id ID` and `@@step N` lines from a child's stdout on a thread, stamping each with the
/// time it arrived.
fn read_lines(child: &mut Child) -> mpsc::Receiver<(Instant, String)> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The test harness may have printed on the same line before the marker.
            if let Some((_, message)) = line.split_once("@@") {
                if tx.send((Instant::now(), message.to_string())).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

#[test]
fn a_killed_run_shows_crashed_and_keeps_its_points() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn_child("crash", tmp.path());
    let lines = read_lines(&mut child);
    let (_, first) = lines.recv_timeout(Duration::from_secs(30)).expect("the child printed no id");
    let id = first.strip_prefix("id ").unwrap().to_string();
    let mut steps: Vec<(Instant, u64)> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        if let Ok((at, line)) = lines.recv_timeout(Duration::from_millis(100)) {
            steps.push((at, line.strip_prefix("step ").unwrap().parse().unwrap()));
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no finish.
    let killed = Instant::now();
    child.wait().unwrap();

    let must_keep = steps.iter().filter(|(at, _)| killed.duration_since(*at) > Duration::from_secs(1)).map(|(_, s)| *s);
    let must_keep = must_keep.max().expect("the child logged nothing in its first half second");
    let store = Store::open_read_only(tmp.path()).unwrap();
    let kept: Vec<u64> = store.history(&id, "loss", ..).unwrap().iter().map(|p| p.step).collect();
    assert!(
        kept.len() as u64 > must_keep,
        "kept {} points, but step {must_keep} was logged > 1 s before the kill",
        kept.len()
    );
    assert!(kept.iter().enumerate().all(|(i, &s)| s == i as u64), "steps kept are not 0, 1, 2, …");

    // Running until its heartbeat goes stale, then crashed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = store.run(&id).unwrap().status;
    while status != RunStatus::Crashed && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        status = store.run(&id).unwrap().status;
    }
    assert_eq!(status, RunStatus::Crashed);
    let run = store.run(&id).unwrap();
    assert!(run.ended.is_none());
    assert!(store.metrics(&id).unwrap().iter().any(|m| m.name == "sys/rss_mb"));
    let crashed = RunQuery::parse(None, &["status=crashed".into()], None, None).unwrap();
    assert_eq!(store.runs(&crashed).unwrap().len(), 1);
}

#[test]
fn four_processes_write_into_one_store_and_lose_nothing() {
    const WRITERS: usize = 4;
    const STEPS: u64 = 3000;
    let tmp = tempfile::tempdir().unwrap();
    // All four start on a store that does not exist yet: creating and migrating it races too.
    let mut children: Vec<Child> = (0..WRITERS).map(|_| spawn_child(&format!("writer:{STEPS}"), tmp.path())).collect();
    let mut ids = Vec::new();
    for child in &mut children {
        let lines = read_lines(child);
        let status = child.wait().unwrap();
        assert!(status.success(), "a writer failed: {status}");
        let (_, line) = lines.recv_timeout(Duration::from_secs(5)).unwrap();
        ids.push(line.strip_prefix("id ").unwrap().to_string());
    }
    let store = Store::open_read_only(tmp.path()).unwrap();
    let runs = store.runs(&RunQuery::parse(Some("concurrent"), &[], None, None).unwrap()).unwrap();
    assert_eq!(runs.len(), WRITERS);
    for id in &ids {
        let run = store.run(id).unwrap();
        assert_eq!(run.status, RunStatus::Finished);
        assert_eq!(run.summary["progress"], STEPS);
        for (name, sign) in [("a", 1.0), ("b", -1.0), ("c", 0.5)] {
            let points = store.history(id, name, ..).unwrap();
            assert_eq!(points.len() as u64, STEPS, "run {id} metric {name}");
            assert!(points.iter().enumerate().all(|(i, p)| p.step == i as u64 && p.value == sign * i as f64));
        }
    }
}
