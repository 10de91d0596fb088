//! `nabla sweep` as a user runs it: grids and random searches on XOR, digits and the shared
//! UCI tables, diverged trials, resuming, Ctrl-C, and bad input.

mod experiments;
mod support;

use std::path::Path;

use experiments::{cmd, json_of};
use nabla_testkit::shared_data;
use serde_json::Value;
use support::nabla;

fn sweep(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    cmd(dir).arg("sweep").args(args).assert()
}

#[test]
fn xor_grid_runs_every_trial_in_parallel_and_ranks_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = sweep(
        dir.path(),
        &["xor", "--grid", "lr=0.1,0.5,2", "--grid", "hidden=2,3", "--epochs", "1500", "--jobs", "2", "--json"],
    )
    .success();
    let v = json_of(&a);
    assert_eq!(v["trials"], 6);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    let metrics: Vec<f64> = results.iter().map(|r| r["metric"].as_f64().unwrap()).collect();
    assert!(metrics.windows(2).all(|w| w[0] <= w[1]), "sorted by loss, lowest first: {metrics:?}");
    assert_eq!(v["best"]["run"], results[0]["run"]);
    // Every trial is a tracked run tagged with the sweep id.
    let id = v["sweep"].as_str().unwrap();
    let runs = nabla(dir.path())
        .env("NABLA_HOME", dir.path().join("home"))
        .args(["runs", "list", "--filter", &format!("tags=sweep:{id}"), "--json"])
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&runs.get_output().stdout).to_string();
    assert_eq!(listed.matches(&format!("sweep-{id}-")).count(), 6, "{listed}");
}

#[test]
fn a_diverging_trial_is_recorded_as_diverged_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let a = sweep(dir.path(), &["digits", "--grid", "lr=0.1,1e30", "--set", "hidden=16", "--epochs", "1", "--json"])
        .success();
    let v = json_of(&a);
    let results = v["results"].as_array().unwrap();
    let status: Vec<&str> = results.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["finished", "diverged"]);
    assert!(results[1]["metric"].is_null());
    assert_eq!(v["best"]["values"][0][1], "0.1");
}

#[test]
fn table_shows_the_best_config_and_how_to_train_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let a = sweep(dir.path(), &["xor", "--grid", "lr=0.05,1", "--epochs", "800"]).success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("sorted by train/loss (lower is better)"), "{out}");
    assert!(out.contains("best: lr=1"), "{out}");
    assert!(out.contains("again:  nabla xor --epochs 800 --lr 1"), "{out}");
}

// Regression: the command printed for the best trial said `--standardize true`, which
// `nabla train` refuses; a boolean setting is a bare flag.
#[test]
fn the_printed_again_command_trains() {
    let dir = tempfile::tempdir().unwrap();
    let a = sweep(
        dir.path(),
        &["digits", "--grid", "lr=0.05,0.1", "--set", "hidden=8", "--set", "standardize=true", "--epochs", "1"],
    )
    .success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    let again = out.lines().find_map(|l| l.strip_prefix("again:  ")).unwrap_or_else(|| panic!("{out}"));
    assert!(again.contains(" --standardize") && !again.contains("true"), "{again}");
    let words: Vec<&str> = again.split_whitespace().collect();
    assert_eq!(words[..3], ["nabla", "train", "digits"]);
    let run = cmd(dir.path()).args(&words[1..]).args(["--json", "--no-track"]).assert().success();
    let last = json_of(&run);
    assert_eq!(last["final"], true, "{last}");
}

