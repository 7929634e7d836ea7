#!/bin/bash
# The README's laptop demo, timed as a new user meets it: a clean clone of this checkout's HEAD, then
# `--suite quick --all` (seven runs) and `--suite quick --all --seeds 0 1 2` (seeds 1 and 2 added), each
# from an empty runs dir, REPEATS times (default 3), with any further arguments added to both (e.g.
# --no-amp). Uses the python on PATH with the project's dependencies installed (the clone runs from its
# own directory: nothing of this checkout's runs or caches is reused). Prints one line per repeat:
# seconds for the first line, for the second, and whether bf16 was on.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPEATS="${1:-3}"
shift || true
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
git clone -q "$ROOT" "$WORK/clone"
cd "$WORK/clone"
echo "commit $(git rev-parse --short HEAD), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for i in $(seq "$REPEATS"); do
  rm -rf runs results
  start=$(date +%s.%N)
  python run_ablations.py --suite quick --all "$@" > "$WORK/one.log" 2>&1
  mid=$(date +%s.%N)
  python run_ablations.py --suite quick --all --seeds 0 1 2 "$@" > "$WORK/three.log" 2>&1
  end=$(date +%s.%N)
  bf16=$(python -c "import json; print(json.load(open('runs/quick/baseline/seed0/summary.json'))['runtime']['amp_bf16'])")
  python -c "import sys; a, b, c = map(float, sys.argv[1:4]); print(f'repeat $i: one seed {b - a:.1f} s, three seeds {c - b:.1f} s, bf16 $bf16')" "$start" "$mid" "$end"
done
