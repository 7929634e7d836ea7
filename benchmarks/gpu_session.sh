#!/usr/bin/env bash
# The GPU checks and measurements behind benchmarks/README.md's "GPU" section, as one script for a
# short lease of a GPU machine (each step has a time limit and the whole stays under DEADLINE seconds).
#
#   OUT=gpu-out DATA=data bash benchmarks/gpu_session.sh
#
# SKIP="step names" leaves steps out (a second lease ran only the last three; a third: the test suite as
# is, GPU visible, with pytest-xdist, and the runner's dispatch overhead on the GPU). TESTS_LIMIT (default
# 200) is the test suite's time limit in seconds. WHEELS (optional) is a folder of wheels installed first,
# for an image that lacks some of our dependencies (the fifth lease's lacked pydantic and submitit).
# DATA must hold cifar-10-batches-py. CPU_RUN (optional) is a run dir interrupted mid-epoch on a CPU, to
# resume here. Logs, tables and small run files go to $OUT/gpu-session.tar.gz (checkpoints only for the
# cross-device runs), bench.py's JSON to $OUT/results-gpu.json.
set -u
OUT=${OUT:-gpu-out}
DATA=${DATA:-data}
WORK=${WORK:-/tmp/gpu-session}
DEADLINE=$(($(date +%s) + ${DEADLINE:-520}))
PY=${PYTHON:-python3}
GPU=${GPU:-cuda}
CPU_RUN=${CPU_RUN:-}
EXTRA=${EXTRA:-}
export PYTHONUNBUFFERED=1 OUT DATA WORK PY GPU CPU_RUN EXTRA
mkdir -p "$OUT" "$WORK/logs"
if [ -n "${WHEELS:-}" ]; then
    PIP_BREAK_SYSTEM_PACKAGES=1 $PY -m pip install -q --no-index --no-deps --no-compile "$WHEELS"/*.whl || exit
fi

pack() {
    tar -czf "$OUT/gpu-session.tar.gz" -C "$WORK" --exclude='*.pt' --exclude='tb' . 2>/dev/null
    [ -d "$WORK/xdev-gpu-interrupted" ] && tar -czf "$OUT/checkpoints.tar.gz" -C "$WORK" xdev-gpu-interrupted
}

# step NAME MIN_SECONDS LIMIT_SECONDS COMMAND...: skipped when fewer than MIN seconds are left
step() {
    local name=$1 need=$2 limit=$3
    shift 3
    local left=$((DEADLINE - $(date +%s)))
    if [[ " ${SKIP:-} " == *" $name "* ]]; then
        echo "=== $name: skipped (SKIP)"
        return
    fi
    if ((left < need)); then
        echo "=== $name: skipped, ${left}s left"
        return
    fi
    ((limit > left)) && limit=$left
    local start=$(date +%s%N)
    echo "=== $name (limit ${limit}s) at $(date +%T)"
    timeout -k 5 "$limit" bash -c '"$@"' _ "$@" >"$WORK/logs/$name.log" 2>&1
    local rc=$?
    echo "=== $name: rc=$rc in $((($(date +%s%N) - start) / 1000000)) ms"
    tail -n "${TAIL:-12}" "$WORK/logs/$name.log" | cut -c1-240
    pack
}

environment() {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    nproc
    grep -m1 "model name" /proc/cpuinfo
    $PY -c "import sys, torch, pydantic; print(sys.version.split()[0], torch.__version__, torch.version.cuda,
torch.backends.cudnn.version(), torch.cuda.get_device_name(0), 'bf16', torch.cuda.is_bf16_supported(), pydantic.__version__)"
    $PY -c "import torch; from resnet.runtime import bf16_is_fast; print('CPU bf16 auto:', bf16_is_fast(torch.device('cpu')))"
}

suite() {  # the README's test command: installed first (entry points, --version), offline
    $PY -m pip install -q --no-deps --no-build-isolation -e . || return
    $PY -m pytest -q -rfE -n "${TEST_WORKERS:-auto}" && return
    echo "=== the failures again, one at a time, nothing beside them:"
    $PY -m pytest -q -rfE --lf
}

# Seed k draws the same initial weights and the same batches on the CPU and on the GPU (README: Paired seeds).
paired_across_devices() {
    $PY - "$DATA" "$GPU" <<'EOF'
import sys, torch
from resnet.components import build
from resnet.config import TrainConfig
from resnet.runtime import Runtime
config = TrainConfig(model="resnet20", data_dir=sys.argv[1], seed=7, amp=False)
cpu, gpu = (build(config, Runtime.resolve(config, d)) for d in ("cpu", sys.argv[2]))
weights = max((a.float() - b.cpu().float()).abs().max().item()
              for a, b in zip(cpu.model.state_dict().values(), gpu.model.state_dict().values(), strict=True))
print(f"initial weights, max |cpu - gpu|: {weights}")
for epoch in (1, 2):
    pairs = zip(cpu.train_loader.epoch(epoch), gpu.train_loader.epoch(epoch))
    diffs, labels_equal, batches = 0.0, True, 0
    for (xc, yc), (xg, yg) in pairs:
        diffs = max(diffs, (xc - xg.cpu()).abs().max().item())
        labels_equal &= torch.equal(yc, yg.cpu())
        batches += 1
    print(f"epoch {epoch}: {batches} batches, labels identical: {labels_equal}, max |image cpu - gpu|: {diffs:.3g}")
EOF
}

interrupt_after_first_epoch() {  # RUN_DIR COMMAND...: SIGTERM once epoch 1 is recorded
    local run_dir=$1
    shift
    "$@" &
    local pid=$!
    for _ in $(seq 1 600); do
        [ -s "$run_dir/metrics.jsonl" ] && break
        sleep 0.1
    done
    sleep 0.7
    kill -TERM $pid
    wait $pid
    echo "interrupted run exited $?"
}

cross_device() {
    local train="$PY train_cifar.py --model resnet8 --epochs 2 --no-amp --seed 5 --data-dir $DATA ${EXTRA:-}"
    interrupt_after_first_epoch "$WORK/xdev-gpu" $train --run-dir "$WORK/xdev-gpu"
    cp -r "$WORK/xdev-gpu" "$WORK/xdev-gpu-interrupted"
    $train --run-dir "$WORK/xdev-gpu" --resume
    $train --run-dir "$WORK/xdev-gpu-uninterrupted"
    if [ -n "${CPU_RUN:-}" ]; then
        cp -r "$CPU_RUN" "$WORK/cpu-run-interrupted"
        cp -r "$CPU_RUN" "$WORK/cpu-run"
        $PY train_cifar.py --resume --run-dir "$WORK/cpu-run" --device "$GPU"
    fi
    for d in xdev-gpu xdev-gpu-uninterrupted cpu-run; do
        [ -f "$WORK/$d/summary.json" ] && $PY -c "import json,sys; s=json.load(open(sys.argv[1]));
print(sys.argv[1], s['status'], 'final', s['final_test_acc'], 'best', s['best_test_acc'])" "$WORK/$d/summary.json"
    done
}

epochs_by_precision() {  # steady-state epoch seconds of the main job's models, fp32 (TF32 convs) vs bf16
    for preset in baseline resnet50; do
        for amp in --no-amp --amp; do
            $PY train_cifar.py --config "ablations:$preset" --epochs 3 $amp --data-dir "$DATA" \
                --run-dir "$WORK/precision/$preset$amp" -q
            $PY -c "import json, sys; m = [json.loads(l) for l in open(sys.argv[1])]
print(sys.argv[2], [round(e['epoch_seconds'], 2) for e in m], [round(e['images_per_sec']) for e in m],
'test acc', m[-1]['test_acc'])" "$WORK/precision/$preset$amp/metrics.jsonl" "$preset $amp"
        done
    done
}

bad_gpu_input() {  # one line each, exit 2
    $PY run_ablations.py --all --gpus 7 --dry-run
    echo "exit $?"
    $PY train_cifar.py --device cuda:3 --dataset synthetic --epochs 1 --run-dir "$WORK/bad"
    echo "exit $?"
}

kill_and_rerun() {
    local sweep="$PY run_ablations.py --suite depth --config resnet56 resnet110 --seed 0 --epochs 3
        --data-dir $DATA --runs-dir $WORK/kill --results-dir $WORK/kill-results --jobs-per-gpu 2 ${EXTRA:-}"
    $sweep >"$WORK/logs/kill-first.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 900); do
        compgen -G "$WORK/kill/depth/*/seed0/metrics.jsonl" >/dev/null && break
        sleep 0.1
    done
    sleep 1
    echo "training started; before kill -9:"
    ps -eo pid,ppid,pgid,etimes,args | grep -E "[f]orkserver|[r]un_ablations" | cut -c1-160
    kill -9 $pid
    sleep 5
    echo "5 s after kill -9 of the runner (pid $pid), processes left:"
    ps -eo pid,ppid,pgid,stat,args | grep -E "[f]orkserver|[r]un_ablations|[r]esource_tracker" | cut -c1-160
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv
    echo "rerun:"
    $sweep
    echo "rerun exited $?"
    grep -h "resuming" "$WORK"/kill/depth/*/seed0/train.log
}

export -f environment suite epochs_by_precision bad_gpu_input paired_across_devices interrupt_after_first_epoch cross_device kill_and_rerun
step environment 10 30 environment
step bad-gpu-input 10 30 bad_gpu_input
step paired-across-devices 30 90 paired_across_devices
step main-job-1-epoch 60 240 $PY run_ablations.py --all --seed 42 --epochs 1 --data-dir "$DATA" \
    --runs-dir "$WORK/main" --results-dir "$WORK/main-results"
step tests 90 "${TESTS_LIMIT:-200}" suite
step runner 60 160 $PY benchmarks/bench.py --dataset synthetic --only runner --json "$OUT/runner-gpu.json"
step main-job-cost 10 60 $PY run_ablations.py --all --seed 42 --dry-run --data-dir "$DATA" --runs-dir "$WORK/main"
step bench 100 200 $PY benchmarks/bench.py --data-dir "$DATA" --only data step e2e pack --skip-compile \
    --pack-jobs 4 --json "$OUT/results-gpu.json"
step cross-device 40 150 cross_device
step kill-and-rerun 60 150 kill_and_rerun
step bf16-study 60 180 $PY run_ablations.py --suite-file benchmarks/bf16.toml --design --seeds 0 1 2 \
    --epochs 10 --data-dir "$DATA" --runs-dir "$WORK/bf16" --results-dir "$WORK/bf16-results" --jobs-per-gpu 6
step precision-steps 60 200 $PY benchmarks/bench.py --data-dir "$DATA" --only step --skip-compile --repeats 5 \
    --models resnet20 resnet110 resnet18 resnet34 resnet50 --step-batch-sizes 32 128 512 --json "$OUT/steps-gpu.json"
step precision-epochs 60 200 epochs_by_precision
step compile 60 200 $PY benchmarks/bench.py --data-dir "$DATA" --only step --models resnet20 resnet18 \
    --json "$OUT/compile-gpu.json"
echo "=== left: $((DEADLINE - $(date +%s))) s"
pack
ls -la "$OUT"
