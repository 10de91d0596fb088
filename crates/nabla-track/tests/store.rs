//! Recording runs and reading them back, in one process.

use std::path::Path;
use std::time::Duration;

use nabla_track::{EndStatus, Run, RunOptions, RunQuery, RunStatus, Store, TrackError, DB_FILE, SCHEMA_VERSION};
use serde_json::json;

/// Options for a quiet test run: no system sampler, the caller's project and config.
fn options(project: &str, config: serde_json::Value) -> RunOptions {
    RunOptions::new(project).config(config).system_interval(None)
}

#[test]
fn logged_points_summary_and_status_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = Run::start(tmp.path(), options("mnist", json!({"lr": 0.1})).name("first").tags(["a", "b"])).unwrap();
    let id = run.id().to_string();
    assert_eq!(run.tracking_dir(), tmp.path());
    assert_eq!(run.show_command(), format!("nabla runs show {id}"));
    for step in 0..100u64 {
        run.log(step, &[("train/loss", 1.0 / (step as f64 + 1.0)), ("train/acc", step as f64 / 100.0)]).unwrap();
    }
    run.log(1000, &[("val/acc", 0.97)]).unwrap();
    run.summary("test_acc", 0.98).unwrap();
    run.summary("note", "ok").unwrap();
    run.finish(EndStatus::Finished).unwrap();

    let store = Store::open_read_only(tmp.path()).unwrap();
    let runs = store.runs(&RunQuery::default()).unwrap();
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    assert_eq!((r.id.as_str(), r.project.as_str(), r.name.as_deref()), (id.as_str(), "mnist", Some("first")));
    assert_eq!(r.status, RunStatus::Finished);
    assert_eq!(r.config, json!({"lr": 0.1}));
    assert_eq!(r.summary, json!({"test_acc": 0.98, "note": "ok"}));
    assert_eq!(r.tags, ["a", "b"]);
    assert!(r.ended.is_some() && r.duration(0.0) >= 0.0);
    assert_eq!(r.meta.nabla_version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(r.meta.command.is_some() && r.meta.threads.is_some());

    let metrics = store.metrics(&id).unwrap();
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["train/acc", "train/loss", "val/acc"]);
    assert_eq!((metrics[1].points, metrics[1].last_step, metrics[1].last_value), (100, Some(99), Some(0.01)));
    let history = store.history(&id, "train/loss", ..).unwrap();
    assert_eq!(history.len(), 100);
    assert!(history.iter().enumerate().all(|(i, p)| p.step == i as u64 && p.value == 1.0 / (i as f64 + 1.0)));
    assert!(history.windows(2).all(|w| w[0].wall_time <= w[1].wall_time));
    assert_eq!(
        store.history(&id, "train/loss", 10..13).unwrap().iter().map(|p| p.step).collect::<Vec<_>>(),
        [10, 11, 12]
    );
    let page = store.history_after(&id, "train/loss", Some(97), 10).unwrap();
    assert_eq!(page.iter().map(|p| p.step).collect::<Vec<_>>(), [98, 99]);
    assert!(matches!(store.history(&id, "nope", ..), Err(TrackError::UnknownMetric { .. })));
    // A unique prefix finds the run; an unknown id is an error.
    assert_eq!(store.run(&id[..8]).unwrap().id, id);
    assert!(matches!(store.run("zzzzzzzz"), Err(TrackError::UnknownRun(_))));
}

#[test]
fn a_step_not_after_the_last_one_is_an_error_and_logs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = Run::start(tmp.path(), options("p", json!({}))).unwrap();
    run.log(5, &[("loss", 1.0)]).unwrap();
    let err = run.log(5, &[("loss", 2.0)]).unwrap_err();
    assert!(matches!(err, TrackError::StepNotIncreasing { step: 5, last: 5, .. }), "{err}");
    assert_eq!(err.to_string(), "metric `loss`: step 5 is not after the last logged step 5 (steps must increase)");
    assert!(run.log(3, &[("loss", 3.0)]).is_err());
    // One bad metric rejects the whole call: `acc` is not logged at step 4 either.
    assert!(run.log(4, &[("acc", 0.5), ("loss", 4.0)]).is_err());
    // The same name twice in one call.
    assert!(run.log(9, &[("acc", 0.5), ("acc", 0.6)]).is_err());
    // Steps are per metric: another metric may start lower.
    run.log(1, &[("acc", 0.1)]).unwrap();
    run.log(6, &[("loss", 6.0), ("acc", 0.6)]).unwrap();
    assert!(matches!(run.log(u64::MAX, &[("loss", 0.0)]), Err(TrackError::StepTooLarge(_))));
    assert!(matches!(run.log(7, &[("sys/mine", 0.0)]), Err(TrackError::InvalidMetricName { .. })));
    assert!(matches!(run.log(7, &[("", 0.0)]), Err(TrackError::InvalidMetricName { .. })));
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();

    let store = Store::open_read_only(tmp.path()).unwrap();
    let steps = |m: &str| store.history(&id, m, ..).unwrap().iter().map(|p| (p.step, p.value)).collect::<Vec<_>>();
    assert_eq!(steps("loss"), [(5, 1.0), (6, 6.0)]);
    assert_eq!(steps("acc"), [(1, 0.1), (6, 0.6)]);
}

