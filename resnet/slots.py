"""Where a sweep's runs go: one slot per GPU (several with --jobs-per-gpu), or shares of the CPU cores.

GPUs are found without importing torch where possible: CUDA_VISIBLE_DEVICES, else nvidia-smi, else (a
driver without nvidia-smi: a headless driver install, ROCm) torch's device count in a subprocess; none
without a GPU driver. Ids from nvidia-smi are nvidia-smi's (PCI bus order): each run gets
CUDA_DEVICE_ORDER=PCI_BUS_ID with them, or CUDA's default order would give `--gpus 1` another GPU on a
machine with two different models. Asking for a GPU that is not here is one line before anything starts.
Each run is told its device and thread count.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from resnet.errors import DeviceError
from resnet.machine import command_output, usable_cpus

log = logging.getLogger(__name__)


@dataclass
class Slot:
    device: str  # "cuda:<id>" or "cpu"
    env: dict[str, str]
    threads: int

    @property
    def launch_device(self) -> str:
        """What the child is told: 'cuda' (its one visible GPU) or 'cpu'; never silently the other."""
        return "cuda" if self.device.startswith("cuda") else "cpu"

    def shell_prefix(self) -> str:
        return " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())


def visible_gpus() -> list[str]:
    """GPU ids this process may use, found without importing torch."""
    if not gpu_driver():
        return []
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [
            g.strip()
            for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",")
            if g.strip() and g.strip() != "-1"
        ]
    if not shutil.which("nvidia-smi"):
        return [str(i) for i in range(torch_device_count())]
    out = command_output(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"])
    return out.split() if out is not None else []


def torch_device_count() -> int:
    """torch.cuda.device_count() in a subprocess (a few seconds: this process does not import torch)."""
    count = command_output([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"], 120)
    return int(count) if count is not None and count.strip().isdigit() else 0


def gpu_order() -> dict[str, str]:
    """What a run needs so that its CUDA_VISIBLE_DEVICES means what visible_gpus() meant."""
    if "CUDA_VISIBLE_DEVICES" in os.environ or "CUDA_DEVICE_ORDER" in os.environ:
        return {}  # the user's ids, in the user's order
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"} if shutil.which("nvidia-smi") else {}


def gpu_driver() -> bool:
    """Whether a GPU driver is here at all (NVIDIA's or ROCm's): a CUDA_VISIBLE_DEVICES exported by a shell
    profile on a machine without one names GPUs that are not there."""
    markers = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd")
    return bool(shutil.which("nvidia-smi")) or any(Path(marker).exists() for marker in markers)


def make_slots(
    device: str | None = None, gpus: list[str] | None = None, jobs_per_gpu: int = 1, jobs: int = 1
) -> list[Slot]:
    """GPU slots (each GPU jobs_per_gpu times) unless device is 'cpu' or there is no GPU; then `jobs` CPU
    slots. CPU cores are shared evenly between concurrent runs, which are told their thread count."""
    visible = [] if device == "cpu" else visible_gpus()
    if gpus is not None and device == "cpu":
        log.warning("notice: --gpus %s with --device cpu: the runs go to the CPU", ",".join(gpus))
    if gpus is not None and device != "cpu":
        unknown = [g for g in gpus if g not in visible]
        if unknown:
            raise DeviceError(
                f"--gpus {','.join(gpus)}: "
                f"{'GPU ' if len(unknown) == 1 else 'GPUs '}{', '.join(unknown)} "
                f"{'is' if len(unknown) == 1 else 'are'} not visible here "
                f"(visible: {', '.join(visible) or 'none'}); use --device cpu without GPUs"
            )
        visible = gpus
    if device == "cuda" and not visible:
        raise DeviceError(
            "--device cuda, but no GPU is visible (CUDA_VISIBLE_DEVICES / nvidia-smi); use --device cpu"
        )
    count = len(visible) * jobs_per_gpu if visible else jobs
    cpus = usable_cpus()
    threads = max(1, cpus // count)
    if not visible and jobs > cpus:
        log.warning(
            "notice: --jobs %d on %d usable CPU cores: the runs take turns on the cores (1 thread each), "
            "so more jobs than cores adds no throughput",
            jobs,
            cpus,
        )
    if not visible:
        if jobs_per_gpu > 1:
            log.warning(
                "notice: --jobs-per-gpu %d, but the runs go to the CPU (no GPU visible, or --device cpu); "
                "--jobs N runs N at once there",
                jobs_per_gpu,
            )
        return [Slot("cpu", {"CUDA_VISIBLE_DEVICES": ""}, threads) for _ in range(jobs)]
    if jobs > 1:
        log.warning(
            "notice: --jobs %d, but the runs go to the GPUs (%s); --jobs-per-gpu N runs N at once on each",
            jobs,
            ", ".join(visible),
        )
    order = gpu_order()
    return [
        Slot(f"cuda:{g}", {**order, "CUDA_VISIBLE_DEVICES": g}, threads)
        for g in visible
        for _ in range(jobs_per_gpu)
    ]
