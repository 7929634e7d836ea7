"""Starting a sweep's training processes: forks of a warm interpreter (see resnet.child).

`Launcher.start` returns a `Child`: its pid, its exit status once it ended (negative: the signal that
killed it), and signals sent to its whole process group. No torch import here: only the forkserver
imports it, once per sweep.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from multiprocessing.process import BaseProcess
from pathlib import Path


class Child:
    def __init__(self, process: BaseProcess):
        self.process = process

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    @property
    def sentinel(self) -> int:
        """A handle that becomes ready when the child ends (for multiprocessing.connection.wait)."""
        return self.process.sentinel

    def signal(self, sig: int) -> None:
        """Signal the child's process group (it is a session leader): the run and anything it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode


class Launcher:
    """One forkserver per sweep, started on first use; it dies with the sweep, and its children with it."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["resnet.child"])

    def _start(self, function: str, *args: object) -> Child:
        _start_servers_detached()
        process = self.context.Process(target=_call, args=(function, *args), daemon=False)
        process.start()
        return Child(process)

    def train(self, arguments: list[str], log_path: Path, env: dict[str, str]) -> Child:
        return self._start("train", arguments, str(log_path), env)

    def pilot(
        self,
        configs: list[dict],
        device: str,
        threads: int,
        log_path: Path,
        result_path: Path,
        env: dict[str, str],
    ) -> Child:
        return self._start("pilot", configs, device, threads, str(log_path), str(result_path), env)


def _start_servers_detached() -> None:
    """Start multiprocessing's forkserver (and its resource tracker) with stdout and stderr on /dev/null.

    They inherit whatever the sweep's output is; holding a pipe open, they would keep `run_ablations.py |
    tee log` waiting for the seconds a process with torch loaded takes to exit after the sweep did. The
    runs' output goes to their train.log either way."""
    from multiprocessing import forkserver

    if getattr(forkserver._forkserver, "_forkserver_pid", None) is not None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        forkserver.ensure_running()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _call(function: str, *args: object) -> None:
    """Runs in the fork: resnet.child is already imported there (preloaded), so this costs nothing."""
    import resnet.child

    getattr(resnet.child, function)(*args)
