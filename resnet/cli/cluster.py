"""The Slurm launcher of run_ablations.py: job arrays through submitit, the same plan and run dirs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet.cli.common import fail
from resnet.cli.listing import cost_lines
from resnet.pending import adopt_finished_elsewhere, skip_line, skip_reasons, to_run
from resnet.plan import Plan, make_plan
from resnet.run_dir import SUBMITIT_DIR
from resnet.states import ExitCode, RunState
from resnet.sweep_record import record_sweep
from resnet.words import plural

if TYPE_CHECKING:
    from resnet.run_spec import LaunchOptions, RunSpec
    from resnet.slurm import SlurmOptions


def run_slurm(plan: Plan, args: argparse.Namespace, report: Callable[[Plan, argparse.Namespace], int]) -> int:
    """Submit what is left to run (not what an earlier submission still has queued); with --wait, wait for
    it, then (a tuned sweep) submit the final runs tuning chose and wait for those, and write the report."""
    from resnet.run_spec import LaunchOptions
    from resnet.slurm import SlurmOptions, already_queued, describe_submission
    from resnet.slurm_queue import say_if_never_starting, wait_for

    try:
        options = SlurmOptions.from_args(args)
    except ValueError as exc:
        fail(str(exc))
    launch = options.launch(LaunchOptions.from_args(args))
    if args.dry_run:
        checked = skip_reasons(plan.specs, args.retry_failed)  # the runs' states, read once
        print("".join(skip_line(spec, skip) + "\n" for spec, skip in checked if skip), end="")
        to_train = [spec for spec, skip in checked if skip is None]
        fresh, queued = already_queued(to_train, args.runs_dir)
        say_queued(queued)
        print(describe_submission(fresh, options, args.runs_dir, launch))
        say_awaiting(plan, "then, once tuning finished,")
        print("".join(f"# {line}\n" for line in cost_lines(plan, args.runs_dir, None, to_train)), end="")
        return ExitCode.OK
    record_sweep(args.runs_dir, plan.suite, plan.selection)
    waited: list[RunSpec] = []
    while True:
        submitted, queued = _submit_what_is_left(plan, args, options, launch)
        specs = [spec for spec, _ in submitted + queued]
        jobs = [job for _, job in submitted + queued]
        if not args.wait:
            if jobs:
                say_if_never_starting([job.job_id for job in jobs])
                say_awaiting(plan, "tuning: once these finish,")
            return ExitCode.OK if jobs else report(plan, args)
        waited += specs
        try:
            if jobs:
                wait_for(jobs, specs)
        except KeyboardInterrupt:  # only the waiting stops: the array is Slurm's now
            print(
                f"stopped waiting; the Slurm tasks keep running (squeue --me; scancel "
                f"{' '.join(array_ids(jobs))} stops them); "
                "`run_ablations.py --report` tables what finished, and the same command waits again",
                file=sys.stderr,
            )
            return ExitCode.INTERRUPTED
        if not plan.awaiting:
            break
        chosen = make_plan(plan.suite, plan.selection, args.runs_dir)
        adopt_finished_elsewhere(chosen)
        if chosen.awaiting == plan.awaiting:
            break  # tuning could not finish (failed or diverged runs): the report says which
        plan = chosen
    code = report(plan, args)
    return code if code != ExitCode.OK else _exit_code(waited)


def _submit_what_is_left(
    plan: Plan, args: argparse.Namespace, options: SlurmOptions, launch: LaunchOptions
) -> tuple[list[tuple[RunSpec, Any]], list[tuple[RunSpec, Any]]]:
    """Submit the runs neither finished nor queued by an earlier submission; say which are queued already,
    or why nothing is submitted. Returns (run, Slurm job) pairs: those submitted now, those queued."""
    from resnet.slurm import NOTHING_TO_SUBMIT, already_queued

    pending, queued = already_queued(to_run(plan.specs, args.retry_failed), args.runs_dir)
    say_queued(queued)
    if pending:
        jobs = submit(pending, options, args.runs_dir, launch)
        return list(zip(pending, jobs, strict=True)), queued
    if plan.awaiting and not queued:
        why = "; ".join(f"{name}: {reason}" for name, reason in plan.awaiting.items())
        print(f"nothing to submit, and tuning cannot choose ({why}); --retry-failed reruns failed runs")
    elif not queued:
        print(NOTHING_TO_SUBMIT)
    return [], queued


def _exit_code(waited: list[RunSpec]) -> ExitCode:
    """As a local sweep's: 1 when a run failed or diverged, 130 when one was stopped (scancel) or never
    started and the same command goes on with it."""
    states = [spec.state() for spec in waited]
    if RunState.FAILED in states or RunState.DIVERGED in states:
        return ExitCode.FAILED
    stopped = sum(not state.finished for state in states)
    if stopped:
        print(
            f"{plural(stopped, 'run')} stopped before finishing (scancel, say); the same command goes on "
            "with them",
            file=sys.stderr,
        )
        return ExitCode.INTERRUPTED
    return ExitCode.OK


def submit(pending: list[RunSpec], options: SlurmOptions, runs_dir: Path, launch: LaunchOptions) -> list:
    """Submit these runs as Slurm job arrays, record each run's task, and say so."""
    from resnet.slurm import record_submission, submit_sweep

    jobs = submit_sweep(pending, options, runs_dir, launch=launch)
    record_submission(jobs, pending)
    ids = array_ids(jobs)
    what = f"a Slurm job array of {plural(len(jobs), 'run')}: job"
    if len(ids) > 1:
        what = f"{len(ids)} Slurm job arrays of {len(jobs)} runs in all (Slurm's MaxArraySize): jobs"
    print(
        f"submitted {what} {', '.join(ids)}; logs in {runs_dir / SUBMITIT_DIR}; "
        "`run_ablations.py --report` writes the table when they finish",
        flush=True,
    )
    return jobs


def array_ids(jobs: list) -> list[str]:
    from resnet.slurm_queue import arrays

    return arrays(job.job_id for job in jobs)


def say_awaiting(plan: Plan, when: str) -> None:
    if plan.awaiting:
        print(
            f"{when} run the same command again (or add --wait) to submit the final runs of "
            f"{', '.join(plan.awaiting)}"
        )


def say_queued(queued: list) -> None:
    if queued:
        print(
            f"{plural(len(queued), 'run')} still queued or running on Slurm from an earlier submission (job "
            f"{', '.join(array_ids([job for _, job in queued]))}): not submitted again",
            flush=True,
        )
