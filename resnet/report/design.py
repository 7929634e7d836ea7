"""Factorial designs: main effects, two-factor interactions and the interaction plot.

Accuracies are the one the table compares (collect.compared_key). A level's mean is blocked by seed: for
each seed with a completed run in every arm at that level, the mean over those arms (the other factors
averaged out); then the mean over seeds with its 95% t-interval. The effect of a level is the same, per
seed, minus the factor's first level (first as the design lists them). An interaction cell is the mean of
the arms at that pair of levels, over seeds.

Every level averages the same combinations of the other factors: with an `exclude`, a level that lacks
one (lr_schedule=none without norm=none) would otherwise be compared with levels that average it in, and
its mean and effect would carry that other factor's effect. So only the combinations found at every level
(at every pair of levels, for an interaction) enter; the report names those left out (`balanced`).
"""

from __future__ import annotations

import itertools
from typing import Any

from resnet.config import format_value
from resnet.report.collect import ArmRuns, compared_key
from resnet.stats import half_width, mean
from resnet.summary import noiseless

Levels = dict[str, list[Any]]  # a design's factor -> its levels in the design's order (Plan.levels)


def _levels(cells: list[ArmRuns], factor: str, factors: Levels) -> list[Any]:
    """The factor's levels the cells hold, in the design's order (the table's may differ: a design arm
    that is one of the presets sits where the preset does)."""
    held = [dict(cell.arm.factors).get(factor) for cell in cells]
    return [level for level in factors[factor] if level in held]


def _at(cells: list[ArmRuns], **levels: Any) -> list[ArmRuns]:
    """The cells whose factors take these levels (the other factors any)."""
    return [c for c in cells if all(dict(c.arm.factors).get(f) == v for f, v in levels.items())]


def _others(cell: ArmRuns, fixed: tuple[str, ...]) -> tuple[str, ...]:
    """The levels of the factors not in `fixed`: 'norm=none'."""
    return tuple(f"{f}={format_value(v)}" for f, v in cell.arm.factors if f not in fixed)


def balanced(cells: list[ArmRuns], fixed: tuple[str, ...]) -> tuple[list[ArmRuns], list[str]]:
    """The design's cells whose other factors take a combination found at every level (pair of levels)
    of `fixed`, and the combinations left out, as 'norm=none'."""
    design = [c for c in cells if all(f in dict(c.arm.factors) for f in fixed)]
    found: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for cell in design:
        levels = tuple(format_value(dict(cell.arm.factors)[f]) for f in fixed)
        found.setdefault(levels, set()).add(_others(cell, fixed))
    common = set.intersection(*found.values()) if found else set()
    left_out = set().union(*found.values()) - common
    return [c for c in design if _others(c, fixed) in common], [", ".join(o) for o in sorted(left_out)]


def _per_seed(cells: list[ArmRuns], compared: str) -> dict[int, float]:
    """Seed -> mean over `cells` of the `compared` accuracy, for the seeds every cell completed."""
    values = [cell.values(compared) for cell in cells]
    if not values:
        return {}
    seeds = set.intersection(*(set(v) for v in values))
    return {seed: mean([v[seed] for v in values]) for seed in sorted(seeds)}


def main_effects(cells: list[ArmRuns], factors: Levels) -> list[dict[str, Any]]:
    rows, compared = [], compared_key(cells)
    for factor in factors:
        levels = _levels(cells, factor, factors)
        kept, left_out = balanced(cells, (factor,))
        first = _per_seed(_at(kept, **{factor: levels[0]}), compared) if levels else {}
        for level in levels:
            per_seed = _per_seed(_at(kept, **{factor: level}), compared)
            shared = sorted(set(per_seed) & set(first))
            effect = [noiseless(per_seed[s] - first[s]) for s in shared]
            rows.append(
                {
                    "factor": factor,
                    "level": format_value(level),
                    "n": len(per_seed),
                    "mean": mean(list(per_seed.values())) if per_seed else None,
                    "half": half_width(list(per_seed.values())),
                    "effect": mean(effect) if effect and level != levels[0] else None,
                    "effect_half": half_width(effect) if level != levels[0] else None,
                    "left_out": left_out,  # the other factors' combinations some level lacks
                }
            )
    return rows


def _pair_means(
    cells: list[ArmRuns], a: str, b: str, factors: Levels
) -> tuple[dict[tuple[str, str], list[float]], list[str]]:
    """Per pair of levels of a and b (a's first, in the design's order), the per-seed means over the
    balanced cells there; and the other factors' combinations left out (balanced)."""
    (kept, left_out), compared = balanced(cells, (a, b)), compared_key(cells)
    means = {
        (format_value(level_a), format_value(level_b)): list(
            _per_seed(_at(kept, **{a: level_a, b: level_b}), compared).values()
        )
        for level_a in _levels(cells, a, factors)
        for level_b in _levels(cells, b, factors)
    }
    return means, left_out


def interactions(cells: list[ArmRuns], factors: Levels) -> list[dict[str, Any]]:
    """For each pair of factors, the mean accuracy at each pair of levels (other factors averaged)."""
    tables = []
    for a, b in itertools.combinations(factors, 2):
        means, left_out = _pair_means(cells, a, b, factors)
        rows: dict[str, dict[str, Any]] = {}
        for (level_a, level_b), values in means.items():
            row = rows.setdefault(level_a, {a: level_a})
            row[f"{b}={level_b}"] = (mean(values), len(values)) if values else None
        tables.append({"factors": (a, b), "rows": list(rows.values()), "left_out": left_out})
    return tables


def interaction_series(
    cells: list[ArmRuns], a: str, b: str, factors: Levels
) -> tuple[dict[str, list[tuple[str, float | None, float | None]]], list[str]]:
    """For the plot: per level of b, the (level of a, mean, 95% half-width) points; and the other factors'
    combinations left out (balanced), for its title."""
    means, left_out = _pair_means(cells, a, b, factors)
    series: dict[str, list[tuple[str, float | None, float | None]]] = {}
    for (level_a, level_b), values in means.items():
        point = (level_a, mean(values) if values else None, half_width(values))
        series.setdefault(f"{b}={level_b}", []).append(point)
    return series, left_out
