"""What a plan will cost before it runs: FLOPs from the model table, wall time from earlier runs.

A run's work is forward FLOPs x 3 (forward and backward) x training images x epochs, plus forward FLOPs
x evaluated images (validation and test) x epochs. Its wall time is estimated from the throughput that
earlier runs of the same model recorded on this device (seconds per training image, evaluation
included), when there are any. No torch import here.
"""

from __future__ import annotations

import heapq
import statistics
from pathlib import Path
from typing import Any

from resnet.config import DATASETS, TrainConfig
from resnet.files import read_json
from resnet.machine import device_name
from resnet.models.table import MODEL_STATS
from resnet.progress import EVAL_SHARE
from resnet.run_dir import RunDir, find_run_dirs
from resnet.states import RunState
from resnet.summary import finite, steady_epochs
from resnet.words import format_seconds


def train_images(config: TrainConfig) -> int:
    return DATASETS[config.dataset].train_images - config.val_size


def run_flops(config: TrainConfig) -> float:
    forward = MODEL_STATS[config.model][1]
    evaluated = config.val_size + DATASETS[config.dataset].test_images
    return forward * config.epochs * (3 * train_images(config) + evaluated)


def recorded_speeds(runs_dir: Path, device_name: str, max_files: int = 5000) -> dict[Any, list[float]]:
    """Seconds per training image (evaluation included) of earlier runs on this device, by model and by
    (model, batch size): the time per image depends on the batch size. A run stopped part-way counts by
    what it recorded (an interrupted long sweep is what one plans the rest of by)."""
    speeds: dict[Any, list[float]] = {}
    for seen, path in enumerate(find_run_dirs(runs_dir)):
        if seen >= max_files:
            break
        run = RunDir(path)
        record = read_json(run.config_file)
        if record is None:
            continue
        try:  # an estimate: a run dir whose files are not what train() writes is skipped
            config = TrainConfig.from_dict(record["config"])
            summary = read_json(run.summary_file) if run.summary_file.is_file() else None
            speed = (
                _finished_speed(summary, config, device_name)
                if summary is not None
                else _unfinished_speed(run, record, config, device_name)
            )
        except Exception:
            continue
        if speed is not None and finite(speed) and speed > 0:
            for key in (config.model, (config.model, config.batch_size)):
                speeds.setdefault(key, []).append(speed)
    return speeds


def _finished_speed(summary: dict, config: TrainConfig, device_name: str) -> float | None:
    """The whole run but its first step: CUDA's start, cuDNN's autotuning or compilation, paid once per run
    (on an H200 it was 1.3-5.8 s, as long as a whole ResNet-18 epoch, so a one-epoch run would otherwise
    double the estimate of a long one)."""
    if summary["runtime"].get("device_name") != device_name:
        return None
    if summary.get("stopped_epochs"):  # paused (Ctrl-Z): its times hold the pause
        return None
    total, warmup = summary["total_seconds"], summary.get("first_step_seconds")
    warmup = warmup if isinstance(warmup, float | int) and 0 <= warmup < total else 0
    return float((total - warmup) / (summary["epochs_completed"] * train_images(config)))


def _unfinished_speed(run: RunDir, record: dict, config: TrainConfig, device_name: str) -> float | None:
    """Its complete epochs after the first (which carries the start-up), none paused, when every session
    of it ran on this device."""
    sessions = record.get("sessions") or []
    if not sessions or any(s["runtime"]["device_name"] != device_name for s in sessions):
        return None
    steady = steady_epochs(run.metrics())
    if not steady:
        return None
    return sum(r["epoch_seconds"] for r in steady) / (len(steady) * train_images(config))


def live_speeds(rows: list[tuple[Any, dict]]) -> dict[Any, list[float]]:
    """Seconds per training image, evaluation guessed in, that the running runs show now, by (model, batch
    size) and by model: on a machine with no run recorded yet (a sweep's first runs there), they time the
    queued runs of their model until one ends."""
    speeds: dict[Any, list[float]] = {}
    for status, info in rows:
        images_per_second = info.get("ips")
        if status.state == RunState.RUNNING and images_per_second and images_per_second > 0:
            config = status.spec.config
            for key in ((config.model, config.batch_size), config.model):
                speeds.setdefault(key, []).append((1 + EVAL_SHARE) / images_per_second)
    return speeds


def estimate_seconds(config: TrainConfig, speeds: dict[Any, list[float]]) -> float | None:
    """From runs of the same model and batch size here, else of the same model."""
    recorded = speeds.get((config.model, config.batch_size)) or speeds.get(config.model)
    return statistics.median(recorded) * train_images(config) * config.epochs if recorded else None


def makespan(seconds: list[float], slots: int, busy: list[float] | None = None) -> float:
    """When the last of these runs ends, each handed in order to whichever of `slots` frees first;
    `busy`: the seconds until the slots that are running something now free."""
    free = list(busy or []) + [0.0] * max(0, slots - len(busy or []))
    heapq.heapify(free)
    for run in seconds:
        heapq.heappush(free, heapq.heappop(free) + run)
    return max(free)


class TimeLeft:
    """The live view's estimate of a sweep's time left: each running run by its own ETA, then the queued
    runs, timed as --dry-run times them (earlier runs of the model here, read again whenever a run ends;
    before any, the speed a running run of the model shows), handed in plan order to whichever slot frees
    first."""

    def __init__(self, runs_dir: Path, device: str, slots: int):
        self.runs_dir, self.device, self.slots = runs_dir, device_name(device), slots
        self.speeds: dict[Any, list[float]] = {}
        self.finished = -1

    def words(self, rows: list[tuple[Any, dict]]) -> str:
        """'about 1h20m left', with how many runs that leaves out; '' when nothing can be timed yet.
        `rows`: (RunStatus, its progress) as the live view has them."""
        finished = sum(status.state.finished for status, _ in rows)
        if finished != self.finished:  # a run ended: a new measurement
            self.finished, self.speeds = finished, recorded_speeds(self.runs_dir, self.device)
        speeds = {**live_speeds(rows), **self.speeds}  # a whole recorded run beats a few live steps
        etas = [self._eta(status, info, speeds) for status, info in rows if status.state == RunState.RUNNING]
        queued = [status.spec.config for status, _ in rows if status.state == RunState.QUEUED]
        running = [eta for eta in etas if eta is not None]
        estimates = [estimate_seconds(config, speeds) for config in queued]
        timed = [seconds for seconds in estimates if seconds is not None]
        total, untimed = len(etas) + len(queued), len(etas) + len(queued) - len(running) - len(timed)
        if untimed == total:
            return ""
        seconds = makespan(timed, self.slots, running)
        left, not_timed = format_seconds(seconds), f"{untimed} of {total} runs not timed yet"
        if not untimed:
            return f"about {left} left"
        return f"at least {left} left ({not_timed})" if seconds >= 1 else not_timed  # not "at least 0s"

    def _eta(self, status: Any, info: dict, speeds: dict[Any, list[float]]) -> float | None:
        """A running run's own ETA, or, in its first steps, its model's time here less what it did."""
        if info.get("eta") is not None:
            return float(info["eta"])
        estimate = estimate_seconds(status.spec.config, speeds)
        done = info.get("epochs", 0.0) / status.spec.config.epochs
        return None if estimate is None else estimate * max(0.0, 1 - done)


def format_flops(flops: float) -> str:
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)):
        if flops >= scale:
            return f"{flops / scale:,.1f} {unit}"
    return f"{flops / 1e6:,.1f} MFLOP"
