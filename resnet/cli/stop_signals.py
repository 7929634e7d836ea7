"""Ctrl-C, SIGTERM and SIGHUP, as both command lines take them: one handler for all three, held around
imports of C extensions, and a repeat that is one request delivered twice counted once.

A command's first stop signal asks it to stop cleanly (a run checkpoints after its current step, a sweep
asks every run to), a second one stops it at once. But some senders deliver one request twice within a
millisecond: `timeout` signals its command and then its whole process group (the command is in it), and
a closed terminal's SIGHUP comes from the shell to its jobs and again from the kernel as the shell exits.
Taken as two, they killed the runs before their checkpoint. So the same signal again within
REPEAT_SECONDS of the last one taken is dropped: no one presses Ctrl-C twice that fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

from resnet.states import STOP_SIGNALS

REPEAT_SECONDS = 0.1

_TERMINALS: set[int] = set()  # stdout and stderr, where they were a terminal
_last_taken: dict[int, float] = {}  # signal number -> when one was last taken (time.monotonic)


def on_stop_signals(handler: Callable[[int], Any]) -> None:
    """Ctrl-C, SIGTERM and SIGHUP (a closed terminal) all go to `handler`, even when the process was
    started with SIGINT ignored (`cmd &` in a script). A SIGHUP ignored from the start stays ignored:
    that is nohup's request to outlive the terminal (and the runs it starts inherit it)."""
    _TERMINALS.update(fd for fd in (1, 2) if os.isatty(fd))
    for sig in STOP_SIGNALS:
        if not _started_ignoring(sig):
            signal.signal(sig, _StopHandler(handler))


class _StopHandler:
    """What on_stop_signals installs: `handler` for every stop signal that is not a repeat."""

    def __init__(self, handler: Callable[[int], Any]):
        self.handler = handler

    def __call__(self, signum: int, frame: object) -> None:
        if _taken(signum):
            self.deliver(signum)

    def deliver(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            silence_a_closed_terminal()
        self.handler(signum)


def _taken(signum: int) -> bool:
    """Whether this arrival is a request of its own, not the last one's repeat (the module docstring)."""
    now = time.monotonic()
    if now - _last_taken.get(signum, -REPEAT_SECONDS) < REPEAT_SECONDS:
        return False
    _last_taken[signum] = now
    return True


def silence_a_closed_terminal() -> None:
    """After a hang-up the terminal answers every write with EIO, which would end the command before it
    wrote its checkpoint or its table: output that went to it goes nowhere instead."""
    gone = [fd for fd in sorted(_TERMINALS) if not os.isatty(fd)]
    if gone:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in gone:
            os.dup2(devnull, fd)
        os.close(devnull)


def _started_ignoring(sig: int) -> bool:
    return sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Around imports of C extensions (numpy, torch, pandas): a KeyboardInterrupt raised inside one can
    come out as an ImportError that a library's `except ImportError` swallows (torch then imports without
    numpy, the run trains on as if never stopped and crashes at its end). A stop signal meanwhile is held
    and given, once the imports are done, to the handler that was in place; a second one (an import that
    hangs) gives them both to it at once. Repeats are dropped as they arrive, not when given."""
    held: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS if not _started_ignoring(sig)}
    previous = {sig: handler for sig, handler in previous.items() if handler is not None}  # None: C's own

    def deliver() -> None:
        while held:
            signum = held.pop(0)
            handler = previous[signal.Signals(signum)]
            if isinstance(handler, _StopHandler):
                handler.deliver(signum)  # taken when it arrived
            elif callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:  # what the signal does by default: SIGTERM ends the process
                signal.signal(signum, handler)
                signal.raise_signal(signum)

    def hold(signum: int, frame: object) -> None:
        if not _taken(signum):
            return
        held.append(signum)
        if len(held) > 1:
            deliver()

    for sig in previous:
        signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        deliver()


def raise_interrupt(signum: int) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def default_stop_signals() -> None:
    """The work is done: a stop signal now just ends the process (a SIGHUP ignored from the start stays
    ignored), rather than raising into code that prints a traceback."""
    for sig in STOP_SIGNALS:
        if not _started_ignoring(sig):
            signal.signal(sig, signal.SIG_DFL)