// Regression: `--resume` looked for the data where the resuming shell said (and downloaded it
// when it found none there) instead of using the sweep's own `--data` and `--out`.
#[test]
fn resume_uses_the_data_and_out_folders_the_sweep_was_made_with() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let data = shared_data();
    let made = nabla(d)
        .env("NABLA_HOME", d.join("home"))
        .current_dir(d)
        .args(["sweep", "digits", "--grid", "lr=0.05,0.1", "--set", "hidden=8", "--epochs", "1", "--json"])
        .args(["--out", "trials", "--data", data.to_str().unwrap()])
        .assert()
        .success();
    let v = json_of(&made);
    let id = v["sweep"].as_str().unwrap().to_string();
    let victim = &v["results"][1];
    let k = victim["trial"].as_u64().unwrap();
    let checkpoints = d.join(format!("trials/trial-{k}"));
    assert!(checkpoints.join("last.safetensors").is_file(), "--out is relative to where the sweep was made");
    std::fs::remove_dir_all(&checkpoints).unwrap();
    nabla(d).env("NABLA_HOME", d.join("home")).args(["runs", "rm", victim["run"].as_str().unwrap()]).assert().success();

    // From another folder, with no --data and no $NABLA_DATA.
    let resumed = nabla(d)
        .env("NABLA_HOME", d.join("home"))
        .current_dir(d.join("elsewhere"))
        .args(["sweep", "--resume", &id, "--json"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&resumed.get_output().stderr).to_string();
    assert!(err.contains("1 to run, resumed"), "{err}");
    assert_eq!(json_of(&resumed)["results"].as_array().unwrap().len(), 2);
    assert!(checkpoints.join("last.safetensors").is_file(), "the resumed trial wrote to the sweep's --out");
    assert!(!d.join("elsewhere/trials").exists());
    let e = sweep(d, &["--resume", &id, "--out", "other"]).code(2);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("cannot be used"));
}

#[test]
fn random_search_draws_from_ranges_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "xor",
        "--random",
        "4",
        "--grid",
        "lr=log:0.05..5",
        "--grid",
        "hidden=2..4",
        "--epochs",
        "300",
        "--seed",
        "3",
        "--json",
    ];
    let a = json_of(&sweep(dir.path(), &args).success());
    let b = json_of(&sweep(dir.path(), &args).success());
    let values = |v: &Value| {
        let mut all: Vec<String> = v["results"].as_array().unwrap().iter().map(|r| r["values"].to_string()).collect();
        all.sort();
        all
    };
    assert_eq!(values(&a).len(), 4);
    assert_eq!(values(&a), values(&b));
    for r in a["results"].as_array().unwrap() {
        let lr: f64 = r["values"][0][1].as_str().unwrap().parse().unwrap();
        let hidden: u64 = r["values"][1][1].as_str().unwrap().parse().unwrap();
        assert!((0.05..=5.0).contains(&lr) && (2..=4).contains(&hidden), "{r}");
    }
}

#[test]
fn resume_runs_only_the_trials_without_a_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    let v = json_of(&sweep(dir.path(), &["xor", "--grid", "lr=0.2,0.5,1", "--epochs", "300", "--json"]).success());
    let id = v["sweep"].as_str().unwrap().to_string();
    let victim = v["results"][1]["run"].as_str().unwrap().to_string();
    nabla(dir.path()).env("NABLA_HOME", dir.path().join("home")).args(["runs", "rm", &victim]).assert().success();
    let a = sweep(dir.path(), &["--resume", &id, "--json"]).success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("1 to run, resumed"), "{err}");
    assert_eq!(json_of(&a)["results"].as_array().unwrap().len(), 3);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_and_resume_finishes() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nabla"))
        .args(["sweep", "digits", "--grid", "lr=0.01,0.02,0.03,0.04,0.05,0.06", "--set", "hidden=64", "--epochs", "40"])
        .env("NABLA_DATA", shared_data())
        .env("NABLA_HOME", dir.path().join("home"))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let id = first.split_whitespace().nth(1).unwrap().trim_end_matches(':').to_string();
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.starts_with("trial"), "{line}");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(rest.contains(&format!("nabla sweep --resume {id}")), "{rest}");
    let a = sweep(dir.path(), &["--resume", &id, "--set", "x=1"]).failure();
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("cannot be used"));
    let done = json_of(&sweep(dir.path(), &["--resume", &id, "--json"]).success());
    let statuses: Vec<&str> =
        done["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 6);
    assert!(statuses.iter().all(|s| *s == "finished"), "{statuses:?}");
}

