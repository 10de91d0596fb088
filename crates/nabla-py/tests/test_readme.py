"""The README's notebook example runs as written: its code block is taken from README.md and
run as a script in a fresh interpreter, in a directory holding wine.csv, with matplotlib's
Agg backend, and what it promises (the printout, the picture, the tracked fits) is checked."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import HERE, require, run_python

README = HERE.parent / "README.md"
MARKER = "<!-- tests/test_readme.py runs the next code block"


def notebook_block() -> str:
    text = README.read_text(encoding="utf-8")
    at = text.find(MARKER)
    assert at >= 0, f"{README} has no block marked {MARKER!r}"
    found = re.compile(r"```python\n(.*?)\n```", re.S).search(text, at)
    assert found, f"no ```python block after the marker in {README}"
    return found.group(1) + "\n"


def wine_csv() -> Path:
    root = os.environ.get("NABLA_DATA")
    if not root:
        # .ci/python-client.sh sets it; under CI a missing data folder is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail("$NABLA_DATA is not set under CI (the data directory with tabular/wine.csv)")
        pytest.skip("$NABLA_DATA is not set (the data directory with tabular/wine.csv)")
    path = Path(root) / "tabular" / "wine.csv"
    assert path.is_file(), f"$NABLA_DATA/tabular/wine.csv not found ({path})"
    return path


def test_the_readmes_notebook_example_runs(tmp_path, cli):
    for module in ("matplotlib", "pandas", "sklearn"):
        require(module)
    work = tmp_path / "notebook"
    work.mkdir()
    shutil.copy(wine_csv(), work / "wine.csv")
    script = notebook_block()
    # The script runs in `work`, where it reads wine.csv and writes its picture.
    out = run_python(
        "import os\nos.chdir(" + repr(str(work)) + ")\n" + script,
        tmp_path,
        env={"MPLBACKEND": "Agg"},
        timeout=300,
    )
    best = re.search(r"^best: \{.*\} test accuracy (\d\.\d+)$", out.stdout, re.M)
    assert best, out.stdout
    assert float(best.group(1)) >= 0.85, out.stdout
    png = work / "wine-loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the loss curve was not written as a PNG"
    # 4 settings × 3 folds, and the refit on every training row: 13 tracked fits.
    runs = cli.runs("wine")
    assert len(runs) == 13 and {r["status"] for r in runs} == {"finished"}
    refit = re.search(r"^the refit's run: (\S+)$", out.stdout, re.M)
    assert refit and refit.group(1) in {r["id"] for r in runs}
