"""One run of a sweep: its arm (a config without its seed), its seed, its run dir, and the exact
train_cifar.py command that trains it. No torch import here.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from resnet.config import TrainConfig, format_value
from resnet.files import PROJECT_ROOT
from resnet.references import Reference
from resnet.run_dir import RunDir
from resnet.states import RunState

TRAIN_SCRIPT = PROJECT_ROOT / "train_cifar.py"


@dataclass(frozen=True)
class Arm:
    name: str
    config: TrainConfig  # seed 0: the arm is the config without its seed
    description: str = ""
    reference: Reference | None = None
    factors: tuple[tuple[str, Any], ...] = ()
    tuning: tuple[str, Any] | None = None  # a tuning arm: (param, value)
    parent: str | None = None  # a tuning arm: the arm it tunes
    tuned: tuple[str, Any] | None = None  # a tuned arm: (param, selected value)

    @property
    def path(self) -> str:
        if self.parent and self.tuning:
            return f"{self.parent}/tune-{self.tuning[0]}={format_value(self.tuning[1]).replace('/', '+')}"
        return self.name


@dataclass(frozen=True)
class LaunchOptions:
    """How a runner starts a run: not part of the run's identity."""

    device: str | None = None
    threads: int | None = None
    keep_checkpoints: bool = False
    checkpoint_every: float | None = None  # minutes
    verbose: bool = False  # the sweep's -v: each run's debug messages go to its train.log too

    @classmethod
    def from_args(cls, args) -> LaunchOptions:
        """What a sweep's command line says of how each run starts (the launcher adds device and threads)."""
        return cls(
            keep_checkpoints=args.keep_checkpoints,
            checkpoint_every=args.checkpoint_every,
            verbose=args.verbose,
        )

    def flags(self) -> list[str]:
        flags = ["--device", self.device] if self.device else []
        flags += ["--threads", str(self.threads)] if self.threads else []
        flags += ["--keep-checkpoints"] if self.keep_checkpoints else []
        flags += ["--checkpoint-every", f"{self.checkpoint_every:g}"] if self.checkpoint_every else []
        return flags + (["-v"] if self.verbose else [])


@dataclass(frozen=True)
class RunSpec:
    suite: str
    arm: Arm
    seed: int
    run_dir: Path

    @cached_property
    def config(self) -> TrainConfig:
        return self.arm.config.with_overrides(seed=self.seed)

    @property
    def label(self) -> str:
        return f"{self.suite}/{self.arm.path}/seed{self.seed}"

    @property
    def elsewhere(self) -> bool:
        """Whether the run lies in another arm's directory, where it finished (Plan.adopted)."""
        return not self.run_dir.as_posix().endswith(f"/{self.arm.path}/seed{self.seed}")

    def state(self) -> RunState:
        return RunDir(self.run_dir).state(self.config)

    def arguments(self, launch: LaunchOptions = LaunchOptions()) -> list[str]:
        """train_cifar.py's arguments: the resolved config itself and its expected hash, never a name to
        re-resolve."""
        compact = json.dumps(self.config.compact(), sort_keys=True, separators=(",", ":"))
        return [
            "--config-json",
            compact,
            "--expect-hash",
            self.config.short_hash(),
            "--run-dir",
            str(self.run_dir),
            "--resume",
            *launch.flags(),
        ]

    def command(self, launch: LaunchOptions = LaunchOptions()) -> list[str]:
        return [*train_command(), *self.arguments(launch)]


def train_command() -> list[str]:
    """The interpreter and train_cifar.py of a source checkout, or `-m resnet.cli.train` where the package
    is installed from a wheel (no root scripts there; the console script may not be on a job's PATH)."""
    if not TRAIN_SCRIPT.is_file():
        return [sys.executable, "-m", "resnet.cli.train"]
    script = os.path.relpath(TRAIN_SCRIPT) if Path.cwd() == PROJECT_ROOT else str(TRAIN_SCRIPT)
    return [sys.executable, script]
