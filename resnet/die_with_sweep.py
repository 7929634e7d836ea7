"""Imported first by a sweep's forkserver, before resnet.child and its seconds of torch imports: the
forkserver then dies with the sweep however the sweep dies (kill -9 included), at once rather than once
its imports are done, and its runs, through their own parent-death signal, checkpoint and stop. On its
way out it removes the directory of its socket (/tmp/pymp-*), which the sweep removes when it exits but
not when it is killed.

resnet.launch preloads this only when the sweep's main thread starts the forkserver: Linux sends the
signal when the *thread* that started it ends, and a sweep run from another thread (an embedding
program, the tests) may end before others that share the forkserver.
"""

import atexit
import contextlib
import os
import shutil
import signal
import socket
import time

from resnet.launch import SWEEP_PID_VARIABLE, die_with_parent

FORKSERVER_PID = os.getpid()
SWEEP_PID = int(os.environ.pop(SWEEP_PID_VARIABLE, "") or os.getppid())  # not passed on to the runs


def remove_socket_dir(wait_s: float = 0.5) -> None:
    """In the forkserver only (its forks inherit this), once the sweep is gone (a live sweep removes the
    directory itself when it exits): the directory of its listening socket, a pymp-* one of its own. The
    sweep's end is seen (its end of a pipe closes; the parent-death signal comes as the thread that
    started us ends) before this process is re-parented, by up to seconds on a busy machine while the
    sweep's other threads end."""
    if os.getpid() != FORKSERVER_PID:
        return
    deadline = time.monotonic() + wait_s
    while os.getppid() == SWEEP_PID:
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
    _remove_socket_dirs()


def _remove_socket_dirs() -> None:
    for address in _socket_addresses():
        folder = os.path.dirname(address)
        if os.path.basename(folder).startswith("pymp-"):
            shutil.rmtree(folder, ignore_errors=True)


def _socket_addresses() -> list[str]:
    """The file addresses of this process's Unix sockets, and the listener's as multiprocessing recorded
    it: it records it only once the server serves (not while it still imports), and the server closes the
    socket as it leaves its loop (before atexit)."""
    from multiprocessing import forkserver

    recorded = getattr(forkserver._forkserver, "_forkserver_address", None)
    addresses: list[str] = [recorded] if isinstance(recorded, str) and recorded else []
    try:
        descriptors = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return addresses
    for fd in descriptors:
        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                address = sock.getsockname() if sock.family == socket.AF_UNIX else None
        except OSError:  # not a socket, or closed meanwhile
            continue
        if isinstance(address, str) and address:
            addresses.append(address)
    return addresses


def _on_sweep_death(signum: int, frame: object) -> None:
    if os.getpid() != FORKSERVER_PID:  # a run, before it installed its own handler: die as by default
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    remove_socket_dir(wait_s=10.0)  # the sweep is dying (or its terminal hung up): nothing else to do
    os._exit(1)


# Its own process group: `kill -9 %1` (the shell's job, the sweep's group) must leave it to clean up after
# the sweep; it is idle while the sweep is stopped, and ignores Ctrl-C anyway.
with contextlib.suppress(OSError):
    os.setpgid(0, 0)
atexit.register(remove_socket_dir)  # the sweep closed its end: the forkserver exits by SystemExit
signal.signal(signal.SIGTERM, _on_sweep_death)  # the parent-death signal
if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # a hang-up (an orphaned group's); nohup ignores it
    signal.signal(signal.SIGHUP, _on_sweep_death)
die_with_parent(signal.SIGTERM)
if os.getppid() != SWEEP_PID:  # the sweep died before we could ask (re-parented to init or a subreaper)
    _remove_socket_dirs()
    os._exit(1)
