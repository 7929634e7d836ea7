"""What both command lines share: one-line errors, logging, and a clean exit on a closed pipe (their stop
signals: resnet/cli/stop_signals.py).

A user error (resnet.errors.UserError) ends in one line on stderr, "error: ...", and exit status 2 (75
when another process holds the run). Ctrl-C exits 130. A closed pipe (`| head`) ends quietly.
"""

from __future__ import annotations

import argparse
import errno
import logging
import math
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from resnet.cli.stop_signals import default_stop_signals
from resnet.errors import IMPORT_FAILED_FIX, UserError
from resnet.files import describe_os_error, path_too_long
from resnet.states import ExitCode
from resnet.words import flag


def fail(message: str, status: int = ExitCode.BAD_INPUT) -> NoReturn:
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    raise SystemExit(status)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line gets one line (what was wrong, what is accepted), not the usage;
    and --version, the line to paste into a bug report."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_argument("--version", action=_PrintVersion, help="print the versions of this code and torch")

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)")


class _PrintVersion(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, help: str):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from resnet.versions import version_line

        print(version_line())
        parser.exit()


def _not_utf8(text: str) -> str | None:
    """`text` shown with its undecodable bytes escaped, when it has any (a command line's bytes that are
    not UTF-8 arrive as surrogates, which no JSON record, TensorBoard or pydantic accepts)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
    return None


def given_flags(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: tuple[str, ...]
) -> list[str]:
    """The flags among `names` that the command line set (away from their defaults), as typed."""
    return [flag(name) for name in names if getattr(args, name) != parser.get_default(name)]


def utf8_path(text: str) -> Path:
    """An argparse type: a path whose name is UTF-8 (run records are JSON and TensorBoard refuses other
    bytes, after a whole epoch has trained)."""
    if (shown := _not_utf8(text)) is not None:
        raise argparse.ArgumentTypeError(f"the path {shown} is not valid UTF-8; rename it or choose another")
    if not text.strip():  # "$DIR" with DIR unset: it would mean the current directory
        raise argparse.ArgumentTypeError("an empty path; give a file or directory name ('.' for here)")
    if (problem := path_too_long(text)) is not None:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def utf8_text(text: str) -> str:
    """An argparse type: a value that is UTF-8 text."""
    if (shown := _not_utf8(text)) is not None:
        raise argparse.ArgumentTypeError(f"{shown} is not valid UTF-8 text")
    return text


def minutes(text: str) -> float:
    """An argparse type: a positive, finite number of minutes (nan would silently mean never)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of minutes, got {text!r}")
    return value


def gpu_ids(text: str) -> list[str]:
    """An argparse type: comma-separated GPU ids as nvidia-smi and CUDA_VISIBLE_DEVICES name them (indices,
    or GPU-/MIG- UUIDs), each once. An empty value is refused: it would quietly mean the CPU."""
    ids = [g.strip() for g in text.split(",")]
    odd = [g for g in ids if not (g.isdigit() or g.startswith(("GPU-", "MIG-")))]
    if odd:
        shown = (
            f"{text!r} has an empty GPU id" if "" in odd else f"{', '.join(map(repr, odd))} is not a GPU id"
        )
        raise argparse.ArgumentTypeError(
            f"{shown}: give indices as nvidia-smi lists them (0,1) or GPU-/MIG- UUIDs; "
            "--device cpu for no GPU"
        )
    twice = sorted({g for g in ids if ids.count(g) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"GPU {', '.join(twice)} listed twice; --jobs-per-gpu packs runs")
    return ids


def refuse_inside_a_run(directory: Path, what: str) -> None:
    """Nothing is written inside a run's own directory: it holds that run's files only, and no report looks
    into it (a run written there would never be tabled). `what` names the flag and its value."""
    from resnet.run_dir import enclosing_run

    if (run := enclosing_run(directory)) is not None:
        fail(
            f"{what} lies inside the run dir {run}: no report looks into a run dir; choose a directory "
            "outside every run dir"
        )


def check_runs_dir(runs_dir: Path) -> None:
    """--runs-dir is the directory that holds suites' runs dirs, not one of those (runs/quick for runs),
    nor inside one: runs planned there would nest a suite inside a suite, and no report would find them."""
    from resnet.presets import SWEEP_RECORD

    refuse_inside_a_run(runs_dir, f"--runs-dir {runs_dir}")
    for suite_dir in (runs_dir.absolute(), *runs_dir.absolute().parents):
        if (suite_dir / SWEEP_RECORD).is_file():
            where = "is" if suite_dir == runs_dir.absolute() else "lies inside"
            fail(
                f"--runs-dir {runs_dir} {where} the runs dir of suite '{suite_dir.name}' ({suite_dir} holds "
                f"{SWEEP_RECORD}); --runs-dir takes the directory above it, {suite_dir.parent}"
            )


def ensure_writable(directory: Path, what: str) -> None:
    """Fail now, in one line, rather than after the sweep trained; never in a run's own directory."""
    refuse_inside_a_run(directory, f"{what} {directory}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        fail(
            f"cannot write to {what} {directory}: {describe_os_error(exc, directory)}; choose a writable "
            f"directory"
        )


def add_verbosity(parser: argparse.ArgumentParser, quiet_keeps: str = "", verbose_adds: str = "") -> None:
    group = parser.add_mutually_exclusive_group()
    keeps = f" ({quiet_keeps})" if quiet_keeps else ""
    group.add_argument("-q", "--quiet", action="store_true", help=f"only warnings and errors{keeps}")
    adds = f" ({verbose_adds})" if verbose_adds else ""
    group.add_argument("-v", "--verbose", action="store_true", help=f"debug messages too{adds}")


class _Below(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def setup_logging(args: argparse.Namespace) -> None:
    """Messages as plain lines: information on stdout, warnings and errors on stderr."""
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(_Below(logging.WARNING))
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    root = logging.getLogger("resnet")
    root.handlers[:] = []
    for handler in (out, err):
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def main_wrapper(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a CLI main: user errors in one line, Ctrl-C as exit 130, a closed pipe as a quiet exit."""
    try:
        return main(argv)
    except UserError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # Python flushes stdout at exit: point it somewhere harmless
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK
    except ImportError as exc:  # a dependency missing or broken (a memory limit torch cannot load under)
        if (exc.name or "").startswith("resnet"):
            raise  # our own code: a bug, with its traceback
        module = exc.name if exc.name and not exc.name.startswith("_") else "a dependency"  # torch's _C
        fail(f"cannot import {module} ({exc}): {IMPORT_FAILED_FIX}", ExitCode.BAD_INPUT)
    except OSError as exc:  # after BrokenPipeError, one of them
        if exc.errno not in (errno.EMFILE, errno.ENFILE):
            raise
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        fail(
            f"too many open files (this shell allows {soft}): raise the limit, e.g. `ulimit -n 4096`, and "
            "run the same command again (finished runs are kept)",
            ExitCode.BAD_INPUT,
        )
    finally:
        default_stop_signals()  # a Ctrl-C during interpreter shutdown (atexit, the forkserver) ends it
