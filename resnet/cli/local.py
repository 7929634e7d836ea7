"""The local launcher of run_ablations.py: slots, the pilot, the supervised sweep, tuning phases, report."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from resnet.cli.common import fail
from resnet.cli.listing import cost_lines
from resnet.cli.stop_signals import on_stop_signals, raise_interrupt
from resnet.cost import TimeLeft
from resnet.display import SweepDisplay
from resnet.failure import any_runs_reason
from resnet.machine import busy_cpus
from resnet.pending import adopt_finished_elsewhere, dry_run_lines, skip_reasons, to_run
from resnet.plan import Plan, make_plan
from resnet.run_dir import RunDir
from resnet.run_spec import LaunchOptions, RunSpec
from resnet.run_status import RunStatus
from resnet.runner import LocalSweep
from resnet.slots import make_slots
from resnet.states import ExitCode, RunState
from resnet.sweep_record import record_sweep
from resnet.words import plural

if TYPE_CHECKING:
    from resnet.launch import Launcher

BUSY_CPUS_TO_WARN = 0.75
RETRY_HINT = "fix what failed, then run the same command with --retry-failed: the failed runs resume"
log = logging.getLogger("resnet.cli")  # information (-q hides it); states, tally and results are printed


def run_local(plan: Plan, args: argparse.Namespace, report: Callable[[Plan, argparse.Namespace], int]) -> int:
    slots = make_slots(args.device, args.gpus, args.jobs_per_gpu, args.jobs)
    template = LaunchOptions.from_args(args)
    if args.dry_run:
        print_dry_run(plan, args, slots, template)
        return ExitCode.OK
    record_sweep(args.runs_dir, plan.suite, plan.selection)
    from resnet.launch import Launcher

    launcher = Launcher()
    pending = to_run(plan.specs, args.retry_failed)
    if pending:
        if slots[0].device == "cpu":  # measured before the server's torch import loads the CPU itself
            warn_if_cpu_busy(sum(slot.threads for slot in slots))
        launcher.start_server()  # its torch import overlaps the report's imports
    threading.Thread(target=_import_report, daemon=True).start()  # ready when the runs are done
    statuses, sweep, plan = _sweep_rounds(plan, args, slots, template, launcher, pending)
    return _finish(plan, args, report, statuses, sweep)


def _sweep_rounds(
    plan: Plan,
    args: argparse.Namespace,
    slots: list,
    template: LaunchOptions,
    launcher: Launcher,
    pending: list[RunSpec],
) -> tuple[list[RunStatus], LocalSweep | None, Plan]:
    """Run what is left; a tuned sweep goes round again with the final runs tuning chose, until nothing new
    can be planned. Returns the last round's run statuses, its sweep and the plan it ran."""
    piloted: set = set()
    statuses, sweep = [], None
    while True:
        specs = plan.specs
        log.info(
            "%s of suite '%s' (%d to run) on %s: %s; logs in each run dir's train.log",
            plural(len(specs), "run"),
            plan.suite.name,
            len(pending),
            plural(len(slots), "slot"),
            ", ".join(sorted({s.device for s in slots})),
        )
        pilot(pending, slots, launcher, piloted, args)
        time_left = None if args.quiet else TimeLeft(args.runs_dir, slots[0].device, len(slots))
        display = SweepDisplay(time_left=time_left)
        sweep = LocalSweep(specs, slots, template, args.retry_failed, display, launcher)
        on_stop_signals(sweep.request_stop)
        signal.signal(signal.SIGTSTP, sweep.request_suspend)
        statuses = sweep.run()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        on_stop_signals(raise_interrupt)
        if sweep.interrupted or sweep.abort_reason or not plan.awaiting:
            break
        next_plan = make_plan(plan.suite, plan.selection, args.runs_dir)
        adopt_finished_elsewhere(next_plan)
        if next_plan.awaiting == plan.awaiting:
            break  # tuning could not finish (failed runs): the report says which
        plan = next_plan
        pending = to_run(plan.specs, args.retry_failed)
    return statuses, sweep, plan


