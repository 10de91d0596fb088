"""A Python run sent to a real `nabla server` (the built binary, on 127.0.0.1, with a fresh
store): read back through the server's API with the user's token, hidden from another user,
kept locally while the server is away and delivered later by `nabla runs sync`, and a refused
token as one warning while the run goes on locally. Also the README's two-terminal example,
the wandb shim and the estimators' `track=True` with `$NABLA_TRACKING_URI`.

Every test needs the `nabla` binary (the `nabla_bin` fixture): without one the test fails,
it is never skipped.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import pytest

import nabla
from conftest import HERE, require, run_python

README = HERE.parents[2] / "README.md"
MARKER = "<!-- crates/nabla-py/tests/test_server.py runs the next two code blocks -->"

# Without a proxy, whatever the environment says: the server is on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    """`nabla server --store STORE --port PORT` as a child process, once it listens."""

    def __init__(self, binary: str, store: Path, home: Path, port: int = 0):
        self.binary, self.store, self.home = binary, store, home
        self.proc = subprocess.Popen(
            [binary, "server", "--port", str(port), "--store", str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_server_env(home),
        )
        first = self.proc.stdout.readline()
        if "listening on" not in first:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"nabla server did not start: {first!r} {err}")
        # What it prints next is read and dropped (a full pipe would stop it).
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        addr = first.strip().rsplit(" ", 1)[-1]
        self.url = addr if addr.startswith("http") else f"http://{addr}"
        self.port = int(self.url.rsplit(":", 1)[-1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def get(self, path: str, token: str):
        """(status, JSON body) of GET `path` with `token`."""
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with _OPENER.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def points(self, run_id: str, metric: str, token: str) -> list:
        """Every (step, value) of `metric` on the server."""
        status, body = self.get(f"/api/runs/{run_id}/metrics/{urllib.parse.quote(metric)}?points=100000", token)
        assert status == 200, body
        assert body["total"] == len(body["steps"]), "asked for every point"
        return list(zip(body["steps"], body["values"]))


def _server_env(home: Path) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("NABLA_HOME", "NABLA_TRACKING_URI", "NABLA_TOKEN")}
    env["HOME"] = str(home)
    return env


@pytest.fixture()
def team(tmp_path, nabla_bin, home, monkeypatch):
    """A fresh server store with users ada and grace: (store, {name: token})."""
    monkeypatch.delenv("NABLA_TRACKING_URI", raising=False)
    monkeypatch.delenv("NABLA_TOKEN", raising=False)
    store = tmp_path / "server"
    tokens = {name: add_user(nabla_bin, store, tmp_path, name) for name in ("ada", "grace")}
    return store, tokens


def add_user(binary: str, store: Path, home: Path, name: str) -> str:
    out = subprocess.run(
        [binary, "server", "user", "add", name, "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_server_env(home),
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1].strip()
    assert token.startswith("nabla_"), out.stdout
    return token


@pytest.fixture()
def serve(tmp_path, nabla_bin):
    """Starts servers on a store; every one is stopped at the end of the test."""
    started = []

    def start(store: Path, port: int = 0) -> Server:
        server = Server(nabla_bin, store, tmp_path, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_warnings(caught) -> list:
    return [str(w.message) for w in caught if issubclass(w.category, nabla.ServerWarning)]


def log_curve(run, steps: int = 50) -> None:
    for step in range(steps):
        run.log({"train/loss": 1.0 / (step + 1), "acc": step / steps})


def assert_on_server(server: Server, run_id: str, token: str, steps: int = 50) -> dict:
    status, body = server.get(f"/api/runs/{run_id}", token)
    assert status == 200, body
    assert body["run"]["status"] == "finished", body["run"]
    # Every point once, in order, with its value.
    assert server.points(run_id, "train/loss", token) == [(s, pytest.approx(1.0 / (s + 1))) for s in range(steps)]
    assert server.points(run_id, "acc", token) == [(s, pytest.approx(s / steps)) for s in range(steps)]
    return body["run"]


def test_a_run_logged_from_python_reaches_the_server_once_and_only_its_owner_sees_it(team, serve, cli):
    store, tokens = team
    server = serve(store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = nabla.init(project="ada-py", config={"lr": 0.1}, server=server.url, token=tokens["ada"])
        assert run.server == server.url
        log_curve(run)
        run.summary["test/acc"] = 0.97
        run.finish()
    assert server_warnings(caught) == []
    shown = assert_on_server(server, run.id, tokens["ada"])
    assert shown["project"] == "ada-py" and shown["config"] == {"lr": 0.1}
    assert shown["summary"]["test/acc"] == 0.97
    # Recorded locally as always.
    assert cli.show(run.id)["run"]["status"] == "finished"
    status, listed = server.get("/api/runs?project=ada-py", tokens["ada"])
    assert status == 200 and [r["id"] for r in listed["runs"]] == [run.id]
    # Grace sees neither the run nor the project; no token is 401.
    assert server.get(f"/api/runs/{run.id}", tokens["grace"])[0] == 404
    assert server.get("/api/runs", tokens["grace"])[1]["runs"] == []
    assert server.get(f"/api/runs/{run.id}", "nabla_bogus")[0] == 401


def test_the_environment_names_the_server_and_an_argument_wins(team, serve, monkeypatch, cli):
    store, tokens = team
    server = serve(store)
    monkeypatch.setenv("NABLA_TRACKING_URI", server.url)
    monkeypatch.setenv("NABLA_TOKEN", tokens["ada"])
    run = nabla.init(project="ada-env")
    log_curve(run)
    run.finish()
    assert_on_server(server, run.id, tokens["ada"])
    # token= wins over $NABLA_TOKEN: grace's run is hers.
    run = nabla.init(project="grace-arg", token=tokens["grace"])
    log_curve(run)
    run.finish()
    assert_on_server(server, run.id, tokens["grace"])
    assert server.get(f"/api/runs/{run.id}", tokens["ada"])[0] == 404
    # server="" records locally only.
    local = nabla.init(project="ada-local", server="")
    assert local.server is None
    local.finish()
    assert server.get(f"/api/runs/{local.id}", tokens["ada"])[0] == 404
    assert cli.show(local.id)["run"]["status"] == "finished"


def test_a_bad_url_or_a_missing_token_is_a_clear_error(home, monkeypatch):
    monkeypatch.delenv("NABLA_TOKEN", raising=False)
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        nabla.init(project="p", server="127.0.0.1:6006", token="nabla_x")
    with pytest.raises(ValueError, match=r"a token for http://127\.0\.0\.1:1 is needed"):
        nabla.init(project="p", server="http://127.0.0.1:1")
    with pytest.raises(TypeError, match="server must be a str"):
        nabla.init(project="p", server=6006)


def test_a_server_down_at_finish_keeps_the_run_locally_and_runs_sync_delivers_it(team, serve, cli, nabla_bin, home):
    store, tokens = team
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = nabla.init(project="ada-offline", server=url, token=tokens["ada"])
        log_curve(run)
        started = time.monotonic()
        run.finish()
        waited = time.monotonic() - started
    (warning,) = server_warnings(caught)
    assert f"run {run.id} is recorded locally but not yet delivered to {url}" in warning
    assert "nabla runs sync" in warning
    assert waited < 30, f"finish waited {waited:.0f} s for a server that is away"
    assert cli.show(run.id)["run"]["status"] == "finished"
    assert len(cli.points(run.id)["train/loss"]) == 50

    server = serve(store, port)
    sync = subprocess.run(
        [nabla_bin, "runs", "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_server_env(home), "NABLA_HOME": str(home), "NABLA_TOKEN": tokens["ada"]},
    )
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert "1 of 1 delivered" in sync.stdout, sync.stdout
    assert_on_server(server, run.id, tokens["ada"])


def test_a_refused_token_is_one_warning_and_the_run_goes_on_locally(team, serve, cli, nabla_bin, home):
    store, tokens = team
    server = serve(store)
    bogus = "nabla_000000000000_" + "0" * 64
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = nabla.init(project="ada-refused", server=server.url, token=bogus)
        run.log({"train/loss": 1.0, "acc": 0.0})
        # The background sync (every 2 s) meets the refusal; a later log says so, once.
        deadline = time.monotonic() + 20
        while not server_warnings(caught) and time.monotonic() < deadline:
            time.sleep(0.2)
            run.log({"train/loss": 0.5, "acc": 0.5})
        during = server_warnings(caught)
        run.log({"train/loss": 0.25, "acc": 1.0})
        run.finish()
    assert len(during) == 1, during
    assert server_warnings(caught) == during, "finish repeats no warning"
    assert f"{server.url} refused run {run.id}" in during[0] and "HTTP 401" in during[0], during[0]
    assert "training goes on" in during[0]
    assert cli.show(run.id)["run"]["status"] == "finished"
    assert server.get(f"/api/runs/{run.id}", tokens["ada"])[0] == 404
    # With ada's token, `nabla runs sync` delivers it.
    sync = subprocess.run(
        [nabla_bin, "runs", "sync"],
        stdout=subprocess.PIPE,
        text=True,
        env={**_server_env(home), "NABLA_HOME": str(home), "NABLA_TOKEN": tokens["ada"]},
    )
    assert sync.returncode == 0 and "1 of 1 delivered" in sync.stdout, sync.stdout
    status, body = server.get(f"/api/runs/{run.id}", tokens["ada"])
    assert status == 200 and body["run"]["status"] == "finished"


def test_a_short_run_refused_at_finish_is_one_warning(team, serve, cli):
    store, tokens = team
    server = serve(store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = nabla.init(project="ada-short", server=server.url, token="nabla_000000000000_" + "1" * 64)
        run.log({"loss": 1.0})
        run.finish()
    (warning,) = server_warnings(caught)
    assert f"{server.url} refused run {run.id}" in warning and "HTTP 401" in warning, warning
    assert "valid $NABLA_TOKEN" in warning
    assert cli.show(run.id)["run"]["status"] == "finished"


def test_the_wandb_shim_sends_with_login_host_and_key_and_never_reads_wandb_variables(team, serve, monkeypatch, capsys):
    import nabla.compat.wandb as wandb

    store, tokens = team
    server = serve(store)
    monkeypatch.setattr(wandb, "_login", {})
    monkeypatch.setattr(wandb, "_wandb_env_noted", False)
    # wandb's variables are not nabla's: nothing is sent, and init says so.
    monkeypatch.setenv("WANDB_BASE_URL", server.url)
    monkeypatch.setenv("WANDB_API_KEY", tokens["ada"])
    wandb.login()
    run = wandb.init(project="ada-wandb")
    assert run.server is None
    wandb.finish()
    assert "$WANDB_BASE_URL is not read" in capsys.readouterr().err
    assert server.get(f"/api/runs/{run.id}", tokens["ada"])[0] == 404
    # wandb.login(host=, key=) names the server and the token.
    wandb.login(host=server.url, key=tokens["ada"])
    run = wandb.init(project="ada-wandb")
    assert run.server == server.url
    log_curve(run)
    wandb.finish()
    assert_on_server(server, run.id, tokens["ada"])
    # mode="offline" records locally only.
    run = wandb.init(project="ada-wandb", mode="offline")
    assert run.server is None
    wandb.finish()


def test_a_tracked_fit_is_sent_when_the_environment_names_a_server(team, serve, monkeypatch):
    np = require("numpy")
    require("sklearn")
    from nabla import MLPClassifier

    store, tokens = team
    server = serve(store)
    monkeypatch.setenv("NABLA_TRACKING_URI", server.url)
    monkeypatch.setenv("NABLA_TOKEN", tokens["ada"])
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    X = rng.normal(size=(120, 3)) + 3.0 * y[:, None]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = MLPClassifier(hidden=(8,), epochs=6, early_stopping=False, seed=0, track=True).fit(X, y)
    assert [str(w.message) for w in caught if "track" in str(w.message) or "server" in str(w.message)] == []
    status, body = server.get(f"/api/runs/{clf.run_id_}", tokens["ada"])
    assert status == 200 and body["run"]["status"] == "finished", body
    losses = server.points(clf.run_id_, "train/loss", tokens["ada"])
    assert [s for s, _ in losses] == sorted({s for s, _ in losses}) and len(losses) == clf.n_iter_
    assert [v for _, v in losses] == pytest.approx(clf.loss_curve_)
    # A refused token is a warning naming the server; the fit still succeeds and is recorded.
    monkeypatch.setenv("NABLA_TOKEN", "nabla_000000000000_" + "2" * 64)
    with pytest.warns(RuntimeWarning, match=re.escape(f"{server.url} refused run")):
        clf = MLPClassifier(hidden=(8,), epochs=3, early_stopping=False, seed=0, track=True).fit(X, y)
    assert clf.run_id_ is not None


def readme_blocks() -> tuple:
    text = README.read_text(encoding="utf-8")
    at = text.find(MARKER)
    assert at >= 0, f"{README} has no blocks marked {MARKER!r}"
    shell = re.compile(r"```bash\n(.*?)\n```", re.S).search(text, at)
    script = re.compile(r"```python\n(.*?)\n```", re.S).search(text, at)
    assert shell and script and shell.start() < script.start(), "a ```bash block, then a ```python block"
    return shell.group(1), script.group(1) + "\n"


def test_the_readmes_two_terminal_example_runs(tmp_path, nabla_bin, home, monkeypatch):
    monkeypatch.delenv("NABLA_TRACKING_URI", raising=False)
    monkeypatch.delenv("NABLA_TOKEN", raising=False)
    shell, script = readme_blocks()
    commands = [shlex.split(line, comments=True) for line in shell.splitlines()]
    commands = [c for c in commands if c]
    assert [c[:3] for c in commands] == [["nabla", "server", "user"], ["nabla", "server", "--store"]], commands
    work = tmp_path / "terminal"
    work.mkdir()
    # Terminal 1, as written (in `work`), except that the server takes a free port.
    add = subprocess.run(
        [nabla_bin, *commands[0][1:]], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_server_env(tmp_path),
    )
    assert add.returncode == 0, add.stderr
    token = add.stdout.strip().splitlines()[-1].strip()
    store = work / commands[1][commands[1].index("--store") + 1]
    server = Server(nabla_bin, store, tmp_path)
    try:
        # Terminal 2: the script with this server's address and alice's token.
        assert '"http://127.0.0.1:6006"' in script and '"nabla_…"' in script, script
        code = script.replace('"http://127.0.0.1:6006"', repr(server.url)).replace('"nabla_…"', repr(token))
        out = run_python(code + "print('run=' + run.id)\n", tmp_path)
        run_id = out.stdout.strip().rsplit("=", 1)[-1]
        assert "ServerWarning" not in out.stderr, out.stderr
        status, body = server.get(f"/api/runs/{run_id}", token)
        assert status == 200 and body["run"]["status"] == "finished", body
        assert body["run"]["project"] == "alice-demo"
        assert server.points(run_id, "loss", token) == [(s, pytest.approx(1.0 / (s + 1))) for s in range(100)]
    finally:
        server.stop()
