#!/usr/bin/env bash
# A Python virtual environment with what tests/reference/load_checkpoint.py needs
# (safetensors and numpy), for the test that a nabla checkpoint loads in Python.
#
#   export NABLA_PYTHON="$(bash .ci/python-env.sh)"
#
# Creates the venv at ${NABLA_PYENV:-target/pyenv} (relative to the workspace root) unless it
# already holds the pinned packages; prints only the venv's python path on stdout, progress
# on stderr. torch is left out on purpose (gigabytes); the script uses it when present.
set -euo pipefail
cd "$(dirname "$0")/.."

SAFETENSORS_VERSION="0.7.0"
NUMPY_VERSION="2.3.5"

venv="${NABLA_PYENV:-target/pyenv}"
case "$venv" in
    /*) ;;
    *) venv="$PWD/$venv" ;;
esac
python="$venv/bin/python"

have_packages() {
    [ -x "$python" ] && "$python" - "$SAFETENSORS_VERSION" "$NUMPY_VERSION" <<'PY' 2>/dev/null
import sys
import numpy, safetensors
sys.exit(0 if (safetensors.__version__, numpy.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

if ! have_packages; then
    base="${PYTHON:-$(command -v python3 || true)}"
    if [ -z "$base" ]; then
        echo "python-env: python3 not found (install python3 and python3-venv)" >&2
        exit 1
    fi
    echo "python-env: creating $venv with safetensors==$SAFETENSORS_VERSION numpy==$NUMPY_VERSION" >&2
    "$base" -m venv "$venv" >&2
    "$python" -m pip install --quiet --disable-pip-version-check \
        "safetensors==$SAFETENSORS_VERSION" "numpy==$NUMPY_VERSION" >&2
    have_packages || { echo "python-env: $venv lacks the pinned packages after install" >&2; exit 1; }
fi
echo "$python"
