"""--list and --list-suites: what a suite runs, how many runs, and what they will cost. No torch import."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from resnet.config import format_value
from resnet.cost import estimate_seconds, format_flops, makespan, recorded_speeds, run_flops
from resnet.display import verbatim
from resnet.errors import UserError
from resnet.machine import device_name
from resnet.plan import Plan, Selection, make_plan
from resnet.presets import Suite, load_suite, suite_files
from resnet.slots import visible_gpus
from resnet.words import format_seconds, listed, plural

if TYPE_CHECKING:
    from resnet.run_spec import RunSpec


def _console():
    """No markup: what it shows (suite descriptions, paths, errors) is the user's text, brackets and all."""
    from rich.console import Console

    return Console(width=max(120, Console().width), markup=False)


def print_suites() -> None:
    from rich.table import Table

    table = Table(
        title="suites (configs/*.toml): run_ablations.py --suite NAME --list shows one", title_justify="left"
    )
    for column in ("suite", "presets", "design arms", "runs per seed", "description"):
        table.add_column(column)
    for name, path in suite_files().items():
        try:
            suite = load_suite(path)
        except UserError as exc:
            table.add_row(name, "", "", "", verbatim(f"cannot load: {exc}"), style="red")
            continue
        design = (
            len(make_plan(suite, Selection(presets=(), design=suite.design), Path("runs")).arms)
            if suite.design
            else 0
        )
        arms = len(make_plan(suite, Selection(design=suite.design), Path("runs")).arms)
        table.add_row(
            name, str(len(suite.presets)), str(design or ""), str(arms), verbatim(suite.description)
        )
    _console().print(table)


def cost_lines(
    plan: Plan, runs_dir: Path, device: str | None, to_train: list[RunSpec] | None = None, slots: int = 1
) -> list[str]:
    """The run count, the FLOPs, and the wall time where earlier runs of the same models were timed on
    `device` (on `slots` slots too, as the sweep hands them out; None: not known here, as for a cluster's
    nodes); with `to_train` (a dry run of a sweep begun before), what is left (an interrupted run counts
    whole)."""
    seeds, tune = plan.selection.seeds, plan.selection.tune
    waiting = [  # final runs that wait for tuning's choice (off the tuning seeds, which reuse tuning runs)
        plan.spec(arm, seed).config
        for arm in plan.arms
        if tune and arm.name in plan.awaiting
        for seed in seeds
        if seed not in tune.seeds
    ]
    configs = [spec.config for spec in plan.specs] + waiting
    flops = sum(run_flops(config) for config in configs)
    runs = len(plan.arms) * len(seeds)
    count = f"{plural(len(plan.arms), 'arm')} x {plural(len(seeds), 'seed')} = {plural(runs, 'run')}"
    if tune:
        shared = ", ".join(str(seed) for seed in seeds if seed in tune.seeds)
        count += (
            f" + {sum(map(len, plan.tuning.values())) * len(tune.seeds)} tuning runs"
            + (f" (the selected {tune.param}'s run of seed {shared} is also the final one)" if shared else "")
            + f": {len(configs)} trainings"
        )
    lines = [f"{count}; about {format_flops(flops)} of training compute"]
    left = None if to_train is None else [spec.config for spec in to_train] + waiting
    if left is not None and len(left) < len(configs):
        lines.append(
            f"still to train: {plural(len(left), 'run')}, about {format_flops(sum(map(run_flops, left)))}"
            if left
            else "still to train: nothing (every run finished or failed; --retry-failed reruns failed ones)"
        )
        configs = left
    return lines if device is None else lines + _time_lines(configs, runs_dir, device, slots)


def _time_lines(configs: list, runs_dir: Path, device: str, slots: int) -> list[str]:
    name = device_name(device)
    speeds = recorded_speeds(runs_dir, name)
    seconds = [estimate_seconds(config, speeds) for config in configs]
    timed = [s for s in seconds if s is not None]
    if timed:
        untimed = len(configs) - len(timed)
        on_slots = f", {format_seconds(makespan(timed, slots))} on {slots} slots" if slots > 1 else ""
        return [
            f"about {format_seconds(sum(timed))} of training on {name} (one slot{on_slots}), from earlier "
            f"runs of the same models here"
            + (f"; {plural(untimed, 'run')} of models never run here not included" if untimed else "")
        ]
    return [f"wall time: no earlier run of these models on {name} to time them by"] if configs else []


def arms_table(plan: Plan, factors: list[str]):
    """The arms a design runs, one column per factor: what `--grid`/`--design` with --list shows."""
    from rich.table import Table

    table = Table()
    for column in ("arm", *factors, "model", "epochs"):
        table.add_column(column)
    for arm in plan.arms:
        if arm.tuning is None:
            cells = [format_value(getattr(arm.config, f)) for f in factors]
            table.add_row(arm.name, *cells, arm.config.model, str(arm.config.epochs))
    return table


def print_suite(suite: Suite, selection: Selection, runs_dir: Path) -> None:
    from rich.table import Table

    console = _console()
    shown = (
        selection
        if selection.presets is not None or selection.design
        else Selection(None, suite.design, selection.overrides, selection.seeds, selection.tune)
    )
    plan = make_plan(suite, shown, runs_dir)
    title = f"suite '{suite.name}' ({suite.path}): {suite.description}"
    if selection.design:  # a grid or the suite's design: list what will run
        design = selection.design
        start = f"preset '{design.start}'" if design.start else "the suite's [base]"
        console.print(f"{title}\n{design.kind} design over {start}:", markup=False)
        console.print(arms_table(plan, [name for name, _ in design.factors]))
        _print_costs(console, suite, plan, runs_dir)
        return
    table = Table(title=verbatim(title), title_justify="left", caption_justify="left")
    for column in ("preset", "changes vs " + (suite.baseline or "base"), "model", "epochs", "description"):
        table.add_column(column)
    arms = {arm.name: arm.config for arm in plan.arms}
    for name, preset in suite.presets.items():
        changes = ", ".join(f"{k}={format_value(v)}" for k, v in suite.changes(name).items()) or "—"
        label = name + (f" ({', '.join(preset.aliases)})" if preset.aliases else "")
        config = arms.get(plan.merged.get(name, name), preset.config)  # as the overrides make it
        note = f"(here the same config as {plan.merged[name]}: run once) " if name in plan.merged else ""
        table.add_row(label, changes, config.model, str(config.epochs), verbatim(note + preset.description))
    if suite.presets:
        if plan.overrides_words:
            table.caption = f"overrides: {plan.overrides_words}"
        console.print(table)
    if suite.design:
        design_plan = make_plan(suite, Selection(presets=(), design=suite.design), runs_dir)
        console.print(
            f"design ({suite.design.kind}, --design): " + ", ".join(a.name for a in design_plan.arms)
        )
    _print_costs(console, suite, plan, runs_dir)


def _print_costs(console, suite: Suite, plan: Plan, runs_dir: Path) -> None:
    tune = plan.selection.tune  # the suite's [tune], or --tune
    if tune:
        console.print(
            f"tune: {tune.param} in {', '.join(map(format_value, tune.values))} per arm on "
            f"{listed('seed', tune.seeds)}, selected on validation accuracy"
        )
    gpus = visible_gpus()
    for line in cost_lines(plan, runs_dir, f"cuda:{gpus[0]}" if gpus else "cpu"):
        console.print(line)
    others = [name for name in suite_files() if name != suite.name]
    console.print(f"other suites: {', '.join(others)} (run_ablations.py --list-suites)")
