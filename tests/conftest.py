"""Shared fixtures: tiny CIFAR files in the official layout, small fast configs, CLI runners."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Small enough to train in about a second per epoch on 2 CPU cores; still learns (see test_train).
FAST = {"model": "resnet8", "dataset": "synthetic", "batch_size": 64, "epochs": 2}


def fast_config(**overrides):
    from resnet.config import TrainConfig

    return TrainConfig(**{**FAST, **overrides})


def quiet(*args, **kwargs):
    pass


def write_cifar10(root: Path, per_batch: int = 6, test: int = 6, seed: int = 0) -> dict:
    """A tiny CIFAR-10 in the official python layout: data_batch_1..5, test_batch, batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    arrays = {}
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", test)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({"batch_label": name, "data": data, "labels": labels, "filenames": [f"{i}.png" for i in range(n)]}, fh)
        arrays[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(i) for i in range(10)], "num_cases_per_batch": per_batch}, fh)
    return arrays


def run_cli(script: str, *args: str, cwd: Path = ROOT, timeout: float = 240, env: dict | None = None):
    """Run train_cifar.py / run_ablations.py as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def wait_for_epochs(metrics_file: Path, epochs: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Block until metrics_file records `epochs` epochs (the process must still be running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metrics_file.exists() and len(metrics_file.read_text().splitlines()) >= epochs:
            return
        if process.poll() is not None:
            raise AssertionError(f"process ended early: {process.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"{metrics_file} did not reach {epochs} epochs in {timeout}s")


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """One finished 2-epoch synthetic run, shared by the tests that only read it."""
    from resnet.train import train

    run_dir = tmp_path_factory.mktemp("finished") / "run"
    summary = train(fast_config(seed=3), run_dir, echo=quiet)
    return run_dir, summary
