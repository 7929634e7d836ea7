"""Fail fast: before a sweep trains, each dataset it reads is made ready (downloaded and decoded once) and
every distinct model/batch/precision it will run takes one forward, backward and SGD step on its target
device, in one short forked process. A dataset that cannot be had or a config that cannot train there
(out of memory, an op the device lacks) stops the sweep up front with one line, not hours later.
torch.compile is not exercised (compiling takes minutes on a CPU), but a CPU run that asks for it needs a
C++ compiler, which is checked. No torch import here.
"""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

from resnet.config import TrainConfig
from resnet.errors import IMPORT_FAILED_FIX, DatasetError, DeviceError
from resnet.failure import last_line
from resnet.files import read_json
from resnet.launch import Launcher
from resnet.run_spec import RunSpec
from resnet.slots import Slot
from resnet.states import describe_exit

PILOT_TIMEOUT_S = 300


def pilot_key(config: TrainConfig) -> tuple:
    return (
        config.dataset,
        config.data_dir,
        config.model,
        config.num_classes,
        config.norm,
        config.dropout,
        config.batch_size,
        config.amp,
        config.channels_last,
    )


def run_pilot(
    specs: list[RunSpec], slot: Slot, launcher: Launcher, timeout: float = PILOT_TIMEOUT_S
) -> float:
    """Raises DeviceError naming the first arm that cannot train; returns the seconds the pilot took."""
    distinct: dict[tuple, RunSpec] = {}
    for spec in specs:
        distinct.setdefault(pilot_key(spec.config), spec)
    if not distinct:
        return 0.0
    chosen = list(distinct.values())
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="resnet-pilot-") as tmp:
        log, result = Path(tmp) / "pilot.log", Path(tmp) / "result.json"
        child = launcher.pilot(
            [s.config.to_dict() for s in chosen], slot.launch_device, slot.threads, log, result, slot.env
        )
        try:
            code = child.wait(timeout)
        finally:
            if child.poll() is None:  # timed out, or Ctrl-C or SIGTERM came: one step has nothing to save
                child.signal(signal.SIGKILL)
                child.wait()
        if code is None:
            raise DeviceError(
                f"the pilot step did not finish in {timeout:.0f} s on {slot.device}; pass --no-pilot to "
                "skip this check"
            )
        results = read_json(result)
        if results is None:
            tail = log.read_text(errors="replace").splitlines() if log.exists() else []
            why = last_line(tail) or "no output"
            imports = why.startswith(("ImportError", "ModuleNotFoundError"))  # every run would fail alike
            fix = IMPORT_FAILED_FIX if imports else "pass --no-pilot to skip this check"
            crash = f"the pilot step crashed on {slot.device} ({describe_exit(code)}: {why})"
            raise DeviceError(f"{crash}; {fix}")
    if results.get("data"):
        raise DatasetError(results["data"])
    if results.get("device"):
        raise DeviceError(f"{slot.device}: {results['device']}")
    for index, spec in enumerate(chosen):
        error = results.get(str(index))
        if error:
            config = spec.config
            precision = {True: ", bf16", False: ", fp32", None: ""}[config.amp]
            raise DeviceError(
                f"{spec.arm.name} ({config.model}, batch {config.batch_size}{precision}) cannot train "
                f"on {slot.device}: {error}"
            )
    return time.monotonic() - start
