//! `nabla runs` as a user runs it, on stores made through the tracker's API in a temporary
//! `$NABLA_HOME` (never the user's own data directory).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use nabla_track::{EndStatus, Run, RunOptions, DB_FILE};
use predicates::prelude::*;
use serde_json::{json, Value};

/// `nabla` with `$NABLA_HOME` (and `$HOME`) in `home`.
fn nabla(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    cmd.env("NABLA_HOME", home).env("HOME", home).env("XDG_DATA_HOME", home.join("share"));
    // The local store: `nabla runs` would read the user's server if the shell named one.
    for var in ["NABLA_TRACKING_URI", "NABLA_TOKEN", "NABLA_TLS_CA"] {
        cmd.env_remove(var);
    }
    cmd
}

fn tracking(home: &Path) -> PathBuf {
    home.join("tracking")
}

/// Records a finished run with a config, a summary, two metrics and an artifact.
fn record(home: &Path, project: &str, name: &str, lr: f64, acc: f64) -> String {
    let opts = RunOptions::new(project)
        .name(name)
        .config(json!({"lr": lr, "epochs": 3, "optimizer": {"name": "sgd"}}))
        .tags(["test"])
        .system_interval(None);
    let mut run = Run::start(tracking(home), opts).unwrap();
    for epoch in 0..3u64 {
        run.log(epoch, &[("train/loss", 1.0 / (epoch as f64 + 1.0)), ("val/acc", acc - 0.01 * (2 - epoch) as f64)])
            .unwrap();
    }
    run.summary("test_acc", acc).unwrap();
    run.log_artifact_bytes("model.safetensors", format!("weights of {name}").as_bytes(), "checkpoint").unwrap();
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();
    id
}

fn stdout_json(cmd: &mut Command) -> Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

/// Asserts the command fails with exit code 1 and one `error: …` line containing `needle`.
fn fails_with(cmd: &mut Command, needle: &str) {
    let out = cmd.assert().code(1).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains(needle), "{stderr}");
}

#[test]
fn list_of_an_empty_store_says_so() {
    let home = tempfile::tempdir().unwrap();
    nabla(home.path()).args(["runs", "list"]).assert().success().stdout(predicate::str::contains("no runs in"));
    assert_eq!(stdout_json(nabla(home.path()).args(["runs", "list", "--json"])), json!([]));
    // Listing created nothing.
    assert!(!tracking(home.path()).exists());
}

#[test]
fn list_filters_sorts_and_shows_key_values() {
    let home = tempfile::tempdir().unwrap();
    let a = record(home.path(), "mnist", "slow", 0.01, 0.97);
    let b = record(home.path(), "mnist", "fast", 0.1, 0.98);
    let c = record(home.path(), "xor", "tiny", 0.5, 1.0);

    let table = nabla(home.path()).args(["runs", "list"]).assert().success().get_output().stdout.clone();
    let table = String::from_utf8(table).unwrap();
    let header = table.lines().next().unwrap();
    for column in ["id", "project", "name", "status", "started (UTC)", "duration", "config.lr", "summary.test_acc"] {
        assert!(header.contains(column), "{header}");
    }
    // Config values the same in every run are not columns.
    assert!(!header.contains("config.epochs"), "{header}");
    for id in [&a, &b, &c] {
        assert!(table.contains(id.as_str()), "{table}");
    }
    assert!(table.contains("finished") && table.contains("0.98"), "{table}");

    let ids = |args: &[&str]| -> Vec<String> {
        let runs = stdout_json(nabla(home.path()).args(["runs", "list", "--json"]).args(args));
        runs.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&[]), [c.clone(), b.clone(), a.clone()], "newest first");
    assert_eq!(ids(&["--sort", "-summary.test_acc"]), [c.clone(), b.clone(), a.clone()]);
    assert_eq!(ids(&["--sort", "config.lr"]), [a.clone(), b.clone(), c.clone()]);
    assert_eq!(ids(&["--filter", "config.lr>0.05", "--sort", "started"]), [b.clone(), c.clone()]);
    assert_eq!(ids(&["--project", "mnist", "--filter", "summary.test_acc>=0.98"]), std::slice::from_ref(&b));
    assert_eq!(ids(&["--filter", "status=finished", "--filter", "config.optimizer.name=sgd", "--limit", "1"]).len(), 1);
    assert!(ids(&["--filter", "status=crashed"]).is_empty());

    fails_with(nabla(home.path()).args(["runs", "list", "--filter", "lr>1"]), "unknown field `lr`");
    fails_with(nabla(home.path()).args(["runs", "list", "--sort", "-colour"]), "unknown field `colour`");
}

