"""Errors a user can cause and fix. Each CLI catches `UserError` once and prints its one-line message.

A message says what was wrong and how to fix it, in one line, never cut short. Everything else that
goes wrong is a bug and keeps its traceback.
"""

from __future__ import annotations

from resnet.states import ExitCode


class UserError(Exception):
    """Bad input or an unusable file or directory; `str(error)` is the whole message, one line."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ConfigError(UserError, ValueError):
    """A config that cannot be used: names the field and the constraint."""


class PresetError(UserError, ValueError):
    """An unknown suite, preset or design, or a suite file that cannot be used."""


class RunDirError(UserError):
    """A run directory that cannot be used as asked: says why and what to do."""


class RunLocked(RunDirError):
    """Another live process trains in this run directory."""

    exit_code = ExitCode.LOCKED


class DatasetError(UserError):
    """Missing or unreadable data: says where it looked and how to fix it."""


class CheckpointError(UserError):
    """No usable checkpoint: says which files were tried and why each failed."""


class DeviceError(UserError):
    """A device that does not exist here, or cannot run the config."""


class SubmissionError(UserError):
    """A cluster that refused the job (or is not there): says what it said and what to check."""


# The fix when a dependency cannot be imported: missing, broken, or torch's libraries unable to load under
# a memory limit ('failed to map segment'). Said by both CLIs and by the pilot, for the runs' processes.
IMPORT_FAILED_FIX = (
    "install the dependencies again (pip install -e . in the project), or raise a memory limit that stops "
    "torch's libraries loading (ulimit -v)"
)
