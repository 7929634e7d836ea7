"""Command-line flags that mirror TrainConfig's fields, shared by both CLIs: one flag per field, absent
flags leave the preset's value."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Callable
from typing import Any, Literal, cast

from resnet.cli.common import utf8_text
from resnet.config import TrainConfig
from resnet.words import flag


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> list[str]:
    """One flag per TrainConfig field (--lr-schedule, --no-flip, ...); absent flags leave the preset's value.
    Returns the dests it defined: `config_overrides` reads only those."""
    group = parser.add_argument_group("config overrides (default: the preset's value, else the baseline's)")
    dests = []
    for name, info in TrainConfig.model_fields.items():
        if name in skip:
            continue
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": info.description}
        annotation = info.annotation
        if annotation in (bool, bool | None):
            group.add_argument(flag(name), action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(annotation) is Literal:
            group.add_argument(flag(name), choices=typing.get_args(annotation), **kwargs)
        elif name == "milestones":
            group.add_argument(flag(name), nargs="+", type=utf8_text, metavar="FRACTION", **kwargs)
        else:
            kind = utf8_text if annotation is str else cast(Callable[[str], Any], annotation)
            group.add_argument(flag(name), type=kind, metavar=name.upper(), **kwargs)
        dests.append(name)
    if "norm" not in skip:
        group.add_argument(
            "--no-batchnorm",
            dest="norm",
            action="store_const",
            const="none",
            default=argparse.SUPPRESS,
            help="same as --norm none",
        )
    return dests


def config_overrides(namespace: argparse.Namespace, dests: list[str]) -> dict[str, Any]:
    """The config fields a parsed command line set explicitly (only the flags add_config_arguments
    defined)."""
    given = vars(namespace)
    return {name: given[name] for name in dests if name in given}
