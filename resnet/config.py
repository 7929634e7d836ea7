"""TrainConfig: everything that defines one training run, validated, serialisable and hashable.

A run's identity is the set of fields that differ from their defaults (data_dir aside: it says where
the data lives, not what is trained), hashed canonically. Adding a field whose default keeps today's
behaviour therefore leaves every existing hash unchanged; changing a default is a breaking change.
An arm is a config without its seed: runs of one arm differ only in the seed.

Importing this module does not import torch, so the sweep CLI can validate whole suites instantly.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)

from resnet.errors import ConfigError
from resnet.files import path_too_long
from resnet.models.registry import MODELS, unknown_name_message
from resnet.words import plural


@dataclass(frozen=True)
class DatasetShape:
    title: str
    classes: int
    train_images: int
    test_images: int


DATASETS = {
    "cifar10": DatasetShape("CIFAR-10", 10, 50_000, 10_000),
    "cifar100": DatasetShape("CIFAR-100", 100, 50_000, 10_000),
    "synthetic": DatasetShape("synthetic data", 10, 1024, 256),
}
NON_IDENTITY_FIELDS = frozenset({"data_dir", "num_classes"})  # where things are, or derived


class TrainConfig(BaseModel):
    """One training run. Defaults are the baseline: ResNet-18, SGD 0.1, multistep at 50%/75%, 200 epochs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    model: str = "resnet18"
    dataset: Literal["cifar10", "cifar100", "synthetic"] = "cifar10"
    data_dir: str = Field("data", min_length=1)  # "" would mean the current directory
    val_size: int = Field(
        0,
        ge=0,
        description="training images held out (stratified) for model selection; "
        "0 = the reference protocol: the test split selects",
    )
    val_split_seed: int = Field(
        0, ge=0, lt=2**63, description="seed of the held-out split, independent of --seed"
    )

    epochs: int = Field(200, ge=1, le=10_000)
    batch_size: int = Field(128, ge=2, le=65_536, description="at least 2: BatchNorm needs two samples")
    lr: float = Field(0.1, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0, le=1)

    lr_schedule: Literal["multistep", "cosine", "none"] = "multistep"
    milestones: tuple[float, ...] = Field(
        (0.5, 0.75), description="multistep decay points as fractions of the run; '81/164' is accepted"
    )
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
    amp: bool | None = Field(
        None,
        description="bf16 autocast; default: on where it was measured faster (CPUs with AMX or "
        "AVX512-BF16), off elsewhere, GPUs included",
    )
    channels_last: bool = Field(True, description="NHWC memory format (faster convs on CPU and CUDA)")
    compile: bool = Field(False, description="torch.compile the model (opt-in)")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def num_classes(self) -> int:
        return DATASETS[self.dataset].classes

    @model_validator(mode="before")
    @classmethod
    def _derived_num_classes(cls, data: Any) -> Any:
        """Recorded configs carry num_classes: accept it when it agrees with the dataset."""
        if isinstance(data, dict) and "num_classes" in data:
            data = dict(data)
            given = data.pop("num_classes")
            dataset = data.get("dataset", "cifar10")
            known = isinstance(dataset, str) and dataset in DATASETS  # else the field's own error says it
            expected = DATASETS[dataset].classes if known else given
            if given is not None and given != expected:
                raise ValueError(f"num_classes is {expected} for {dataset}, got {given}")
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: Any) -> Any:
        """pydantic reads true as 1: `epochs = true` in a suite would train one epoch without a word."""
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and annotation in (int, float):
            raise ValueError(f"must be a number, got {str(value).lower()}")
        return value

    @field_validator("amp", mode="before")
    @classmethod
    def _auto_amp(cls, value: Any) -> Any:
        """'auto', as tables and --list print the default: a suite or --grid can write it back."""
        if isinstance(value, str) and value.lower() == "auto":
            return None
        if isinstance(value, str) and value.lower() not in ("true", "false"):
            raise ValueError(f"must be true, false or auto, got {value!r}")
        return value

    @field_validator("data_dir")
    @classmethod
    def _usable_path(cls, path: str) -> str:
        """'~/datasets' in a suite file is the home directory's, as on a command line: no shell expands a
        TOML value, and a literal ~ directory would receive the download."""
        path = os.path.expanduser(path)
        if (problem := path_too_long(path)) is not None:
            raise ValueError(problem)
        return path

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        if name not in MODELS:
            raise ValueError(unknown_name_message("model", name, MODELS))
        return name

    @field_validator("milestones", mode="before")
    @classmethod
    def _fractions(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):  # pydantic would say only "a valid tuple"
            raise ValueError(
                "milestones must be a list of fractions of the run, e.g. [0.5, 0.75] or "
                f'["81/164", "122/164"], got {value!r}'
            )
        try:
            return tuple(float(Fraction(v)) if isinstance(v, str) else v for v in value)
        except (ValueError, ZeroDivisionError, OverflowError):  # 'x', '81/0', '1e309'
            raise ValueError(
                f"milestones must be numbers or fractions like 81/164, got {list(value)}"
            ) from None

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
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs must be below epochs ({self.epochs}), got {self.warmup_epochs}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        if self.dropout and not MODELS[self.model].dropout:
            with_dropout = sorted(n for n, s in MODELS.items() if s.dropout)
            raise ValueError(f"{self.model} has no dropout; dropout works with: {', '.join(with_dropout)}")
        shape = DATASETS[self.dataset]
        if self.val_size >= shape.train_images:
            raise ValueError(
                f"val_size must be below the {shape.train_images} training images of "
                f"{self.dataset}, got {self.val_size}"
            )
        trainable = shape.train_images - self.val_size
        if self.batch_size > trainable:
            held = f" ({self.val_size} held out for validation)" if self.val_size else ""
            raise ValueError(
                f"batch_size {self.batch_size} is larger than the {plural(trainable, 'training image')} "
                f"of {self.dataset}{held}"
            )
        return self

    # --- identity and serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None

    def identity(self) -> dict[str, Any]:
        """The fields that differ from their defaults, without where the data lives."""
        defaults = default_values()
        return {k: v for k, v in self.to_dict().items() if k not in NON_IDENTITY_FIELDS and v != defaults[k]}

    def short_hash(self) -> str:
        """8 hex digits that change when anything that affects training changes."""
        return _hash(self.identity())

    def arm_hash(self) -> str:
        """The hash of the config without its seed: every seed of one arm shares it."""
        return _hash({k: v for k, v in self.identity().items() if k != "seed"})

    def compact(self) -> dict[str, Any]:
        """Everything needed to rebuild this config exactly: its identity, and data_dir when not the
        default."""
        extra = {"data_dir": self.data_dir} if self.data_dir != default_values()["data_dir"] else {}
        return {**self.identity(), **extra}

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        return apply_overrides(self.to_dict(), overrides)

    def changed_fields(self, other: TrainConfig) -> dict[str, Any]:
        """Fields where self differs from other (seed and paths excluded), with self's values."""
        mine, theirs = self.to_dict(), other.to_dict()
        ignored = NON_IDENTITY_FIELDS | {"seed"}
        return {k: v for k, v in mine.items() if k not in ignored and v != theirs[k]}


@cache
def default_values() -> dict[str, Any]:
    return TrainConfig().to_dict()


def _hash(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[
        :8
    ]


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """A validated config from base values plus overrides (num_classes always follows the dataset)."""
    merged = {k: v for k, v in {**base, **overrides}.items() if k != "num_classes"}
    return TrainConfig.from_dict(merged)


def describe_validation_error(exc: ValidationError) -> str:
    """One clause per problem, 'field: constraint (got value)'; the known fields listed once at the end."""
    parts, unknown = [], []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            unknown.append(field)
        elif "input" in err and err["type"] != "value_error" and not isinstance(err["input"], dict):
            parts.append(f"{field}: {msg} (got {err['input']!r})")
        else:
            parts.append(f"{field}: {msg}" if field != "config" else msg)
    if unknown:
        known = ", ".join(n for n in TrainConfig.model_fields)
        parts.append(
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)} "
            f"(known fields: {known})"
        )
    return "invalid config: " + "; ".join(parts)


def format_value(value: Any) -> str:
    """A field value as people write it: 0.1, cosine, true, 0.5/0.75, auto (amp = None: chosen per device)."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "/".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
