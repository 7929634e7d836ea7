"""run_ablations.py / resnet-ablations: plan a sweep, run it locally or on Slurm, write the table."""

from __future__ import annotations

import argparse
from pathlib import Path

from resnet.cli.common import (
    Parser,
    add_verbosity,
    check_runs_dir,
    ensure_writable,
    fail,
    given_flags,
    gpu_ids,
    main_wrapper,
    minutes,
    setup_logging,
    utf8_path,
    utf8_text,
)
from resnet.cli.config_flags import add_config_arguments, config_overrides
from resnet.cli.preflight import adopt_finished, refuse_conflicts, say_merged
from resnet.cli.reporting import recorded_plan, report, report_everything
from resnet.designs import KINDS, parse_grid
from resnet.plan import Selection, make_plan
from resnet.presets import DEFAULT_SUITE, Suite, find_suite, load_suite
from resnet.states import ExitCode
from resnet.tuning import Tune, parse_tune_flag
from resnet.words import flag


def parser() -> tuple[argparse.ArgumentParser, list[str]]:
    p = Parser(
        prog="run_ablations.py",
        description="Run the presets (or a design) of a suite as processes over the GPUs (or the CPU), skip "
        "finished runs, resume interrupted ones, then write the results table and figures.",
        epilog="examples: run_ablations.py --list-suites | run_ablations.py --suite quick --all "
        "--seeds 0 1 2 | run_ablations.py --all --seed 42 | "
        "run_ablations.py --grid lr_schedule=multistep,cosine norm=batch,none | run_ablations.py --report",
    )
    what = p.add_argument_group("what")
    what.add_argument("--suite", type=utf8_text, help=f"a suite in configs/ (default: {DEFAULT_SUITE})")
    what.add_argument("--suite-file", type=utf8_path, help="a suite TOML file anywhere")
    what.add_argument(
        "--list", action="store_true", help="show the suite's presets, design, run count and cost"
    )
    what.add_argument(
        "--list-suites", action="store_true", help="show every suite with its description and size"
    )
    what.add_argument(
        "--all", action="store_true", help="run every preset of the suite (and its [design], if any)"
    )
    what.add_argument("--config", nargs="+", type=utf8_text, metavar="PRESET", help="run these presets")
    what.add_argument("--design", action="store_true", help="run the suite's [design]")
    what.add_argument(
        "--grid", nargs="+", type=utf8_text, metavar="FIELD=V1,V2", help="a design from the command line"
    )
    what.add_argument(
        "--grid-kind", choices=KINDS, default="factorial", help="how --grid combines (default factorial)"
    )
    what.add_argument(
        "--from",
        dest="start",
        type=utf8_text,
        metavar="PRESET",
        help="vary this preset with --grid (default: [base])",
    )
    what.add_argument(
        "--tune",
        type=utf8_text,
        metavar="FIELD=V1,V2,...",
        help="select this parameter per arm on the validation split (default: the suite's [tune])",
    )
    what.add_argument("--tune-seeds", type=int, nargs="+", metavar="SEED", help="tuning seeds (default 0)")
    what.add_argument(
        "--no-tune", action="store_true", help="skip the suite's [tune]: each arm at its configured value"
    )
    seeds = what.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one seed (default 0)")
    seeds.add_argument(
        "--seeds", type=int, nargs="+", help="several seeds: intervals and paired tests in the table"
    )
    what.add_argument(
        "--dry-run", action="store_true", help="print the train commands and their devices; run nothing"
    )
    what.add_argument(
        "--report", action="store_true", help="only (re)write results from --runs-dir; train nothing"
    )
    what.add_argument("--interval", choices=("ci95", "std"), default="ci95", help="what ± means in the table")
    where = p.add_argument_group("where")
    where.add_argument("--runs-dir", type=utf8_path, default=Path("runs"), help="default: runs")
    where.add_argument("--results-dir", type=utf8_path, default=Path("results"), help="default: results")
    where.add_argument(
        "--device", choices=("cpu", "cuda"), help="default: cuda if a GPU is visible, else cpu"
    )
    where.add_argument("--gpus", type=gpu_ids, help="comma-separated GPU ids (default: all visible)")
    where.add_argument("--jobs-per-gpu", type=int, default=1, help="concurrent runs per GPU (small models)")
    where.add_argument("--jobs", type=int, default=1, help="concurrent runs on the CPU when there is no GPU")
    where.add_argument("--retry-failed", action="store_true", help="run failed runs again (they resume)")
    where.add_argument("--keep-checkpoints", action="store_true", help="keep every epoch's checkpoint")
    where.add_argument(
        "--checkpoint-every", type=minutes, metavar="MINUTES", help="mid-epoch checkpoints (default 10)"
    )
    where.add_argument(
        "--no-pilot", action="store_true", help="skip the one-step check of every model before training"
    )
    slurm = p.add_argument_group("Slurm")
    slurm.add_argument("--launcher", choices=("local", "slurm"), default="local", help="default: local")
    slurm.add_argument("--partition", type=utf8_text, help="Slurm partition")
    slurm.add_argument(
        "--gpus-per-run",
        type=int,
        default=1,
        help="GPUs per array task: 1 (default; a run trains on one GPU) or 0 for CPU",
    )
    slurm.add_argument("--cpus-per-run", type=int, default=4, help="CPUs per array task (default 4)")
    slurm.add_argument("--mem-gb", type=int, help="memory per array task in GB")
    slurm.add_argument(
        "--time",
        type=utf8_text,
        default="12:00:00",
        help="time limit per run, [D-]HH:MM:SS (default 12:00:00)",
    )
    slurm.add_argument("--max-parallel", type=int, help="at most this many array tasks at once")
    slurm.add_argument("--wait", action="store_true", help="wait for the jobs, then write the results")
    add_verbosity(
        p,
        "and each run's state changes, the sweep's tally and where the results went",
        "each run's go to its train.log",
    )
    return p, add_config_arguments(p, skip=("seed",))


