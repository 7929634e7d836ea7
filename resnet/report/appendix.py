"""The report's sections beyond the main table: factorial effects, tuning, and other configurations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from resnet.config import TrainConfig, format_value
from resnet.plan import Plan, presets_by_arm
from resnet.report.collect import Collected
from resnet.report.design import interactions, main_effects
from resnet.report.render import markdown_table
from resnet.run_spec import Arm
from resnet.summary import selection
from resnet.words import listed


def levels_of(plan: Plan) -> dict[str, list[Any]]:
    """A factorial design's factors and their levels, in its order; {} for other designs and none."""
    design = plan.selection.design
    return plan.levels if design and design.kind == "factorial" else {}


def averaged_over(factors: Iterable[str], a: str, b: str, left_out: list[str] | None = None) -> str:
    """What an interaction of a and b leaves out of sight: the design's other factors, averaged, less the
    combinations of them that some pair of levels lacks (design.balanced)."""
    others = [f for f in factors if f not in (a, b)]
    without = f"; without {' and '.join(left_out)}" if left_out else ""
    return f" (mean over {', '.join(others)}{without})" if others else ""


def design_section(plan: Plan, collected: Collected) -> list[str]:
    factors = levels_of(plan)
    if not factors:
        return []
    out = [
        "",
        "## Factorial design: main effects",
        "",
        "Per level: the mean over the other factors, blocked by seed, with its 95% t-interval; the "
        "effect is the per-seed difference to the factor's first level, as the design lists them.",
        "",
        *_main_effects(collected, factors),
    ]
    for table in interactions(collected.arms, factors):
        a, b = table["factors"]
        frame = pd.DataFrame(
            [
                {
                    k: (v if isinstance(v, str) else "—" if v is None else f"{v[0]:.2f} (n={v[1]})")
                    for k, v in row.items()
                }
                for row in table["rows"]
            ]
        )
        heading = f"## Interaction: {a} × {b}{averaged_over(factors, a, b, table['left_out'])}"
        out += ["", heading, "", markdown_table(frame)]
    return out


def _main_effects(collected: Collected, factors: dict[str, list[Any]]) -> list[str]:
    rows = main_effects(collected.arms, factors)
    effects = pd.DataFrame(
        [
            {
                "Factor": r["factor"],
                "Level": r["level"],
                "n": r["n"],
                "Mean": _plus_minus(r["mean"], r["half"], "{:.2f}", "—"),
                "Effect vs first level": _plus_minus(r["effect"], r["effect_half"], "{:+.2f}", ""),
            }
            for r in rows
        ]
    )
    out = [markdown_table(effects)]
    left_out = {r["factor"]: r["left_out"] for r in rows}
    if any(left_out.values()):
        out += [
            "",
            "The design excludes some combinations, so each factor's levels average only the combinations "
            "of the other factors found at every level (else a level would carry their effects); left out: "
            + "; ".join(f"for `{f}`, {' and '.join(gone)}" for f, gone in left_out.items() if gone)
            + ".",
        ]
    return out


def _plus_minus(value: float | None, half: float | None, form: str, missing: str) -> str:
    if value is None:
        return missing
    return form.format(value) + (f" ± {half:.2f}" if half else "")


def tuning_section(plan: Plan, collected: Collected) -> list[str]:
    if not collected.tuning:
        return []
    tune = plan.selection.tune
    assert tune is not None
    out = [
        "",
        f"## Tuning: {tune.param} per arm",
        "",
        f"Each value on {listed('seed', tune.seeds)}; selected: the "
        "best mean validation accuracy (best epoch; on a tie, the value listed first), where a value that "
        "diverged on a tuning seed ranks below every value that did not. The final runs use the selected "
        "value." + shared_seeds_note(tune.seeds, plan.selection.seeds),
        "",
    ]
    rows = []
    for name, cells in collected.tuning.items():
        arm = next(a for a in plan.arms if a.name == name)
        for cell in cells:
            values = cell.values("best_val_acc")
            mean = sum(values.values()) / len(values) if values else None
            chosen = arm.tuned is not None and cell.arm.tuning == arm.tuned
            rows.append(
                {
                    "Arm": name,
                    tune.param: format_value(cell.arm.tuning[1]) if cell.arm.tuning else "",
                    "Val acc (best epoch)": ("—" if mean is None else f"{mean:.2f} (n={len(values)})")
                    + (f"; {cell.diverged} diverged" if cell.diverged else ""),
                    "Selected": "✓" if chosen else "",
                    "Status": plan.awaiting.get(name, ""),
                }
            )
    return out + [markdown_table(pd.DataFrame(rows))]


def shared_seeds_note(tuning: tuple[int, ...], final: tuple[int, ...]) -> str:
    """Where a tuning seed is also a final seed, its final run is the tuning run that won on validation:
    the test accuracy chose nothing, but it shares that run's luck."""
    both = [seed for seed in final if seed in tuning]
    if not both:
        return ""
    return (
        f" Final {listed('seed', both)} also tuned: there the final run is "
        "the tuning run whose validation accuracy won, and its test accuracy, though it chose nothing, "
        "shares that run's luck (slightly optimistic). For final seeds no selection touched, tune on "
        f"others (e.g. --tune-seeds {max(final) + 100})."
    )


def others_section(plan: Plan, collected: Collected) -> list[str]:
    if not collected.others:
        return []
    out = [
        "",
        "## Other configurations",
        "",
        "Runs found here whose config matches no arm of this table (stale, "
        "foreign, or other overrides). They enter no cell above.",
        "",
    ]
    rows = []
    candidates = plan.arms + list(presets_by_arm(plan.suite, {}).values())  # the suite's presets as written
    for run in collected.others:
        arm, changed = closest_arm(run.config, candidates, run.path.parent.name)
        like = ""
        if arm and not changed:  # the preset as the suite writes it, while this table overrides it
            like = f"`{arm.name}` as the suite defines it (no overrides)"
        elif arm:
            like = f"`{arm.name}` with " + ", ".join(f"{k}={format_value(v)}" for k, v in changed.items())
        rows.append(
            {
                "Run": str(run.path),
                "Config": like or run.config.short_hash(),
                "Seed": run.seed,
                "Status": str(run.state),
                "Test acc": "—" if run.value is None else f"{run.value:.2f} ({_where(run.config)})",
            }
        )
    return out + [markdown_table(pd.DataFrame(rows))]


def _where(config: TrainConfig) -> str:
    """Which epoch a run's own accuracy is from (resnet.summary.headline): these runs have no common table."""
    return "@ best val epoch" if selection(config) == "val" else "final"


def closest_arm(
    config: TrainConfig, arms: list[Arm], directory: str = ""
) -> tuple[Arm | None, dict[str, Any]]:
    """The arm a foreign config is closest to (fewest differing fields; on a tie, the arm whose name is the
    run's directory, as it was when it trained), and those fields."""
    ranked = sorted(arms, key=lambda arm: (len(config.changed_fields(arm.config)), arm.name != directory))
    return (ranked[0], config.changed_fields(ranked[0].config)) if ranked else (None, {})