#[test]
fn show_and_metrics_find_a_run_by_id_prefix() {
    let home = tempfile::tempdir().unwrap();
    let id = record(home.path(), "mnist", "first", 0.1, 0.98);
    let text = nabla(home.path()).args(["runs", "show", &id[..9]]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    for needle in [
        format!("run {id}  first  (project mnist)"),
        "status:    finished".into(),
        "  lr = 0.1".into(),
        "  optimizer.name = sgd".into(),
        "  test_acc = 0.98".into(),
        "metrics (2):".into(),
        "train/loss".into(),
        "checkpoint model.safetensors".into(),
        "system:".into(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in\n{text}");
    }
    let doc = stdout_json(nabla(home.path()).args(["runs", "show", &id, "--json"]));
    assert_eq!(doc["run"]["id"], id.as_str());
    assert_eq!(doc["run"]["config"]["lr"], 0.1);
    assert_eq!(doc["metrics"][0]["name"], "train/loss");
    assert_eq!(doc["metrics"][0]["points"], 3);
    assert_eq!(doc["artifacts"][0]["kind"], "checkpoint");

    let csv = nabla(home.path()).args(["runs", "metrics", &id, "--metric", "train/loss"]).assert().success();
    let csv = String::from_utf8(csv.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "metric,step,value,wall_time");
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with("train/loss,2,0.3333333333333333,"), "{}", lines[3]);
    let all = stdout_json(nabla(home.path()).args(["runs", "metrics", &id, "--format", "json"]));
    assert_eq!(all["metrics"].as_array().unwrap().len(), 2);
    assert_eq!(all["metrics"][1]["points"][2]["step"], 2);

    fails_with(nabla(home.path()).args(["runs", "metrics", &id, "--metric", "nope"]), "has no metric `nope`");
}

#[test]
fn unknown_and_ambiguous_ids_are_one_line_errors() {
    let home = tempfile::tempdir().unwrap();
    fails_with(nabla(home.path()).args(["runs", "show", "abc"]), "unknown run `abc`: no runs recorded in");
    let a = record(home.path(), "p", "a", 0.1, 0.5);
    let b = record(home.path(), "p", "b", 0.1, 0.5);
    fails_with(nabla(home.path()).args(["runs", "show", "zzzz"]), "unknown run `zzzz` (see `nabla runs list`)");
    fails_with(nabla(home.path()).args(["runs", "rm", "zzzz"]), "unknown run `zzzz`");
    // Ids start with their time: the first characters are shared.
    let common: String = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).map(|(x, _)| x).collect();
    fails_with(nabla(home.path()).args(["runs", "show", &common]), "is ambiguous");
}

