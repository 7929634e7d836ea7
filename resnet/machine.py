"""This machine's devices, named without importing torch: the sweep CLI times plans with them."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's marketing name ('AMD EPYC', 'Intel(R) Xeon(R) ...')."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """The CPUs this process may run on (taskset, a cpuset, a Slurm allocation), not all the machine has,
    and no more than a CPU quota grants (docker --cpus, a Kubernetes limit: whole CPUs, at least one)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return min(cpus, max(1, int(quota))) if quota is not None else cpus


def cgroup_cpu_quota(
    membership: Path = Path("/proc/self/cgroup"), mount: Path = Path("/sys/fs/cgroup")
) -> float | None:
    """The CPUs a cgroup's CPU quota grants this process, the tightest from its cgroup up to the root
    (cgroup v2's cpu.max, v1's cpu.cfs_quota_us); None without one. Threads past it are throttled
    together: in a 1-CPU quota here, a ResNet-20 run of 2 threads trained at 535-541 img/s, of 1 at
    641-648 (benchmarks/cpu_quota.sh)."""
    try:
        entries = [line.split(":", 2) for line in membership.read_text().splitlines()]
    except OSError:
        return None
    quotas = []
    for entry in entries:
        if len(entry) != 3 or (entry[1] and "cpu" not in entry[1].split(",")):
            continue
        root = mount / entry[1]  # v2: the unified root; v1: the cpu controller's mount
        node = root / entry[2].lstrip("/")
        for directory in (node, *node.parents):
            quotas += _quota(directory)
            if directory == root:
                break
    return min(quotas) if quotas else None


def _quota(directory: Path) -> list[float]:
    try:
        if (directory / "cpu.max").is_file():  # v2: "max 100000" or "200000 100000"
            quota, period = (directory / "cpu.max").read_text().split()[:2]
        else:
            quota = (directory / "cpu.cfs_quota_us").read_text().strip()  # -1: none
            period = (directory / "cpu.cfs_period_us").read_text().strip()
        return [int(quota) / int(period)] if quota not in ("max", "-1") and int(period) > 0 else []
    except (OSError, ValueError):
        return []


def busy_cpus(seconds: float = 0.15, windows: int = 2) -> float | None:
    """How many CPUs are busy now, machine-wide, while this process sleeps: the least over `windows`
    consecutive windows of /proc/stat, so that a process that merely exits or starts does not count as
    load. None where that is not known (not Linux)."""

    def ticks() -> tuple[int, int]:  # (all, idle + iowait), summed over the CPUs
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(values), values[3] + values[4]

    busy = []
    try:
        before = ticks()
        for _ in range(windows):
            time.sleep(seconds)
            after = ticks()
            elapsed, idle = after[0] - before[0], after[1] - before[1]
            busy.append((elapsed - idle) / elapsed * (os.cpu_count() or 1) if elapsed > 0 else 0.0)
            before = after
    except (OSError, ValueError, IndexError):
        return None
    return min(busy)


def gpu_name(index: str = "0") -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    out = command_output(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", index])
    return out.strip() or None if out is not None else None


def device_name(device: str) -> str:
    """The name runs record for `device` ('cpu', 'cuda:N'), which earlier runs are timed by: the CPU model,
    or the GPU's as nvidia-smi names it."""
    return (gpu_name(device.split(":")[1]) or "GPU") if device.startswith("cuda") else cpu_model()


def command_output(command: list[str], timeout: float = 10) -> str | None:
    """A tool's standard output, or None when it is missing, fails or hangs: what it says is optional."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None
