"""Where a training run is, told three ways: progress.json for the runner's live table, rich bars on a
terminal, and plain lines when output goes to a log (an epoch line each epoch, a step line at most
every 30 s). The ETA comes from the first steps, not from a whole epoch.

A stop (Ctrl-Z, or the sweep stopping its runs) must not pass for slow training: each SIGCONT is
counted, the step rate is measured afresh after one, and the epoch it fell in (the next one, for a stop
between two epochs) records its stops, so that its time counts in no speed figure.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from typing import Any

from resnet.files import write_json
from resnet.run_dir import RunDir
from resnet.words import format_seconds

log = logging.getLogger("resnet.train")
FILE_EVERY_S = 2.0
LINE_EVERY_S = 30.0
EVAL_SHARE = 0.1  # an epoch's evaluation, guessed as a tenth of its training time until one is measured
_continues = 0  # SIGCONTs this process got while a Progress watched: each ended a stop


def continues() -> int:
    return _continues


def _count_continue(signum: int, frame: object) -> None:
    global _continues
    _continues += 1


class Progress:
    def __init__(self, run: RunDir, epochs: int, steps_per_epoch: int, batch_size: int, start_epoch: int):
        self.run, self.epochs, self.steps, self.batch_size = run, epochs, steps_per_epoch, batch_size
        self.session_start: float | None = None  # after the first step: it carries warm-up and compilation
        self.session_steps = 0
        self.eval_seconds: float | None = None
        self.last_file = self.last_line = 0.0
        self.bar: Any = None
        self.continues_seen = _continues
        self.previous_handler: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous_handler = signal.signal(signal.SIGCONT, _count_continue)
            signal.siginterrupt(signal.SIGCONT, False)  # native code's blocking calls restart, never fail
        if sys.stdout.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as Bars,
            )

            self.bar = Bars(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"),
            )
            self.epoch_task = self.bar.add_task("epochs", total=epochs, completed=start_epoch, note="")
            self.step_task = self.bar.add_task("batches", total=steps_per_epoch, note="")
            self.bar.start()

    def rate(self) -> float | None:
        """Seconds per step in this session, once a step past the first one is done."""
        if self.session_start is None or self.session_steps == 0:
            return None
        return (time.monotonic() - self.session_start) / self.session_steps

    def eta(self, epoch: int, step: int) -> float | None:
        per_step = self.rate()
        if per_step is None:
            return None
        remaining_steps = (self.epochs - epoch) * self.steps + (self.steps - step)
        per_eval = self.eval_seconds if self.eval_seconds is not None else per_step * self.steps * EVAL_SHARE
        return remaining_steps * per_step + (self.epochs - epoch + (step < self.steps)) * per_eval

    def step(self, epoch: int, step: int) -> None:
        """Called after step `step` (1-based) of epoch `epoch` (1-based)."""
        now = time.monotonic()
        if self.session_start is None or self.continues_seen != _continues:  # begun, or continued
            self.continues_seen, self.session_start, self.session_steps = _continues, now, 0
        else:
            self.session_steps += 1
        if self.bar:
            self.bar.update(self.step_task, completed=step)
        if now - self.last_file >= FILE_EVERY_S or step == self.steps:
            self.write(epoch, step, phase="train")
            self.last_file = now
        if not self.bar and now - self.last_line >= LINE_EVERY_S and self.session_steps:
            self.last_line = now
            per_step = self.rate() or 0
            log.info(
                "epoch %d/%d: %d%% (%d/%d steps) | %s img/s | ETA %s",
                epoch,
                self.epochs,
                100 * step // self.steps,
                step,
                self.steps,
                f"{self.batch_size / per_step:,.0f}" if per_step else "?",
                format_seconds(self.eta(epoch, step)) or "?",
            )

    def write(self, epoch: int, step: int, phase: str) -> None:
        per_step = self.rate()
        record = {
            "epoch": epoch,
            "epochs": self.epochs,
            "step": step,
            "steps": self.steps,
            "phase": phase,
            "images_per_sec": self.batch_size / per_step if per_step else None,
            "eta_seconds": self.eta(epoch, step),
            "updated": time.time(),
        }
        with contextlib.suppress(OSError):  # progress is a courtesy; a checkpoint write reports a full disk
            write_json(self.run.progress_file, record)

    def end_epoch(self, record: dict, eval_seconds: float) -> None:
        self.eval_seconds = eval_seconds
        val = f" | val acc {record['val_acc']:.2f}%" if "val_acc" in record else ""
        line = (
            f"epoch {record['epoch']}/{self.epochs} | train loss {record['train_loss']:.4f} acc "
            f"{record['train_acc']:.2f}%{val} | test loss {record['test_loss']:.4f} acc "
            f"{record['test_acc']:.2f}% | lr {record['lr']:.4g} | {record['epoch_seconds']:.1f} s | "
            f"{record['images_per_sec']:,.0f} img/s"
        )
        self.write(record["epoch"], self.steps, phase="done")
        if self.bar:
            self.bar.update(
                self.epoch_task, completed=record["epoch"], note=f"test acc {record['test_acc']:.2f}%"
            )
            self.bar.reset(self.step_task)
            self.bar.console.print(line)
        else:
            log.info(line)

    def close(self) -> None:
        if self.previous_handler is not None:
            signal.signal(signal.SIGCONT, self.previous_handler)
        if self.bar:
            self.bar.stop()
        self.run.progress_file.unlink(missing_ok=True)