#[test]
fn a_store_from_a_newer_nabla_is_refused_and_left_intact() {
    let home = tempfile::tempdir().unwrap();
    record(home.path(), "p", "a", 0.1, 0.5);
    let db = tracking(home.path()).join(DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    // The SQLite header keeps `PRAGMA user_version` at bytes 60..64, big-endian.
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(&db, &bytes).unwrap();
    for args in [&["runs", "list"][..], &["runs", "gc"], &["runs", "rm", "x"]] {
        fails_with(nabla(home.path()).args(args), "has schema version 99, newer than");
    }
    assert_eq!(std::fs::read(&db).unwrap(), bytes);
}

#[test]
fn a_corrupt_database_is_a_one_line_error_and_left_intact() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tracking(home.path())).unwrap();
    let db = tracking(home.path()).join(DB_FILE);
    let garbage = b"this is not an SQLite database, just some text ".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    for args in [&["runs", "list"][..], &["runs", "show", "x"], &["runs", "gc"], &["runs", "rm", "x"]] {
        fails_with(nabla(home.path()).args(args), "is not a valid database");
    }
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[test]
fn export_then_import_round_trips_and_a_stale_running_run_shows_crashed() {
    let home = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let out = home.path().join("export");
    let id = record(home.path(), "mnist", "first", 0.1, 0.98);
    let second = record(home.path(), "mnist", "second", 0.2, 0.96);
    nabla(home.path())
        .args(["runs", "export", &id[..10], "--to"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("exported run {id}")));
    for file in ["run.json", "metrics.csv"] {
        assert!(out.join(&id).join(file).is_file(), "{file}");
    }
    nabla(other.path())
        .args(["runs", "import"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("imported 1 run into {}", tracking(other.path()).display())));
    let before = stdout_json(nabla(home.path()).args(["runs", "show", &id, "--json"]));
    let after = stdout_json(nabla(other.path()).args(["runs", "show", &id, "--json"]));
    assert_eq!(before["run"], after["run"]);
    assert_eq!(before["metrics"], after["metrics"]);
    assert_eq!(before["artifacts"][0]["sha256"], after["artifacts"][0]["sha256"]);
    let csv = |home: &Path| nabla(home).args(["runs", "metrics", &id]).assert().success().get_output().stdout.clone();
    assert_eq!(csv(home.path()), csv(other.path()));
    // A second import of the same run is refused.
    fails_with(nabla(other.path()).args(["runs", "import"]).arg(&out), "already exists");

    // A whole project; then one export edited to look like a run whose process died.
    let project_out = home.path().join("project");
    nabla(home.path()).args(["runs", "export", "--project", "mnist", "--to"]).arg(&project_out).assert().success();
    let json_path = project_out.join(&second).join("run.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    doc["stored_status"] = json!("running");
    doc["run"]["ended"] = Value::Null;
    doc["run"]["started"] = json!(1_700_000_000.0);
    doc["run"]["heartbeat"] = json!(1_700_000_010.0);
    std::fs::write(&json_path, doc.to_string()).unwrap();
    let third = tempfile::tempdir().unwrap();
    nabla(third.path()).args(["runs", "import"]).arg(&project_out).assert().success();
    let crashed = stdout_json(nabla(third.path()).args(["runs", "list", "--json", "--filter", "status=crashed"]));
    assert_eq!(crashed.as_array().unwrap().len(), 1);
    assert_eq!(crashed[0]["id"], second.as_str());
    nabla(third.path()).args(["runs", "list"]).assert().success().stdout(predicate::str::contains("crashed"));

    fails_with(
        nabla(home.path()).args(["runs", "export", "--project", "none", "--to"]).arg(&out),
        "no runs in project",
    );
    nabla(home.path()).args(["runs", "export", "--to"]).arg(&out).assert().code(2);
}

#[test]
fn rm_then_gc_frees_the_unreferenced_artifacts() {
    let home = tempfile::tempdir().unwrap();
    let keep = record(home.path(), "p", "keep", 0.1, 0.5);
    let gone = record(home.path(), "p", "gone", 0.2, 0.6);
    nabla(home.path())
        .args(["runs", "rm", &gone])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("removed run {gone} (6 points)")));
    fails_with(nabla(home.path()).args(["runs", "show", &gone]), "unknown run");
    // Within the grace period the file stays; with none it goes.
    nabla(home.path())
        .args(["runs", "gc"])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed 0 unreferenced"));
    nabla(home.path()).args(["runs", "gc", "--grace-secs", "0"]).assert().success().stdout(
        predicate::str::contains("removed 1 unreferenced file, freed 15 bytes").and(predicate::str::contains("kept 1")),
    );
    let doc = stdout_json(nabla(home.path()).args(["runs", "show", &keep, "--json"]));
    assert!(Path::new(doc["artifacts"][0]["path"].as_str().unwrap()).is_file());

    // A run that is still recording is not removed without --force.
    let live = Run::start(tracking(home.path()), RunOptions::new("p").system_interval(None)).unwrap();
    fails_with(nabla(home.path()).args(["runs", "rm", live.id()]), "still running");
    nabla(home.path()).args(["runs", "rm", "--force", live.id()]).assert().success();
    drop(live);
}

#[test]
fn the_tracking_dir_flag_overrides_nabla_home() {
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let id = record(elsewhere.path(), "p", "a", 0.1, 0.5);
    nabla(home.path()).args(["runs", "list"]).assert().success().stdout(predicate::str::contains("no runs in"));
    nabla(home.path())
        .args(["runs", "list", "--tracking-dir"])
        .arg(tracking(elsewhere.path()))
        .assert()
        .success()
        .stdout(predicate::str::contains(id));
}
