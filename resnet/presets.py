"""Preset suites: named, described overrides of the baseline TrainConfig, one TOML file per suite.

A suite file (configs/<suite>.toml) looks like:

    description = "what the suite compares"
    baseline = "baseline"          # the preset every other is compared with in the report

    [base]                         # overrides of TrainConfig's defaults shared by every preset
    epochs = 100

    [presets.cosine]
    description = "cosine decay to zero instead of steps"
    aliases = ["cosine_schedule"]
    reference = { best = 94.1, final = 94.0, source = "...", protocol = "..." }   # published numbers
    lr_schedule = "cosine"         # every other key is a TrainConfig field

and optionally a [design] and a [tune] table (see designs.py). Every preset and design arm is validated
when the suite loads, so a typo fails before anything trains. Suite, preset and alias names are simple
names (letters, digits, '_', '-', '.'): they become directory names. No torch import here.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet.config import TrainConfig, apply_overrides
from resnet.designs import MAX_NAME, Design, parse_design
from resnet.errors import ConfigError, PresetError
from resnet.files import PROJECT_ROOT, describe_os_error
from resnet.models.registry import unknown_name_message
from resnet.references import Reference, parse_reference
from resnet.run_dir import STANDALONE_RUNS
from resnet.tuning import Tune, parse_tune
from resnet.words import control_character

log = logging.getLogger("resnet.presets")

# The suites: configs/ of a source checkout, or the copy a wheel installs as resnet/configs (pyproject).
_INSTALLED_CONFIGS = Path(__file__).resolve().parent / "configs"
CONFIGS_DIR = _INSTALLED_CONFIGS if _INSTALLED_CONFIGS.is_dir() else PROJECT_ROOT / "configs"
DEFAULT_SUITE = "ablations"
PRESET_KEYS = ("description", "aliases", "reference")
TOP_LEVEL_KEYS = ("description", "baseline", "base", "presets", "design", "tune", "extends")
SIMPLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
SWEEP_RECORD = "sweep.json"  # runs/<suite>/sweep.json: what the last sweep there ran (resnet.sweep_record)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    config: TrainConfig  # base + overrides, validated
    aliases: tuple[str, ...] = ()
    reference: Reference | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    base: dict[str, Any]
    baseline: str | None
    presets: dict[str, Preset] = field(default_factory=dict)
    design: Design | None = None
    tune: Tune | None = None

    def preset(self, name: str) -> Preset:
        found = self.find_preset(name)
        if found is None:
            raise PresetError(unknown_name_message("preset", name, self.presets, f" in suite '{self.name}'"))
        return found

    def find_preset(self, name: str) -> Preset | None:
        """A preset by name or alias; None when there is none."""
        if name in self.presets:
            return self.presets[name]
        return next((p for p in self.presets.values() if name in p.aliases), None)

    def base_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.base)

    def config(self, name: str, **overrides: Any) -> TrainConfig:
        """The preset's config with command-line overrides (seed, epochs, dataset, ...) applied."""
        preset = self.preset(name)
        try:
            return apply_overrides(preset.config.to_dict(), overrides) if overrides else preset.config
        except ConfigError as exc:
            raise PresetError(f"{self.name}:{preset.name}: {exc}") from None

    def changes(self, name: str) -> dict[str, Any]:
        """What the preset changes relative to the suite's baseline (or the suite's base)."""
        reference = self.presets[self.baseline].config if self.baseline else self.base_config()
        return self.preset(name).config.changed_fields(reference)


def shown_name(name: Any) -> str:
    """A name as a message quotes it: a long one cut, so that the message stays one readable line."""
    text = str(name)
    return text if len(text) <= MAX_NAME else f"{text[:20]}..."


def check_name(kind: str, name: Any, where: str) -> str:
    if not isinstance(name, str) or not SIMPLE_NAME.fullmatch(name):
        raise PresetError(
            f"{where}: {kind} name {shown_name(repr(name))} is not a simple name; use ASCII letters, digits, "
            "'_', '-' and '.' (no path separators, not starting with '.' or '-')"
        )
    if len(name) > MAX_NAME:
        raise PresetError(
            f"{where}: {kind} name {shown_name(name)} has {len(name)} characters; at most {MAX_NAME} (it "
            "names a directory)"
        )
    if name == SWEEP_RECORD:
        raise PresetError(f"{where}: {kind} name {name!r} is the sweep's own record file; choose another")
    return name


