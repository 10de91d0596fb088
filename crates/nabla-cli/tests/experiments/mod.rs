//! Set-up shared by the tests of `nabla sweep`, `nabla plot` and `nabla report`: `nabla` run
//! in a temporary folder with the shared data and a tracking home of its own, small digits
//! sweeps, and the ids a command printed.

#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

use crate::support::nabla;
use nabla_testkit::shared_data;

/// `nabla` run in `dir`, with the shared data and its tracking home under `dir/home`.
pub fn cmd(dir: &Path) -> assert_cmd::Command {
    let mut c = nabla(dir);
    c.env("NABLA_DATA", shared_data()).env("NABLA_HOME", dir.join("home")).current_dir(dir);
    c
}

/// The JSON object on the last line of a command's standard output.
pub fn json_of(assert: &assert_cmd::assert::Assert) -> Value {
    let out = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The id a tracked `nabla xor` or `nabla train` printed (`tracking run ID …` on stderr).
pub fn tracked_run(assert: &assert_cmd::assert::Assert) -> String {
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    let after = err.split("tracking run ").nth(1).unwrap_or_else(|| panic!("no tracked run in: {err}"));
    after.split_whitespace().next().unwrap().to_string()
}

/// A finished digits sweep over `--grid lr=RATES` of SGD nets with 16 hidden units, 2 epochs
/// each (seconds): its id and the runs in rank order (best first).
pub fn digits_lr_sweep(dir: &Path, rates: &str) -> (String, Vec<String>) {
    let grid = format!("lr={rates}");
    let args = ["sweep", "digits", "--grid", &grid, "--set", "hidden=16", "--set", "optimizer=sgd", "--epochs", "2"];
    let v = json_of(&cmd(dir).args(args).arg("--json").assert().success());
    let runs = v["results"].as_array().unwrap().iter().map(|r| r["run"].as_str().unwrap().to_string()).collect();
    (v["sweep"].as_str().unwrap().to_string(), runs)
}
