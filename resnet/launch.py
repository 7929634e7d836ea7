"""Starting a sweep's training processes: forks of a warm interpreter (see resnet.child).

`Launcher.start` returns a `Child`: its pid, its exit status once it ended (negative: the signal that
killed it), and signals sent to its whole process group. No torch import here: only the forkserver
imports it, once per sweep.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
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


def _call(function: str, *args: object) -> None:
    """Runs in the fork: resnet.child is already imported there (preloaded), so this costs nothing."""
    import resnet.child

    getattr(resnet.child, function)(*args)
