"""Preset suites: named, described overrides of the baseline TrainConfig, one TOML file per suite.

A suite file (configs/<suite>.toml) looks like:

    description = "what the suite compares"
    baseline = "baseline"          # the preset every other is compared with in the report

    [base]                         # overrides of TrainConfig's defaults shared by every preset
    epochs = 100

    [presets.cosine]
    description = "cosine decay to zero instead of steps"
    aliases = ["cosine_schedule"]
    lr_schedule = "cosine"         # every other key is a TrainConfig field

Every preset is validated when the suite loads, so a typo fails before anything trains.
Users add a suite by dropping a file in configs/ or passing its path. No torch import here.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet.config import ConfigError, TrainConfig, apply_overrides
from resnet.models.registry import unknown_name_message

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_SUITE = "ablations"
PRESET_KEYS = ("description", "aliases")


class PresetError(ValueError):
    """An unknown suite or preset, or a suite file that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    overrides: dict[str, Any]
    config: TrainConfig  # base + overrides, validated
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    base: dict[str, Any]
    baseline: str | None
    presets: dict[str, Preset] = field(default_factory=dict)

    def preset(self, name: str) -> Preset:
        if name in self.presets:
            return self.presets[name]
        for preset in self.presets.values():
            if name in preset.aliases:
                return preset
        raise PresetError(unknown_name_message("preset", name, self.presets, f" in suite '{self.name}'"))

    def config(self, name: str, **overrides: Any) -> TrainConfig:
        """The preset's config with command-line overrides (seed, epochs, dataset, ...) applied."""
        preset = self.preset(name)
        try:
            return apply_overrides(preset.config.to_dict(), overrides) if overrides else preset.config
        except ConfigError as exc:
            raise PresetError(f"{self.name}:{preset.name}: {exc}") from None

    def changes(self, name: str) -> dict[str, Any]:
        """What the preset changes relative to the suite's baseline (or the suite's base)."""
        reference = self.presets[self.baseline].config if self.baseline else TrainConfig.from_dict(self.base)
        return self.preset(name).config.changed_fields(reference)


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PresetError(f"suite file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: malformed TOML ({exc}); a preset may be defined only once") from None
    name = path.stem
    unknown = set(data) - {"description", "baseline", "base", "presets"}
    if unknown:
        raise PresetError(f"{path}: unknown top-level keys {sorted(unknown)}; allowed: description, baseline, "
                          "[base], [presets.NAME]")
    base = data.get("base", {})
    try:
        base_config = TrainConfig.from_dict(base)
    except ConfigError as exc:
        raise PresetError(f"{path} [base]: {exc}") from None
    presets: dict[str, Preset] = {}
    taken: dict[str, str] = {}  # every name and alias -> the preset that owns it
    for preset_name, entry in data.get("presets", {}).items():
        overrides = {k: v for k, v in entry.items() if k not in PRESET_KEYS}
        aliases = tuple(entry.get("aliases", ()))
        for label in (preset_name, *aliases):
            if label in taken:
                raise PresetError(f"{path}: '{label}' is defined twice (by presets '{taken[label]}' and "
                                  f"'{preset_name}'); preset names and aliases must be unique in a suite")
            taken[label] = preset_name
        try:
            config = apply_overrides(base_config.to_dict(), overrides)
        except ConfigError as exc:
            raise PresetError(f"{path} [presets.{preset_name}]: {exc}") from None
        presets[preset_name] = Preset(preset_name, entry.get("description", ""), overrides, config, aliases)
    if not presets:
        raise PresetError(f"{path}: defines no presets; add [presets.NAME] tables")
    baseline = data.get("baseline")
    if baseline is not None and baseline not in presets:
        raise PresetError(f"{path}: baseline '{baseline}' is not one of its presets ({', '.join(presets)})")
    return Suite(name, path, data.get("description", ""), base, baseline, presets)


def suite_files(configs_dir: Path = CONFIGS_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(configs_dir.glob("*.toml"))}


def find_suite(name_or_path: str, configs_dir: Path = CONFIGS_DIR) -> Suite:
    """A suite by name (a file in configs/) or by the path of a TOML file."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_suite(Path(name_or_path))
    files = suite_files(configs_dir)
    if name_or_path not in files:
        raise PresetError(unknown_name_message("suite", name_or_path, files) + f" (suites live in {configs_dir})")
    return load_suite(files[name_or_path])


def resolve_config(reference: str, **overrides: Any) -> tuple[TrainConfig, str]:
    """A config from 'preset', 'suite:preset', 'path/to/suite.toml:preset' or a config JSON/TOML file.

    Returns the config and a label for it. A bare preset name is looked up in the default suite.
    """
    path = Path(reference)
    if path.suffix in (".json", ".toml") and path.is_file():
        return _config_from_file(path, overrides), str(path)
    suite_ref, _, preset_name = reference.rpartition(":")
    suite = find_suite(suite_ref or DEFAULT_SUITE)
    preset = suite.preset(preset_name)
    return suite.config(preset.name, **overrides), f"{suite.name}:{preset.name}"


def _config_from_file(path: Path, overrides: dict[str, Any]) -> TrainConfig:
    import json

    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"{path}: not a valid config file ({exc})") from None
    data = data.get("config", data)  # a run's config.json holds the config under "config"
    try:
        return apply_overrides(data, overrides)
    except ConfigError as exc:
        raise PresetError(f"{path}: {exc}") from None