#[test]
fn nan_and_infinities_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = Run::start(tmp.path(), options("p", json!({}))).unwrap();
    run.log(0, &[("loss", f64::NAN)]).unwrap();
    run.log(1, &[("loss", f64::INFINITY)]).unwrap();
    run.log(2, &[("loss", f64::NAN)]).unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Failed).unwrap();
    let store = Store::open_read_only(tmp.path()).unwrap();
    let h = store.history(&id, "loss", ..).unwrap();
    assert!(h[0].value.is_nan() && h[1].value == f64::INFINITY && h[2].value.is_nan());
    assert!(store.metrics(&id).unwrap()[0].last_value.unwrap().is_nan());
    assert_eq!(store.run(&id).unwrap().status, RunStatus::Failed);
}

#[test]
fn the_sampler_logs_system_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = RunOptions::new("p").system_interval(Some(Duration::from_millis(40)));
    let run = Run::start(tmp.path(), opts).unwrap();
    let id = run.id().to_string();
    std::thread::sleep(Duration::from_millis(400));
    run.finish(EndStatus::Finished).unwrap();
    let store = Store::open_read_only(tmp.path()).unwrap();
    let metrics = store.metrics(&id).unwrap();
    for name in ["sys/cpu_percent", "sys/rss_mb", "sys/mem_used_percent"] {
        let m = metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no {name} in {metrics:?}"));
        assert!(m.points >= 2, "{m:?}");
        assert!(m.last_value.unwrap() >= 0.0, "{m:?}");
    }
    let rss = metrics.iter().find(|m| m.name == "sys/rss_mb").unwrap();
    assert!(rss.last_value.unwrap() > 1.0, "{rss:?}");
    let system = store.run(&id).unwrap().system;
    assert!(system["logical_cpus"].as_u64().unwrap() >= 1, "{system}");
}

#[test]
fn dropping_an_unfinished_run_marks_it_failed_and_keeps_its_points() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = Run::start(tmp.path(), options("p", json!({}))).unwrap();
    run.log(0, &[("loss", 1.0)]).unwrap();
    let id = run.id().to_string();
    drop(run);
    let interrupted = Run::start(tmp.path(), options("p", json!({}))).unwrap();
    let id2 = interrupted.id().to_string();
    interrupted.finish(EndStatus::Interrupted).unwrap();
    let store = Store::open_read_only(tmp.path()).unwrap();
    assert_eq!(store.run(&id).unwrap().status, RunStatus::Failed);
    assert_eq!(store.history(&id, "loss", ..).unwrap().len(), 1);
    assert_eq!(store.run(&id2).unwrap().status, RunStatus::Interrupted);
}

#[test]
fn a_running_run_keeps_its_heartbeat_and_is_not_crashed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run =
        Run::start(tmp.path(), options("p", json!({})).heartbeat_interval(Duration::from_millis(50))).unwrap();
    run.log(0, &[("x", 0.0)]).unwrap();
    let store = Store::open_read_only(tmp.path()).unwrap();
    let first = store.run(run.id()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let later = store.run(run.id()).unwrap();
    assert_eq!(later.status, RunStatus::Running);
    assert!(later.heartbeat > first.heartbeat, "{} {}", later.heartbeat, first.heartbeat);
    // Logged points are readable before the run ends.
    assert_eq!(store.history(run.id(), "x", ..).unwrap().len(), 1);
    run.finish(EndStatus::Finished).unwrap();
}