def sweep_main(argv: list[str] | None = None) -> int:
    p, dests = parser()
    args = p.parse_args(argv)
    setup_logging(args)
    for name in ("jobs", "jobs_per_gpu"):
        if getattr(args, name) < 1:
            fail(f"{flag(name)} must be at least 1, got {getattr(args, name)}")
    refuse_training_flags_with_report(p, args)
    refuse_other_launchers_flags(p, args)
    if args.list_suites:
        from resnet.cli.listing import print_suites

        print_suites()
        return ExitCode.OK
    overrides = config_overrides(args, dests)
    if args.report:
        check_runs_dir(args.runs_dir)
    if args.report and not (args.suite or args.suite_file):
        return report_everything(args, overrides)
    suite = _load_suite(args)
    selection = make_selection(args, suite, overrides)
    if args.list:
        from resnet.cli.listing import print_suite

        shown = selection or Selection(
            overrides=tuple(sorted(overrides.items())), seeds=_seeds(args), tune=_tune(args, suite)
        )
        print_suite(suite, shown, args.runs_dir)
        return ExitCode.OK
    if args.report:
        suite_dir = args.runs_dir / suite.name
        if not suite_dir.is_dir():  # a mistyped --runs-dir must not overwrite the table with a blank one
            fail(f"no runs of suite '{suite.name}' under {args.runs_dir} (no {suite_dir}); check --runs-dir")
        plan = (
            make_plan(suite, selection, args.runs_dir) if selection else recorded_plan(args, suite, overrides)
        )
        say_merged(plan)
        return report(plan, args)
    if selection is None:
        fail(
            f"say what to run: --all, --config PRESET..., --design or --grid (presets of '{suite.name}': "
            f"{', '.join(suite.presets) or 'none'})"
        )
    plan = make_plan(suite, selection, args.runs_dir)
    say_merged(plan)
    check_runs_dir(args.runs_dir)
    if not args.dry_run:
        ensure_writable(args.results_dir, "--results-dir")
        ensure_writable(args.runs_dir, "--runs-dir")
    refuse_conflicts(plan)
    adopt_finished(plan)
    if args.launcher == "slurm":
        from resnet.cli.cluster import run_slurm

        return run_slurm(plan, args, report)
    from resnet.cli.local import run_local

    return run_local(plan, args, report)


