//! `nabla runs list|show|metrics --tracking-uri URL`: a real `nabla server` read as the local
//! store is read, with the same output, and only what the token's user may see.

mod support;

use std::path::{Path, PathBuf};

use nabla_track::{RunOptions, Store};
use predicates::prelude::*;
use serde_json::Value;
use support::Serving;

fn serve(home: &Path, store: &Path, extra: &[String]) -> Serving {
    Serving::start(home, store, 0, extra)
}

/// `nabla server user add NAME --store STORE`: the token.
fn add_user(home: &Path, store: &Path, name: &str) -> String {
    let out = support::nabla(home).args(["server", "user", "add", name, "--store"]).arg(store).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap().lines().last().unwrap().trim().to_string()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// A class: ada and grace each train XOR on their own machine (own local store) into a server;
/// ada's project is shared with grace to read.
struct Class {
    tmp: tempfile::TempDir,
    server: Serving,
    ada: String,
    grace: String,
    ada_run: String,
    grace_run: String,
}

impl Class {
    fn new() -> Class {
        Class::on_server_with(&[])
    }

    /// The class on a server started with `extra` flags.
    fn on_server_with(extra: &[String]) -> Class {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("server");
        let ada = add_user(tmp.path(), &store, "ada");
        let grace = add_user(tmp.path(), &store, "grace");
        let server = serve(tmp.path(), &store, extra);
        let train = |who: &str, token: &str| {
            let home = tmp.path().join(who);
            support::nabla(&home)
                .env("NABLA_HOME", &home)
                .env("NABLA_TOKEN", token)
                .args(["xor", "--epochs", "100", "--project", &format!("{who}-xor"), "--tracking-uri", &server.url])
                .assert()
                .success();
            let local = Store::open_read_only(home.join("tracking")).unwrap();
            local.runs(&nabla_track::RunQuery::default()).unwrap()[0].id.clone()
        };
        let ada_run = train("ada", &ada);
        let grace_run = train("grace", &grace);
        support::nabla(tmp.path())
            .args(["server", "share", "ada-xor", "grace", "--read", "--store"])
            .arg(&store)
            .assert()
            .success();
        Class { tmp, server, ada, grace, ada_run, grace_run }
    }

    fn home(&self, who: &str) -> PathBuf {
        self.tmp.path().join(who)
    }

    /// `nabla runs ARGS` on the server with `token` given by `--token`.
    fn remote(&self, token: &str, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = support::nabla(self.tmp.path());
        cmd.arg("runs").args(args).args(["--tracking-uri", &self.server.url, "--token", token]);
        cmd
    }

    /// `nabla runs ARGS` on `who`'s own local store.
    fn local(&self, who: &str, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = support::nabla(self.tmp.path());
        cmd.env("NABLA_HOME", self.home(who)).arg("runs").args(args);
        cmd
    }
}

fn ids(json: &str) -> Vec<String> {
    let runs: Value = serde_json::from_str(json).unwrap();
    let mut ids: Vec<String> = runs.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    ids.sort_unstable();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_unstable();
    ids
}

#[test]
fn each_user_lists_their_own_runs_and_the_projects_shared_with_them() {
    let class = Class::new();
    let ada = stdout(&class.remote(&class.ada, &["list", "--json"]).assert().success());
    assert_eq!(ids(&ada), [class.ada_run.as_str()], "ada sees only her run: grace's project is not shared");
    let grace = stdout(&class.remote(&class.grace, &["list", "--json"]).assert().success());
    assert_eq!(ids(&grace), sorted(vec![class.ada_run.clone(), class.grace_run.clone()]));
    // Filters, sorting and the limit are the local ones, applied by the server.
    let only = stdout(&class.remote(&class.grace, &["list", "--project", "ada-xor", "--json"]).assert().success());
    assert_eq!(ids(&only), [class.ada_run.as_str()]);
    let filtered =
        stdout(&class.remote(&class.grace, &["list", "--filter", "project=grace-xor", "--json"]).assert().success());
    assert_eq!(ids(&filtered), [class.grace_run.as_str()]);
    let one = stdout(
        &class.remote(&class.grace, &["list", "--limit", "1", "--sort", "project", "--json"]).assert().success(),
    );
    assert_eq!(ids(&one), [class.ada_run.as_str()]);
    // The table: the same columns as the local store's, and a project column for two projects.
    let table = stdout(&class.remote(&class.grace, &["list"]).assert().success());
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("id") && header.contains("project") && header.contains("summary.final_loss"), "{table}");
    let local = stdout(&class.local("ada", &["list"]).assert().success());
    let remote = stdout(&class.remote(&class.ada, &["list"]).assert().success());
    assert_eq!(remote.lines().next(), local.lines().next(), "same columns\n{remote}\n{local}");
    // A bad filter is the local error, now from the server.
    class
        .remote(&class.ada, &["list", "--filter", "lr>>1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid filter"));
    // A user with nothing visible is told where nothing was found.
    let tmp = class.tmp.path();
    let eve = add_user(tmp, &tmp.join("server"), "eve");
    class.remote(&eve, &["list"]).assert().success().stdout(format!("no runs in {}\n", class.server.url));
    // Naming a project she may not read is refused (403), not shown empty.
    class
        .remote(&eve, &["list", "--project", "ada-xor"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("HTTP 403: eve has no access to project `ada-xor`"));
}

#[test]
fn show_and_metrics_print_what_the_local_store_prints() {
    let class = Class::new();
    let id = class.ada_run.as_str();
    // The metric history is the same, point for point, in both formats.
    for format in ["csv", "json"] {
        let local = stdout(&class.local("ada", &["metrics", id, "--format", format]).assert().success());
        let remote = stdout(&class.remote(&class.ada, &["metrics", id, "--format", format]).assert().success());
        assert_eq!(remote, local, "--format {format}");
        assert!(remote.lines().count() > 100, "{remote}");
    }
    // A unique prefix is enough, as locally.
    let differ = id.chars().zip(class.grace_run.chars()).take_while(|(a, b)| a == b).count();
    let prefix = &id[..=differ];
    let one = stdout(&class.remote(&class.grace, &["metrics", prefix, "--metric", "train/loss"]).assert().success());
    assert!(one.starts_with("metric,step,value,wall_time\ntrain/loss,1,"), "{one}");
    // show --json: the same document; config, summary and metrics are equal.
    let local: Value =
        serde_json::from_str(&stdout(&class.local("ada", &["show", id, "--json"]).assert().success())).unwrap();
    let remote: Value =
        serde_json::from_str(&stdout(&class.remote(&class.ada, &["show", id, "--json"]).assert().success())).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&remote), keys(&local));
    assert_eq!(keys(&remote["run"]), keys(&local["run"]));
    for field in [
        "id",
        "project",
        "status",
        "config",
        "summary",
        "started",
        "ended",
        "command",
        "nabla_version",
        "host",
        "threads",
        "pid",
        "system",
    ] {
        assert_eq!(remote["run"][field], local["run"][field], "{field}");
    }
    assert_eq!(remote["metrics"], local["metrics"]);
    // The text: the same sections, in the same order.
    let text = stdout(&class.remote(&class.ada, &["show", id]).assert().success());
    let local_text = stdout(&class.local("ada", &["show", id]).assert().success());
    let titles = |t: &str| {
        t.lines().filter(|l| !l.starts_with(' ')).map(|l| l.split(':').next().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(titles(&text)[..12], titles(&local_text)[..12], "{text}\n{local_text}");
    assert!(text.starts_with(&format!("run {id}  (project ada-xor)\nstatus:    finished\n")), "{text}");
}

#[test]
fn another_users_run_is_unknown_and_the_environment_names_the_server() {
    let class = Class::new();
    // Grace's project is not shared with ada: her run is unknown to ada, as a wrong id is.
    for args in [vec!["show", class.grace_run.as_str()], vec!["metrics", class.grace_run.as_str()]] {
        class
            .remote(&class.ada, &args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!("tracking server {}: HTTP 404", class.server.url)))
            .stderr(predicate::str::contains(format!("unknown run `{}`", class.grace_run)));
    }
    // $NABLA_TRACKING_URI and $NABLA_TOKEN instead of the flags.
    let listed = support::nabla(class.tmp.path())
        .env("NABLA_TRACKING_URI", &class.server.url)
        .env("NABLA_TOKEN", &class.grace)
        .args(["runs", "list", "--json"])
        .assert()
        .success();
    assert_eq!(ids(&stdout(&listed)).len(), 2);
    // --tracking-dir names a local store, whatever the environment says.
    let local = support::nabla(class.tmp.path())
        .env("NABLA_TRACKING_URI", &class.server.url)
        .env("NABLA_TOKEN", &class.grace)
        .args(["runs", "list", "--json", "--tracking-dir"])
        .arg(class.home("ada").join("tracking"))
        .assert()
        .success();
    assert_eq!(ids(&stdout(&local)), [class.ada_run.as_str()]);
    // Both flags: refused by the parser.
    support::nabla(class.tmp.path())
        .args(["runs", "list", "--tracking-dir", "x", "--tracking-uri", &class.server.url])
        .assert()
        .code(2);
}

