//! `nabla data list` and `nabla data fetch` as a user runs them. Downloads come from a local
//! HTTP server on 127.0.0.1 serving the shared data, never from the internet.

mod support;

use nabla_testkit::{shared_data, FileServer, FileServerOptions};
use predicates::prelude::*;
use support::nabla;

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
    let server = FileServer::start(FileServerOptions::serving(shared_data()));
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
    let server = FileServer::start(FileServerOptions {
        overrides: [("/digits/digits.csv.gz".to_string(), b"not the digits".to_vec())].into(),
        ..FileServerOptions::serving(shared_data())
    });
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
    let server = FileServer::start(FileServerOptions::serving(shared_data()));
    nabla(home.path()).args(["data", "fetch", "digits", "--mirror", &server.url("digits")]).assert().success();
    assert!(home.path().join("share/nabla/digits/digits.csv.gz").is_file());
}