#[test]
fn bad_sweeps_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let e = sweep(dir.path(), &["digits", "--grid", "learning-rate=0.1"]).code(1);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("learning-rate"));
    let e = sweep(dir.path(), &["digits", "--grid", "lr=log:1e-4..1"]).code(1);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("--random"));
    let e = sweep(dir.path(), &["digits", "--grid", "lr"]).code(2);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("KEY=VALUES"));
    let e = sweep(dir.path(), &["xor", "--grid", "dropout=0.1"]).code(1);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("unknown xor setting `dropout`"));
    let e = sweep(dir.path(), &["--resume", "nosuch"]).code(1);
    assert!(String::from_utf8_lossy(&e.get_output().stderr).contains("no sweep `nosuch`"));
    std::fs::write(dir.path().join("s.toml"), "[grid]\nlr = \"log:0..1\"\n").unwrap();
    let e = sweep(dir.path(), &["xor", "--file", "s.toml"]).code(1);
    let msg = String::from_utf8_lossy(&e.get_output().stderr).to_string();
    assert!(msg.contains("s.toml") && msg.contains("grid.lr"), "{msg}");
}

#[test]
fn a_sweep_file_defines_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lr.toml"),
        "target = \"xor\"\nmetric = \"train/loss\"\n[grid]\nlr = [0.3, 1.0]\n[set]\nepochs = 200\n",
    )
    .unwrap();
    let v = json_of(&sweep(dir.path(), &["--file", "lr.toml", "--json"]).success());
    assert_eq!((v["target"].as_str(), v["trials"].as_u64()), (Some("xor"), Some(2)));
}

/// A shared UCI table.
fn uci(name: &str) -> std::path::PathBuf {
    shared_data().join("tabular").join(name)
}

