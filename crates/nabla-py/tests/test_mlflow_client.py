"""The real `mlflow` client (mlflow-skinny) logs into `nabla server` unchanged.

MLflow lives in a virtual environment of its own ($NABLA_MLFLOW_PYTHON, which
.ci/python-client.sh makes), since it brings a web stack the client's tests do not need. Under
CI a missing interpreter fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import mlflow
    mlflow.set_experiment("class-demo")
    with mlflow.start_run(run_name="mlflow-run"):
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"hidden": 64, "activation": "relu"})
        for epoch in range(3):
            mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        mlflow.log_metrics({"acc": 0.9, "loss": 0.2}, step=3)
        mlflow.set_tag("group", "b")
        mlflow.log_metric("lr_now", 0.5)
        mlflow.log_metric("lr_now", 0.25)
    print("RUN", mlflow.last_active_run().info.run_id)
    """
)


@pytest.fixture(scope="module")
def mlflow_python() -> str:
    python = os.environ.get("NABLA_MLFLOW_PYTHON")
    if python and os.access(python, os.X_OK):
        return python
    reason = "no MLflow interpreter: set $NABLA_MLFLOW_PYTHON (.ci/python-client.sh makes one)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _server(nabla_bin: str, store: Path, home: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NABLA_TRACKING", "NABLA_TOKEN"))}
    env["HOME"] = str(home)
    proc = subprocess.Popen(
        [nabla_bin, "server", "--port", "0", "--store", str(store)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = proc.stdout.readline()
    assert "listening on" in first, first
    return proc, first.strip().rsplit(" ", 1)[-1]


def _user(nabla_bin: str, store: Path, name: str) -> str:
    out = subprocess.run(
        [nabla_bin, "server", "user", "add", name, "--store", str(store)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1].strip()


def test_an_mlflow_script_logs_a_run_that_nabla_shows(nabla_bin, mlflow_python, tmp_path):
    store = tmp_path / "server"
    ada = _user(nabla_bin, store, "ada")
    grace = _user(nabla_bin, store, "grace")
    proc, addr = _server(nabla_bin, store, tmp_path)
    try:
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"http://{addr}", MLFLOW_TRACKING_TOKEN=ada, HOME=str(tmp_path))
        done = subprocess.run(
            [mlflow_python, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("RUN "))

        # Another user's token is refused by the client with nabla's answer.
        env["MLFLOW_TRACKING_TOKEN"] = grace
        refused = subprocess.run(
            [mlflow_python, "-c", 'import mlflow\nmlflow.set_experiment("class-demo")\nmlflow.start_run()'],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
        )
        assert refused.returncode != 0
        assert "PERMISSION_DENIED" in refused.stderr, refused.stderr
        assert "nabla server share class-demo grace --write" in refused.stderr, refused.stderr

        # The dashboard's API lists it for its owner, not for grace.
        def listed(token):
            request = urllib.request.Request(f"http://{addr}/api/runs", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                return [r["id"] for r in json.load(answer)["runs"]]

        assert run_id in listed(ada)
        assert run_id not in listed(grace)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    # What `nabla runs show` reads from the server's store.
    shown = subprocess.run(
        [nabla_bin, "runs", "show", run_id, "--json", "--tracking-dir", str(store)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    shown = json.loads(shown)
    run = shown["run"]
    assert run["project"] == "class-demo"
    assert run["name"] == "mlflow-run"
    assert run["status"] == "finished"
    assert run["config"] == {"lr": 0.01, "hidden": 64, "activation": "relu"}
    assert run["tags"] == ["group=b"]
    by_name = {m["name"]: m for m in shown["metrics"]}
    assert by_name["loss"]["points"] == 4 and by_name["loss"]["last_value"] == pytest.approx(0.2)
    # Two values without a step: MLflow puts both at step 0, nabla keeps both, in order.
    assert by_name["lr_now"]["points"] == 2
    assert by_name["lr_now"]["last_step"] == 1 and by_name["lr_now"]["last_value"] == 0.25
