"""Shared helpers: tiny CIFAR files in the official layout, small fast configs, CLI runners, a tiny suite."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from resnet.summary import TIMING_KEYS

ROOT = Path(__file__).resolve().parents[1]
# Small enough to train in about a second per epoch on 2 CPU cores; still learns (see test_train).
FAST = {"model": "resnet8", "dataset": "synthetic", "batch_size": 64, "epochs": 2}
FAST_ARGS = ["--model", "resnet8", "--dataset", "synthetic", "--batch-size", "64"]  # FAST but the epochs
TIMING = set(TIMING_KEYS)
TOO_DEEP = 100_000  # nesting past every Python's JSON and TOML parser (3.13 parses JSON 10,000 deep)

SUITE = """
description = "test suite"
baseline = "base"

[base]
model = "resnet8"
dataset = "synthetic"
batch_size = 64
epochs = 1
val_size = 512  # half the synthetic training images: shorter epochs

[presets.base]
description = "the baseline"

[presets.cosine]
description = "cosine"
lr_schedule = "cosine"

[presets.broken]
description = "fails at run time: its data directory cannot exist"
dataset = "cifar10"
data_dir = "/dev/null/cifar"
batch_size = 8

[presets.long]
description = "long enough to interrupt"
epochs = 4
"""


def fast_config(**overrides):
    from resnet.config import TrainConfig

    return TrainConfig(**{**FAST, **overrides})


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
            pickle.dump(
                {
                    "batch_label": name,
                    "data": data,
                    "labels": labels,
                    "filenames": [f"{i}.png" for i in range(n)],
                },
                fh,
            )
        arrays[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(i) for i in range(10)], "num_cases_per_batch": per_batch}, fh)
    return arrays


# Tests never touch the network: a download goes to a closed local port and fails at once.
OFFLINE = {
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "no_proxy": "127.0.0.1,localhost",
}
os.environ.update(OFFLINE)
# The suite runs on the CPU wherever it runs: with a GPU visible, runs would default to it, and its
# bit-for-bit checks (resume equals an uninterrupted run) and CPU-only expectations fail there (about a dozen
# did on an H200). Set before anything initialises CUDA; every child process inherits it.
os.environ["CUDA_VISIBLE_DEVICES"] = ""


def _pin_xdist_worker() -> None:
    """Under pytest-xdist (`-n N`), each worker and the runs it starts get their own share of the CPUs, as
    `taskset` would: unpinned, every worker's training took all cores' threads, each thread barrier waited
    on the others': 12 workers on 16 cores ran about 25x slower per test (two tests failed, most likely
    at their timeouts: benchmarks/README.md, fourth GPU lease), 2 on 2 cores slower than one process.
    Children inherit the affinity; usable_cpus() follows it."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not (worker and count and hasattr(os, "sched_setaffinity")):
        return
    cpus = sorted(os.sched_getaffinity(0))
    share = max(1, len(cpus) // int(count))
    first = int(worker.removeprefix("gw")) * share % len(cpus)
    os.sched_setaffinity(0, cpus[first : first + share])


_pin_xdist_worker()


BUSY_NOTICE = "warning: the CPU is busy: "  # resnet.cli.local.warn_if_cpu_busy


def user_lines(stderr: str) -> list[str]:
    """A sweep's stderr lines but its CPU-busy notice, which says what else the machine runs (another test,
    a build), not what the command did."""
    return [line for line in stderr.splitlines() if not line.startswith(BUSY_NOTICE)]


def run_cli(script: str, *args, cwd: Path = ROOT, timeout: float = 240, env: dict | None = None, **kwargs):
    """Run train_cifar.py / run_ablations.py as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **OFFLINE, **(env or {})},
        **kwargs,
    )


@contextlib.contextmanager
def stop_handlers_kept():
    """A command run in this process sets SIGINT, SIGTERM and SIGHUP handlers: pytest's come back after."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def call(main: Callable, *args) -> tuple[int, str, str]:
    """A CLI main in this process: (exit status, stdout, stderr). Signal handlers are restored afterwards."""
    logger = logging.getLogger("resnet")
    logging_state = (list(logger.handlers), logger.propagate, logger.level)
    out, err = io.StringIO(), io.StringIO()
    try:
        with stop_handlers_kept(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        logger.handlers[:], logger.propagate, logger.level = logging_state
    return int(code), out.getvalue(), err.getvalue()


def train_main(*args) -> tuple[int, str, str]:
    from resnet.cli.train import main

    return call(main, *args)


def sweep_main(*args) -> tuple[int, str, str]:
    from resnet.cli.sweep import main

    return call(main, *args)


def wait_until(
    predicate: Callable[[], bool], timeout: float = 120, process=None, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process ended (status {process.poll()}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_epochs(metrics_file: Path, epochs: int, process=None, timeout: float = 120) -> None:
    wait_until(
        lambda: metrics_file.exists() and len(metrics_file.read_text().splitlines()) >= epochs,
        timeout,
        process,
        f"{epochs} epochs in {metrics_file}",
    )


def parent_of(pid: int) -> int | None:
    """From /proc; None once the process is gone (one listed a moment ago may have ended since)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren, ...), from /proc."""
    listed = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    parents = {child: parent for child in listed if (parent := parent_of(child)) is not None}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(autouse=True)
def working_directory(tmp_path, monkeypatch):
    """Each test runs in its own directory: a command's default runs/, results/ or data/ (or the probe
    that checks results/ is writable) never lands in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def idle_cpu(monkeypatch):
    """The load of the machine running the tests is not what they test: a sweep run in this process sees
    an idle CPU, whatever the test before left exiting (test_runner tests the busy-CPU warning itself)."""
    monkeypatch.setattr("resnet.cli.local.busy_cpus", lambda: 0.0)


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """One finished 2-epoch synthetic run, shared by the tests that only read it."""
    from resnet.train import train

    run_dir = tmp_path_factory.mktemp("finished") / "run"
    summary = train(fast_config(seed=3), run_dir)
    return run_dir, summary
