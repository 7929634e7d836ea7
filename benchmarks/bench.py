#!/usr/bin/env python3
"""Speed of resnet-ablations against the reference pipeline, measured side by side in one process.

    python benchmarks/bench.py --data-dir data                  # everything, on the default device
    python benchmarks/bench.py --data-dir data --only data step # some sections
    python benchmarks/bench.py --dataset synthetic --only data  # no CIFAR at hand (smaller split)

Sections (each a median of --repeats runs, with min-max):
  data    images/s of normalised, augmented batches of 128: ours (uint8 on the device, batch ops; the
          first epoch of a fresh loader separately) vs torchvision DataLoader + PIL RandomCrop(32, 4) /
          RandomHorizontalFlip / ToTensor / Normalize at num_workers 0 and 2 (the reference repos' pipeline).
  step    training images/s (fwd + bwd + SGD, batch 128 or --step-batch-sizes) of resnet20 and resnet18
          (--models): eager fp32, channels_last, bf16 autocast, torch.compile in fp32 and bf16 (compile
          time reported separately).
  e2e     our training step over our loader vs the same model through the DataLoader (workers=2) in the
          reference repos' plain loop (per-step .item() for logging), same batch, optimizer, schedule.
  runner  wall time of run_ablations.py --list / --dry-run; a sweep's dispatch overhead: its fixed cost
          (start-up, report) and the marginal cost of one more run, from sweeps of 2 and 6 short runs.
  pack    aggregate images/s of K concurrent resnet20 runs on one device (--jobs-per-gpu) vs one.
Prints a markdown table and writes JSON (--json, default benchmarks/results-<device>.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resnet.components import Setup  # noqa: E402
from resnet.config import TrainConfig  # noqa: E402
from resnet.data import Splits, load_splits  # noqa: E402
from resnet.errors import UserError  # noqa: E402
from resnet.evaluate import EpochMeter  # noqa: E402
from resnet.loader import Augment, DeviceLoader  # noqa: E402
from resnet.machine import cpu_model  # noqa: E402
from resnet.models import create_model  # noqa: E402
from resnet.runtime import Runtime, check_device  # noqa: E402
from resnet.train import train_step  # noqa: E402

ROWS: list[dict] = []


def record(section: str, name: str, values: list[float], unit: str, device: str, note: str = "") -> dict:
    row = {
        "section": section,
        "name": name,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "unit": unit,
        "device": device,
        "note": note,
    }
    ROWS.append(row)
    print(
        f"  {name}: {row['median']:,.2f} {unit} (min {row['min']:,.2f}, max {row['max']:,.2f}, n={row['n']})",
        flush=True,
    )
    return row


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


# --- the reference pipeline -------------------------------------------------------------------------
class PILCifar(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does per item (HWC uint8 -> PIL -> transform), on our arrays,
    so that the comparison does not depend on the files' md5 sums."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).contiguous().numpy()
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def reference_loader(splits: Splits, workers: int, batch_size: int = 128):
    import torchvision.transforms as T

    transform = T.Compose(
        [
            T.RandomCrop(32, padding=4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(splits.mean, splits.std),
        ]
    )
    return torch.utils.data.DataLoader(
        PILCifar(splits.train_images, splits.train_labels, transform),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
    )


def our_loader(splits: Splits, device: torch.device, batch_size: int = 128) -> DeviceLoader:
    return DeviceLoader(
        splits.train_images,
        splits.train_labels,
        batch_size,
        splits.mean,
        splits.std,
        augment=Augment(),
        seed=0,
        device=device,
        channels_last=True,
    )


# --- sections ---------------------------------------------------------------------------------------
def bench_data(splits: Splits, device: torch.device, repeats: int) -> None:
    print("data pipeline: images/s of augmented, normalised batches of 128, one epoch", flush=True)
    loader = our_loader(splits, device)
    n = len(loader) * 128
    epochs = iter(range(1, 10_000))

    def ours():
        for _ in loader.epoch(next(epochs)):
            pass

    record("data", "ours, the first epoch of a fresh loader", [n / timed(ours, device)], "img/s", str(device))
    record(
        "data",
        "ours (uint8 on the device, batch ops)",
        [n / timed(ours, device) for _ in range(repeats)],
        "img/s",
        str(device),
    )
    for workers in (0, 2):
        ref = reference_loader(splits, workers)

        def reference(ref=ref):
            for _ in ref:
                pass

        record(
            "data",
            f"torchvision DataLoader + PIL, workers={workers}",
            [n / timed(reference, torch.device("cpu")) for _ in range(repeats)],
            "img/s",
            "cpu",
        )


def train_step_fn(name: str, device: torch.device, channels_last: bool, amp: bool, compiled: bool, batch=128):
    model = create_model(name).to(device)
    model = model.to(memory_format=torch.channels_last) if channels_last else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32, device=device)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    y = torch.randint(0, 10, (batch,), device=device)
    forward = torch.compile(model) if compiled else model

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def bench_step(
    device: torch.device,
    repeats: int,
    models: list[str],
    bf16_models: list[str] | None,
    batch_sizes: list[int],
    compile_models: list[str] | None,
) -> None:
    """`bf16_models`, `compile_models`: measure those variants only for these (None: every model)."""
    print(f"training step: images/s, fwd+bwd+SGD, batch {'/'.join(map(str, batch_sizes))}", flush=True)
    variants = [
        ("eager fp32", False, False, False),
        ("channels_last fp32", True, False, False),
        ("channels_last + bf16 autocast", True, True, False),
        ("torch.compile + channels_last fp32", True, False, True),
        ("torch.compile + channels_last + bf16", True, True, True),
    ]
    for batch in batch_sizes:
        for name in models:
            steps = 20 if name == "resnet20" or device.type == "cuda" else 4
            for label, channels_last, amp, compiled in variants:
                if amp and bf16_models is not None and name not in bf16_models:
                    continue
                if compiled and compile_models is not None and name not in compile_models:
                    continue
                step = train_step_fn(name, device, channels_last, amp, compiled, batch)
                first = timed(step, device)
                timed(step, device)
                note = f"first step {first:.1f} s (compilation)" if compiled else ""

                def run_steps(step=step, steps=steps):
                    for _ in range(steps):
                        step()

                values = [batch * steps / timed(run_steps, device) for _ in range(repeats)]
                suffix = "" if batch == 128 else f", batch {batch}"
                record("step", f"{name} {label}{suffix}", values, "img/s", str(device), note)


def bench_e2e(
    splits: Splits, device: torch.device, repeats: int, steps: int, model: str = "resnet20"
) -> None:
    print(f"end to end: {model}, {steps} steps of batch 128 per repeat (images/s incl. data)", flush=True)
    config = TrainConfig(model=model, epochs=1)

    def ours(amp: bool | None):
        runtime = Runtime.resolve(config.with_overrides(amp=amp), str(device))
        net = runtime.place(create_model(model))
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        loader = our_loader(splits, device)
        setup = Setup(loader, {}, net, optimizer, scheduler, torch.nn.CrossEntropyLoss())
        epochs = iter(range(1, 10_000))

        def epoch():
            net.train()
            meter = EpochMeter(runtime.device)
            for i, (x, y) in enumerate(loader.epoch(next(epochs))):
                if i == steps:
                    break
                train_step(net, setup, runtime, x, y, meter)
            meter.read()  # one sync per epoch, as the trainer does

        return epoch

    def reference():
        net = create_model(model).to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        loader = reference_loader(splits, workers=2)
        criterion = torch.nn.CrossEntropyLoss()

        def epoch():  # kuangliu/pytorch-cifar's train(): .item() every step for the progress bar
            net.train()
            train_loss = correct = total = 0
            for i, (x, y) in enumerate(loader):
                if i == steps:
                    break
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                outputs = net(x)
                loss = criterion(outputs, y)
                loss.backward()
                optimizer.step()
                scheduler.step()
                train_loss += loss.item()
                total += y.size(0)
                correct += outputs.argmax(1).eq(y).sum().item()

        return epoch

    auto = "on" if Runtime.resolve(config, str(device)).amp else "off"
    for label, make in (
        (f"ours, defaults here (channels_last, bf16 auto={auto})", lambda: ours(None)),
        ("ours, fp32 (the pipeline alone)", lambda: ours(False)),
        ("reference loop: DataLoader workers=2 + PIL, fp32 NCHW", reference),
    ):
        run = make()
        run()  # warm-up; each repeat is a new epoch: the reference restarts its workers, as it does per epoch
        record(
            "e2e",
            f"{model} {label}",
            [steps * 128 / timed(run, device) for _ in range(repeats)],
            "img/s",
            str(device),
        )


def sweep_seconds(runs: int, runs_dir: Path, device: str) -> tuple[float, float]:
    """(wall, training) seconds of a sweep of `runs` sequential 1-epoch resnet8 runs on synthetic data."""
    shutil.rmtree(runs_dir, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_ablations.py"),
            "--config",
            "baseline",
            "--seeds",
            *map(str, range(runs)),
            "--model",
            "resnet8",
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--runs-dir",
            str(runs_dir),
            "--results-dir",
            str(runs_dir / "results"),
            "--device",
            device,
        ],
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - start
    summaries = runs_dir.glob("ablations/*/seed*/summary.json")
    return wall, sum(json.loads(p.read_text())["total_seconds"] for p in summaries)


def bench_runner(repeats: int, runs_dir: Path, device: str, sizes: list[int]) -> None:
    """The CLI's wall time, then the dispatch overhead of sweeps of `sizes` runs on `device` ('cpu' or
    'cuda', where each run also starts a CUDA context: overhead, since training time is the epochs')."""
    print("runner: wall time of the CLI and dispatch overhead", flush=True)
    for label, args in (
        ("run_ablations.py --list", ["--list"]),
        ("run_ablations.py --all --seed 42 --dry-run", ["--all", "--seed", "42", "--dry-run"]),
    ):
        values = []
        for _ in range(max(repeats, 10)):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / "run_ablations.py"), *args, "--runs-dir", str(runs_dir)],
                capture_output=True,
                check=True,
            )
            values.append(time.perf_counter() - start)
        record("runner", label, values, "s", "cpu")
    overhead_by_size = {}
    for runs in sizes:
        measured = [sweep_seconds(runs, runs_dir / f"sweep{runs}", device) for _ in range(repeats)]
        overheads = [wall - trained for wall, trained in measured]
        overhead_by_size[runs] = statistics.median(overheads)
        record(
            "runner",
            f"dispatch overhead per run, {runs}-run sweep (start-up, pilot, report included)",
            [overhead / runs for overhead in overheads],
            "s",
            device,
            "sweep wall / training s: " + ", ".join(f"{w:.1f} / {t:.1f}" for w, t in measured),
        )
    small, large = min(sizes), max(sizes)
    if large > small:
        marginal = (overhead_by_size[large] - overhead_by_size[small]) / (large - small)
        fixed = overhead_by_size[small] - small * marginal
        record(
            "runner",
            "marginal dispatch overhead of one more run",
            [marginal],
            "s",
            device,
            f"fixed cost of a sweep (start-up, pilot, report): {fixed:.1f} s",
        )


