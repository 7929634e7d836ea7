"""The learning-rate schedule: linear warmup, then multistep, cosine or constant, stepped per iteration."""

from __future__ import annotations

import math
from collections.abc import Callable

from resnet.config import TrainConfig


def lr_multiplier(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The factor on config.lr for optimizer step `step` (0-based): linear warmup, then the schedule.
    Milestones are fractions of the run, so `--epochs 10` keeps the shape of a 200-epoch schedule."""
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    boundaries = [round(m * total) for m in config.milestones]

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
        if config.lr_schedule == "multistep":
            return config.gamma ** sum(step >= b for b in boundaries)
        return 1.0

    return multiplier
