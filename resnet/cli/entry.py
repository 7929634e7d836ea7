"""Where both commands start (the root scripts and the console scripts): a Ctrl-C while the command is
still importing, its first half second, ends it as one a moment later would (`interrupted`, status 130),
not with a traceback from whatever module was loading; and output goes out whatever the terminal's
encoding: a character it lacks (Δ, ±, — on a Latin-1 or ASCII terminal; a non-UTF-8 path echoed back)
prints as '?', not as a UnicodeEncodeError. (A sweep's runs write their train.log the same way:
resnet.child.)"""

from __future__ import annotations

import gc
import importlib
import io
import sys

from resnet.states import ExitCode  # small, so its own import is no window worth closing


def _run(module: str) -> int:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    if sys.platform == "win32":  # run locks (fcntl), process groups and fork servers are POSIX
        print("error: resnet-ablations runs on Linux and macOS; on Windows, use WSL2", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
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
