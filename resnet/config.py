"""TrainConfig: everything that defines one training run, validated, serialisable and hashable.

Importing this module does not import torch, so the sweep CLI can validate whole suites instantly.
"""
from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from resnet.models.registry import MODELS, unknown_name_message

DATASET_CLASSES = {"cifar10": 10, "cifar100": 100, "synthetic": 10}

# Fields that say where things are, not what is trained: they do not change a run's identity.
NON_IDENTITY_FIELDS = frozenset({"data_dir"})


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line naming the field and the constraint."""


class TrainConfig(BaseModel):
    """One training run. Defaults are the baseline: ResNet-18, SGD 0.1, multistep at 50%/75%, 200 epochs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "resnet18"
    dataset: Literal["cifar10", "cifar100", "synthetic"] = "cifar10"
    num_classes: int | None = Field(None, description="derived from the dataset; if given it must agree")
    data_dir: str = "data"

    epochs: int = Field(200, ge=1, le=10_000)
    batch_size: int = Field(128, ge=2, le=65_536, description="at least 2: BatchNorm needs two samples")
    lr: float = Field(0.1, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0, le=1)

    lr_schedule: Literal["multistep", "cosine", "none"] = "multistep"
    milestones: tuple[float, ...] = Field(
        (0.5, 0.75), description="multistep decay points as fractions of the run; '81/164' is accepted")
    gamma: float = Field(0.1, gt=0, le=1)
    warmup_epochs: float = Field(0, ge=0, description="linear warmup from 0, in epochs (fractions allowed)")
    label_smoothing: float = Field(0, ge=0, lt=1)

    norm: Literal["batch", "none"] = "batch"
    dropout: float = Field(0, ge=0, lt=1, description="only for families with dropout (wrn, densenet)")

    crop: bool = Field(True, description="random 32x32 crop of the image zero-padded by 4")
    flip: bool = Field(True, description="random horizontal flip")
    cutout: int = Field(0, ge=0, le=32, description="side of the cutout square in pixels; 0 = off")
    random_erasing: float = Field(0, ge=0, le=1, description="probability of random erasing; 0 = off")

    seed: int = Field(0, ge=0, lt=2**63)
    amp: bool | None = Field(None, description="bf16 autocast; None = where it is fast (bf16 GPUs, AMX CPUs)")
    channels_last: bool = Field(True, description="NHWC memory format (faster convs on CPU and CUDA)")
    compile: bool = Field(False, description="torch.compile the model (opt-in)")

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        if name not in MODELS:
            raise ValueError(unknown_name_message("model", name, MODELS))
        return name

    @field_validator("milestones", mode="before")
    @classmethod
    def _fractions(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return tuple(float(Fraction(v)) if isinstance(v, str) else v for v in value)
        return value

    @field_validator("milestones")
    @classmethod
    def _milestones_inside_run(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < m < 1 for m in value):
            raise ValueError(f"each milestone must be a fraction of the run in (0, 1), got {list(value)}")
        if list(value) != sorted(set(value)):
            raise ValueError(f"milestones must be strictly increasing, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        expected = DATASET_CLASSES[self.dataset]
        if self.num_classes is None:
            object.__setattr__(self, "num_classes", expected)
        elif self.num_classes != expected:
            raise ValueError(f"num_classes is {expected} for {self.dataset}, got {self.num_classes}")
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs must be below epochs ({self.epochs}), got {self.warmup_epochs}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        if self.dropout and not MODELS[self.model].dropout:
            with_dropout = sorted(n for n, s in MODELS.items() if s.dropout)
            raise ValueError(f"{self.model} has no dropout; dropout works with: {', '.join(with_dropout)}")
        return self

    # --- identity and serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None

    def short_hash(self) -> str:
        """8 hex digits that change when anything that affects training changes (not data_dir)."""
        identity = {k: v for k, v in self.to_dict().items() if k not in NON_IDENTITY_FIELDS}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        return apply_overrides(self.to_dict(), overrides)

    def changed_fields(self, other: TrainConfig) -> dict[str, Any]:
        """Fields where self differs from other (seed and paths excluded), with self's values."""
        mine, theirs = self.to_dict(), other.to_dict()
        ignored = NON_IDENTITY_FIELDS | {"seed"}
        return {k: v for k, v in mine.items() if k not in ignored and v != theirs[k]}


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """A validated config from base values plus overrides; num_classes follows a changed dataset."""
    merged = {**base, **overrides}
    if "dataset" in overrides and "num_classes" not in overrides:
        merged.pop("num_classes", None)
    return TrainConfig.from_dict(merged)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: 'field: constraint (got value)'."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = ", ".join(TrainConfig.model_fields)
            parts.append(f"unknown field '{field}' (known fields: {known})")
        elif "input" in err and err["type"] != "value_error" and not isinstance(err["input"], dict):
            parts.append(f"{field}: {msg} (got {err['input']!r})")
        else:
            parts.append(f"{field}: {msg}" if field != "config" else msg)
    return "invalid config: " + "; ".join(parts)


# --- command-line flags mirror the fields ---------------------------------------------------------
def add_config_arguments(parser, skip: tuple[str, ...] = ()) -> None:
    """One flag per TrainConfig field (--lr-schedule, --no-flip, ...); absent flags leave the preset's value."""
    import argparse
    import typing

    group = parser.add_argument_group("config overrides (default: the preset's value, else the baseline's)")
    for name, info in TrainConfig.model_fields.items():
        if name in skip or name == "num_classes":
            continue
        flag = "--" + name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": info.description}
        annotation = info.annotation
        if annotation in (bool, bool | None):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(annotation) is Literal:
            group.add_argument(flag, choices=typing.get_args(annotation), **kwargs)
        elif name == "milestones":
            group.add_argument(flag, nargs="+", metavar="FRACTION", **kwargs)
        else:
            group.add_argument(flag, type=annotation, metavar=name.upper(), **kwargs)
    if "norm" not in skip:
        group.add_argument("--no-batchnorm", dest="norm", action="store_const", const="none",
                           default=argparse.SUPPRESS, help="same as --norm none")


def config_overrides(namespace, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The config fields a parsed command line set explicitly."""
    return {k: v for k, v in vars(namespace).items() if k in TrainConfig.model_fields and k not in skip}


def config_flags(overrides: dict[str, Any]) -> list[str]:
    """The inverse of add_config_arguments: flags that reproduce these overrides on a command line."""
    flags: list[str] = []
    for name, value in overrides.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            flags += [flag, *map(str, value)]
        elif value is not None:
            flags += [flag, str(value)]
    return flags
