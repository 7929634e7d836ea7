"""A run directory: where one run keeps its config, metrics, checkpoints and summary, and its lock.

    config.json      resolved config, hash, seed, versions, device, git commit (written at start)
    metrics.jsonl    one line per finished epoch
    summary.json     written once, at the end: the run is finished when this exists
    checkpoint.pt    the last epoch's state; checkpoint.prev.pt the one before (see checkpoint.py)
    train.log        the run's stdout and stderr when a runner started it
    failure.json     exit code and log tail when a runner saw the run fail
    tb/              TensorBoard events
Every JSON file is written atomically (temp file, fsync, rename), so a crash never leaves half a file.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked; the message says why and what to do."""


class RunLocked(RunDirError):
    """Another live process is training in this run directory."""


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def read_jsonl(path: Path) -> list[dict]:
    """Every complete line; a torn last line (a crash mid-write) is ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.json")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    summary_file = property(lambda self: self.path / "summary.json")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    previous_checkpoint_file = property(lambda self: self.path / "checkpoint.prev.pt")
    log_file = property(lambda self: self.path / "train.log")
    failure_file = property(lambda self: self.path / "failure.json")
    tensorboard_dir = property(lambda self: self.path / "tb")
    lock_file = property(lambda self: self.path / ".lock")

    def __str__(self) -> str:
        return str(self.path)

    def recorded_hash(self) -> str | None:
        record = read_json(self.config_file)
        return record.get("config_hash") if record else None

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.exists() or self.previous_checkpoint_file.exists()

    def state(self, config_hash: str) -> str:
        """new | finished | failed | interrupted | conflict (the directory holds another config)."""
        recorded = self.recorded_hash()
        if recorded is not None and recorded != config_hash:
            return "conflict"
        if self.summary_file.exists():
            return "finished"
        if self.failure_file.exists():
            return "failed"
        if self.has_checkpoint():
            return "interrupted"
        return "new"

    def conflict_message(self, config_hash: str) -> str:
        return (f"{self.path} holds a run of another config (hash {self.recorded_hash()}, this one is {config_hash}); "
                "it is never overwritten: choose another run dir (--run-dir / --runs-dir) or move that one away")

    def metrics(self) -> list[dict]:
        return read_jsonl(self.metrics_file)

    def is_locked(self) -> bool:
        """Whether a live process trains here now; reads only (a report may run on a read-only copy)."""
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except OSError:
            return False  # no lock file: nobody ever trained here
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)


class RunLock:
    """An exclusive flock on the run's .lock file, held while a process trains there.

    The kernel drops a flock when its holder dies, however it dies, so a crash cannot leave a stale
    lock behind: a leftover .lock file whose writer is gone is simply free again.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(f"cannot write to {self.path.parent} ({exc.strerror or exc}); choose a writable run dir") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(self.path).read_text().strip() or "another process"
            os.close(self.fd)
            self.fd = None
            raise RunLocked(f"{self.path.parent} is being trained by {holder}; not starting it twice") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing releases the flock
            self.fd = None
