"""What train_cifar.py's --config and --config-json name: a preset ('cosine', 'depth:resnet56',
'path/suite.toml:preset'), a config file (a run's config.json, or a TOML of fields), or the JSON a runner
hands its child. No torch import here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, NamedTuple

from resnet.config import TrainConfig, apply_overrides
from resnet.errors import ConfigError, PresetError
from resnet.files import DamagedFile, describe_os_error, load_json, loads_json
from resnet.presets import DEFAULT_SUITE, find_suite, read_toml

log = logging.getLogger("resnet.resolve")


class Resolved(NamedTuple):
    config: TrainConfig
    label: str
    recorded_threads: int | None = None  # from a run's config.json: the thread count it trained with


def resolve_config(reference: str, **overrides: Any) -> Resolved:
    """A config from 'preset', 'suite:preset', 'path/to/suite.toml:preset' or a config JSON/TOML file.
    A bare preset name is looked up in the default suite."""
    path = Path(reference)
    if path.suffix in (".json", ".toml"):
        if not path.exists():
            raise PresetError(f"config file {path} does not exist")
        return _config_from_file(path, overrides)
    suite_ref, _, preset_name = reference.rpartition(":")
    if "/" in preset_name:  # a path, as no preset name holds a separator
        raise PresetError(
            f"{reference} is neither a preset nor a config file: a config file ends in .json (a run's "
            "config.json) or .toml, a preset is NAME or SUITE:NAME (run_ablations.py --list shows them)"
        )
    suite = find_suite(suite_ref or DEFAULT_SUITE)
    preset = suite.preset(preset_name)
    return Resolved(suite.config(preset.name, **overrides), f"{suite.name}:{preset.name}")


def _config_from_file(path: Path, overrides: dict[str, Any]) -> Resolved:
    if path.suffix == ".toml":
        data = read_toml(path, "config file")
        if "presets" in data or "base" in data:
            names = ", ".join(data.get("presets", {})) or "none"
            raise PresetError(
                f"{path} is a suite, not a config: name one of its presets as {path}:PRESET "
                f"(presets: {names})"
            )
    else:
        try:
            data = load_json(path)
        except (OSError, DamagedFile) as exc:
            reason = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
            raise PresetError(f"cannot read config file {path}: {reason}") from None
    runtime = data.get("runtime", {}) if isinstance(data.get("runtime"), dict) else {}
    recorded_hash = data.get("config_hash")
    data = data.get("config", data)  # a run's config.json holds the config under "config"
    try:
        config = apply_overrides(data, overrides)
        as_recorded = apply_overrides(data, {}) if overrides else config
    except ConfigError as exc:
        raise PresetError(f"{path}: {exc}") from None
    if isinstance(recorded_hash, str) and recorded_hash != as_recorded.short_hash():
        log.warning(
            "%s: recorded as config %s, but the config it holds now hashes to %s (the file was edited): "
            "that edited config is what trains",
            path,
            recorded_hash,
            as_recorded.short_hash(),
        )
    # The thread count changes a CPU run's numbers (the order of its reductions), so a rerun or resume
    # restores it; a GPU run's CPU threads change nothing it computed, and 16 of them on a laptop would
    # only oversubscribe it.
    on_cpu = str(runtime.get("device", "cpu")).startswith("cpu")
    return Resolved(config, str(path), runtime.get("threads") if on_cpu else None)


def config_from_json(text: str, overrides: dict[str, Any]) -> TrainConfig:
    """--config-json '{"model": "resnet20", ...}': the resolved config a runner hands its child."""
    try:
        data = loads_json(text)
    except json.JSONDecodeError as exc:
        raise PresetError(f"--config-json is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise PresetError("--config-json must be a JSON object of TrainConfig fields")
    try:
        return apply_overrides(data, overrides)
    except ConfigError as exc:
        raise PresetError(f"--config-json: {exc}") from None
