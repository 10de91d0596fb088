"""The lecture's wandb demo, with only its import line changed, is recorded in nabla's store."""

import re

from conftest import HERE, run_python


def test_the_lecture_demo_is_recorded_with_only_its_import_changed(cli, tmp_path):
    original = (HERE / "scripts" / "wandb_demo.py").read_text()
    changed = original.replace("\nimport wandb\n", "\nimport nabla.compat.wandb as wandb\n")
    differing = [(a, b) for a, b in zip(original.splitlines(), changed.splitlines()) if a != b]
    assert differing == [("import wandb", "import nabla.compat.wandb as wandb")]

    out = run_python(changed, tmp_path, env={"NABLA_QUIET": "0"})
    # The script prints each epoch's values with repr precision: what the store must hold.
    printed = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(r"^epoch=\d+, accuracy=(\S+), loss=(\S+)$", out.stdout, re.M)
    ]
    assert len(printed) == 8
    assert "nabla: recording run" in out.stderr

    runs = cli.runs(project="my-awesome-project")
    assert len(runs) == 1
    shown = cli.show(runs[0]["id"])
    run = shown["run"]
    assert run["status"] == "finished"
    assert run["config"] == {"learning_rate": 0.01, "epochs": 10}
    metrics = {m["name"]: m for m in shown["metrics"]}
    assert sorted(metrics) == ["accuracy", "loss"]
    for name, column in (("accuracy", 0), ("loss", 1)):
        assert metrics[name]["points"] == 8
        assert (metrics[name]["first_step"], metrics[name]["last_step"]) == (0, 7)
        assert metrics[name]["last_value"] == printed[-1][column]
        # wandb's default summary: each metric's last value.
        assert run["summary"][name] == printed[-1][column]

    points = cli.points(run["id"])
    assert points["accuracy"] == [(step, acc) for step, (acc, _) in enumerate(printed)]
    assert points["loss"] == [(step, loss) for step, (_, loss) in enumerate(printed)]
