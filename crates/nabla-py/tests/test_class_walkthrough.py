"""The README's class walkthrough ("One server for a class or a team"), run as written: the
three code blocks after the marker, read from the README itself, so that this test changes
when the README does.

Terminal 1's commands run as they are (the server with `--port 0` added, on a free port);
terminal 2's lines run one by one in bash, with `nabla` and this venv's `python3` first on the
PATH, the server's address in place of 127.0.0.1:6006 and the tokens terminal 1 printed in
place of `nabla_…`. A line whose comment says "refused" must fail, naming the server and the
HTTP status; every other line must succeed. What each `nabla runs list` shows is checked
against the runs recorded in the local store.

Needs the `nabla` binary and `$NABLA_DATA` (for `nabla train digits`): without either the
test fails, it is never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HERE
from test_server import Server, _server_env

README = HERE.parents[2] / "README.md"
MARKER = "<!-- crates/nabla-py/tests/test_class_walkthrough.py runs the next three code blocks as written -->"
PLACEHOLDER_URL = "http://127.0.0.1:6006"
PLACEHOLDER_TOKEN = "nabla_…"

# What each `nabla runs list` line of terminal 2 shows: the runs of `class`, every run, or a
# refusal with this HTTP status. The README's list lines must be exactly these.
LISTS = {
    "NABLA_TOKEN=$ADA nabla runs list": "class",
    "NABLA_TOKEN=$GRACE nabla runs list": "all",
    "NABLA_TOKEN=$GRACE nabla runs list --project class": "class",
    "NABLA_TOKEN=$EVE nabla runs list --project class": 403,
    "NABLA_TOKEN=nabla_wrong nabla runs list": 401,
}


def readme_blocks() -> tuple:
    """(terminal 1, terminal 2, train.py) from the README."""
    text = README.read_text(encoding="utf-8")
    at = text.find(MARKER)
    assert at >= 0, f"{README} has no blocks marked {MARKER!r}"
    blocks = re.compile(r"```(bash|python)\n(.*?)\n```", re.S).findall(text, at)[:3]
    assert [kind for kind, _ in blocks] == ["bash", "bash", "python"], "two ```bash blocks, then a ```python block"
    return blocks[0][1], blocks[1][1], blocks[2][1] + "\n"


def command(line: str) -> str:
    """The line without its comment."""
    return line.split("#", 1)[0].strip()


def listed_ids(stdout: str) -> set:
    """The run ids of a `nabla runs list` table."""
    lines = stdout.strip().splitlines()
    assert lines and lines[0].startswith("id "), stdout
    return {line.split()[0] for line in lines[1:]}


def test_the_readmes_class_walkthrough_runs_as_written(tmp_path, nabla_bin, monkeypatch):
    data = os.environ.get("NABLA_DATA")
    if not data or not (Path(data) / "digits").is_dir():
        pytest.fail("$NABLA_DATA must name the data folder with digits/ (the walkthrough trains on digits)")
    for var in ("NABLA_TRACKING_URI", "NABLA_TOKEN", "NABLA_HOME"):
        monkeypatch.delenv(var, raising=False)
    terminal1, terminal2, script = readme_blocks()
    work = tmp_path / "terminal"
    work.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nabla").symlink_to(nabla_bin)

    # Terminal 1: the users, then the server.
    lines = [shlex.split(line, comments=True) for line in terminal1.splitlines()]
    lines = [words for words in lines if words]
    *adds, serve = lines
    assert serve[:2] == ["nabla", "server"] and "--store" in serve, serve
    tokens = {}
    for words in adds:
        assert words[:4] == ["nabla", "server", "user", "add"], words
        out = subprocess.run(
            [nabla_bin, *words[1:]], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_server_env(tmp_path),
        )
        assert out.returncode == 0, out.stderr
        tokens[words[4]] = out.stdout.strip().splitlines()[-1].strip()
    assert sorted(tokens) == ["ada", "eve", "grace"], tokens
    server = Server(nabla_bin, work / serve[serve.index("--store") + 1], tmp_path)
    try:
        (work / "train.py").write_text(script, encoding="utf-8")
        env = _server_env(tmp_path)
        env.update(
            PATH=os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), env.get("PATH", "")]),
            NABLA_HOME=str(tmp_path / "home"),
            NABLA_DATA=data,
            NABLA_QUIET="1",
        )
        results = {}
        for line in terminal2.splitlines():
            cmd = command(line)
            if not cmd:
                continue
            if cmd.startswith("export "):
                # The variables this terminal sets: the server's URL, the tokens of terminal 1.
                for assignment in shlex.split(cmd)[1:]:
                    name, value = assignment.split("=", 1)
                    if value == PLACEHOLDER_TOKEN:
                        value = tokens[name.lower()]
                    env[name] = value.replace(PLACEHOLDER_URL, server.url)
                continue
            out = subprocess.run(
                ["bash", "-c", cmd], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                timeout=300,
            )
            results[cmd] = out
            if "refused" in line.split("#", 1)[-1]:
                assert out.returncode == 1, f"{cmd}: {out.stdout} {out.stderr}"
                assert f"tracking server {server.url}: HTTP" in out.stderr, f"{cmd}: {out.stderr}"
                assert "panicked" not in out.stderr, out.stderr
            else:
                assert out.returncode == 0, f"{cmd} failed: {out.stdout} {out.stderr}"
                assert "ServerWarning" not in out.stderr and "not yet delivered" not in out.stderr, out.stderr

        assert env["NABLA_TRACKING_URI"] == server.url
        list_lines = {cmd for cmd in results if " runs list" in cmd}
        assert list_lines == set(LISTS), f"the README's `runs list` lines changed: {sorted(list_lines)}"
        assert any("nabla train" in cmd and "$ADA" in cmd for cmd in results), "ada trains"
        assert any("nabla train" in cmd and "$GRACE" in cmd for cmd in results), "grace trains"
        assert any("python3 train.py" in cmd for cmd in results), "grace's script runs"

        # The runs, from the local store (one machine: every user's runs are recorded there).
        local = subprocess.run(
            [nabla_bin, "runs", "list", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={k: v for k, v in env.items() if k != "NABLA_TRACKING_URI"},
        )
        assert local.returncode == 0, local.stderr
        runs = json.loads(local.stdout)
        assert sorted(r["project"] for r in runs) == ["class", "class", "grace-py"], runs
        assert all(r["status"] == "finished" for r in runs), runs
        every = {r["id"] for r in runs}
        in_class = {r["id"] for r in runs if r["project"] == "class"}
        for cmd, expected in LISTS.items():
            out = results[cmd]
            if isinstance(expected, int):
                assert f"HTTP {expected}" in out.stderr, f"{cmd}: {out.stderr}"
            else:
                want = in_class if expected == "class" else every
                assert listed_ids(out.stdout) == want, f"{cmd}:\n{out.stdout}"
        # Grace's script reached the server whole, as hers.
        (script_run,) = [r["id"] for r in runs if r["project"] == "grace-py"]
        status, body = server.get(f"/api/runs/{script_run}", tokens["grace"])
        assert status == 200 and body["run"]["status"] == "finished", body
        assert server.points(script_run, "loss", tokens["grace"]) == [
            (s, pytest.approx(1.0 / (s + 1))) for s in range(100)
        ]
        assert server.get(f"/api/runs/{script_run}", tokens["ada"])[0] == 404
    finally:
        server.stop()