#[test]
fn artifacts_are_stored_once_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("model.safetensors");
    std::fs::write(&file, b"weights").unwrap();
    let dir = tmp.path().join("track");
    let mut a = Run::start(&dir, options("p", json!({}))).unwrap();
    let rec = a.log_artifact_path(&file, "checkpoint").unwrap();
    assert_eq!((rec.name.as_str(), rec.kind.as_str(), rec.bytes), ("model.safetensors", "checkpoint", 7));
    assert_eq!(std::fs::read(&rec.path).unwrap(), b"weights");
    let mut b = Run::start(&dir, options("p", json!({}))).unwrap();
    let same = b.log_artifact_bytes("copy.bin", b"weights", "checkpoint").unwrap();
    assert_eq!(same.sha256, rec.sha256);
    let (ida, idb) = (a.id().to_string(), b.id().to_string());
    a.finish(EndStatus::Finished).unwrap();
    b.finish(EndStatus::Finished).unwrap();
    let store = Store::open_read_only(&dir).unwrap();
    assert_eq!(store.artifacts(&ida).unwrap(), std::slice::from_ref(&rec));
    assert_eq!(store.artifacts(&idb).unwrap()[0].name, "copy.bin");
    let files: Vec<_> = walk(&dir.join("artifacts"))
        .into_iter()
        .filter(|p| p.parent().unwrap().file_name().is_some_and(|d| d.len() == 2))
        .collect();
    assert_eq!(files.len(), 1, "one copy of the content in its shard: {files:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn delete_then_gc_frees_only_unreferenced_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut keep = Run::start(tmp.path(), options("p", json!({}))).unwrap();
    keep.log_artifact_bytes("shared", b"shared bytes", "checkpoint").unwrap();
    let mut gone = Run::start(tmp.path(), options("p", json!({}))).unwrap();
    gone.log(0, &[("loss", 1.0)]).unwrap();
    gone.log_artifact_bytes("shared", b"shared bytes", "checkpoint").unwrap();
    let own = gone.log_artifact_bytes("own", b"0123456789", "plot").unwrap();
    let (keep_id, gone_id) = (keep.id().to_string(), gone.id().to_string());
    keep.finish(EndStatus::Finished).unwrap();
    gone.finish(EndStatus::Finished).unwrap();

    let mut store = Store::open(tmp.path()).unwrap();
    // Within the grace period nothing goes.
    assert_eq!(store.delete_run(&gone_id).unwrap(), 1);
    assert_eq!(store.gc(Duration::from_secs(3600)).unwrap().files, 0);
    let report = store.gc(Duration::ZERO).unwrap();
    assert_eq!((report.files, report.bytes, report.kept), (1, 10, 1));
    assert!(!own.path.exists());
    assert!(matches!(store.run(&gone_id), Err(TrackError::UnknownRun(_))));
    assert_eq!(store.artifacts(&keep_id).unwrap().len(), 1);
    assert!(store.artifacts(&keep_id).unwrap()[0].path.exists());
    assert_eq!(store.gc(Duration::ZERO).unwrap().files, 0);
}

#[test]
fn filters_and_sort_keys_select_and_order_runs() {
    let tmp = tempfile::tempdir().unwrap();
    for (lr, acc, project) in [(0.1, 0.97, "mnist"), (0.01, 0.99, "mnist"), (0.5, 0.90, "xor")] {
        let mut run = Run::start(tmp.path(), options(project, json!({"lr": lr, "opt": {"name": "sgd"}}))).unwrap();
        run.summary("test_acc", acc).unwrap();
        run.finish(EndStatus::Finished).unwrap();
    }
    let store = Store::open_read_only(tmp.path()).unwrap();
    let lrs = |project: Option<&str>, filters: &[&str], sort: Option<&str>| -> Vec<f64> {
        let filters: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        let q = RunQuery::parse(project, &filters, sort, None).unwrap();
        store.runs(&q).unwrap().iter().map(|r| r.config["lr"].as_f64().unwrap()).collect()
    };
    assert_eq!(lrs(None, &["config.lr>0.05"], Some("config.lr")), [0.1, 0.5]);
    assert_eq!(lrs(None, &["summary.test_acc>=0.97"], Some("-summary.test_acc")), [0.01, 0.1]);
    assert_eq!(lrs(Some("mnist"), &[], Some("-config.lr")), [0.1, 0.01]);
    assert_eq!(lrs(None, &["status=finished", "config.opt.name=sgd", "project!=xor"], Some("config.lr")), [0.01, 0.1]);
    assert_eq!(lrs(None, &["status=crashed"], None).len(), 0);
    assert_eq!(lrs(None, &["config.missing=1"], None).len(), 0);
    let q = RunQuery { limit: Some(1), ..RunQuery::parse(None, &[], Some("-summary.test_acc"), None).unwrap() };
    assert_eq!(store.runs(&q).unwrap().len(), 1);
    assert!(RunQuery::parse(None, &["bogus>1".into()], None, None).is_err());
}

