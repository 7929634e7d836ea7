"""Which runs of a plan a sweep starts, and why it skips the others (finished and verified, failed before,
or their dir holds another config): one answer for the local runner, the Slurm launcher and dry runs; and
the exact commands a local dry run prints for them. No torch import here."""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path

from resnet.errors import RunDirError
from resnet.files import read_json
from resnet.plan import Plan
from resnet.run_dir import RunDir, find_run_dirs
from resnet.run_spec import LaunchOptions, RunSpec
from resnet.slots import Slot
from resnet.states import RunState


def skip_reason(spec: RunSpec, state: RunState, retry_failed: bool) -> str | None:
    if state.finished:
        where = f" as {spec.run_dir}" if spec.elsewhere else ""
        return f"already {state}{where}; summary.json verified"
    if state == RunState.FAILED and not retry_failed:
        failure = RunDir(spec.run_dir).failure_file
        reason = (read_json(failure) or {}).get("reason")
        said = f": {reason} ({failure.name})" if isinstance(reason, str) and reason else f" (see {failure})"
        return f"failed before{said}; pass --retry-failed to run it again"
    if state == RunState.CONFLICT:
        return RunDir(spec.run_dir).conflict(spec.config)
    return None


def skip_reasons(specs: list[RunSpec], retry_failed: bool) -> list[tuple[RunSpec, str | None]]:
    """Each run with why a sweep would not start it (None: it would); each run's state is read once."""
    return [(spec, skip_reason(spec, spec.state(), retry_failed)) for spec in specs]


def to_run(specs: list[RunSpec], retry_failed: bool) -> list[RunSpec]:
    """The runs a sweep (local or Slurm) would start: not finished, not failed before unless retried."""
    return [spec for spec, skip in skip_reasons(specs, retry_failed) if skip is None]


def adopt_finished_elsewhere(plan: Plan) -> dict[Path, Path]:
    """The plan's final runs whose config and seed already finished in another directory of the suite (a
    preset renamed, a grid reordered or extended since, a run dir moved) become the plan's runs there
    (Plan.adopted): the report counts such a run for its arm wherever it lies, so training it again would
    cost a run for nothing and add a duplicate. Tuning runs stay where tuning reads them. Returns planned
    run dir -> where it finished."""
    plan.adopted = {}
    specs = plan.specs  # the planned dirs themselves (nothing adopted)
    tuning = {spec.run_dir for spec in specs if spec.arm.tuning is not None}
    found = finished_elsewhere(specs, plan.runs_dir / plan.suite.name)
    plan.adopted = {planned: there for planned, there in found.items() if planned not in tuning}
    return plan.adopted


def finished_elsewhere(specs: list[RunSpec], suite_dir: Path) -> dict[Path, Path]:
    """Runs a sweep would train whose config and seed already finished in another directory of the suite:
    planned run dir -> that directory. The recorded configs are read, then only the matches verified."""
    todo = {spec.config.short_hash(): spec for spec in specs if not RunDir(spec.run_dir).holds_run()}
    if not todo or not suite_dir.is_dir():
        return {}
    planned, found = {spec.run_dir for spec in specs}, {}
    for path in find_run_dirs(suite_dir):
        try:
            config = RunDir(path).recorded_config()
        except RunDirError:  # the report lists it as skipped
            continue
        spec = todo.get(config.short_hash()) if config else None
        if spec is None or path in planned or spec.run_dir in found:
            continue
        if RunDir(path).verified_state(spec.config)[0].finished:
            found[spec.run_dir] = path
    return found


def launch_options(slot: Slot, template: LaunchOptions) -> LaunchOptions:
    return replace(template, device=slot.launch_device, threads=slot.threads)


def skip_line(spec: RunSpec, reason: str) -> str:
    """A dry run's comment for a run it would not start (either launcher's)."""
    return f"# skip {spec.label}: {reason}"


def dry_run_lines(
    checked: list[tuple[RunSpec, str | None]], slots: list[Slot], template: LaunchOptions
) -> list[str]:
    """The exact commands of the runs `skip_reasons` found to start, one per line, with the slot each would
    start on if every run took equally long; a comment for each run skipped."""
    lines, i = [], 0
    for spec, skip in checked:
        if skip:
            lines.append(skip_line(spec, skip))
            continue
        slot = slots[i % len(slots)]
        i += 1
        lines.append(f"{slot.shell_prefix()} {shlex.join(spec.command(launch_options(slot, template)))}")
    return lines