LAUNCHER_FLAGS = {
    "local": ("device", "gpus", "jobs_per_gpu", "jobs", "no_pilot"),
    "slurm": ("partition", "gpus_per_run", "cpus_per_run", "mem_gb", "time", "max_parallel", "wait"),
}


TRAINING_FLAGS = (
    "dry_run", "list", "retry_failed", "keep_checkpoints", "checkpoint_every", "launcher",
    *LAUNCHER_FLAGS["local"], *LAUNCHER_FLAGS["slurm"],
)  # fmt: skip


def refuse_training_flags_with_report(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--report trains nothing: a flag about training (--dry-run, above all, which writes nothing) would be
    ignored while the report overwrote the results; say so instead."""
    flags = given_flags(p, args, TRAINING_FLAGS)
    if args.report and flags:
        one = len(flags) == 1
        fail(
            f"{', '.join(flags)} {'does' if one else 'do'} nothing with --report, which only writes the "
            f"table from what the runs recorded; drop {'it' if one else 'them'}, or --report to run the sweep"
        )


def refuse_other_launchers_flags(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A flag the chosen launcher would ignore (--time without --launcher slurm, --jobs with it) most
    likely means the other launcher was meant: say so rather than run a sweep that ignores it."""
    other = "slurm" if args.launcher == "local" else "local"
    flags = given_flags(p, args, LAUNCHER_FLAGS[other])
    if flags:
        fix = "add --launcher slurm"
        if other == "local":
            fix = "leave it out: Slurm places the runs (CPU tasks: --gpus-per-run 0)"
        verb = "applies" if len(flags) == 1 else "apply"
        fail(f"{', '.join(flags)} {verb} to --launcher {other} only; {fix}")


def _seeds(args: argparse.Namespace) -> tuple[int, ...]:
    return tuple(args.seeds or [args.seed if args.seed is not None else 0])


def make_selection(args: argparse.Namespace, suite: Suite, overrides: dict) -> Selection | None:
    """What the command line asks to run; None when it names nothing."""
    design = None
    if args.grid:
        design = parse_grid(args.grid, args.grid_kind, args.start)
        if args.start:
            suite.preset(args.start)
    elif args.start:
        fail("--from PRESET goes with --grid")
    elif args.grid_kind != "factorial":  # a suite's [design] has its own kind
        fail(f"--grid-kind {args.grid_kind} goes with --grid FIELD=V1,V2 ...")
    elif args.design or (args.all and suite.design):
        if suite.design is None:
            fail(f"suite '{suite.name}' has no [design]; give one with --grid FIELD=V1,V2 ...")
        design = suite.design
    if args.all and args.config:
        fail("give --all or --config, not both")
    presets = None if args.all else tuple(args.config) if args.config else ()
    if not presets and presets is not None and design is None:
        return None
    seeds = _seeds(args)
    if len(set(seeds)) != len(seeds):
        fail(f"--seeds lists a seed twice: {' '.join(map(str, seeds))}")
    if args.all and not suite.presets:
        presets = ()
    return Selection(presets, design, tuple(sorted(overrides.items())), seeds, _tune(args, suite))


def _tune(args: argparse.Namespace, suite: Suite) -> Tune | None:
    """What tuning the command line asks for: --tune, none (--no-tune), else the suite's [tune]."""
    if args.tune_seeds and not args.tune:
        fail("--tune-seeds goes with --tune FIELD=V1,V2,...")
    if args.no_tune and args.tune:
        fail("give --tune or --no-tune, not both")
    if args.no_tune:
        return None
    return parse_tune_flag(args.tune, args.tune_seeds) if args.tune else suite.tune


def _load_suite(args: argparse.Namespace) -> Suite:
    if args.suite and args.suite_file:
        fail("give --suite or --suite-file, not both")
    return load_suite(args.suite_file) if args.suite_file else find_suite(args.suite or DEFAULT_SUITE)


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(sweep_main, argv)
