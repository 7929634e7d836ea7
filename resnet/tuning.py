"""Per-arm tuning of a nuisance parameter: each arm runs every value on the tuning seeds, the value with
the best mean validation accuracy becomes the arm's final config, and the final seeds run at it.

    [tune]                          # or --tune lr=0.05,0.1,0.2 --tune-seeds 0
    lr = [0.05, 0.1, 0.2]
    seeds = [0]

Tuning runs live beside their arm (runs/<suite>/<arm>/tune-lr=0.05/seed0); an arm's final config is known
once its tuning runs finished (resnet/plan.py plans them first). No torch import here.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from resnet.config import format_value
from resnet.designs import check_factor, field_values, overridden
from resnet.errors import PresetError
from resnet.run_dir import RunDir
from resnet.run_spec import Arm
from resnet.states import RunState
from resnet.summary import noiseless

if TYPE_CHECKING:
    from resnet.plan import Plan

# tuning compares validation accuracies, which only compare when measured on the same images
NOT_TUNABLE = frozenset({"dataset", "val_size", "val_split_seed"})


@dataclass(frozen=True)
class Tune:
    """Per-arm tuning of one nuisance parameter: every value on `seeds`, best mean validation accuracy
    wins."""

    param: str
    values: tuple[Any, ...]
    seeds: tuple[int, ...] = (0,)


def parse_tune_flag(item: str, seeds: list[int] | None) -> Tune:
    """`--tune lr=0.05,0.1,0.2 [--tune-seeds 0 1]`: the command line's [tune]."""
    name, values = field_values(item, "--tune takes FIELD=VALUE,VALUE,...")
    return parse_tune({name: values, "seeds": seeds if seeds is not None else [0]}, "--tune")


def parse_tune(data: Any, where: str) -> Tune:
    if not isinstance(data, dict):
        raise PresetError(f"{where}: tune must be a table like {{ lr = [0.05, 0.1, 0.2], seeds = [0] }}")
    seeds = data.get("seeds", [0])
    params = {k: v for k, v in data.items() if k != "seeds"}
    if len(params) != 1:
        raise PresetError(
            f"{where}: tune takes exactly one parameter and seeds, got {sorted(params) or 'none'}"
        )
    ((param, values),) = params.items()
    check_factor(param, where)
    if param in NOT_TUNABLE:
        raise PresetError(
            f"{where}: tune cannot vary {param}: it changes the images validation accuracy is measured on,"
            f" so the values would not compare; make it a factor instead (--grid {param}=V1,V2)"
        )
    if not isinstance(values, list) or len(values) < 2:
        raise PresetError(f"{where}: tune {param} needs a list of at least two values, got {values!r}")
    if not isinstance(seeds, list) or not seeds or not all(is_seed(s) for s in seeds):
        raise PresetError(f"{where}: tune seeds must be a list of seeds like [0, 1], got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise PresetError(f"{where}: tune seeds list a seed twice ({seeds}); list each once")
    return Tune(param, tuple(values), tuple(seeds))


def is_seed(value: Any) -> bool:
    """A seed as TOML or JSON gives it: a non-negative integer (true is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def apply_tuning(plan: Plan, tune: Tune) -> None:
    """Give each of the plan's arms its tuning arms, and its tuned config once they all finished (until
    then the arm waits, in plan.awaiting, and its final runs are not planned)."""
    design = plan.selection.design
    if design is not None and tune.param in design.factor_names:
        raise PresetError(
            f"{plan.suite.name}: tuned {tune.param} is also a factor of the design, whose arms tuning would "
            f"make alike; tune another parameter, or drop {tune.param} from the factors"
        )
    final = []
    for arm in plan.arms:
        candidates = _candidates(plan, arm, tune)
        plan.tuning[arm.name] = candidates
        chosen, why = select_tuned(plan, candidates, tune)
        if chosen is None:
            plan.awaiting[arm.name] = why
            final.append(arm)
        else:
            final.append(replace(arm, config=chosen.config, tuned=chosen.tuning))
    plan.arms = final


def _candidates(plan: Plan, arm: Arm, tune: Tune) -> list[Arm]:
    """The arm at each tuned value, validated: on a validation split, each value once, and not the tuning
    arms of another arm (two arms that differ only in the tuned parameter)."""
    if not arm.config.val_size:
        raise PresetError(
            f"tune selects {tune.param} on the validation split, but arm '{arm.name}' has "
            "val_size = 0; set val_size in the suite's [base] (e.g. val_size = 5000) or pass --val-size"
        )
    candidates: list[Arm] = []
    for value in tune.values:
        config = overridden(arm.config, {tune.param: value}, f"{plan.suite.name}:{arm.name} tune")
        if any(c.config == config for c in candidates):
            raise PresetError(
                f"{plan.suite.name}: tuned {tune.param} lists the same value twice ({value!r}); "
                "list each once"
            )
        tuned = config.to_dict()[tune.param]
        candidates.append(
            Arm(
                f"{arm.name}@{tune.param}={format_value(tuned)}",
                config,
                tuning=(tune.param, tuned),
                parent=arm.name,
            )
        )
    alike = next((a for a, c in plan.tuning.items() if c[0].config == candidates[0].config), None)
    if alike is not None:
        raise PresetError(
            f"{plan.suite.name}: arms '{alike}' and '{arm.name}' differ only in {tune.param}, which "
            "tuning selects, so tuned they are one arm; drop one of them, or tune another parameter"
        )
    return candidates


def tuning_scores(plan: Plan, candidate: Arm, tune: Tune) -> tuple[list[float], list[RunState]]:
    """Best validation accuracies of a tuning arm's finished runs, and the state of each of its runs."""
    scores, states = [], []
    for seed in tune.seeds:
        spec = plan.spec(candidate, seed)
        state, summary = RunDir(spec.run_dir).verified_state(spec.config)
        states.append(state)
        if state == RunState.COMPLETED and summary and summary.get("best_val_acc") is not None:
            scores.append(summary["best_val_acc"])
    return scores, states


def select_tuned(plan: Plan, candidates: list[Arm], tune: Tune) -> tuple[Arm | None, str]:
    """The candidate with the best mean validation accuracy (the first listed on ties), once all finished.
    A value that diverged on a tuning seed ranks below every value that did not: its mean leaves that seed
    out, which would flatter exactly the unstable values (an lr too high)."""
    ranks = []
    for candidate in candidates:
        scores, states = tuning_scores(plan, candidate, tune)
        if not all(state.finished for state in states):
            return None, "tuning runs not finished"
        mean = noiseless(statistics.fmean(scores)) if scores else float("-inf")  # a tie stays one
        ranks.append((len(scores) == len(states), mean))
    if max(mean for _, mean in ranks) == float("-inf"):
        return None, f"every {tune.param} value diverged in tuning"
    return candidates[ranks.index(max(ranks))], ""
