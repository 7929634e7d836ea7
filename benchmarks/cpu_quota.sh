#!/bin/bash
# A ResNet-20 run in a cgroup v1 CPU quota of one CPU (quota = period = 100 ms): 2 threads, 1 thread, and
# the default (which now follows the quota). As root, on a machine with cgroup v1's cpu controller at
# /sys/fs/cgroup/cpu; images/s and threads from each run's summary.json.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p /sys/fs/cgroup/cpu/rtest && echo 100000 > /sys/fs/cgroup/cpu/rtest/cpu.cfs_quota_us
cd "$(mktemp -d)"
export ROOT
bash -c '  # a shell of its own ($$ is its pid): only it and its runs go into the quota
  echo $$ > /sys/fs/cgroup/cpu/rtest/cgroup.procs
  A="--dataset synthetic --model resnet20 --epochs 2 --batch-size 64 --device cpu"
  python "$ROOT/train_cifar.py" $A --threads 2 --run-dir qa > /dev/null 2>&1
  python "$ROOT/train_cifar.py" $A --threads 1 --run-dir qb > /dev/null 2>&1
  python "$ROOT/train_cifar.py" $A --run-dir qc > /dev/null 2>&1
'
for d in qa qb qc; do
  python -c "import json,sys; s=json.load(open(sys.argv[1]+'/summary.json')); print(sys.argv[1], round(s['images_per_sec']), 'img/s,', s['runtime']['threads'], 'threads')" $d
done
rmdir /sys/fs/cgroup/cpu/rtest
