"""One vocabulary for where a run stands, and the exit codes that carry it between processes.

Shared by the training core, the local runner, the Slurm launcher, the report and both CLIs. No imports
beyond the standard library, so every module may use it.
"""

from __future__ import annotations

import signal
from enum import IntEnum, StrEnum


class RunState(StrEnum):
    PENDING = "pending"  # planned, nothing on disk yet
    QUEUED = "queued"  # will start in this sweep when a slot frees
    RUNNING = "running"  # a live process holds the run's lock (this sweep or another)
    COMPLETED = "completed"  # summary.json verified against config and metrics
    DIVERGED = "diverged"  # finished early: the training loss became non-finite
    FAILED = "failed"  # a process ended without finishing it; failure.json says why
    INTERRUPTED = "interrupted"  # started and stopped; resumes from its last checkpoint
    UNVERIFIED = "unverified"  # has a summary.json that does not verify: the next run repairs or retrains it
    CONFLICT = "conflict"  # the directory holds a run of another config
    UNREADABLE = "unreadable"  # the directory (or one above it) cannot be read: what it holds is unknown

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self in (RunState.COMPLETED, RunState.DIVERGED)


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # train: the run diverged; sweep: some run failed or diverged
    BAD_INPUT = 2  # a UserError: one line on stderr says what and how to fix it
    LOCKED = 75  # another process trains this run (EX_TEMPFAIL)
    INTERRUPTED = 130  # stopped by a signal; the run keeps a checkpoint to resume from


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def state_after_exit(code: int | None, on_disk: RunState, stopped: bool = False) -> RunState:
    """What a run is after its training process ended with `code` (negative: killed by that signal),
    given the state its directory shows now and whether we stopped it. The single mapping from exit
    codes to states: a process killed by anything but our own stop (the OOM killer, say) failed."""
    if on_disk.finished:
        return on_disk
    if code == ExitCode.LOCKED:
        return RunState.RUNNING
    if stopped or code == ExitCode.INTERRUPTED or (code is not None and -code in STOP_SIGNALS):
        return RunState.INTERRUPTED
    return RunState.FAILED


def describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit status"
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
