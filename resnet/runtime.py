"""How this process runs a config: the device, the speed switches, the thread count, and the record of
where it ran (versions, device, host, git commit, command line)."""

from __future__ import annotations

import datetime
import logging
import platform
import re
import socket
import sys
from dataclasses import dataclass
from typing import Any

import torch

from resnet.config import TrainConfig
from resnet.errors import DeviceError
from resnet.machine import cpu_model, usable_cpus
from resnet.versions import git_commit, package_version
from resnet.words import plural

log = logging.getLogger(__name__)

DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp: bool
    channels_last: bool
    compile: bool
    threads: int

    @classmethod
    def resolve(cls, config: TrainConfig, device: str | None = None, threads: int | None = None) -> Runtime:
        """The device (validated: one line when it is not here), bf16 where it pays, and the thread count,
        which is applied: CPU numbers depend on it, so a resumed run must use the one it started with."""
        resolved, cpus = check_device(device), usable_cpus()
        if threads is None and torch.get_num_threads() > cpus:  # a CPU quota torch does not see
            threads = cpus
        if threads is not None:
            check_threads(threads)
            torch.set_num_threads(threads)
            warn_oversubscribed(threads, cpus)
        amp = bf16_is_fast(resolved) if config.amp is None else config.amp
        if config.compile and resolved.type == "cpu":
            check_cpp_compiler()
        runtime = cls(resolved, amp, config.channels_last, config.compile, torch.get_num_threads())
        log.debug(
            "runtime: %s (%s), %s, bf16 autocast %s%s, %s memory format%s",
            resolved,
            device_name(resolved),
            plural(runtime.threads, "thread"),
            "on" if amp else "off",
            " (chosen for this device)" if config.amp is None else "",
            "channels-last" if config.channels_last else "contiguous",
            ", torch.compile" if config.compile else "",
        )
        return runtime

    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": str(self.device),
            "device_name": device_name(self.device),
            "amp_bf16": self.amp,
            "tf32_convs": bool(torch.backends.cudnn.allow_tf32) if self.device.type == "cuda" else False,
            "channels_last": self.channels_last,
            "compile": self.compile,
            "threads": self.threads,
        }


MAX_THREADS = 1024  # far beyond any CPU's benefit; tens of thousands abort the process inside OpenMP


def check_threads(threads: int) -> None:
    """A thread count OpenMP can start: it aborts the process, no Python error, when it cannot."""
    if not 1 <= threads <= MAX_THREADS:
        raise DeviceError(
            f"--threads must be between 1 and {MAX_THREADS}, got {threads} "
            f"({plural(usable_cpus(), 'usable CPU')} here)"
        )


def warn_oversubscribed(threads: int, cpus: int) -> None:
    if threads > cpus:
        log.warning(
            "warning: %d threads on %s: oversubscribed, so slower (far over, many times slower); "
            "use --threads %d or fewer",
            threads,
            plural(cpus, "usable CPU"),
            cpus,
        )


def check_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not DEVICE_PATTERN.fullmatch(device):
        raise DeviceError(f"unknown device {device!r}; accepted: cpu, cuda, cuda:N")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(
                f"device {device} asked for, but no CUDA GPU is visible here "
                "(CUDA_VISIBLE_DEVICES, driver); use --device cpu"
            )
        if (resolved.index or 0) >= count:
            raise DeviceError(
                f"device {device} does not exist: {plural(count, 'CUDA GPU')} visible "
                f"({'cuda:0' if count == 1 else f'cuda:0..cuda:{count - 1}'})"
            )
    return resolved


def check_cpp_compiler() -> None:
    """torch.compile on the CPU compiles C++ (g++, or what $CXX names): without a compiler the first step
    fails deep inside inductor, after the data loaded and the run dir was made."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler  # private: where it moved, no check
    except ImportError:
        return
    try:
        get_cpp_compiler()
    except Exception as exc:
        raise DeviceError(
            f"--compile on the CPU needs a C++ compiler, and none works here ({type(exc).__name__}); "
            "install one (e.g. apt install g++) or leave --compile out"
        ) from None


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast speeds training up here, as measured (benchmarks/README.md): on CPUs whose
    instruction set has bf16 dot products it does (resnet20 1.7x faster with AMX on a Xeon and with
    AVX512-BF16 on an EPYC); on AVX2-only CPUs bf16 is emulated and 13x slower.
    On GPUs it does not for these models: on an H200, fp32 (convolutions in TF32, PyTorch's default)
    trained ResNet-20/110/18/34/50 at batch 32 and 128 faster than bf16 autocast or within 3% (ResNet-18
    epochs 2.3 s against 3.4 s), the steps being launch-bound; --amp opts in."""
    if device.type == "cpu":
        probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)
    return False


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def environment(runtime: Runtime) -> dict[str, Any]:
    device = runtime.device
    described = (
        f"cuda:{device.index or 0} ({device_name(device)})"
        if device.type == "cuda"
        else f"cpu ({cpu_model()}, {plural(runtime.threads, 'thread')})"
    )
    return {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "device": described,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": package_version("torchvision"),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "git": git_commit(),
        "resnet_ablations": package_version("resnet-ablations"),
        "command": sys.argv,
    }
