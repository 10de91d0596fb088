//! `nabla server user …`, `share` and `unshare` as an operator runs them, on a store in a
//! temporary folder.

mod support;

use std::path::Path;

use nabla_track::{Access, Principal, Store};
use predicates::prelude::*;
use serde_json::Value;
use support::Serving;

/// Runs `nabla server ARGS --store DIR` and returns its standard output.
fn server_ok(home: &Path, store: &Path, args: &[&str]) -> String {
    let out = support::nabla(home).arg("server").args(args).arg("--store").arg(store).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// The token on the last line of `user add` / `user token`.
fn token_of(stdout: &str) -> String {
    stdout.lines().last().unwrap().trim().to_string()
}

#[test]
fn users_get_a_token_once_and_only_its_hash_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let ada = token_of(&server_ok(tmp.path(), &store, &["user", "add", "ada"]));
    let root = token_of(&server_ok(tmp.path(), &store, &["user", "add", "root", "--admin"]));
    assert!(ada.starts_with("nabla_") && ada != root, "{ada}");

    let s = Store::open(&store).unwrap();
    assert_eq!(s.authenticate(&ada).unwrap(), Some(Principal { name: "ada".into(), admin: false }));
    assert_eq!(s.authenticate(&root).unwrap(), Some(Principal { name: "root".into(), admin: true }));
    drop(s);
    // The secret part is nowhere in the store's files.
    let secret = ada.rsplit('_').next().unwrap();
    for entry in std::fs::read_dir(&store).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    let listed: Value = serde_json::from_str(&server_ok(tmp.path(), &store, &["user", "list", "--json"])).unwrap();
    let names: Vec<(&str, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap(), u["admin"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("ada", false), ("root", true)]);
    let table = server_ok(tmp.path(), &store, &["user", "list"]);
    assert!(table.contains("ada") && table.contains("yes"), "{table}");
}

#[test]
fn a_new_token_revokes_the_old_one_and_a_revoked_user_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let first = token_of(&server_ok(tmp.path(), &store, &["user", "add", "ada"]));
    let second = token_of(&server_ok(tmp.path(), &store, &["user", "token", "ada"]));
    {
        let s = Store::open(&store).unwrap();
        assert_eq!(s.authenticate(&first).unwrap(), None);
        assert!(s.authenticate(&second).unwrap().is_some());
    }
    server_ok(tmp.path(), &store, &["user", "revoke", "ada"]);
    assert_eq!(Store::open(&store).unwrap().authenticate(&second).unwrap(), None);
    support::nabla(tmp.path())
        .args(["server", "user", "revoke", "ada", "--store"])
        .arg(&store)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("user `ada` is revoked"));
}

#[test]
fn bad_names_missing_users_and_missing_stores_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let fails = |args: &[&str], message: &str| {
        support::nabla(tmp.path())
            .arg("server")
            .args(args)
            .arg("--store")
            .arg(&store)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(message));
    };
    // Nothing but `user add` creates a store.
    fails(&["user", "list"], "no store in");
    assert!(!store.exists());
    fails(&["user", "add", "bad name"], "invalid user name `bad name`");
    server_ok(tmp.path(), &store, &["user", "add", "ada"]);
    fails(&["user", "add", "ada"], "user `ada` already exists");
    fails(&["user", "token", "ghost"], "unknown user `ghost`");
    fails(&["share", "mlp", "ada", "--read"], "unknown project `mlp`");
    // --read or --write is required, and not both.
    support::nabla(tmp.path())
        .args(["server", "share", "mlp", "ada", "--store"])
        .arg(&store)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--read"));
    support::nabla(tmp.path())
        .args(["server", "share", "mlp", "ada", "--read", "--write", "--store"])
        .arg(&store)
        .assert()
        .code(2);
}

#[test]
fn the_operator_shares_and_unshares_a_project() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    server_ok(tmp.path(), &store, &["user", "add", "ada"]);
    server_ok(tmp.path(), &store, &["user", "add", "grace"]);
    let ada = Principal { name: "ada".into(), admin: false };
    let grace = Principal { name: "grace".into(), admin: false };
    assert!(Store::open(&store).unwrap().claim_project(&ada, "mlp").unwrap());

    server_ok(tmp.path(), &store, &["share", "mlp", "grace", "--read"]);
    assert_eq!(Store::open(&store).unwrap().project_access(&grace, "mlp").unwrap(), Some(Access::Read));
    server_ok(tmp.path(), &store, &["share", "mlp", "grace", "--write"]);
    assert_eq!(Store::open(&store).unwrap().project_access(&grace, "mlp").unwrap(), Some(Access::Write));
    server_ok(tmp.path(), &store, &["unshare", "mlp", "grace"]);
    assert_eq!(Store::open(&store).unwrap().project_access(&grace, "mlp").unwrap(), None);
}

#[test]
fn a_server_beyond_loopback_without_tls_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    support::nabla(tmp.path())
        .args(["server", "--host", "0.0.0.0", "--port", "0", "--store"])
        .arg(&store)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("without TLS").and(predicate::str::contains("--insecure-http")));
    assert!(!store.exists(), "nothing is created for a refused server");
}

