"""train_cifar.py / resnet-train: train one run, resume it, or evaluate a checkpoint."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from resnet.cli.common import (
    Parser,
    add_verbosity,
    fail,
    given_flags,
    main_wrapper,
    minutes,
    refuse_inside_a_run,
    setup_logging,
    utf8_path,
    utf8_text,
)
from resnet.cli.config_flags import add_config_arguments, config_overrides
from resnet.cli.stop_signals import on_stop_signals, raise_interrupt, stop_signals_held
from resnet.config import TrainConfig
from resnet.resolve import Resolved, config_from_json, resolve_config
from resnet.run_dir import STANDALONE_RUNS, RunDir
from resnet.states import ExitCode, RunState
from resnet.words import flag, plural

log = logging.getLogger("resnet.cli")


def parser() -> tuple[argparse.ArgumentParser, list[str]]:
    p = Parser(
        prog="train_cifar.py",
        description="Train one ResNet on CIFAR and record it in a run directory.",
        epilog="examples: train_cifar.py --model resnet20 --epochs 1 --data-dir data | train_cifar.py "
        "--config ablations:cosine --seed 42 | train_cifar.py --dataset synthetic --model resnet8",
    )
    p.add_argument(
        "--config",
        type=utf8_text,
        metavar="PRESET_OR_FILE",
        help="a preset ('cosine', 'depth:resnet56', 'my_suite.toml:fast') or a config .json/.toml "
        "(a run's config.json works); default: TrainConfig's defaults",
    )
    p.add_argument(
        "--config-json",
        type=utf8_text,
        metavar="JSON",
        help="the config itself, as the sweep runner passes it",
    )
    p.add_argument(
        "--expect-hash",
        type=utf8_text,
        metavar="HASH",
        help="refuse unless the config's hash is this (the planned one)",
    )
    p.add_argument(
        "--run-dir", type=utf8_path, help="where the run writes (default: runs/train/<name>-<dataset>-<hash>)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --run-dir (its recorded config unless --config is given)",
    )
    p.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep every epoch's checkpoint (default: a finished run keeps only model.pt)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=minutes,
        default=10.0,
        metavar="MINUTES",
        help="also checkpoint inside an epoch this often (default 10)",
    )
    p.add_argument(
        "--evaluate",
        metavar="CHECKPOINT",
        type=utf8_path,
        help="only report the test accuracy of a model.pt, a checkpoint or a run dir",
    )
    p.add_argument("--device", type=utf8_text, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads (default: as recorded when resuming, else torch's, at most the usable CPUs)",
    )
    p.add_argument("--list-models", action="store_true", help="print the model zoo with params and FLOPs")
    add_verbosity(p, verbose_adds="device, threads, precision, data, each checkpoint")
    return p, add_config_arguments(p)


def default_run_dir(config: TrainConfig, label: str) -> Path:
    """runs/train/<preset or model>-<dataset>-<hash>: rerunning the same command finds the same run."""
    name = label.rpartition(":")[2] if ":" in label else config.model
    return Path("runs") / STANDALONE_RUNS / f"{name}-{config.dataset}-{config.short_hash()}"


def resolve(args: argparse.Namespace, overrides: dict) -> Resolved:
    if args.config and args.config_json:
        fail("give --config or --config-json, not both")
    if args.config_json:
        return Resolved(config_from_json(args.config_json, overrides), "the config of --config-json")
    if args.config:
        return resolve_config(args.config, **overrides)
    if args.resume and args.run_dir:  # `--resume --run-dir D` continues D as it was recorded
        run = RunDir(args.run_dir)
        if run.config_file.is_file():
            return resolve_config(str(run.config_file), **overrides)
        if not overrides and not run.has_checkpoint():
            fail(f"nothing to resume in {args.run_dir}: it holds no run; drop --resume to start one there")
    flags = ", ".join(flag(name) for name in overrides if name != "seed")
    return Resolved(TrainConfig.from_dict(overrides), f"defaults and {flags}" if flags else "defaults")


def train_main(argv: list[str] | None = None) -> int:
    p, dests = parser()
    args = p.parse_args(argv)
    setup_logging(args)
    overrides = config_overrides(args, dests)
    if args.list_models:
        from resnet.models.table import print_model_table

        print_model_table()
        return ExitCode.OK
    if args.evaluate:
        return _evaluate(args, overrides, given_flags(p, args, TRAINING_OPTIONS))
    config, label, run_dir, threads = _to_train(args, overrides)
    return _train(args, config, label, run_dir, threads)


def _to_train(args: argparse.Namespace, overrides: dict) -> tuple[TrainConfig, str, Path, int | None]:
    """The config to train, its label, run dir and thread count: refused when it is not what a sweep
    planned (--expect-hash); a recorded config's threads unless --threads says otherwise (with a notice)."""
    config, label, recorded_threads = resolve(args, overrides)
    if args.expect_hash and config.short_hash() != args.expect_hash:
        fail(
            f"the config to train has hash {config.short_hash()}, not the planned {args.expect_hash}: the "
            f"suite or the code changed since the sweep planned this run; run the sweep again to plan it "
            f"anew"
        )
    run_dir = args.run_dir or default_run_dir(config, label)
    threads = recorded_threads if args.threads is None else args.threads
    # a resume keeps its checkpoint's thread count and says so itself (checkpoint.check_resumable)
    resuming = args.resume and RunDir(run_dir).has_checkpoint()
    if args.threads and recorded_threads and args.threads != recorded_threads and not resuming:
        log.warning(
            "notice: %s was recorded with %s; with --threads %d its numbers will differ",
            args.config,
            plural(recorded_threads, "thread"),
            args.threads,
        )
    return config, label, run_dir, threads


