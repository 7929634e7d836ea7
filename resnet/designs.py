"""Sweep designs beyond named presets: factorial grids, zipped factors, one-at-a-time.

    [design]
    kind = "factorial"              # every combination; "zip": the i-th value of every factor together;
                                    # "one_at_a_time": each factor varied alone around the start config
    factors = { lr_schedule = ["multistep", "cosine"], norm = ["batch", "none"] }
    exclude = [{ norm = "none", lr_schedule = "none" }]
    from = "cosine"                 # optional: vary this preset instead of the suite's [base]

Arms are named from their factor values ("lr_schedule=cosine,norm=none"), so a name always says what
the arm is; an arm equal to one of the suite's presets takes the preset's name (resnet/plan.py). The
table compares with the suite's baseline when it is an arm, else with the design's first arm (every
factor at its first level; the start config for one_at_a_time). Every arm is validated before anything
runs. A suite may also tune a parameter per arm: resnet/tuning.py. No torch import here.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import typing
from dataclasses import dataclass
from typing import Any

from resnet.config import TrainConfig, apply_overrides, format_value
from resnet.errors import ConfigError, PresetError
from resnet.models.registry import unknown_name_message

MAX_NAME = 100  # characters of a suite's, preset's or arm's directory name (filesystems allow 255 bytes)

KINDS = ("factorial", "zip", "one_at_a_time")
NOT_FACTORS = frozenset({"seed", "data_dir", "num_classes"})
MAX_ARMS = 10_000  # ten factors of ten levels are 10^10 arms: a typo, not a sweep; refused before expanding


@dataclass(frozen=True)
class DesignArm:
    name: str
    factors: tuple[tuple[str, Any], ...]  # (field, canonical value), in the design's factor order
    config: TrainConfig


@dataclass(frozen=True)
class Design:
    kind: str
    factors: tuple[tuple[str, tuple[Any, ...]], ...]
    exclude: tuple[tuple[tuple[str, Any], ...], ...] = ()
    start: str | None = None  # the preset the design varies; None: the suite's [base]

    @property
    def factor_names(self) -> list[str]:
        return [name for name, _ in self.factors]

    def arms(self, start: TrainConfig, where: str) -> list[DesignArm]:
        """Every arm of the design around `start`, validated; `where` names the source in errors."""
        return self._arms(start, where)[0]

    def idle_excludes(self, start: TrainConfig, where: str) -> list[str]:
        """The exclude rules that match no combination (a typo in a value, most likely), as TOML."""
        used = self._arms(start, where)[1]
        return [
            "{ " + ", ".join(f"{f} = {format_value(v)}" for f, v in rule) + " }"
            for i, rule in enumerate(self.exclude)
            if i not in used
        ]

    def _arms(self, start: TrainConfig, where: str) -> tuple[list[DesignArm], set[int]]:
        levels = [len(values) for _, values in self.factors]
        size = math.prod(levels) if self.kind == "factorial" else sum(levels)  # zip: at most the sum
        if size > MAX_ARMS:
            product = " x ".join(map(str, levels)) + " = " if self.kind == "factorial" else ""
            raise PresetError(
                f"{where}: a {self.kind} design of {product}{size:,} arms is more than {MAX_ARMS:,}; use "
                "fewer values, or split it into several designs"
            )
        arms, used = [], set()
        for combo in self._combinations(start):
            try:
                config = apply_overrides(start.to_dict(), dict(combo))
            except ConfigError as exc:
                typed = ",".join(f"{field}={_as_typed(value)}" for field, value in combo)
                raise PresetError(f"{where}: design arm '{typed}': {exc}") from None
            canonical = tuple((field, config.to_dict()[field]) for field, _ in combo)
            excluded = self._excluding(canonical)
            if excluded:
                used.update(excluded)
                continue
            name = _arm_name(canonical) if combo or self.kind != "one_at_a_time" else (self.start or "base")
            arms.append(DesignArm(name, canonical, config))
        seen: dict[str, str] = {}
        for arm in arms:
            if arm.config.arm_hash() in seen:
                other = seen[arm.config.arm_hash()]
                raise PresetError(
                    f"{where}: design arms '{other}' and '{arm.name}' are the same config; "
                    "remove the duplicate value"
                )
            seen[arm.config.arm_hash()] = arm.name
        if not arms:
            raise PresetError(f"{where}: the design's exclude list removes every arm")
        return arms, used

    def _combinations(self, start: TrainConfig) -> list[tuple[tuple[str, Any], ...]]:
        names = self.factor_names
        levels = [values for _, values in self.factors]
        if self.kind == "factorial":
            return [tuple(zip(names, combo, strict=True)) for combo in itertools.product(*levels)]
        if self.kind == "zip":
            return [tuple(zip(names, combo, strict=True)) for combo in zip(*levels, strict=True)]
        base = start.to_dict()
        varied: list[tuple[tuple[str, Any], ...]] = [()]
        for name, values in self.factors:
            for value in values:
                try:
                    same = _same_value(apply_overrides(base, {name: value}).to_dict()[name], base[name])
                except ConfigError:
                    same = False  # arms() reports it, naming the arm
                if not same:
                    varied.append(((name, value),))
        return varied

    def _excluding(self, combo: tuple[tuple[str, Any], ...]) -> list[int]:
        """The exclude rules (their indices) that remove this combination."""
        values = dict(combo)
        return [
            i
            for i, rule in enumerate(self.exclude)
            if all(f in values and _same_value(values[f], v) for f, v in rule)
        ]


def overridden(config: TrainConfig, overrides: dict[str, Any], where: str) -> TrainConfig:
    """`config` with these overrides, as an arm (seed 0); a value it refuses is one line naming `where`."""
    try:
        return config.with_overrides(**overrides, seed=0)
    except ConfigError as exc:
        raise PresetError(f"{where}: {exc}") from None


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return bool(a == b)


def _as_typed(value: Any) -> str:
    """A value as --grid takes it (a list's items joined by '+'), not yet canonical: '1/3+2/3'."""
    return "+".join(map(str, value)) if isinstance(value, (list, tuple)) else format_value(value)


def _arm_name(combo) -> str:
    """'lr_schedule=cosine,norm=none'; past MAX_NAME characters cut, with a digest of the whole name so it
    stays unique (the factor values stay in the table's columns)."""
    name = ",".join(f"{field}={format_value(value).replace('/', '+')}" for field, value in combo)
    if len(name) > MAX_NAME:
        name = f"{name[: MAX_NAME - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name


def check_factor(name: str, where: str) -> None:
    fields = [f for f in TrainConfig.model_fields if f not in NOT_FACTORS]
    if name == "seed":
        raise PresetError(
            f"{where}: seed is not a factor: every arm runs the sweep's --seeds (e.g. --seeds 0 1 2)"
        )
    if name not in fields:
        raise PresetError(f"{where}: {unknown_name_message('factor', name, fields)}")


def parse_design(data: Any, where: str) -> Design:
    """A [design] table from a suite file; every problem is one line naming `where`."""
    if not isinstance(data, dict):
        raise PresetError(f"{where}: [design] must be a table with kind and factors")
    unknown = set(data) - {"kind", "factors", "exclude", "from"}
    if unknown:
        raise PresetError(
            f"{where}: unknown keys {sorted(unknown)} in [design]; allowed: kind, factors, exclude, from"
        )
    kind = data.get("kind", "factorial")
    if kind not in KINDS:
        raise PresetError(f"{where}: design kind must be one of {', '.join(KINDS)}, got {kind!r}")
    factors = data.get("factors")
    if not isinstance(factors, dict) or not factors:
        raise PresetError(f"{where}: [design] needs factors = {{ field = [values], ... }}")
    parsed = []
    for name, values in factors.items():
        check_factor(name, where)
        if not isinstance(values, list) or not values:
            raise PresetError(f"{where}: factor '{name}' needs a non-empty list of values, got {values!r}")
        parsed.append((name, tuple(values)))
    if kind == "zip" and len({len(v) for _, v in parsed}) > 1:
        lengths = ", ".join(f"{n}: {len(v)}" for n, v in parsed)
        raise PresetError(
            f"{where}: a zip design needs the same number of values for every factor ({lengths})"
        )
    exclude = data.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(rule, dict) and rule for rule in exclude):
        raise PresetError(f'{where}: exclude must be a list of tables like {{ norm = "none", lr = 0.1 }}')
    for rule in exclude:
        for field in rule:
            if field not in dict(parsed):
                raise PresetError(f"{where}: exclude names '{field}', which is not a factor of the design")
    start = data.get("from")
    if start is not None and not isinstance(start, str):
        raise PresetError(f"{where}: [design] from must be a preset name in quotes, got {start!r}")
    return Design(kind, tuple(parsed), tuple(tuple(rule.items()) for rule in exclude), start)


