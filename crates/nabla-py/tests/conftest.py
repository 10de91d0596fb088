"""Shared fixtures: a private store per test, the `nabla` binary, and helpers that run scripts.

The `nabla` binary comes from $NABLA_BIN (the CI script builds it), else `cargo build -p
nabla-cli` is run once. Every test records into its own temporary $NABLA_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKSPACE = HERE.parents[2]


@pytest.fixture(scope="session")
def nabla_bin() -> str:
    explicit = os.environ.get("NABLA_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"$NABLA_BIN={explicit} is not an executable")
        return explicit
    build = subprocess.run(
        ["cargo", "build", "-p", "nabla-cli", "--message-format=json-render-diagnostics"],
        cwd=WORKSPACE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if build.returncode != 0:
        pytest.fail("cargo build -p nabla-cli failed (set $NABLA_BIN to a built nabla instead)")
    for line in build.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == "nabla":
            return msg["executable"]
    pytest.fail("cargo build -p nabla-cli built no `nabla` executable")


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A fresh $NABLA_HOME for this test (and the scripts it starts)."""
    path = tmp_path / "home"
    monkeypatch.setenv("NABLA_HOME", str(path))
    monkeypatch.setenv("NABLA_QUIET", "1")
    monkeypatch.delenv("NABLA_HEARTBEAT_SECS", raising=False)
    monkeypatch.setenv("NABLA_SYSTEM_SECS", "off")
    return path


class Cli:
    """`nabla runs ...` as a user runs it, parsed from its JSON output."""

    def __init__(self, binary: str):
        self.binary = binary

    def json(self, *args: str):
        # The local store: `nabla runs` reads a server when $NABLA_TRACKING_URI names one.
        env = {k: v for k, v in os.environ.items() if k != "NABLA_TRACKING_URI"}
        out = subprocess.run([self.binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert out.returncode == 0, f"nabla {' '.join(args)} failed: {out.stderr}"
        return json.loads(out.stdout)

    def runs(self, project: str | None = None) -> list:
        args = ["runs", "list", "--json"] + (["--project", project] if project else [])
        return self.json(*args)

    def show(self, run_id: str) -> dict:
        return self.json("runs", "show", run_id, "--json")

    def points(self, run_id: str) -> dict:
        """{metric: [(step, value), ...]} of every metric of the run."""
        doc = self.json("runs", "metrics", run_id, "--format", "json")
        return {m["name"]: [(p["step"], p["value"]) for p in m["points"]] for m in doc["metrics"]}

    def wait_status(self, run_id: str, status: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.show(run_id)
            if shown["run"]["status"] == status or time.monotonic() > deadline:
                return shown
            time.sleep(0.1)


@pytest.fixture()
def cli(nabla_bin, home) -> Cli:
    return Cli(nabla_bin)


def run_python(code: str, tmp_path: Path, *, env: dict | None = None, timeout: float = 120, check: bool = True, name: str = "script.py"):
    """Runs `code` as a script file with this Python; returns the CompletedProcess."""
    script = tmp_path / name
    script.write_text(textwrap.dedent(code))
    full_env = dict(os.environ)
    full_env.update(env or {})
    out = subprocess.run(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, env=full_env
    )
    if check:
        assert out.returncode == 0, f"script failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


def field(stdout: str, key: str) -> str:
    """The value of a `key=value` line a script printed."""
    for line in stdout.splitlines():
        if line.startswith(key + "="):
            return line[len(key) + 1 :]
    raise AssertionError(f"no {key}= line in the script's output:\n{stdout}")


def require(module: str, *, why_optional: str | None = None):
    """Imports `module` for a test. Under CI (`$CI` set) a module CI installs must be there: its
    absence fails the test instead of skipping it. A module CI does not install
    (`why_optional` says why) is skipped with that reason, which `pytest -rs` prints."""
    if why_optional is not None:
        return pytest.importorskip(module, reason=f"{module} is not installed: {why_optional}")
    if os.environ.get("CI"):
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module)