#[test]
fn a_bad_certificate_or_key_is_named_before_anything_is_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let certs = nabla_testkit::tls::self_signed(&tmp.path().join("tls"));
    // The key given as the certificate: one line naming the file, exit 1, no store created.
    support::nabla(tmp.path())
        .args(["server", "--host", "0.0.0.0", "--port", "0", "--tls-cert"])
        .arg(&certs.key)
        .arg("--tls-key")
        .arg(&certs.key)
        .arg("--store")
        .arg(&store)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("key.pem: holds no certificate"));
    assert!(!store.exists(), "nothing is created for a refused server");
    // --tls-cert needs --tls-key.
    support::nabla(tmp.path()).args(["server", "--tls-cert"]).arg(&certs.cert).assert().code(2);
}

#[test]
fn xor_is_sent_over_https_with_the_class_ca_and_refused_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let certs = nabla_testkit::tls::self_signed(&tmp.path().join("tls"));
    let ada = token_of(&server_ok(tmp.path(), &store, &["user", "add", "ada"]));
    let tls_args = [
        "--tls-cert".to_string(),
        certs.cert.display().to_string(),
        "--tls-key".to_string(),
        certs.key.display().to_string(),
    ];
    let server = Serving::start(tmp.path(), &store, 0, &tls_args);
    let home = tmp.path().join("ada");
    let xor = || {
        let mut cmd = support::nabla(&home);
        cmd.env("NABLA_HOME", &home).env("NABLA_TOKEN", &ada).args([
            "xor",
            "--epochs",
            "50",
            "--tracking-uri",
            &server.url,
        ]);
        cmd
    };
    // Without the CA: the run trains, is kept locally, and the note names the verification.
    xor().assert().success().stderr(predicate::str::contains("certificate verification failed"));
    assert!(Store::open(&store).unwrap().runs(&nabla_track::RunQuery::default()).unwrap().is_empty());
    // With it (the flag, or $NABLA_TLS_CA for `runs sync`): delivered.
    xor().arg("--tls-ca").arg(&certs.cert).assert().success().stderr(predicate::str::contains("nabla runs sync").not());
    support::nabla(&home)
        .env("NABLA_HOME", &home)
        .env("NABLA_TOKEN", &ada)
        .env("NABLA_TLS_CA", &certs.cert)
        .args(["runs", "sync"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 of 1 delivered"));
    let runs = Store::open(&store).unwrap().runs(&nabla_track::RunQuery::default()).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.status.as_str() == "finished"));
}

fn serve(home: &Path, store: &Path, port: u16) -> Serving {
    Serving::start(home, store, port, &[])
}

#[test]
fn two_users_train_into_one_server_and_a_run_made_offline_is_synced_later() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let ada = token_of(&server_ok(tmp.path(), &store, &["user", "add", "ada"]));
    let grace = token_of(&server_ok(tmp.path(), &store, &["user", "add", "grace"]));
    let server = serve(tmp.path(), &store, 0);

    // Each trains on their own machine (their own local store) and sends to the server.
    let train = |who: &str, token: &str, uri: &str| {
        let home = tmp.path().join(who);
        support::nabla(&home)
            .env("NABLA_HOME", &home)
            .env("NABLA_TOKEN", token)
            .args(["xor", "--epochs", "200", "--project", &format!("{who}-xor"), "--tracking-uri", uri])
            .assert()
    };
    train("ada", &ada, &server.url).success().stderr(predicate::str::contains("sending it to"));
    train("grace", &grace, &server.url).success();
    {
        let s = Store::open(&store).unwrap();
        let runs = s.runs(&nabla_track::RunQuery::default()).unwrap();
        let mut projects: Vec<&str> = runs.iter().map(|r| r.project.as_str()).collect();
        projects.sort_unstable();
        assert_eq!(projects, ["ada-xor", "grace-xor"]);
        for run in &runs {
            assert_eq!(run.status.as_str(), "finished");
            let local =
                Store::open_read_only(tmp.path().join(&run.project[..run.project.len() - 4]).join("tracking")).unwrap();
            for metric in local.metrics(&run.id).unwrap() {
                let here = s.history(&run.id, &metric.name, ..).unwrap().len() as u64;
                assert_eq!(here, metric.points, "{} {}", run.id, metric.name);
            }
        }
        // Grace may not write into ada's project.
        let grace_p = Principal { name: "grace".into(), admin: false };
        assert_eq!(s.project_access(&grace_p, "ada-xor").unwrap(), None);
    }

    // The server goes away; ada trains anyway; `runs sync` delivers once it is back.
    let url = server.url.clone();
    drop(server);
    train("ada", &ada, &url).success().stderr(predicate::str::contains("nabla runs sync"));
    let home = tmp.path().join("ada");
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let _back = serve(tmp.path(), &store, port);
    support::nabla(&home)
        .env("NABLA_HOME", &home)
        .env("NABLA_TOKEN", &ada)
        .args(["runs", "sync"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 of 1 delivered"));
    assert_eq!(Store::open(&store).unwrap().runs(&nabla_track::RunQuery::default()).unwrap().len(), 3);
    support::nabla(&home)
        .env("NABLA_HOME", &home)
        .args(["runs", "sync"])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to send"));
}
