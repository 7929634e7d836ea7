"""What a plan will cost before it runs: FLOPs from the model table, wall time from earlier runs.

A run's work is forward FLOPs x 3 (forward and backward) x training images x epochs, plus forward FLOPs
x evaluated images (validation and test) x epochs. Its wall time is estimated from the throughput that
earlier runs of the same model recorded on this device (seconds per training image, evaluation
included), when there are any. No torch import here.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from resnet.config import DATASETS, TrainConfig
from resnet.files import read_json
from resnet.models.table import MODEL_STATS
from resnet.run_dir import RunDir, find_run_dirs
from resnet.summary import finite


def train_images(config: TrainConfig) -> int:
    return DATASETS[config.dataset].train_images - config.val_size


def run_flops(config: TrainConfig) -> float:
    forward = MODEL_STATS[config.model][1]
    evaluated = config.val_size + DATASETS[config.dataset].test_images
    return forward * config.epochs * (3 * train_images(config) + evaluated)


def recorded_speeds(runs_dir: Path, device_name: str, max_files: int = 5000) -> dict[Any, list[float]]:
    """Seconds per training image (evaluation included) of finished runs on this device, by model and by
    (model, batch size): the time per image depends on the batch size. The first step is left out: CUDA's
    start, cuDNN's autotuning or compilation, paid once per run (on an H200 it was 1.3-5.8 s, as long as
    a whole ResNet-18 epoch, so a one-epoch run would otherwise double the estimate of a long one)."""
    speeds: dict[Any, list[float]] = {}
    seen = 0
    for path in find_run_dirs(runs_dir):
        run = RunDir(path)
        if not run.summary_file.is_file():
            continue
        seen += 1
        if seen > max_files:
            break
        summary, record = read_json(run.summary_file), read_json(run.config_file)
        try:  # an estimate: a run dir whose files are not what train() writes is skipped
            if not summary or not record or summary["runtime"].get("device_name") != device_name:
                continue
            if summary.get("stopped_epochs"):  # paused (Ctrl-Z): its times hold the pause
                continue
            config = TrainConfig.from_dict(record["config"])
            total, warmup = summary["total_seconds"], summary.get("first_step_seconds")
            warmup = warmup if isinstance(warmup, float | int) and 0 <= warmup < total else 0
            speed = (total - warmup) / (summary["epochs_completed"] * train_images(config))
        except Exception:
            continue
        if finite(speed) and speed > 0:
            for key in (config.model, (config.model, config.batch_size)):
                speeds.setdefault(key, []).append(speed)
    return speeds


def estimate_seconds(config: TrainConfig, speeds: dict[Any, list[float]]) -> float | None:
    """From runs of the same model and batch size here, else of the same model."""
    recorded = speeds.get((config.model, config.batch_size)) or speeds.get(config.model)
    return statistics.median(recorded) * train_images(config) * config.epochs if recorded else None


def format_flops(flops: float) -> str:
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)):
        if flops >= scale:
            return f"{flops / scale:,.1f} {unit}"
    return f"{flops / 1e6:,.1f} MFLOP"
