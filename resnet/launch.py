"""Starting a sweep's training processes: forks of a warm interpreter (see resnet.child), which die with
the sweep (`die_with_parent`, called in each of them).

`Launcher.start` returns a `Child`: its pid, its exit status once it ended (negative: the signal that
killed it), and signals sent to its whole process group. No torch import here: only the forkserver
imports it, once per sweep.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from multiprocessing.process import BaseProcess
from pathlib import Path

PR_SET_PDEATHSIG = 1
SWEEP_PID_VARIABLE = "RESNET_ABLATIONS_SWEEP_PID"  # for the forkserver only
ORPHAN_POLL_S = 1.0


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Get `sig` when the process that forked us dies: the kernel's parent-death signal on Linux; elsewhere
    (macOS) a daemon thread that notices the process was re-parented, within a second."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
            return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_POLL_S)
        os.kill(os.getpid(), sig)  # the run's own handler: checkpoint and stop

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


# What multiprocessing reports for a child whose fork server died before it (killed from outside): the
# run itself then stops as on any death of its parent, and only its own files say how far it got. A
# process started otherwise (a Slurm task's subprocess) has its own status, never this stand-in.
LOST_STATUS = 255


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
        """Signal the child's process group (it leads one): the run and anything it started. In the moment
        after the fork, before the child made its group, the child itself (a Ctrl-Z or Ctrl-C then must
        not miss the run just started)."""
        if self.poll() is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)
        except PermissionError:
            pass

    def stopped(self) -> bool:
        """Whether the child is stopped (a SIGSTOP from outside the sweep, a debugger); Linux's /proc
        tells, elsewhere this says False."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
        return bool(fields) and fields[0] in ("T", "t")

    def wait(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode


def stop_this_process() -> None:
    """SIGTSTP's default action, as if we had no handler: returns once the process is continued. (In an
    orphaned process group, where no shell could continue it, the kernel ignores it and this returns.)"""
    handler = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    try:
        os.kill(os.getpid(), signal.SIGTSTP)
    finally:
        signal.signal(signal.SIGTSTP, handler)


class Launcher:
    """One forkserver per sweep, started on first use; it dies with the sweep, and its children with it."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("forkserver")

    def start_server(self) -> None:
        """Start the forkserver now (it starts on first use otherwise): before other threads exist, as it
        changes the environment for a moment."""
        _start_servers_detached(self.context)

    def _start(self, function: str, log_path: Path, *args: object) -> Child:
        _start_servers_detached(self.context)
        process = self.context.Process(target=_call, args=(function, str(log_path), args), daemon=False)
        process.start()
        return Child(process)

    def train(self, arguments: list[str], log_path: Path, env: dict[str, str]) -> Child:
        return self._start("train", log_path, arguments, str(log_path), env)

    def pilot(
        self,
        configs: list[dict],
        device: str,
        threads: int,
        log_path: Path,
        result_path: Path,
        env: dict[str, str],
    ) -> Child:
        return self._start("pilot", log_path, configs, device, threads, str(log_path), str(result_path), env)


def _start_servers_detached(
    context: multiprocessing.context.ForkServerContext, preload: tuple[str, ...] = ("resnet.child",)
) -> None:
    """Start multiprocessing's forkserver (and its resource tracker) with stdout and stderr on /dev/null,
    preloading `preload` (and first resnet.die_with_sweep, on Linux when this is the main thread), with
    this process's sys.path.

    They inherit whatever the sweep's output is; holding a pipe open, they would keep `run_ablations.py |
    tee log` waiting for the seconds a process with torch loaded takes to exit after the sweep did. The
    runs' output goes to their train.log either way."""
    from multiprocessing import forkserver

    if getattr(forkserver._forkserver, "_forkserver_pid", None) is not None:
        return
    # Linux only: elsewhere die_with_parent is a thread, and the forkserver forks: it stays single-threaded
    guard = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
    context.set_forkserver_preload(["resnet.die_with_sweep"] * guard + list(preload))
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with environment(forkserver_environment()):
            _socket_dir_short_enough()
            forkserver.ensure_running()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


SUN_PATH_MAX = 104  # bytes of a Unix socket's path with its NUL: 108 on Linux, 104 on macOS


def _socket_dir_short_enough() -> None:
    """The forkserver listens on $TMPDIR/pymp-XXXXXXXX/listener-XXXXXXXX, which a long $TMPDIR (a cluster
    job's, a deep project dir) makes too long for a Unix socket: 'OSError: AF_UNIX path too long'. There its
    directory goes to /tmp instead, as Python 3.14's multiprocessing does by itself (CPython gh-132124)."""
    from multiprocessing import util

    if len(os.fsencode(tempfile.gettempdir())) + len("/pymp-XXXXXXXX/listener-XXXXXXXX") < SUN_PATH_MAX:
        return
    saved, tempfile.tempdir = tempfile.tempdir, "/tmp"
    try:
        util.get_temp_dir()  # made now, under /tmp, and kept for this process's sockets
    finally:
        tempfile.tempdir = saved


def forkserver_environment() -> dict[str, str]:
    """This process's sys.path for the forkserver, which Python < 3.12.8 does not pass on (CPython
    gh-117378): the forkserver then imports from its working directory and site-packages only, so with
    `python path/to/run_ablations.py` from another directory the preload fails silently and every run
    imports torch itself (5-6 s each here), or, with another checkout installed, preloads that one's code.
    PYTHONSAFEPATH keeps the working directory out of its path, as it is out of this process's. And the
    sweep's pid (resnet.die_with_sweep: whether the sweep died while the forkserver started)."""
    from multiprocessing import spawn

    paths = [p for p in spawn.get_preparation_data("forkserver")["sys_path"] if p and os.path.exists(p)]
    return {"PYTHONPATH": os.pathsep.join(paths), "PYTHONSAFEPATH": "1", SWEEP_PID_VARIABLE: str(os.getpid())}


@contextlib.contextmanager
def environment(changes: dict[str, str]):
    """os.environ with `changes` for the duration (what a process started now inherits), then as it was."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _call(function: str, log_path: str, args: tuple) -> None:
    """Runs in the fork: resnet.child is already imported there (preloaded), so this costs nothing. When
    the forkserver could not import it (torch that cannot load here: a broken install, a memory limit),
    the import fails again here, before the run's output goes to its log: the traceback is written there,
    so that the run's failure (and the pilot's) says why rather than 'exit 1, no output'."""
    try:
        import resnet.child
    except Exception:
        with open(log_path, "a", encoding="utf-8", errors="replace") as log:
            traceback.print_exc(file=log)
        os._exit(1)
    getattr(resnet.child, function)(*args)
