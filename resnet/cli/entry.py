"""Where both commands start (the root scripts and the console scripts): a Ctrl-C (or SIGTERM, or a
hang-up) while the command is still importing, its first half second, ends it as one a moment later would
(`interrupted`, status 130), not with a traceback from whatever module was loading nor silently; and
output goes out whatever the terminal's encoding: a character it lacks (Δ, ±, — on a Latin-1 or ASCII
terminal; a non-UTF-8 path echoed back) prints as '?', not as a UnicodeEncodeError, and output that
cannot go out (a reader gone, a full disk) is dropped, not fatal: OutputThatMayGo. (A sweep's runs write
their train.log with the same encoding rule: resnet.child.)"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any

from resnet.states import ExitCode  # small, so its own import is no window worth closing

FILE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # where `> file` output stops for good


class OutputThatMayGo:
    """sys.stdout or sys.stderr, for a reader that may go away: `| head` (EPIPE), a terminal that hung up
    (EIO), or a file on a disk that filled up (`> sweep.log`: ENOSPC, EDQUOT, EFBIG). The output then goes
    to /dev/null and the command carries on: a sweep's runs finish and its table is written, a run trains
    on. Nothing can be said to a reader who left; a full file is named once on the other stream."""

    def __init__(self, stream: io.TextIOWrapper):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._survive(lambda: self._stream.write(text), len(text))

    def flush(self) -> None:
        self._survive(self._stream.flush, None)

    def _survive(self, action: Callable[[], Any], otherwise: Any) -> Any:
        try:
            return action()
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EIO, *FILE_FULL):
                raise
            fd = self._stream.fileno()
            where = _target(fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            with contextlib.suppress(OSError):
                self._stream.flush()  # what was buffered for the reader goes nowhere too
            if exc.errno in FILE_FULL:
                _say_on(
                    2 if fd == 1 else 1,
                    f"warning: output to {where} stopped: {os.strerror(exc.errno).lower()}; the rest of it "
                    "is dropped (the command's own files are written as usual)",
                )
            return otherwise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _target(fd: int) -> str:
    """What descriptor `fd` writes to, for a message: its path where Linux says, else its name."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "standard output" if fd == 1 else "standard error"


def _say_on(fd: int, line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, (line + "\n").encode(errors="replace"))


def _standard_streams() -> None:
    """A command started with stdin, stdout or stderr closed (`>&-`, some daemons) gets /dev/null there:
    Python leaves sys.stdout None (the first print or flush would end the sweep in a traceback), and the
    next file opened would take descriptor 1 and so receive the output of every run the sweep starts."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            mode = "r" if fd == 0 else "w"
            stream = open(fd, mode, encoding="utf-8", closefd=False, buffering=1 if fd else -1)  # noqa: SIM115
            setattr(sys, name, stream)  # for the life of the process


def _run(module: str) -> int:
    _standard_streams()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
            setattr(sys, name, OutputThatMayGo(stream))
    if sys.platform == "win32":  # run locks (fcntl), process groups and fork servers are POSIX
        print("error: resnet-ablations runs on Linux and macOS; on Windows, use WSL2", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:  # every relative path (runs/, data/, a suite file) starts here
        os.getcwd()
    except FileNotFoundError:
        print(
            "error: the current directory no longer exists (deleted or moved); cd into one that does and "
            "run the command again",
            file=sys.stderr,
        )
        return ExitCode.BAD_INPUT
    from resnet.cli.stop_signals import on_stop_signals, raise_interrupt, stop_signals_held

    on_stop_signals(raise_interrupt)  # SIGTERM or a hang-up before the command's own handlers: as Ctrl-C
    try:
        with stop_signals_held():
            main = importlib.import_module(module).main
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    code = main()
    # The work is done: the interpreter's exit need not walk every object that torch, pandas and
    # matplotlib made (0.7-1 s of every command here). atexit handlers and flushing still run.
    gc.freeze()
    return code


def train() -> int:
    return _run("resnet.cli.train")


def sweep() -> int:
    return _run("resnet.cli.sweep")
