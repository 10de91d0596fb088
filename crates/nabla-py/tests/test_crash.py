"""A script that dies with os._exit shows `crashed`, with the points it logged kept."""

import os
import subprocess
import sys
import time

from conftest import field, run_python

CRASHING = """
    import os, time
    import nabla

    run = nabla.init(project="crash", config={"lr": 0.1})
    for step in range(100):
        run.log({"loss": 1.0 / (step + 1), "acc": step / 100})
    time.sleep(0.5)  # a training step's worth of time: the writer commits within 100 ms
    print(f"id={run.id}", flush=True)
    os._exit(3)
"""


def test_a_script_killed_with_os_exit_shows_crashed_with_its_points(cli, tmp_path):
    # A short heartbeat, so that the run is called crashed after 3 x 0.2 s + 1 s.
    out = run_python(CRASHING, tmp_path, env={"NABLA_HEARTBEAT_SECS": "0.2"}, check=False)
    assert out.returncode == 3, out.stderr
    run_id = field(out.stdout, "id")
    shown = cli.wait_status(run_id, "crashed")
    assert shown["run"]["status"] == "crashed"
    assert shown["run"]["ended"] is None
    points = cli.points(run_id)
    assert points["loss"] == [(s, 1.0 / (s + 1)) for s in range(100)]
    assert points["acc"] == [(s, s / 100) for s in range(100)]


def test_a_live_script_with_a_short_heartbeat_stays_running(cli, tmp_path):
    script = tmp_path / "alive.py"
    script.write_text(
        "import sys, time\n"
        "import nabla\n"
        "run = nabla.init(project='alive')\n"
        "run.log({'x': 1})\n"
        "print(f'id={run.id}', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    env = dict(os.environ, NABLA_HEARTBEAT_SECS="0.2")
    child = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        run_id = field(child.stdout.readline(), "id")
        time.sleep(2.5)  # longer than the crash threshold (3 x 0.2 s + 1 s)
        assert cli.show(run_id)["run"]["status"] == "running"
    finally:
        child.communicate("\n", timeout=60)
    assert child.returncode == 0
    # Ended by the exit hook.
    assert cli.show(run_id)["run"]["status"] == "finished"
