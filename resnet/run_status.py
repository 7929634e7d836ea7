"""Where one run of a local sweep stands: its state, slot, process and note, and the progress its run dir
shows (what the live table and the sweep's tally read). No torch import here."""

from __future__ import annotations

from dataclasses import dataclass, field

from resnet.launch import Child
from resnet.run_dir import RunDir
from resnet.run_spec import RunSpec
from resnet.slots import Slot
from resnet.states import RunState
from resnet.summary import finite


@dataclass
class RunStatus:
    spec: RunSpec
    state: RunState = RunState.QUEUED
    slot: Slot | None = None
    exit_code: int | None = None
    note: str = ""
    started: float | None = None
    ended: float | None = None
    child: Child | None = field(default=None, repr=False)

    def progress(self) -> dict:
        """Epochs done (fractional), the last accuracy, images/s and ETA, from what the run wrote."""
        run = RunDir(self.spec.run_dir)
        metrics = run.metrics()
        last = metrics[-1] if metrics else {}
        info = {
            "epochs": float(len(metrics)),
            "acc": last.get("val_acc", last.get("test_acc")),
            "split": "val" if "val_acc" in last else "test",
        }
        if self.state == RunState.RUNNING:
            now = {k: v for k, v in run.progress().items() if finite(v)}  # numbers only: never crash the view
            if now.get("steps") and "epoch" in now and "step" in now:
                info["epochs"] = now["epoch"] - 1 + now["step"] / now["steps"]
            info.update(ips=now.get("images_per_sec"), eta=now.get("eta_seconds"))
        return info
