"""Full epochs of the training loader, timed in one process: img/s per epoch (CIFAR-10, batch 128).

Compares this code with 005ecd4's loader (its API differed), as in benchmarks/README.md:

    git worktree add /tmp/old 005ecd4
    python benchmarks/loader_epochs.py /tmp/old old 5 --data-dir data     # the old loader
    python benchmarks/loader_epochs.py . new 5 --data-dir data            # this one
    OMP_NUM_THREADS=1 python benchmarks/loader_epochs.py . new 5 --data-dir data

For "one core busy", start `python -c "while True: pass" &` first and kill it after.
"""

import argparse
import json
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("root", help="the checkout whose resnet package to time")
parser.add_argument("api", choices=("old", "new"), help="old: 005ecd4's loader; new: resnet.loader")
parser.add_argument("epochs", type=int)
parser.add_argument("--data-dir", default="data")
args = parser.parse_args()
sys.path.insert(0, args.root)

import torch  # noqa: E402

from resnet.config import TrainConfig  # noqa: E402

if args.api == "old":
    from resnet.data import DeviceLoader, load_cifar  # type: ignore[attr-defined]

    splits = load_cifar("cifar10", Path(args.data_dir), download=False)
    old = DeviceLoader(
        splits.train_images,
        splits.train_labels,
        128,
        splits.mean,
        splits.std,
        train=True,
        config=TrainConfig(dataset="synthetic"),
        generator=torch.Generator().manual_seed(0),
        device="cpu",
        channels_last=True,
    )

    def epoch_batches(epoch: int):
        return iter(old)
else:
    from resnet.data import load_splits
    from resnet.loader import Augment, DeviceLoader

    splits = load_splits(TrainConfig(dataset="cifar10", data_dir=args.data_dir))
    new = DeviceLoader(
        splits.train_images,
        splits.train_labels,
        128,
        splits.mean,
        splits.std,
        augment=Augment(),
        seed=0,
        device="cpu",
        channels_last=True,
    )
    epoch_batches = new.epoch

rates = []
for epoch in range(1, args.epochs + 1):
    start, images = time.perf_counter(), 0
    for batch, _ in epoch_batches(epoch):
        images += batch.shape[0]
    rates.append(images / (time.perf_counter() - start))
print(
    json.dumps({"api": args.api, "threads": torch.get_num_threads(), "img_per_s": [round(r) for r in rates]})
)
