"""Checks of a planned sweep before anything starts: presets the overrides merged, run dirs that hold
another config, runs of the plan that already finished under other directories of the suite."""

from __future__ import annotations

import logging

from resnet.cli.common import fail
from resnet.plan import Plan

log = logging.getLogger("resnet.cli")


def say_merged(plan: Plan) -> None:
    """Presets that the overrides made one config (--model resnet20 turns resnet34 into the baseline)
    are one arm, trained once: say so, or the table would seem to have lost rows."""
    into: dict[str, list[str]] = {}
    for preset, arm in plan.merged.items():
        into.setdefault(arm, []).append(preset)
    for arm, presets in into.items():
        log.warning(
            "%s %s the same config as %s under %s: one arm, trained and reported once as %s",
            ", ".join(presets),
            "is" if len(presets) == 1 else "are",
            arm,
            plan.overrides_words or "these overrides",
            arm,
        )


def refuse_conflicts(plan: Plan) -> None:
    """Stop before anything starts when a planned run dir holds another config (its state would be
    CONFLICT): only the recorded configs are read, not every finished run's summary."""
    from resnet.run_dir import RunDir

    conflicts = [c for c in (RunDir(s.run_dir).conflict(s.config) for s in plan.specs) if c]
    if conflicts:
        more = f" (and {len(conflicts) - 1} more runs)" if len(conflicts) > 1 else ""
        fail(f"{conflicts[0]}{more}")


def adopt_finished(plan: Plan) -> None:
    """Runs of the plan that finished under other directories of the suite count there: say so once."""
    from resnet.pending import adopt_finished_elsewhere

    found = adopt_finished_elsewhere(plan)
    if found:
        planned, there = next(iter(found.items()))
        which = (
            f"{planned} finished as {there}"
            if len(found) == 1
            else f"{len(found)} runs of this plan finished under other directories of the suite (e.g. "
            f"{planned} as {there})"
        )
        log.warning(
            "notice: %s, with the same config and seed (a tuning run, a preset renamed, a grid reordered "
            "or extended since?): counted there, not trained again",
            which,
        )