#[test]
fn a_table_sweep_ranks_trials_on_shared_validation_rows_and_its_best_trains_again() {
    let dir = tempfile::tempdir().unwrap();
    let wine = uci("wine.csv");
    let a = cmd(dir.path())
        .arg("sweep")
        .arg(&wine)
        .args(["--target", "cultivar", "--grid", "lr=0.003,0.03", "--grid", "hidden=8,32", "--epochs", "15"])
        .args(["--threads", "1", "--json"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("→ cultivar") && err.contains("task: classifying `cultivar`"), "{err}");
    let v = json_of(&a);
    assert_eq!(
        (v["trials"].as_u64(), v["metric"].as_str(), v["goal"].as_str()),
        (Some(4), Some("val/acc"), Some("max"))
    );
    assert_eq!(v["target"].as_str(), Some(std::path::absolute(&wine).unwrap().to_str().unwrap()));
    let results = v["results"].as_array().unwrap();
    let metrics: Vec<f64> = results.iter().map(|r| r["metric"].as_f64().unwrap()).collect();
    assert!(metrics.windows(2).all(|w| w[0] >= w[1]), "best first: {metrics:?}");
    assert!(metrics.iter().all(|m| (0.0..=1.0).contains(m)) && metrics[0] > 0.5, "{metrics:?}");
    // 15 validation rows give few distinct accuracies: equal ones are ranked by val/loss.
    for pair in results.windows(2).filter(|w| w[0]["metric"] == w[1]["metric"]) {
        assert!(pair[0]["loss"].as_f64().unwrap() <= pair[1]["loss"].as_f64().unwrap(), "{pair:?}");
    }

    // The trials are tracked as `nabla train TABLE` tracks a run, in the file's project.
    let best = v["best"]["run"].as_str().unwrap();
    let shown = nabla(dir.path())
        .env("NABLA_HOME", dir.path().join("home"))
        .args(["runs", "show", best, "--json"])
        .assert()
        .success();
    let run = serde_json::from_slice::<Value>(&shown.get_output().stdout).unwrap()["run"].clone();
    assert_eq!(run["project"], "wine", "{run}");
    assert_eq!(
        (run["config"]["target"].as_str(), run["config"]["task"].as_str()),
        (Some("cultivar"), Some("classify"))
    );

    // The printed command trains the best trial again, on the same split, to the same scores.
    // A resume with nothing left to run prints the ranked table again.
    let id = v["sweep"].as_str().unwrap();
    let table = sweep(dir.path(), &["--resume", id]).success();
    let out = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    let again = out.lines().find_map(|l| l.strip_prefix("again:  ")).unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = again.split_whitespace().collect();
    assert_eq!(words[..5], ["nabla", "train", wine.to_str().unwrap(), "--target", "cultivar"], "{again}");
    let retrained =
        cmd(dir.path()).args(&words[1..]).args(["--threads", "1", "--json", "--no-track"]).assert().success();
    let last = json_of(&retrained);
    let best_test = run["summary"]["test_acc"].as_f64().unwrap();
    assert_eq!(last["test_acc"].as_f64(), Some(best_test), "{last} vs {run}");
}

#[test]
fn a_regression_table_sweep_ranks_by_r2_and_resumes_from_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("elsewhere")).unwrap();
    let made = nabla(d)
        .env("NABLA_HOME", d.join("home"))
        .current_dir(d)
        .args(["sweep", uci("diabetes.csv").to_str().unwrap(), "--target", "progression"])
        .args(["--grid", "l2=0.01,0.1", "--epochs", "10", "--threads", "1", "--json"])
        .assert()
        .success();
    let v = json_of(&made);
    assert_eq!((v["metric"].as_str(), v["goal"].as_str()), (Some("val/r2"), Some("max")));
    let id = v["sweep"].as_str().unwrap().to_string();
    let victim = v["results"][0]["run"].as_str().unwrap();
    nabla(d).env("NABLA_HOME", d.join("home")).args(["runs", "rm", victim]).assert().success();
    let resumed = nabla(d)
        .env("NABLA_HOME", d.join("home"))
        .current_dir(d.join("elsewhere"))
        .args(["sweep", "--resume", &id, "--json"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&resumed.get_output().stderr).to_string();
    assert!(err.contains("1 to run, resumed"), "{err}");
    let results = json_of(&resumed)["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["metric"].as_f64().is_some_and(f64::is_finite)), "{results:?}");
}

#[test]
fn bad_table_sweeps_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let wine = uci("wine.csv");
    let wine = wine.to_str().unwrap();
    let msg = |a: assert_cmd::assert::Assert| String::from_utf8_lossy(&a.get_output().stderr).to_string();
    let e = msg(sweep(dir.path(), &[wine, "--grid", "lr=0.1"]).code(1));
    assert!(e.contains("--target COLUMN") && e.contains("cultivar"), "{e}");
    let e = msg(sweep(dir.path(), &[wine, "--target", "grape", "--grid", "lr=0.1"]).code(1));
    assert!(e.contains("grape"), "{e}");
    let e = msg(sweep(dir.path(), &["digits", "--target", "x", "--grid", "lr=0.1"]).code(1));
    assert!(e.contains("--target is for a table"), "{e}");
    let e = msg(sweep(dir.path(), &[wine, "--target", "cultivar", "--grid", "seed=1,2"]).code(1));
    assert!(e.contains("seed decides the split"), "{e}");
    let e = msg(sweep(dir.path(), &[wine, "--target", "cultivar", "--folds", "5", "--grid", "lr=0.1"]).code(1));
    assert!(e.contains("--folds K is not for a sweep"), "{e}");
    std::fs::write(dir.path().join("t.toml"), "target = \"digits\"\ncolumn = \"x\"\n[grid]\nlr = [0.1]\n").unwrap();
    let e = msg(sweep(dir.path(), &["--file", "t.toml"]).code(1));
    assert!(e.contains("are for a table"), "{e}");
    assert!(
        !dir.path().join("home").join("sweeps").exists()
            || std::fs::read_dir(dir.path().join("home").join("sweeps")).unwrap().count() == 0
    );
}
