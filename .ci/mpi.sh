#!/usr/bin/env bash
# Data-parallel training over MPI (issue 10): installs Debian's Open MPI (and the clang that
# the `mpi` crate's bindgen needs), builds with `--features mpi`, then
#   1. crates/nabla-train/tests/distributed_mpi.rs: mpirun -np 2 and 3 (overlapped and
#      blocking all-reduce) against the single-process digits run with dropout (per-step
#      losses 1e-5 relative, final weights 1e-4); a rank killed with SIGKILL ends the job
#      non-zero within 60 s, and its last checkpoint resumes under 3 ranks to the same weights;
#   2. `mpirun -np 2 nabla train digits`: one rank prints, the job exits 0, and the
#      checkpoint resumes under 3 ranks;
#   3. a rank of `nabla train` that fails alone (rank 0 cannot write its checkpoint) ends
#      the job with its error instead of leaving the other rank waiting for ever.
# Run from the repository root with NABLA_DATA set (the caller's CARGO_TARGET_DIR is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
export NABLA_DATA="${NABLA_DATA:-../shared/data}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v mpirun >/dev/null 2>&1 || ! command -v mpicc >/dev/null 2>&1 \
    || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenmpi-dev openmpi-bin libclang-dev clang
fi
mpirun --version | head -1

# Open MPI refuses to run as root unless both are set; CI containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

cargo test -p nabla-train --features mpi --test distributed_mpi

# The test profile reuses the dependencies the workspace tests built (a dev-profile build
# would compile all of them again).
cargo build -p nabla-cli --features mpi --profile test
NABLA="${CARGO_TARGET_DIR:-target}/debug/nabla"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flags=(--epochs 1 --no-track --offline --json --data "$NABLA_DATA")
timeout 600 mpirun --oversubscribe -np 2 "$NABLA" train digits "${flags[@]}" --out "$work/np2" >"$work/np2.out"
finals=$(grep -c '"final":true' "$work/np2.out" || true)
if [ "$finals" != 1 ]; then
  echo "mpi.sh: expected rank 0 alone to print one final line, got $finals:" >&2
  cat "$work/np2.out" >&2
  exit 1
fi
test -s "$work/np2/last.safetensors"
timeout 600 mpirun --oversubscribe -np 3 "$NABLA" train digits "${flags[@]}" --epochs 2 \
  --resume "$work/np2/last.safetensors" --out "$work/np3" >"$work/np3.out"
grep -q '"epochs":2' "$work/np3.out"

# Rank 0 fails after epoch 1 (its --out is a file) while rank 1 goes on into epoch 2's
# all-reduce: the job must end, non-zero, naming the rank and the error, not hang.
touch "$work/not-a-dir"
rc=0
timeout 120 mpirun --oversubscribe -np 2 "$NABLA" train digits "${flags[@]}" --epochs 2 \
  --out "$work/not-a-dir" >"$work/fail.out" 2>"$work/fail.err" || rc=$?
if [ "$rc" = 0 ] || [ "$rc" = 124 ] || ! grep -q 'error: rank 0 of 2: .*not-a-dir.*ending the job' "$work/fail.err"; then
  echo "mpi.sh: a failing rank should end the job with its error (exit $rc; 124 is a hang):" >&2
  cat "$work/fail.err" >&2
  exit 1
fi
echo "mpi.sh: ok"