def bench_pack(device: torch.device, jobs: int, data_dir: str, epochs: int, runs_dir: Path) -> None:
    print(f"packing: aggregate images/s of {jobs} concurrent resnet20 runs vs 1", flush=True)
    for k in (1, jobs):
        out = runs_dir / f"pack{k}"
        flags = ["--jobs-per-gpu", str(k)] if device.type == "cuda" else ["--device", "cpu", "--jobs", str(k)]
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "run_ablations.py"),
                "--suite",
                "depth",
                "--config",
                "resnet20",
                "--seeds",
                *map(str, range(k)),
                "--epochs",
                str(epochs),
                "--data-dir",
                data_dir,
                "--runs-dir",
                str(out),
                "--results-dir",
                str(out / "results"),
                *flags,
            ],
            capture_output=True,
            check=True,
        )
        wall = time.perf_counter() - start
        summaries = [json.loads(p.read_text()) for p in out.glob("depth/resnet20/seed*/summary.json")]
        images = sum(
            s["images_per_sec"] * s["total_seconds"] for s in summaries
        )  # ~ train images (upper bound)
        record(
            "pack",
            f"{k} concurrent resnet20 run(s), {epochs} epoch(s)",
            [images / wall],
            "img/s (aggregate)",
            str(device),
            f"wall {wall:.1f} s incl. process start-up",
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--dataset", default="cifar10", choices=("cifar10", "synthetic"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="+", default=["data", "step", "e2e", "runner", "pack"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet18"])
    parser.add_argument("--e2e-steps", type=int, default=100)
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--bf16-models", nargs="*", help="measure bf16 only for these (default: every model)")
    parser.add_argument("--compile-models", nargs="*", help="compile only these (default: every model)")
    parser.add_argument("--step-batch-sizes", type=int, nargs="+", default=[128], help="step: batch sizes")
    parser.add_argument("--runner-sizes", type=int, nargs="+", default=[2, 4, 6], help="runs per sweep")
    parser.add_argument("--pack-jobs", type=int, default=4)
    parser.add_argument("--pack-epochs", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        device = check_device(args.device)  # one line for a GPU that is not there, not a CUDA error later
    except UserError as exc:
        sys.exit(f"error: {exc}")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    config = TrainConfig(dataset=args.dataset, data_dir=args.data_dir)
    try:  # only the data and end-to-end sections read the dataset, and pack trains on CIFAR-10
        splits = load_splits(config) if {"data", "e2e"} & set(args.only) else None
        if "pack" in args.only:
            load_splits(config.with_overrides(dataset="cifar10"))
    except UserError as exc:
        sys.exit(f"error: {exc}")
    work = ROOT / "benchmarks" / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    machine = {
        "device": name,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "dataset": args.dataset,
        "train_images": len(splits.train_labels) if splits else None,
        "command": sys.argv,
    }
    print(json.dumps(machine), flush=True)
    if splits and "data" in args.only:
        bench_data(splits, device, args.repeats)
    if "step" in args.only:
        bench_step(
            device,
            args.repeats,
            args.models,
            args.bf16_models,
            args.step_batch_sizes,
            [] if args.skip_compile else args.compile_models,
        )
    if splits and "e2e" in args.only:
        bench_e2e(splits, device, args.repeats, args.e2e_steps)
    if "runner" in args.only:
        bench_runner(args.repeats, work / "runner", device.type, args.runner_sizes)
    if "pack" in args.only:
        bench_pack(device, args.pack_jobs, args.data_dir, args.pack_epochs, work / "pack")
    print("\n| section | measurement | median | min | max | n | unit | device | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in ROWS:
        print(
            f"| {r['section']} | {r['name']} | {r['median']:,.2f} | {r['min']:,.2f} | {r['max']:,.2f} | "
            f"{r['n']} | {r['unit']} | {r['device']} | {r['note']} |"
        )
    path = args.json or ROOT / "benchmarks" / f"results-{device.type}.json"
    path.write_text(json.dumps({"machine": machine, "rows": ROWS}, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
