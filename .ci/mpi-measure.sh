#!/usr/bin/env bash
# The measurements of docs/DISTRIBUTED.md: one MNIST epoch of W2 (784-800-10, momentum) and
# W3 (784-1024-1024-10, Adam), batches of 128, as 1 rank × 1 thread, 1 rank × 2 threads, and
# mpirun -np 2 × 1 thread with the overlapped and the blocking (NABLA_MPI_OVERLAP=0)
# all-reduce; one line per run: rank 0's samples/s and its --profile line, and the load.
# Usage: .ci/mpi-measure.sh [path/to/nabla built with --features mpi, release]
# Not part of CI (timings); run it on a machine as quiet as you can get.
set -uo pipefail
cd "$(dirname "$0")/.."
NABLA="${1:-${CARGO_TARGET_DIR:-target}/release/nabla}"
export NABLA_DATA="${NABLA_DATA:-../shared/data}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
w2=(--hidden 800 --optimizer momentum --lr 0.05 --momentum 0.9)
w3=(--hidden 1024,1024 --optimizer adam --lr 0.001)
common=(--batch-size 128 --dropout 0 --epochs 1 --schedule constant --no-track --offline --json --profile)
run() { # NAME COMMAND...
  local name=$1
  shift
  "$@" --out "$out/$name" >"$out/$name.out" 2>"$out/$name.err"
  local sps
  sps=$(grep -o '"samples_per_sec":[0-9.]*' "$out/$name.out" | head -1 | cut -d: -f2)
  echo "$name samples/s=$sps | $(grep profile: "$out/$name.err") | load $(cut -d' ' -f1-3 /proc/loadavg)"
}
for w in w2 w3; do
  if [ "$w" = w2 ]; then f=("${w2[@]}"); else f=("${w3[@]}"); fi
  run "$w-1x1" "$NABLA" train mnist "${f[@]}" "${common[@]}" --threads 1
  run "$w-1x2" "$NABLA" train mnist "${f[@]}" "${common[@]}" --threads 2
  run "$w-2x1-overlap" mpirun -np 2 "$NABLA" train mnist "${f[@]}" "${common[@]}" --threads 1
  run "$w-2x1-blocking" mpirun -np 2 -x NABLA_MPI_OVERLAP=0 "$NABLA" train mnist "${f[@]}" "${common[@]}" --threads 1
done