def _finish(
    plan: Plan,
    args: argparse.Namespace,
    report: Callable[[Plan, argparse.Namespace], int],
    statuses: list[RunStatus],
    sweep: LocalSweep | None,
) -> int:
    """Say what became of the runs, write the table, and return the sweep's exit status."""
    print(f"sweep: {summarise_states(statuses)}", flush=True)
    failed = [s for s in statuses if s.state == RunState.FAILED]
    print_failures(failed)
    if sweep and sweep.abort_reason:
        print(f"stopped: {sweep.abort_reason}", file=sys.stderr)
    elif failed:
        print(RETRY_HINT, file=sys.stderr)
    code = report(make_plan(plan.suite, plan.selection, args.runs_dir), args)
    if sweep and sweep.interrupted:
        print(interrupted_line(statuses), file=sys.stderr)
        return ExitCode.INTERRUPTED
    if code != ExitCode.OK:
        return code
    bad = failed or [s for s in statuses if s.state == RunState.DIVERGED]
    return ExitCode.FAILED if bad else ExitCode.OK


def interrupted_line(statuses: list[RunStatus]) -> str:
    """What a stopped sweep leaves: a stop that came once every run had finished left nothing to resume."""
    if all(status.state.finished for status in statuses):
        return "interrupted after every run had finished: nothing to resume"
    return "interrupted: every stopped run kept a checkpoint; run the same command to resume"


def print_dry_run(plan: Plan, args: argparse.Namespace, slots: list, template: LaunchOptions) -> None:
    checked = skip_reasons(plan.specs, args.retry_failed)  # the runs' states, read once
    print("\n".join(dry_run_lines(checked, slots, template)))
    to_train = [spec for spec, skip in checked if skip is None]
    for line in cost_lines(plan, args.runs_dir, slots[0].device, to_train, len(slots)):
        print(f"# {line}")
    if plan.awaiting:
        print(f"# then the final runs of {', '.join(plan.awaiting)} at the tuned value, once tuning finished")


def warn_if_cpu_busy(threads: int) -> None:
    """CPU training threads meet at a barrier after every operation: when other processes hold the cores
    they need, each barrier waits for the scheduler, and a run trains slower, often several times (2
    cores, a run of 2 threads: 1.8x beside half a busy core, 8-12x beside a whole one, 5-43x beside another
    such run; benchmarks/README.md). Measured before this sweep starts anything of its own."""
    busy, cpus = busy_cpus(), os.cpu_count() or 1
    if busy is not None and busy - (cpus - threads) >= BUSY_CPUS_TO_WARN:
        log.warning(
            "warning: the CPU is busy: other processes keep about %.1f of its %s busy and this sweep's "
            "runs use %s; training whose threads compete for cores slows down sharply, often several "
            "times over (and records those speeds): let the other work finish first (an earlier sweep? top)",
            busy,
            plural(cpus, "CPU"),
            plural(threads, "thread"),
        )


def _import_report() -> None:
    """The report's imports (pandas, scipy, matplotlib) take seconds; the runner is idle while runs train."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    import resnet.report  # noqa: F401


def print_failures(failed: list[RunStatus]) -> None:
    """One line per distinct reason, naming the runs that failed with it (and where their logs are); runs
    whose reasons differ only in naming their own run dir (a full disk) share one."""
    by_reason: dict[str, list[RunStatus]] = {}
    for status in failed:
        by_reason.setdefault(any_runs_reason(status.note, status.spec), []).append(status)
    for reason, statuses in by_reason.items():
        runs = ", ".join(status.spec.label for status in statuses)
        log_file = RunDir(statuses[0].spec.run_dir).log_file
        logs = f"{log_file.name} in each run dir" if len(statuses) > 1 else str(log_file)
        said = reason if len(statuses) > 1 else statuses[0].note
        started = statuses[0].started is not None  # one that could not start has no log of this try
        print(f"failed: {runs}: {said}" + (f" (log: {logs})" if started else ""), file=sys.stderr)


def pilot(pending: list[RunSpec], slots, launcher, piloted: set, args: argparse.Namespace) -> None:
    if args.no_pilot or not pending:
        return
    from resnet.pilot import pilot_key, run_pilot

    new = [spec for spec in pending if pilot_key(spec.config) not in piloted]
    if not new:
        return
    settings = len({pilot_key(s.config) for s in new})
    log.info(
        "pilot: the data, then one training step of each of %s on %s, before anything trains",
        plural(settings, "distinct model/batch setting"),
        slots[0].device,
    )
    from resnet.errors import DatasetError, DeviceError

    try:
        seconds = run_pilot(new, slots[0], launcher)
    except DatasetError as exc:
        fail(str(exc))
    except DeviceError as exc:
        fail(f"pilot: {exc}")
    piloted.update(pilot_key(spec.config) for spec in new)
    log.info("pilot: every setting trains (%.1f s)", seconds)


def summarise_states(statuses: list[RunStatus]) -> str:
    counts = Counter(str(status.state) for status in statuses)
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