#[test]
fn export_then_import_into_another_store_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let (from, to, out) = (tmp.path().join("from"), tmp.path().join("to"), tmp.path().join("out"));
    let mut run = Run::start(&from, options("p", json!({"lr": 0.1})).name("r,1").tags(["t"])).unwrap();
    for step in 0..50u64 {
        run.log(step, &[("loss", (step as f64).sqrt()), ("odd, \"name\"", f64::NAN)]).unwrap();
    }
    run.log_artifact_bytes("model.bin", b"abc", "checkpoint").unwrap();
    run.summary("best", json!({"loss": 0.5})).unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();

    let source = Store::open_read_only(&from).unwrap();
    let folder = source.export_run(&id[..6], &out).unwrap();
    assert_eq!(folder, out.join(&id));
    let mut target = Store::open(&to).unwrap();
    assert_eq!(target.import_runs(&out).unwrap(), std::slice::from_ref(&id));
    assert_eq!(target.run(&id).unwrap(), source.run(&id).unwrap());
    let strip = |mut v: Vec<nabla_track::MetricSummary>| {
        for m in &mut v {
            m.last_value = m.last_value.filter(|x| !x.is_nan());
        }
        v
    };
    assert_eq!(strip(target.metrics(&id).unwrap()), strip(source.metrics(&id).unwrap()));
    for m in source.metrics(&id).unwrap() {
        let a = source.history(&id, &m.name, ..).unwrap();
        let b = target.history(&id, &m.name, ..).unwrap();
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert_eq!((a.step, a.value.to_bits(), a.wall_time), (b.step, b.value.to_bits(), b.wall_time));
        }
    }
    let art = &target.artifacts(&id).unwrap()[0];
    assert_eq!(std::fs::read(&art.path).unwrap(), b"abc");
    // Importing again is refused and changes nothing.
    assert!(matches!(target.import_runs(&folder), Err(TrackError::RunExists(_))));
    assert_eq!(target.runs(&RunQuery::default()).unwrap().len(), 1);
}

/// Closes every connection's WAL so that the database file alone holds the store.
fn checkpointed_store(dir: &Path) -> std::path::PathBuf {
    let run = Run::start(dir, options("p", json!({}))).unwrap();
    run.finish(EndStatus::Finished).unwrap();
    dir.join(DB_FILE)
}

