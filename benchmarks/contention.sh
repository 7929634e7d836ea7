#!/bin/bash
# two CPU runs of 2 threads at once on a 2-core machine, against one alone; images/s from summary.json
T="$(cd "$(dirname "$0")/.." && pwd)/train_cifar.py"
cd "$(mktemp -d)"  # the run dirs go to a scratch dir
ips() { python -c "import json,sys; print(round(json.load(open(sys.argv[1]+'/summary.json'))['images_per_sec']))" $1; }
for model in resnet8 resnet20; do
  A="--dataset synthetic --model $model --epochs 2 --batch-size 64 --threads 2 --device cpu"
  for rep in 1 2 3; do
    python $T $A --run-dir r-$model-solo-$rep > /dev/null 2>&1
    python $T $A --run-dir r-$model-a-$rep > /dev/null 2>&1 & python $T $A --run-dir r-$model-b-$rep > /dev/null 2>&1; wait
    echo "$model rep $rep: alone $(ips r-$model-solo-$rep) img/s; two at once $(ips r-$model-a-$rep) and $(ips r-$model-b-$rep) img/s"
  done
done
# one resnet20 run of 2 threads beside a process that keeps one core busy, then half a core (5 ms on, 5 ms off)
A="--dataset synthetic --model resnet20 --epochs 2 --batch-size 64 --threads 2 --device cpu"
for rep in 1 2; do
  python $T $A --run-dir s-alone-$rep > /dev/null 2>&1
  python -c "while True: pass" & spin=$!
  python $T $A --run-dir s-core-$rep > /dev/null 2>&1; kill $spin
  python -c "
import time
while True:
    start = time.time()
    while time.time() - start < 0.005: pass
    time.sleep(0.005)" & spin=$!
  python $T $A --run-dir s-half-$rep > /dev/null 2>&1; kill $spin
  echo "resnet20 rep $rep: alone $(ips s-alone-$rep) img/s; beside a busy core $(ips s-core-$rep); beside half a core $(ips s-half-$rep)"
done
