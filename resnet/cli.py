"""The command lines behind train_cifar.py and run_ablations.py.

Bad input ends in one line on stderr ("error: ...") and exit status 2; a run that another process
holds exits 75; Ctrl-C exits 130 and leaves resumable state. Torch is imported only when needed, so
`run_ablations.py --list` and `--dry-run` answer instantly.
"""
from __future__ import annotations

import argparse
import signal
import sys
from collections import Counter
from pathlib import Path

from resnet.config import ConfigError, add_config_arguments, config_overrides
from resnet.presets import PresetError, resolve_config

EXIT_BAD_INPUT, EXIT_LOCKED, EXIT_INTERRUPTED = 2, 75, 130
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def fail(message: str, status: int = EXIT_BAD_INPUT):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(status)


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop cleanly (KeyboardInterrupt), even when started with SIGINT ignored
    (nohup, `cmd &` in a script): a sweep stops its runs and every run keeps its last checkpoint."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line gets one line (what was wrong, what is accepted), not the usage."""

    def error(self, message: str):
        fail(f"{message} (see {self.prog} --help)")


def ensure_writable(directory: Path, what: str) -> None:
    """Fail now, in one line, rather than halfway through a sweep."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        fail(f"cannot write to {what} {directory} ({exc.strerror or exc}); choose a writable one")


def default_run_dir(config, label: str) -> Path:
    """runs/train/<preset or model>-<dataset>-<hash>: rerunning the same command finds the same run."""
    name = label.rpartition(":")[2] if ":" in label else config.model
    return Path("runs") / "train" / f"{name}-{config.dataset}-{config.short_hash()}"


def train_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="train_cifar.py", description="Train one ResNet on CIFAR and record it in a run directory.",
        epilog="examples: train_cifar.py --model resnet20 --epochs 1 --data-dir data | "
               "train_cifar.py --config ablations:cosine --seed 42 | train_cifar.py --dataset synthetic --model resnet8")
    parser.add_argument("--config", metavar="PRESET_OR_FILE",
                        help="a preset ('cosine', 'depth:resnet56', 'my_suite.toml:fast') or a config .json/.toml "
                             "(a run's config.json works); default: TrainConfig's defaults")
    parser.add_argument("--run-dir", type=Path, help="where the run writes (default: runs/train/<name>-<dataset>-<hash>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --run-dir")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep every epoch's checkpoint, not just the last two")
    parser.add_argument("--evaluate", metavar="CHECKPOINT", type=Path, help="only report the test accuracy of a checkpoint")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--list-models", action="store_true", help="print the model zoo with params and FLOPs")
    add_config_arguments(parser)
    return parser


def train_main(argv: list[str] | None = None) -> int:
    args = train_parser().parse_args(argv)
    overrides = config_overrides(args)
    if args.list_models:
        from resnet.models.__main__ import print_model_table

        print_model_table()
        return 0
    if args.evaluate:
        return _evaluate(args, overrides)
    try:
        if args.config:
            config, label = resolve_config(args.config, **overrides)
        else:
            from resnet.config import TrainConfig

            config, label = TrainConfig.from_dict(overrides), "defaults"
    except (ConfigError, PresetError) as exc:
        fail(str(exc))
    run_dir = args.run_dir or default_run_dir(config, label)
    stop_on_signals()
    print(f"run: {label} (config {config.short_hash()}, seed {config.seed}) -> {run_dir}", flush=True)

    from resnet.checkpoint import CheckpointError
    from resnet.data import DatasetError
    from resnet.run_dir import RunDirError, RunLocked
    from resnet.train import train

    try:
        summary = train(config, run_dir, resume=args.resume, keep_checkpoints=args.keep_checkpoints, device=args.device)
    except RunLocked as exc:
        fail(str(exc), EXIT_LOCKED)
    except (RunDirError, DatasetError, CheckpointError, ConfigError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        print(f"\ninterrupted: {run_dir} keeps its last epoch's checkpoint; continue with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"TensorBoard: tensorboard --logdir {Path(run_dir) / 'tb'}")
    return 0 if summary["status"] == "completed" else 1


def _evaluate(args, overrides: dict) -> int:
    from resnet.checkpoint import CheckpointError
    from resnet.data import DatasetError
    from resnet.run_dir import RunDirError
    from resnet.train import evaluate_checkpoint

    unexpected = set(overrides) - {"model", "data_dir"}
    if unexpected or args.config:
        fail(f"--evaluate takes only --model, --data-dir and --device; the checkpoint holds its config "
             f"(got {', '.join(sorted(unexpected | ({'config'} if args.config else set())))})")
    if not args.evaluate.is_file():
        fail(f"checkpoint {args.evaluate} does not exist")
    try:
        result = evaluate_checkpoint(args.evaluate, overrides.get("model"), overrides.get("data_dir"), args.device)
    except (RunDirError, DatasetError, CheckpointError, ConfigError) as exc:
        fail(str(exc))
    print(f"{args.evaluate}: {result['model']} after epoch {result['epoch']}: "
          f"test acc {result['test_acc']:.2f}%, test loss {result['test_loss']:.4f}")
    return 0


# --- run_ablations.py --------------------------------------------------------------------------------
def ablations_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="run_ablations.py",
        description="Run the presets of a suite (subprocesses over the GPUs, or the CPU), skip finished runs, "
                    "resume interrupted ones, then write the results table and plots.",
        epilog="examples: run_ablations.py --list | run_ablations.py --all --seed 42 | "
               "run_ablations.py --config baseline cosine --seeds 0 1 2 --epochs 10 | run_ablations.py --report")
    what = parser.add_argument_group("what")
    what.add_argument("--suite", help="a suite in configs/ (default: ablations)")
    what.add_argument("--suite-file", type=Path, help="a suite TOML file anywhere")
    what.add_argument("--list", action="store_true", help="show the suite's presets and exit")
    what.add_argument("--all", action="store_true", help="run every preset of the suite")
    what.add_argument("--config", nargs="+", metavar="PRESET", help="run these presets")
    seeds = what.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="one seed (default 0)")
    seeds.add_argument("--seeds", type=int, nargs="+", help="several seeds: mean ± std in the table")
    what.add_argument("--dry-run", action="store_true", help="print the train commands and their devices; run nothing")
    what.add_argument("--report", action="store_true", help="only (re)write the results from --runs-dir; train nothing")
    where = parser.add_argument_group("where")
    where.add_argument("--runs-dir", type=Path, default=Path("runs"), help="default: runs")
    where.add_argument("--results-dir", type=Path, default=Path("results"), help="default: results")
    where.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda if a GPU is visible, else cpu")
    where.add_argument("--gpus", help="comma-separated GPU ids (default: all visible)")
    where.add_argument("--jobs-per-gpu", type=int, default=1, help="concurrent runs per GPU (small models)")
    where.add_argument("--jobs", type=int, default=1, help="concurrent runs on the CPU when there is no GPU")
    where.add_argument("--retry-failed", action="store_true", help="run failed runs again (they resume)")
    where.add_argument("--keep-checkpoints", action="store_true", help="keep every epoch's checkpoint")
    slurm = parser.add_argument_group("Slurm")
    slurm.add_argument("--launcher", choices=("local", "slurm"), default="local", help="default: local")
    slurm.add_argument("--partition", help="Slurm partition")
    slurm.add_argument("--gpus-per-run", type=int, default=1, help="GPUs per array task (default 1; 0 for CPU)")
    slurm.add_argument("--cpus-per-run", type=int, default=4, help="CPUs per array task (default 4)")
    slurm.add_argument("--mem-gb", type=int, help="memory per array task in GB")
    slurm.add_argument("--time", default="12:00:00", help="time limit per run, [D-]HH:MM:SS (default 12:00:00)")
    slurm.add_argument("--max-parallel", type=int, help="at most this many array tasks at once")
    slurm.add_argument("--wait", action="store_true", help="wait for the jobs, then write the results")
    add_config_arguments(parser, skip=("seed",))
    return parser


def ablations_main(argv: list[str] | None = None) -> int:
    args = ablations_parser().parse_args(argv)
    for name in ("jobs", "jobs_per_gpu", "cpus_per_run"):
        if getattr(args, name) < 1:
            fail(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    suite = _load_suite(args)
    if args.list:
        print_presets(suite)
        return 0
    if args.report:
        return _report(suite, args)
    if not args.all and not args.config:
        fail(f"say what to run: --all, or --config with presets of '{suite.name}': {', '.join(suite.presets)}")
    from resnet.runner import plan_runs

    seeds = args.seeds or [args.seed if args.seed is not None else 0]
    suite_ref = str(args.suite_file) if args.suite_file else suite.name
    try:
        specs = plan_runs(suite, list(suite.presets) if args.all else args.config, seeds, config_overrides(args, skip=("seed",)),
                          args.runs_dir, suite_ref, args.keep_checkpoints)
    except PresetError as exc:
        fail(str(exc))
    if not args.dry_run:
        ensure_writable(args.runs_dir, "--runs-dir")
    conflicts = [s for s in specs if _state(s) == "conflict"]
    if conflicts:
        from resnet.run_dir import RunDir

        fail(RunDir(conflicts[0].run_dir).conflict_message(conflicts[0].config.short_hash())
             + (f" (and {len(conflicts) - 1} more runs)" if len(conflicts) > 1 else ""))
    if args.launcher == "slurm":
        return _slurm(suite, specs, args)
    stop_on_signals()
    return _local(suite, specs, args)


def _load_suite(args):
    from resnet.presets import DEFAULT_SUITE, find_suite, load_suite

    if args.suite and args.suite_file:
        fail("give --suite or --suite-file, not both")
    try:
        return load_suite(args.suite_file) if args.suite_file else find_suite(args.suite or DEFAULT_SUITE)
    except PresetError as exc:
        fail(str(exc))


def _state(spec) -> str:
    from resnet.run_dir import RunDir

    return RunDir(spec.run_dir).state(spec.config.short_hash())


def print_presets(suite) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"suite '{suite.name}' ({suite.path}): {suite.description}", title_justify="left")
    for column in ("preset", "changes vs " + (suite.baseline or "base"), "model", "epochs", "description"):
        table.add_column(column)
    for name, preset in suite.presets.items():
        changes = ", ".join(f"{k}={v}" for k, v in suite.changes(name).items()) or "—"
        label = name + (f" ({', '.join(preset.aliases)})" if preset.aliases else "")
        table.add_row(label, changes, preset.config.model, str(preset.config.epochs), preset.description)
    Console(width=max(120, Console().width)).print(table)


def _local(suite, specs, args) -> int:
    from resnet.runner import LocalSweep, dry_run_lines, make_slots

    try:
        slots = make_slots(args.device, args.gpus.split(",") if args.gpus else None, args.jobs_per_gpu, args.jobs)
    except ValueError as exc:
        fail(str(exc))
    if args.dry_run:
        print("\n".join(dry_run_lines(specs, slots, args.retry_failed)))
        return 0
    print(f"{len(specs)} runs of suite '{suite.name}' on {len(slots)} slot(s): "
          f"{', '.join(sorted({s.device for s in slots}))}; logs in each run dir's train.log", flush=True)
    sweep = LocalSweep(specs, slots, args.retry_failed)
    statuses = sweep.run()
    counts = Counter(status.state for status in statuses)
    print("sweep: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    failed = [s for s in statuses if s.state == "failed"]
    for status in failed:
        print(f"failed: {status.spec.label}: {status.note} (log: {status.spec.run_dir / 'train.log'})", file=sys.stderr)
    _report(suite, args)
    if sweep.interrupted:
        print("interrupted: every stopped run kept its last checkpoint; run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1 if failed else 0


def _slurm(suite, specs, args) -> int:
    from resnet.slurm import SlurmOptions, describe_submission, submit_sweep

    try:
        options = SlurmOptions.from_args(args)
    except ValueError as exc:
        fail(str(exc))
    from resnet.runner import skip_reason

    pending = [s for s in specs if skip_reason(s, _state(s), args.retry_failed) is None]
    if args.dry_run:
        print(describe_submission(pending, options, args.runs_dir))
        return 0
    if not pending:
        print("nothing to submit: every run is finished (or failed; --retry-failed runs those again)")
        return _report(suite, args)
    jobs = submit_sweep(pending, options, args.runs_dir)
    print(f"submitted a Slurm job array of {len(jobs)} runs: job {jobs[0].job_id.split('_')[0]}; "
          f"logs in {args.runs_dir / '.submitit'}; `run_ablations.py --report` writes the table when they finish")
    if not args.wait:
        return 0
    from resnet.slurm import wait_for

    failed = wait_for(jobs, pending)
    _report(suite, args)
    return 1 if failed else 0


def _report(suite, args) -> int:
    from resnet.report import write_report

    ensure_writable(args.results_dir, "--results-dir")
    try:
        paths = write_report(suite, args.runs_dir, args.results_dir)
    except FileNotFoundError as exc:
        fail(str(exc))
    print("results: " + ", ".join(str(p) for p in paths))
    return 0

