"""The plan of a sweep: its arms, their seeds and where each run lives (resnet/run_spec.py: what one run
is and the exact command that trains it).

The runner, the Slurm launcher, dry runs and the report all plan with this one function, so a table
row is labelled with exactly the config that was planned (and trained: the child gets the resolved config
itself, `--config-json`, and refuses if its hash is not the planned one). An arm is a config without its
seed; presets, design arms and tuned arms are arms. Tuning runs live beside their arm
(runs/<suite>/<arm>/tune-lr=0.05/seed0); an arm's final config is known once its tuning runs finished
(resnet/tuning.py). No torch import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from resnet.config import format_value
from resnet.designs import Design, overridden, parse_design
from resnet.errors import PresetError
from resnet.presets import SWEEP_RECORD, Suite, design_start
from resnet.run_spec import Arm, RunSpec
from resnet.tuning import Tune, apply_tuning, is_seed, parse_tune
from resnet.words import flag


@dataclass(frozen=True)
class Selection:
    """What a sweep runs: presets (None: all of them), a design, overrides, seeds and tuning."""

    presets: tuple[str, ...] | None = None
    design: Design | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    seeds: tuple[int, ...] = (0,)
    tune: Tune | None = None

    def to_dict(self) -> dict[str, Any]:
        design = self.design and {
            "kind": self.design.kind,
            "factors": [[k, list(v)] for k, v in self.design.factors],  # pairs: JSON's keys are sorted
            "exclude": [dict(rule) for rule in self.design.exclude],
            **({"from": self.design.start} if self.design.start else {}),
        }
        tune = self.tune and {self.tune.param: list(self.tune.values), "seeds": list(self.tune.seeds)}
        return {
            "presets": None if self.presets is None else list(self.presets),
            "design": design,
            "overrides": dict(self.overrides),
            "seeds": list(self.seeds),
            "tune": tune,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        design = parse_design(_ordered_factors(data["design"]), SWEEP_RECORD) if data.get("design") else None
        tune = parse_tune(data["tune"], SWEEP_RECORD) if data.get("tune") else None
        presets, seeds, overrides = data.get("presets"), data.get("seeds", [0]), data.get("overrides", {})
        if not (presets is None or (isinstance(presets, list) and all(isinstance(p, str) for p in presets))):
            raise TypeError("presets")
        if not (isinstance(seeds, list) and all(is_seed(s) for s in seeds)):
            raise TypeError("seeds")
        if not isinstance(overrides, dict) or "seed" in overrides:  # each run has its own seed
            raise TypeError("overrides")
        return cls(
            None if presets is None else tuple(presets),
            design,
            tuple(dict(overrides).items()),
            tuple(seeds),
            tune,
        )


def _ordered_factors(design: dict[str, Any]) -> dict[str, Any]:
    """A recorded design with its factors in the order the sweep gave them, which names its arms and their
    run dirs (a record written before 2026-11-27 holds them sorted by name, as JSON's keys are)."""
    factors = design.get("factors")
    return {**design, "factors": dict(factors)} if isinstance(factors, list) else design


@dataclass
class Plan:
    suite: Suite
    selection: Selection
    runs_dir: Path
    arms: list[Arm]  # the table's arms, in the suite's order
    baseline: str | None
    tuning: dict[str, list[Arm]] = field(default_factory=dict)  # arm name -> its tuning arms
    # arm name -> why its final config is not known yet
    awaiting: dict[str, str] = field(default_factory=dict)
    # preset -> the arm it equals under the sweep's overrides (trained once, under that arm's name)
    merged: dict[str, str] = field(default_factory=dict)
    # planned run dir -> another dir of the suite where that run (config and seed) finished: its spec's
    # run dir, so that it is not trained again (resnet.pending.adopt_finished_elsewhere)
    adopted: dict[Path, Path] = field(default_factory=dict)
    # a design's factor -> its levels as the design lists them (the table may hold them in another order)
    levels: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def overrides_words(self) -> str:
        """The sweep's overrides of the suite, as `epochs=2, lr=0.05` (data_dir, a path, left out)."""
        return ", ".join(
            f"{k}={format_value(v)}" for k, v in sorted(self.selection.overrides) if k != "data_dir"
        )

    def run_dir(self, arm: Arm, seed: int) -> Path:
        """runs/<suite>/<arm>/seed<k>; a tuned arm's runs at the tuning seeds are its selected tuning runs
        (the same config and seed: the same run, trained once)."""
        path = arm.path
        if arm.tuned and self.selection.tune and seed in self.selection.tune.seeds:
            path = replace(arm, tuning=arm.tuned, parent=arm.name).path
        return self.runs_dir / self.suite.name / path / f"seed{seed}"

    def spec(self, arm: Arm, seed: int) -> RunSpec:
        planned = self.run_dir(arm, seed)
        return RunSpec(self.suite.name, arm, seed, self.adopted.get(planned, planned))

    @property
    def specs(self) -> list[RunSpec]:
        """Tuning runs first (their results choose the final configs), then every final run, seed by seed:
        a sweep stopped halfway has every arm on the same seeds, so its table still compares them (arm by
        arm, the last arms had none). A final run at a tuning seed is the selected tuning run, listed (and
        counted) once."""
        tuning = (
            [
                self.spec(t, s)
                for arms in self.tuning.values()
                for t in arms
                for s in self.selection.tune.seeds
            ]
            if self.selection.tune
            else []
        )
        tuned = {spec.run_dir for spec in tuning}
        final = [
            self.spec(arm, seed)
            for seed in self.selection.seeds
            for arm in self.arms
            if arm.name not in self.awaiting
        ]
        return tuning + [spec for spec in final if spec.run_dir not in tuned]


def _preset_arm(suite: Suite, name: str, overrides: dict[str, Any]) -> Arm:
    preset = suite.preset(name)
    config = overridden(preset.config, overrides, f"{suite.name}:{preset.name}")
    return Arm(preset.name, config, preset.description, preset.reference)


def presets_by_arm(suite: Suite, overrides: dict[str, Any]) -> dict[str, Arm]:
    """Every preset that resolves under these overrides, by arm hash: a design cell equal to a preset takes
    its name and run dir, so runs it already finished are reused, never trained twice under two names."""
    arms: dict[str, Arm] = {}
    for name in suite.presets:
        try:
            arm = _preset_arm(suite, name, overrides)
        except PresetError:
            continue  # a preset the overrides make invalid matches no cell
        arms.setdefault(arm.config.arm_hash(), arm)
    return arms


def main_arms(suite: Suite, selection: Selection) -> tuple[list[Arm], dict[str, str], dict[str, list[Any]]]:
    """The selected presets, then the design's arms; an arm whose config equals an earlier one merges into
    it. Also which presets merged into which arm (two presets that overrides made one config), and the
    design's levels in its order."""
    overrides = dict(selection.overrides)
    names = list(suite.presets) if selection.presets is None else list(selection.presets)
    arms = [_preset_arm(suite, name, overrides) for name in names]
    design, levels = selection.design, dict[str, list[Any]]()
    if design is not None:
        presets = presets_by_arm(suite, overrides)
        start = overridden(design_start(suite, design), overrides, f"{suite.name} design")
        for cell in design.arms(start, f"{suite.name} design"):
            for name, value in cell.factors:
                if value not in levels.setdefault(name, []):
                    levels[name].append(value)
            config = cell.config.with_overrides(seed=0)
            same = presets.get(config.arm_hash())
            arms.append(
                replace(same, factors=cell.factors) if same else Arm(cell.name, config, factors=cell.factors)
            )
    merged: dict[str, Arm] = {}
    merges: dict[str, str] = {}
    for arm in arms:
        key = arm.config.arm_hash()
        if key not in merged:
            merged[key] = arm
        elif not arm.factors or merged[key].factors:  # two presets that are one config under these overrides
            note = f"the same config as {arm.name} here"
            merges[arm.name] = merged[key].name
            merged[key] = replace(
                merged[key], description="; ".join(filter(None, (merged[key].description, note)))
            )
        else:
            merged[key] = replace(merged[key], factors=arm.factors)
    return list(merged.values()), merges, levels


def make_plan(suite: Suite, selection: Selection, runs_dir: Path) -> Plan:
    _refuse_overridden_factors(selection)
    arms, merged, levels = main_arms(suite, selection)
    names = [a.name for a in arms]
    baseline = (
        suite.baseline if suite.baseline in names else (names[0] if selection.design and names else None)
    )
    plan = Plan(suite, selection, Path(runs_dir), arms, baseline, merged=merged, levels=levels)
    if selection.tune:
        apply_tuning(plan, selection.tune)
    return plan


def _refuse_overridden_factors(selection: Selection) -> None:
    """`--lr 0.3` with `--grid lr=0.1,0.2` (or lr tuned): the factor's values win, so the arms they set
    would not train at 0.3 while the table's header said the runs override lr=0.3."""
    design = selection.design.factor_names if selection.design else ()
    tuned = (selection.tune.param,) if selection.tune else ()
    for name, value in selection.overrides:
        if name in design:
            by, source, fix = "the design's factor", "", "(or vary another parameter)"
        elif name in tuned:
            by, source, fix = "tuning", " (the suite's [tune], or --tune)", "(or add --no-tune)"
        else:
            continue
        raise PresetError(
            f"{flag(name)} {format_value(value)} and {by}{source} both set {name}; {by} wins in every "
            f"arm, so drop {flag(name)} {fix}"
        )