# fields whose value is a list: on the command line its items join with '+', as in arm names
LIST_FIELDS = {n for n, f in TrainConfig.model_fields.items() if typing.get_origin(f.annotation) is tuple}


def field_values(item: str, usage: str) -> tuple[str, list[Any]]:
    """'lr=0.05,0.1' -> ('lr', ['0.05', '0.1']): a command line's FIELD=V1,V2,...; a list field's items join
    with '+'. The values stay text: TrainConfig converts them."""
    name, sep, values = item.partition("=")
    name = name.replace("-", "_")
    if not name or not sep or not values:
        raise PresetError(f"{usage}; got {item!r}")
    listed = values.split(",")
    if "" in listed:  # 'lr=0.1,' would quietly be one value, 'lr=,0.1' too
        flag = usage.split()[0]
        raise PresetError(f"{flag}: {item!r} has an empty value; list values as {name}=V1,V2,...")
    return name, [v.split("+") if name in LIST_FIELDS else v for v in listed]


def parse_grid(items: list[str], kind: str = "factorial", start: str | None = None) -> Design:
    """`--grid lr_schedule=multistep,cosine norm=batch,none milestones=0.5+0.75,1/3+2/3`."""
    factors: dict[str, list[Any]] = {}
    for item in items:
        name, values = field_values(item, "--grid takes FIELD=VALUE,VALUE...")
        check_factor(name, "--grid")
        if name in factors:  # the later values would silently replace the earlier ones
            raise PresetError(f"--grid: factor '{name}' given twice; list its values once: {name}=V1,V2,...")
        factors[name] = values
    return parse_design({"kind": kind, "factors": factors, **({"from": start} if start else {})}, "--grid")
