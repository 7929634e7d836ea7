"""failure.json: why a run failed, written by whichever launcher saw it fail (local sweep or Slurm), read
by the report and the live table. No torch import here."""

from __future__ import annotations

import datetime
import signal

from resnet.files import read_json, write_json
from resnet.run_dir import RunDir
from resnet.run_spec import RunSpec
from resnet.states import describe_exit

LOG_TAIL_LINES = 20


def any_runs_reason(reason: str, spec: RunSpec) -> str:
    """`reason` with the run's own directory in words: runs that failed alike (a full disk, each naming
    its own dir) read as one error, for the sweep's stop after three and its summary."""
    return reason.replace(str(spec.run_dir), "its run dir")


def last_line(lines: list[str]) -> str:
    """The last thing a run said: its error line or the last line of a traceback."""
    line = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return line.removeprefix("error: ")


# A run killed with SIGKILL said nothing about it (its last line is progress), and this sweep's own stop
# counts as an interruption (states.py): someone else sent it, most often the kernel out of memory.
KILLED_FROM_OUTSIDE = (
    "not by this sweep: the kernel's out-of-memory killer (`dmesg` names its victims), a scheduler or a "
    "kill -9; --retry-failed resumes it from its last checkpoint"
)


# Signals a process gets from its own native code (torch's kernels, a driver, the hardware): no Python
# error was printed, so its last output is progress, or a library's last words (SIGABRT's, often).
NATIVE_CRASHES = {-s for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT)}


def native_crash(tail: list[str]) -> str:
    last = last_line(tail)
    return "a crash in native code (torch, a driver or the hardware)" + (
        f"; its last output: {last}" if last else ""
    )


def record_failure(spec: RunSpec, exit_code: int | None, reason: str = "") -> dict:
    """failure.json: the exit code and the end of the run's log, so the report can say what happened.
    Best effort: a full disk keeps the record in memory only."""
    run = RunDir(spec.run_dir)
    gone = ""
    try:
        tail = run.log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except FileNotFoundError:  # the sweep wrote its first line before the run started
        tail, gone = [], f"its {run.log_file.name} is gone: was {run.path} removed while it ran?"
    except OSError:
        tail = []
    if exit_code == 0 and not reason:  # its last line says all went well: say what did not
        why = run.why_unverified(spec.config, read_json(run.summary_file))
        reason = f"it ended without a verified result: {why or 'its summary verifies now; run it again'}"
    record = {
        "exit_code": exit_code,
        "reason": reason
        or (KILLED_FROM_OUTSIDE if exit_code == -signal.SIGKILL else "")
        or (native_crash(tail) if exit_code in NATIVE_CRASHES else "")
        or last_line(tail)
        or gone
        or describe_exit(exit_code),
        "log_tail": tail,
        "failed_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "config": spec.config.to_dict(),
        "config_hash": spec.config.short_hash(),
    }
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        write_json(run.failure_file, record)
    except OSError:
        pass
    return record
