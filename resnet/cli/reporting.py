"""`run_ablations.py --report` and the report at the end of a sweep: which plan to table (the sweep last
run in the runs dir, unless the command line says), every suite found when no suite is named, and the
writing itself (one line on Ctrl-C or a full disk; the headline columns printed unless -q)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from resnet.cli.common import ensure_writable, fail
from resnet.cli.stop_signals import on_stop_signals, raise_interrupt, stop_signals_held
from resnet.errors import ConfigError, UserError
from resnet.files import describe_os_error
from resnet.plan import Plan, Selection, make_plan
from resnet.presets import SWEEP_RECORD, Suite, find_suite, load_suite, suite_files
from resnet.run_dir import STANDALONE_RUNS
from resnet.states import ExitCode
from resnet.sweep_record import recorded_sweep

log = logging.getLogger("resnet.cli")


def recorded_plan(args: argparse.Namespace, suite: Suite, overrides: dict) -> Plan:
    """What --report tables when not told: the last sweep of this suite in the runs dir, else every preset."""
    record = recorded_sweep(args.runs_dir, suite.name)
    problem = record.problem
    if record.selection is not None and not overrides:
        try:
            return make_plan(suite, record.selection, args.runs_dir)
        except UserError as exc:  # the suite changed since
            problem = f"it no longer fits the suite: {exc}"
    if problem and not overrides:
        path = args.runs_dir / suite.name / SWEEP_RECORD
        log.warning("notice: %s cannot be used (%s); tabling every preset", path, problem)
    return make_plan(
        suite, Selection(None, None, tuple(sorted(overrides.items())), (), suite.tune), args.runs_dir
    )


def report_everything(args: argparse.Namespace, overrides: dict) -> int:
    """--report without --suite: every suite found in the runs dir."""
    found = _suite_dirs(args.runs_dir)
    if not found:
        standalone = args.runs_dir / STANDALONE_RUNS
        alone = (
            f" ({standalone} holds train_cifar.py's own runs, which no table reads)"
            if standalone.is_dir()
            else ""
        )
        fail(
            f"no runs of any suite under {args.runs_dir}{alone}; run some first (run_ablations.py --all), or "
            "point --runs-dir at them"
        )
    status: int = ExitCode.OK
    for directory in found:
        try:
            code = report(recorded_plan(args, _suite_of(directory, args.runs_dir), overrides), args)
        except UserError as exc:
            print(f"error: {directory}: {exc}", file=sys.stderr)
            code = ExitCode.BAD_INPUT
        status = max(status, code)
    return status


def _suite_dirs(runs_dir: Path) -> list[Path]:
    """The runs dirs of suites under `runs_dir` (a sweep's record, or a shipped suite's name); any other
    directory is named as not tabled."""
    found = {p.parent for p in runs_dir.glob(f"*/{SWEEP_RECORD}")}
    found |= {runs_dir / name for name in suite_files() if (runs_dir / name).is_dir()}
    for directory in sorted(runs_dir.iterdir() if runs_dir.is_dir() else []):
        if directory.is_dir() and directory not in found and directory.name != STANDALONE_RUNS:
            log.warning(
                "notice: %s is not tabled: no %s (what a sweep writes) and no suite of that name",
                directory,
                SWEEP_RECORD,
            )
    return sorted(found)


def _suite_of(directory: Path, runs_dir: Path) -> Suite:
    """The suite whose runs `directory` holds, as its sweep record names it; a UserError when it cannot be
    had, or when the directory is not that suite's own (copied or renamed: its plan would table another)."""
    suite_file = recorded_sweep(runs_dir, directory.name).suite_file
    if suite_file and not suite_file.is_file() and directory.name not in suite_files():
        raise ConfigError(
            f"its suite file {suite_file} (recorded in {SWEEP_RECORD}) is gone; "
            f"run_ablations.py --report --suite-file FILE --runs-dir {runs_dir} tables it"
        )
    suite = load_suite(suite_file) if suite_file and suite_file.is_file() else find_suite(directory.name)
    if suite.name != directory.name:
        raise ConfigError(
            f"its {SWEEP_RECORD} is a sweep of suite '{suite.name}', whose runs are read from "
            f"{runs_dir / suite.name} (a suite's runs dir is named after it: renamed or copied?); skipped"
        )
    return suite


def report(plan: Plan, args: argparse.Namespace) -> int:
    """Write the table; a Ctrl-C here ends in one line, and the atomic writes leave no half file behind."""
    on_stop_signals(raise_interrupt)
    ensure_writable(args.results_dir, "--results-dir")
    try:
        with stop_signals_held():
            from resnet.report import write_report  # seconds (pandas, matplotlib) when not imported yet

        written = write_report(plan, args.results_dir, args.interval)
    except KeyboardInterrupt:
        print(
            "interrupted while writing the report; `run_ablations.py --report` writes it again",
            file=sys.stderr,
        )
        return ExitCode.INTERRUPTED
    except OSError as exc:
        fail(
            f"cannot write the report: {describe_os_error(exc, exc.filename or args.results_dir)}; fix "
            "that (or choose another --results-dir), then the same command with --report writes it, training "
            "nothing"
        )
    paths = written.paths
    if not args.quiet:
        from resnet.report.console import print_table
        from resnet.report.render import INTERVAL_WORDS

        where = f"the full table, findings, provenance: {paths[0]}"
        title = f"{written.title}: {INTERVAL_WORDS[args.interval]} ({where})"
        print_table(written.table, title, written.outside, written.aside, written.warnings)
    vector = " (each figure also as .pdf)" if any(p.suffix == ".pdf" for p in paths) else ""
    names = ", ".join(p.name for p in paths if p.suffix != ".pdf")  # all in one folder: named once
    print(f"results in {paths[0].parent}{os.sep}: {names}{vector}", flush=True)
    return ExitCode.OK