#[test]
fn a_store_from_a_newer_schema_is_refused_and_left_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let db = checkpointed_store(tmp.path());
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        conn.pragma_update(None, "journal_mode", "delete").unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    for err in [
        Store::open(tmp.path()).unwrap_err(),
        Store::open_read_only(tmp.path()).unwrap_err(),
        Run::start(tmp.path(), options("p", json!({}))).unwrap_err(),
    ] {
        assert!(matches!(err, TrackError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
        assert!(err.to_string().contains("upgrade nabla"), "{err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn a_corrupt_database_file_is_an_error_and_left_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join(DB_FILE);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    for err in [
        Store::open(tmp.path()).unwrap_err(),
        Store::open_read_only(tmp.path()).unwrap_err(),
        Run::start(tmp.path(), options("p", json!({}))).unwrap_err(),
    ] {
        assert!(matches!(err, TrackError::Corrupt { .. }), "{err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

// As root (CI), the checks run as `nobody`, whom the permissions do stop (issue 21: they
// returned early as root, testing nothing).
#[cfg(unix)]
#[test]
fn a_write_protected_database_is_a_read_only_error() {
    use std::os::unix::fs::PermissionsExt;
    let checks = |dir: &Path| {
        let db = dir.join(DB_FILE);
        let before = std::fs::read(&db).unwrap();
        assert!(std::fs::OpenOptions::new().write(true).open(&db).is_err(), "the database is writable");
        let err = Store::open(dir).unwrap_err();
        assert!(matches!(err, TrackError::ReadOnly { .. }), "{err}");
        assert_eq!(std::fs::read(&db).unwrap(), before);
        // Reading still works.
        assert_eq!(Store::open_read_only(dir).unwrap().runs(&RunQuery::default()).unwrap().len(), 1);
    };
    if let Some(dir) = nabla_testkit::unprivileged::child_dir() {
        return checks(&dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = checkpointed_store(tmp.path());
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    nabla_testkit::unprivileged::run("a_write_protected_database_is_a_read_only_error", tmp.path(), checks);
}

/// Two exported runs with an artifact each, in `out`; returns their folders.
fn two_exports(tmp: &Path, out: &Path) -> Vec<std::path::PathBuf> {
    let from = tmp.join("from");
    let mut folders = Vec::new();
    for k in 0..2 {
        let mut run = Run::start(&from, options("p", json!({"k": k}))).unwrap();
        run.log(0, &[("loss", 1.0)]).unwrap();
        run.log_artifact_bytes("model.bin", format!("weights {k}").as_bytes(), "checkpoint").unwrap();
        let id = run.id().to_string();
        run.finish(EndStatus::Finished).unwrap();
        folders.push(Store::open_read_only(&from).unwrap().export_run(&id, out).unwrap());
    }
    folders
}

/// Rewrites the `file` of the first artifact in `folder`'s run.json.
fn point_artifact_at(folder: &Path, file: &str) {
    let path = folder.join("run.json");
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["artifacts"][0]["file"] = json!(file);
    std::fs::write(&path, doc.to_string()).unwrap();
}

/// The files under the store's artifacts folder.
fn stored_files(dir: &Path) -> Vec<std::path::PathBuf> {
    fn walk(p: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("artifacts"), &mut out);
    out
}

// Regression (issue 21): an artifact's `file` was joined onto the export folder unchecked, so
// `../../etc/hostname`, an absolute path or a link leading out was read into the store; a
// wrong sha256 left the copy behind; and runs before a failing one stayed imported.
#[test]
fn an_import_reads_nothing_outside_its_folder_and_is_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "not for the store").unwrap();
    let outside =
        ["../../secret.txt".to_string(), secret.display().to_string(), "artifacts/../../../secret.txt".into()];
    for (k, file) in outside.iter().enumerate() {
        let out = tmp.path().join(format!("out{k}"));
        let folders = two_exports(tmp.path(), &out);
        point_artifact_at(&folders[1], file);
        let to = tmp.path().join(format!("to{k}"));
        let mut target = Store::open(&to).unwrap();
        let e = target.import_runs(&out).unwrap_err().to_string();
        assert!(e.contains("an export keeps it at artifacts/"), "{file}: {e}");
        assert!(target.runs(&RunQuery::default()).unwrap().is_empty(), "{file}: a run was imported");
        assert!(stored_files(&to).is_empty(), "{file}: {:?}", stored_files(&to));
    }

    // A link inside artifacts/ that leads out, and an artifacts/ folder that is a link.
    #[cfg(unix)]
    for linked_folder in [false, true] {
        let out = tmp.path().join(format!("links-{linked_folder}"));
        let folders = two_exports(tmp.path(), &out);
        let artifacts = folders[1].join("artifacts");
        let name = std::fs::read_dir(&artifacts).unwrap().next().unwrap().unwrap().file_name();
        if linked_folder {
            let elsewhere = tmp.path().join(format!("elsewhere-{linked_folder}"));
            std::fs::rename(&artifacts, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &artifacts).unwrap();
        } else {
            std::fs::remove_file(artifacts.join(&name)).unwrap();
            std::os::unix::fs::symlink(&secret, artifacts.join(&name)).unwrap();
        }
        let to = tmp.path().join(format!("to-links-{linked_folder}"));
        let mut target = Store::open(&to).unwrap();
        let e = target.import_runs(&out).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(target.runs(&RunQuery::default()).unwrap().is_empty());
        assert!(stored_files(&to).is_empty());
    }

    // Content that is not what run.json says enters neither the store nor its runs.
    let out = tmp.path().join("tampered");
    let folders = two_exports(tmp.path(), &out);
    let artifacts = folders[1].join("artifacts");
    let blob = std::fs::read_dir(&artifacts).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&blob, "something else").unwrap();
    let to = tmp.path().join("to-tampered");
    let mut target = Store::open(&to).unwrap();
    let e = target.import_runs(&out).unwrap_err().to_string();
    assert!(e.contains("that run.json says"), "{e}");
    assert!(target.runs(&RunQuery::default()).unwrap().is_empty(), "the first run stayed imported");
    let left: Vec<_> =
        stored_files(&to).into_iter().filter(|p| std::fs::read(p).unwrap() == b"something else").collect();
    assert!(left.is_empty(), "the refused content stayed in the store: {left:?}");

    // The untouched exports import whole.
    let out = tmp.path().join("fine");
    two_exports(tmp.path(), &out);
    let mut target = Store::open(tmp.path().join("to-fine")).unwrap();
    assert_eq!(target.import_runs(&out).unwrap().len(), 2);
}