KIND_WORDS: dict[type, str] = {str: "text in quotes", dict: "a table", list: "a list"}


def expect(value: Any, kind: type, where: str, what: str) -> Any:
    """`value` when it is of `kind`; else one line saying what `what` must be."""
    if not isinstance(value, kind):
        raise PresetError(f"{where}: {what} must be {KIND_WORDS[kind]}, got {value!r}")
    if isinstance(value, str) and (found := control_character(value)):
        raise PresetError(f"{where}: {what} holds a control character ({found}); remove it")
    return value


MAX_TOML_BYTES = 2**20  # the shipped suites are a few KB


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing, binary, non-UTF-8 or malformed file is one line."""
    try:
        with open(path, "rb") as fh:  # not read_bytes: /dev/zero or a runaway pipe would fill the memory
            data = fh.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            limit = f"{MAX_TOML_BYTES // 2**20} MiB"
            raise PresetError(f"{what} {path} is over {limit}; a {what} is a small TOML file")
        text = data.decode("utf-8-sig")  # a byte-order mark (Windows editors write one) is no TOML error
    except IsADirectoryError:
        raise PresetError(f"{what} {path} is a directory; pass a .toml file") from None
    except FileNotFoundError:
        raise PresetError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise PresetError(f"cannot read {what} {path}: {describe_os_error(exc)}") from None
    except UnicodeDecodeError as exc:
        raise PresetError(
            f"{path}: not UTF-8 text (byte {exc.start}); a {what} is a TOML text file"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        twice = "twice" in str(exc) or "overwrite" in str(exc)
        hint = "; a table or key may be defined only once" if twice else ""
        raise PresetError(f"{path}: malformed TOML ({exc}){hint}") from None
    except RecursionError:  # tomllib recurses per level of nesting
        raise PresetError(f"{path}: malformed TOML (arrays or tables nested too deeply)") from None


def _with_parent(data: dict[str, Any], path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """`extends = "ablations"`: the parent suite's keys, presets and [base], with this file's on top."""
    unknown = set(data) - set(TOP_LEVEL_KEYS)
    if unknown:
        raise PresetError(
            f"{path}: unknown top-level keys {sorted(unknown)}; allowed: description, baseline, "
            "extends, [base], [presets.NAME], [design], [tune]"
        )
    for key, kind in (("description", str), ("baseline", str), ("base", dict), ("presets", dict)):
        if key in data:  # checked in each file, before a parent's tables merge with them
            expect(data[key], kind, str(path), key)
    if "extends" not in data:
        return data
    reference = expect(data["extends"], str, str(path), "extends (a suite name or a .toml path)")
    parent_path = (
        (path.parent / reference) if reference.endswith(".toml") else CONFIGS_DIR / f"{reference}.toml"
    )
    if not reference.endswith(".toml") and not parent_path.is_file():
        missing = unknown_name_message("suite", reference, suite_files(CONFIGS_DIR))
        raise PresetError(f'{path}: extends {missing}; a file beside this one: extends = "{reference}.toml"')
    if parent_path.resolve() in seen:
        raise PresetError(f"{path}: extends {reference}, which extends it back")
    parent = _with_parent(read_toml(parent_path, "suite file"), parent_path, (*seen, path.resolve()))
    child = {k: v for k, v in data.items() if k != "extends"}
    merged = {**parent, **child}
    merged["base"] = {**parent.get("base", {}), **child.get("base", {})}
    merged["presets"] = {**parent.get("presets", {}), **child.get("presets", {})}
    return merged


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # a directory: read_toml says so
        raise PresetError(
            f"suite file {path} is not a file on disk (a pipe, such as <(...), or a device): its file name "
            "names the suite's runs and results (runs/NAME/, results/NAME.md); save it as NAME.toml"
        )
    name = check_name("suite", path.stem, str(path))
    if name == STANDALONE_RUNS:
        raise PresetError(
            f"{path}: a suite cannot be named '{name}': runs/{name}/ holds train_cifar.py's own runs, which "
            "its table would read as its own; rename the file"
        )
    data = _with_parent(read_toml(path, "suite file"), path)
    base = data.get("base", {})
    refuse_seed(base, f"{path} [base]")
    try:
        base_config = TrainConfig.from_dict(base)
    except ConfigError as exc:
        raise PresetError(f"{path} [base]: {exc}") from None
    presets = _load_presets(path, data.get("presets", {}), base_config)
    design = parse_design(data["design"], str(path)) if "design" in data else None
    tune = parse_tune(data["tune"], f"{path} [tune]") if "tune" in data else None
    if not presets and design is None:
        raise PresetError(
            f"{path}: defines no presets and no design; add [presets.NAME] tables or a [design]"
        )
    baseline = data.get("baseline")
    if baseline is not None and baseline not in presets:
        raise PresetError(f"{path}: baseline '{baseline}' is not one of its presets ({', '.join(presets)})")
    suite = Suite(name, path, data.get("description", ""), base, baseline, presets, design, tune)
    if design is not None and design.start is not None and suite.find_preset(design.start) is None:
        names = ", ".join(presets) or "none"
        raise PresetError(f"{path} [design]: from = '{design.start}' is none of its presets ({names})")
    if design is not None:  # every arm validated now; an exclude that removes nothing is most likely a typo
        for rule in design.idle_excludes(design_start(suite, design), str(path)):
            log.warning("%s [design]: exclude %s matches no arm; it removes nothing", path, rule)
    return suite


def _load_presets(path: Path, entries: Any, base_config: TrainConfig) -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    taken: dict[str, str] = {}  # every name and alias -> the preset that owns it
    for preset_name, entry in entries.items():
        where = f"{path} [presets.{shown_name(preset_name)}]"
        check_name("preset", preset_name, where)
        expect(entry, dict, where, "a preset")
        expect(entry.get("description", ""), str, where, "description")
        aliases = tuple(
            check_name("alias", a, where) for a in expect(entry.get("aliases", []), list, where, "aliases")
        )
        for label in (preset_name, *aliases):
            if label in taken:
                raise PresetError(
                    f"{path}: '{label}' is defined twice (by presets '{taken[label]}' and "
                    f"'{preset_name}'); preset names and aliases must be unique in a suite"
                )
            taken[label] = preset_name
        same = next((p for p in presets if p.casefold() == preset_name.casefold()), None)
        if same:  # macOS's and Windows' filesystems ignore case: one run directory for both
            raise PresetError(f"{path}: presets '{same}' and '{preset_name}' differ only in case; rename one")
        refuse_seed(entry, where)
        refuse_subtables(entry, where, preset_name)
        overrides = {k: v for k, v in entry.items() if k not in PRESET_KEYS}
        try:
            config = apply_overrides(base_config.to_dict(), overrides)
        except ConfigError as exc:
            raise PresetError(f"{where}: {exc}") from None
        reference = parse_reference(entry["reference"], where) if "reference" in entry else None
        presets[preset_name] = Preset(preset_name, entry.get("description", ""), config, aliases, reference)
    return presets


def refuse_subtables(entry: dict[str, Any], where: str, preset: str) -> None:
    """TOML reads [presets.lr0.05] as a table '05' inside a table 'lr0' inside presets: a dotted preset
    name unquoted. Say so, not 'unknown field'."""
    inner = next((k for k, v in entry.items() if isinstance(v, dict) and k != "reference"), None)
    if inner is not None:
        raise PresetError(
            f"{where}: [presets.{preset}.{inner}] is a table inside preset '{preset}', not a preset; to name "
            f'a preset with a dot, quote its name: [presets."{preset}.{inner}"]'
        )


def refuse_seed(table: dict[str, Any], where: str) -> None:
    """A seed in a suite would be overridden by every sweep without a word: seeds are chosen per sweep."""
    if "seed" in table:
        raise PresetError(
            f"{where}: seed is not a suite setting: remove it (a sweep runs every arm at its --seed or "
            "--seeds; train_cifar.py takes --seed)"
        )


def design_start(suite: Suite, design: Design) -> TrainConfig:
    if design.start is None:
        return suite.base_config()
    return suite.preset(design.start).config


def suite_files(configs_dir: Path = CONFIGS_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(configs_dir.glob("*.toml"))}


def find_suite(name_or_path: str, configs_dir: Path = CONFIGS_DIR) -> Suite:
    """A suite by name (a file in configs/) or by the path of a TOML file."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_suite(Path(name_or_path))
    files = suite_files(configs_dir)
    if name_or_path not in files:
        raise PresetError(
            unknown_name_message("suite", name_or_path, files) + f" (suites live in {configs_dir})"
        )
    return load_suite(files[name_or_path])