#[test]
fn a_bad_token_or_a_server_that_is_down_is_one_clear_error() {
    let class = Class::new();
    for args in [vec!["list"], vec!["show", class.ada_run.as_str()], vec!["metrics", class.ada_run.as_str()]] {
        class
            .remote("nabla_000000000000_bogus", &args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!("tracking server {}: HTTP 401", class.server.url)))
            .stderr(predicate::str::contains("panicked").not());
    }
    // No token at all, on a server that is not --public-read.
    support::nabla(class.tmp.path())
        .args(["runs", "list", "--tracking-uri", &class.server.url])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("tracking server {}: HTTP 401", class.server.url)))
        .stderr(predicate::str::contains("no token was given").and(predicate::str::contains("$NABLA_TOKEN")));
    let url = class.server.url.clone();
    drop(class.server);
    support::nabla(class.tmp.path())
        .args(["runs", "list", "--tracking-uri", &url, "--token", &class.ada])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("tracking server {url}")))
        .stderr(predicate::str::contains("check the URL, and that `nabla server` runs there"))
        .stderr(predicate::str::contains("panicked").not());
    // Not a URL.
    support::nabla(class.tmp.path())
        .args(["runs", "list", "--tracking-uri", "127.0.0.1:6006", "--token", &class.ada])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("must start with http:// or https://"));
}

