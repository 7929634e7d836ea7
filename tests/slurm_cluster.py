"""A real one-node Slurm (munged, slurmctld, slurmd on localhost, CPU only) for the `slurm` tests.

Needs Debian's slurm-wlm and munge and root (slurmd runs jobs as any user). The daemons use their own
ports and a config in a temp dir, and are stopped by their PIDs afterwards; a munged that was already
running is reused and left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CONF = """ClusterName=resnettest
SlurmctldHost={host}
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName={host} CPUs={cpus} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


class SlurmCluster:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.started: list[int] = []

    def start(self) -> SlurmCluster:
        missing = [tool for tool in NEEDED if not shutil.which(tool)]
        if missing:
            raise RuntimeError(
                f"Slurm tests need {', '.join(missing)}: apt-get install -y slurm-wlm munge (.ci/run does)"
            )
        if os.geteuid() != 0:
            raise RuntimeError("Slurm tests start slurmd, which must run as root")
        for sub in ("state", "spool", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            CONF.format(host=socket.gethostname().split(".")[0], dir=self.dir, cpus=os.cpu_count())
        )
        self._start_munge()
        for daemon, pidfile in (("slurmctld", "slurmctld.pid"), ("slurmd", "slurmd.pid")):
            subprocess.run([daemon], env=self.env, check=True, timeout=30)
            self.started.append(self._read_pid(self.dir / pidfile))
        self._wait_for_idle_node()
        return self

    def _start_munge(self) -> None:
        if MUNGE_SOCKET.exists() and subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            return  # a working munged is already there: use it, leave it running
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        subprocess.run(["munged", "--force"], check=True, timeout=30)
        self.started.insert(0, self._read_pid(Path("/run/munge/munged.pid")))

    @staticmethod
    def _read_pid(path: Path, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            time.sleep(0.1)
        raise RuntimeError(f"no pid file {path}")

    def _wait_for_idle_node(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True)
            if out.stdout.strip() == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node never became idle; see {self.dir / 'log'}")

    def stop(self) -> None:
        for pid in reversed(self.started):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        self.started.clear()