# Set by resnet.child in a sweep's run. Its sweep kills it when asked to stop twice, so a second stop signal
# here is the first one reaching it again (Slurm and systemd signal every process of a job, and the sweep
# then passes its own on): the run still checkpoints. Run alone, a second signal stops it at once.
in_a_sweep = False


def _train(
    args: argparse.Namespace, config: TrainConfig, label: str, run_dir: Path, threads: int | None
) -> int:
    """Train in --run-dir (or the run's default dir); the first Ctrl-C or SIGTERM stops after the current
    step with a checkpoint, a second at once (in a sweep's run: in_a_sweep)."""
    refuse_inside_a_run(run_dir.absolute().parent, f"--run-dir {run_dir}")  # it may be a run itself
    with stop_signals_held():
        from resnet.runtime import check_device, check_threads
        from resnet.train import Interrupted, StopRequest, train

    check_device(args.device)  # before the run dir is touched
    if threads is not None:
        check_threads(threads)

    stop = StopRequest()

    def request_stop(signum: int) -> None:
        if not stop.requested:
            stop.requested = True
            again = (
                "the sweep's second Ctrl-C stops it at once" if in_a_sweep else "signal again to stop at once"
            )
            log.warning("stopping after the current step (%s)", again)
        elif not in_a_sweep:
            raise_interrupt(signum)  # a second signal: stop now, the last checkpoint stays

    on_stop_signals(request_stop)
    log.info("run: %s (config %s, seed %d) -> %s", label, config.short_hash(), config.seed, run_dir)
    try:
        summary = train(
            config,
            run_dir,
            resume=args.resume,
            keep_checkpoints=args.keep_checkpoints,
            device=args.device,
            threads=threads,
            checkpoint_every=args.checkpoint_every * 60,
            stop=stop,
        )
    except (Interrupted, KeyboardInterrupt) as exc:
        where = f" ({exc})" if str(exc) else ""
        if RunDir(run_dir).has_checkpoint():
            then = f"{run_dir} keeps a checkpoint; continue with train_cifar.py --resume --run-dir {run_dir}"
        else:  # stopped before its first checkpoint
            then = "stopped before the first checkpoint, so nothing was trained to keep; run the same command"
        print(f"interrupted{where}: {then}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    log.info("TensorBoard: tensorboard --logdir %s", RunDir(run_dir).tensorboard_dir)
    return ExitCode.OK if summary["status"] == RunState.COMPLETED else ExitCode.FAILED


TRAINING_OPTIONS = (
    "config", "config_json", "expect_hash", "run_dir", "resume", "keep_checkpoints", "checkpoint_every",
    "threads",
)  # fmt: skip


def _evaluate(args: argparse.Namespace, overrides: dict, given: list[str]) -> int:
    """`given`: the training options on the command line (as flags), which evaluating would ignore."""
    unexpected = [flag(name) for name in sorted(set(overrides) - {"model", "data_dir"})] + given
    if unexpected:
        fail(
            "--evaluate takes only --model, --data-dir and --device; the checkpoint holds its config, and "
            f"nothing is trained (got {', '.join(unexpected)})"
        )
    path, result = _evaluate_first_readable(args, overrides)
    where = f"epoch {result['epoch']}"
    if result["step"]:
        where += f" and {plural(result['step'], 'step')} of epoch {result['epoch'] + 1}"
    print(
        f"{path}: {result['model']} after {where}: "
        f"test acc {result['test_acc']:.2f}%, test loss {result['test_loss']:.4f}"
    )
    return ExitCode.OK


ACCEPTED = "--evaluate takes a model.pt or checkpoint.pt, or the run dir that holds one"


def _evaluate_first_readable(args: argparse.Namespace, overrides: dict) -> tuple[Path, dict]:
    """A run dir's model.pt, else its latest checkpoint, else the one before: a damaged file is reported
    and the next one evaluated, as a resume falls back to checkpoint.prev.pt."""
    from resnet.errors import CheckpointError

    with stop_signals_held():
        from resnet.evaluate import evaluate_checkpoint
    problems: list[str] = []
    for path in _weights_files(args.evaluate):
        try:
            result = evaluate_checkpoint(path, overrides.get("model"), overrides.get("data_dir"), args.device)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            log.warning("notice: %s; evaluated %s instead", problem, path.name)
        return path, result
    fail("; ".join(problems) + f"; {ACCEPTED}")


def _weights_files(path: Path) -> list[Path]:
    if path.is_dir():
        run = RunDir(path)
        candidates = (run.model_file, run.checkpoint_file, run.previous_checkpoint_file)
        found = [f for f in candidates if f.is_file()]
        if not found:
            fail(f"run dir {path} holds no model.pt or checkpoint.pt to evaluate")
        return found
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "does not exist"
        fail(f"checkpoint {path} {what}; {ACCEPTED}")
    return [path]


def main(argv: list[str] | None = None) -> int:
    return main_wrapper(train_main, argv)


if __name__ == "__main__":  # python -m resnet.cli.train (resnet.run_spec.train_command)
    from resnet.cli.entry import train

    sys.modules["resnet.cli.train"] = sys.modules["__main__"]  # entry imports it by name: not a second copy
    sys.exit(train())