#[test]
fn a_public_read_server_is_read_without_a_token() {
    let class = Class::on_server_with(&["--public-read".to_string()]);
    let anyone = |args: &[&str]| {
        let mut cmd = support::nabla(class.tmp.path());
        cmd.arg("runs").args(args).args(["--tracking-uri", &class.server.url]);
        cmd
    };
    let listed = stdout(&anyone(&["list", "--json"]).assert().success());
    assert_eq!(ids(&listed), sorted(vec![class.ada_run.clone(), class.grace_run.clone()]));
    let shown = stdout(&anyone(&["show", &class.grace_run]).assert().success());
    assert!(shown.contains(&class.grace_run), "{shown}");
    // A user's token still reads as that user.
    let ada = stdout(&class.remote(&class.ada, &["list", "--json"]).assert().success());
    assert!(ids(&ada).contains(&class.ada_run), "{ada}");
}

#[test]
fn runs_are_read_over_https_with_the_class_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let ada = add_user(tmp.path(), &store, "ada");
    let certs = nabla_testkit::tls::self_signed(&tmp.path().join("tls"));
    let tls = [
        "--tls-cert".to_string(),
        certs.cert.display().to_string(),
        "--tls-key".to_string(),
        certs.key.display().to_string(),
    ];
    let server = Serving::start(tmp.path(), &store, 0, &tls);
    let list = || {
        let mut cmd = support::nabla(tmp.path());
        cmd.args(["runs", "list", "--tracking-uri", &server.url, "--token", &ada]);
        cmd
    };
    list().assert().code(1).stderr(predicate::str::contains("certificate verification failed"));
    list().arg("--tls-ca").arg(&certs.cert).assert().success().stdout(format!("no runs in {}\n", server.url));
}

/// `--max-artifact-mb`: a run whose artifact is over the limit is delivered without it (413),
/// with its small artifact, and the sender is told which file stayed behind.
#[test]
fn an_artifact_over_the_limit_is_refused_and_the_rest_of_the_run_is_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("server");
    let ada = add_user(tmp.path(), &store, "ada");
    let server = serve(tmp.path(), &store, &["--max-artifact-mb".into(), "1".into()]);
    let remote = nabla_track::Remote::new(&server.url, &ada).unwrap();
    let mut options = RunOptions::new("ada-big");
    options.remote = Some(remote);
    let mut run = nabla_track::Run::start(tmp.path().join("ada"), options).unwrap();
    for step in 0..20u64 {
        run.log(step, &[("loss", 1.0 / (step as f64 + 1.0))]).unwrap();
    }
    let small = b"a small file".to_vec();
    let big = vec![7u8; (1 << 20) + 1];
    run.log_artifact_bytes("small.txt", &small, "file").unwrap();
    run.log_artifact_bytes("big.bin", &big, "file").unwrap();
    let id = run.id().to_string();
    let err = run.finish(nabla_track::EndStatus::Finished).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, nabla_track::TrackError::ArtifactsRefused { .. }), "{text}");
    assert!(text.contains("big.bin (HTTP 413: an artifact may be at most 1048576 bytes"), "{text}");
    assert!(!text.contains("small.txt"), "{text}");
    // On the server: finished, every point, the small artifact only.
    let shown = support::nabla(tmp.path())
        .args(["runs", "show", &id, "--json", "--tracking-uri", &server.url, "--token", &ada])
        .assert()
        .success();
    let shown: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(shown["run"]["status"], "finished");
    assert_eq!(shown["metrics"][0]["points"], 20);
    let artifacts = shown["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert_eq!(artifacts[0]["name"], "small.txt");
    assert_eq!(artifacts[0]["bytes"], small.len());
    // The local store keeps both, and counts the run delivered: `runs sync` has nothing to send.
    support::nabla(tmp.path())
        .env("NABLA_HOME", tmp.path().join("ada"))
        .env("NABLA_TOKEN", &ada)
        .args(["runs", "sync"])
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to send"));
    // 0 and absurd sizes are refused before anything starts.
    for bad in ["0", "1048577", "-1", "lots"] {
        support::nabla(tmp.path())
            .args(["server", "--port", "0", &format!("--max-artifact-mb={bad}"), "--store"])
            .arg(&store)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--max-artifact-mb"));
    }
}
