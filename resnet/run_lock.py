"""A run's lock: an exclusive flock on its .lock file while a process trains there, so that no run is
trained twice at once (two sweeps on one runs dir, a rerun while a sweep still runs)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from resnet.errors import RunDirError, RunLocked
from resnet.files import describe_os_error


class RunLock:
    """An exclusive flock on the run's .lock file, held while a process trains there.

    The kernel drops a flock when its holder dies, however it dies, so a crash cannot leave a stale
    lock behind: a leftover .lock file whose writer is gone is simply free again.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RunDirError(
                f"cannot write to the run dir: {describe_os_error(exc, self.path.parent)}; "
                "choose a writable run dir"
            ) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self.fd)
            self.fd = None
            if isinstance(exc, BlockingIOError):
                holder = self.path.read_text(errors="replace").strip() or "another process"
                raise RunLocked(
                    f"{self.path.parent} is being trained by {holder}; not starting it twice"
                ) from None
            raise RunDirError(  # ENOLCK, EOPNOTSUPP: a filesystem without locks (some NFS mounts)
                f"cannot lock {self.path}: {describe_os_error(exc)}; put the runs dir on a filesystem with "
                "file locks (a local disk; an NFS mount with its lock service)"
            ) from None
        with contextlib.suppress(OSError):  # who holds it, for the message above: a full disk goes without
            os.ftruncate(self.fd, 0)
            os.write(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock at `path`; reads only (a report may run on a read-only copy)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False  # no lock file: nobody ever trained here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:  # a filesystem without locks: no one can hold one (training there says so)
        return False
    finally:
        os.close(fd)
