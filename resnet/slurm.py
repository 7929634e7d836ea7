"""Cluster sweeps: the same runs as Slurm job arrays through submitit, one run per array task (several
arrays when there are more runs than MaxArraySize allows in one).

Each task runs exactly the command a local sweep would (train_cifar.py ... --resume) in the same run
directory on the shared filesystem, so the skip/resume rules, logs and the report are the same. On a
timeout or preemption Slurm signals the task (USR2), submitit calls `checkpoint()` and requeues it,
and the requeued task resumes from the run's own last checkpoint. GPUs come from Slurm
(CUDA_VISIBLE_DEVICES is set for the task). No torch import here.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import submitit
from submitit.slurm.slurm import SlurmJob

from resnet.errors import SubmissionError
from resnet.failure import record_failure
from resnet.files import PROJECT_ROOT, read_json, write_json
from resnet.launch import environment
from resnet.machine import command_output
from resnet.run_dir import SUBMITIT_DIR, RunDir
from resnet.run_spec import LaunchOptions, RunSpec
from resnet.slurm_queue import arrays, still_queued
from resnet.states import ExitCode, RunState, state_after_exit
from resnet.words import flag, plural

NOTHING_TO_SUBMIT = "nothing to submit: every run is finished (or failed; --retry-failed runs those again)"
SIGNAL_DELAY_S = 120  # warn a task this long before its time limit, so it can requeue itself


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    gpus_per_run: int = 1
    cpus_per_run: int = 4
    mem_gb: int | None = None
    time: str = "12:00:00"
    max_parallel: int | None = None

    def __post_init__(self) -> None:
        least = {"gpus_per_run": 0, "cpus_per_run": 1, "mem_gb": 1, "max_parallel": 1}
        for name, minimum in least.items():
            value = getattr(self, name)
            if value is not None and value < minimum:
                raise ValueError(f"{flag(name)} must be at least {minimum}, got {value}")
        if self.gpus_per_run > 1:  # a second GPU would sit idle, held from everyone else
            raise ValueError(
                f"--gpus-per-run {self.gpus_per_run}: a run trains on one GPU (no data parallelism here); "
                "give 1 (or 0 for CPU runs): a sweep spreads its runs over the cluster's GPUs instead"
            )
        if self.timeout_min * 60 <= SIGNAL_DELAY_S:  # the warning would come at the start: endless requeues
            raise ValueError(
                f"--time {self.time} leaves no time to train: a task is told to checkpoint "
                f"{SIGNAL_DELAY_S // 60} minutes before its limit; give at least 00:03:00"
            )

    def launch(self, template: LaunchOptions) -> LaunchOptions:
        """Each task trains on what Slurm gave it: its GPU (CUDA_VISIBLE_DEVICES) or its CPUs."""
        return replace(template, device="cuda" if self.gpus_per_run else "cpu", threads=self.cpus_per_run)

    @classmethod
    def from_args(cls, args) -> SlurmOptions:
        return cls(
            args.partition, args.gpus_per_run, args.cpus_per_run, args.mem_gb, args.time, args.max_parallel
        )

    @property
    def timeout_min(self) -> int:
        match = re.fullmatch(r"(?:(\d+)-)?(\d{1,2}):([0-5]\d):([0-5]\d)", self.time)
        if not match:  # minutes and seconds under 60: 12:90:00 is a typo, not 13:30
            raise ValueError(f"--time must be [D-]HH:MM:SS with minutes and seconds 00-59, got {self.time!r}")
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return max(1, days * 1440 + hours * 60 + minutes + (seconds > 0))

    def executor_parameters(self, name: str, tasks: int) -> dict:
        params = {
            "name": name,
            "timeout_min": self.timeout_min,
            "cpus_per_task": self.cpus_per_run,
            "gpus_per_node": self.gpus_per_run,
            "slurm_signal_delay_s": SIGNAL_DELAY_S,
            "slurm_array_parallelism": self.max_parallel or tasks,
        }
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.mem_gb:
            params["mem_gb"] = self.mem_gb
        return params

    def sbatch_flags(self, name: str, tasks: int) -> list[str]:
        flags = [
            f"--job-name={name}",
            f"--time={self.timeout_min}",
            f"--cpus-per-task={self.cpus_per_run}",
            f"--array=0-{tasks - 1}%{self.max_parallel or tasks}",
            f"--signal=USR2@{SIGNAL_DELAY_S}",
        ]
        if self.gpus_per_run:
            flags.append(f"--gpus-per-node={self.gpus_per_run}")
        if self.partition:
            flags.append(f"--partition={self.partition}")
        if self.mem_gb:
            flags.append(f"--mem={self.mem_gb}GB")
        return flags


class SlurmTrainTask(submitit.helpers.Checkpointable):
    """One array task: train one run with the local sweep's command; requeue itself on timeout or
    preemption."""

    def __init__(self, cwd: str, launch: LaunchOptions):
        self.cwd = cwd  # relative run and data dirs mean what they meant where the sweep was submitted
        self.launch = launch

    def __call__(self, spec: RunSpec) -> str:
        os.chdir(self.cwd)
        run = RunDir(spec.run_dir)
        state = spec.state()
        if state.finished:
            return str(state)
        run.path.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = spec.command(self.launch)
        with open(run.log_file, "a") as log:
            log.write(
                f"=== Slurm job {env.get('SLURM_JOB_ID', '?')} on {env.get('SLURMD_NODENAME', '?')} "
                f"(CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '')}): {shlex.join(command)}\n"
            )
            log.flush()
            # Slurm sends USR2 to every process of the step; it is for submitit's requeue handler in this
            # process, and would kill the trainer (default action) before its checkpoint could be used.
            code = subprocess.run(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_ignore_usr2,
            ).returncode
        state = state_after_exit(code, spec.state())
        if state == RunState.FAILED:
            record_failure(spec, code)
        return "elsewhere" if code == ExitCode.LOCKED else str(state)

    def checkpoint(self, spec: RunSpec) -> submitit.helpers.DelayedSubmission:
        # Requeue the same task: train_cifar.py --resume picks up the run's last complete checkpoint.
        return submitit.helpers.DelayedSubmission(self, spec)


def _ignore_usr2() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def submit_sweep(
    specs: list[RunSpec],
    options: SlurmOptions,
    runs_dir: Path,
    launch: LaunchOptions,
    cluster: str = "slurm",
):
    """Submit the runs as job arrays of one task per run, each no longer than Slurm's MaxArraySize allows
    (1001 tasks by default: a sweep of more was refused whole), and return submitit's jobs in the order of
    specs. All or nothing: when sbatch refuses an array, those already submitted are cancelled.

    cluster="local" runs the tasks as local processes (submitit's local executor, for tests). Never
    chosen by default: without Slurm a sweep meant for it must not quietly train on this machine.
    """
    missing = [tool for tool in ("sbatch", "srun") if cluster == "slurm" and not shutil.which(tool)]
    if missing:  # submitit looks for srun too (its tasks start with it)
        raise SubmissionError(
            f"--launcher slurm needs Slurm's sbatch and srun, and there is no {' or '.join(missing)} on PATH "
            "here; submit from a cluster's login node, or leave out --launcher slurm to train on this machine"
        )
    executor = submitit.AutoExecutor(folder=Path(runs_dir) / SUBMITIT_DIR / "%j", cluster=cluster)
    task = SlurmTrainTask(os.getcwd(), launch)
    # Tasks unpickle resnet.* objects, so they must import this checkout even when it is not pip-installed;
    # sbatch (and the local executor) pass the submitting environment on.
    python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    jobs: list = []
    for part in job_arrays(specs, max_array_size() if executor.cluster == "slurm" else None):
        parameters = options.executor_parameters(f"resnet-{specs[0].suite}", len(part))
        if executor.cluster != "slurm":
            parameters = {k: v for k, v in parameters.items() if not k.startswith("slurm_")}
        executor.update_parameters(**parameters)
        try:
            # submitit also prints sbatch's complaint raw to stderr; the error below says it in one line
            with environment({"PYTHONPATH": python_path}), contextlib.redirect_stderr(io.StringIO()):
                jobs += executor.map_array(task, part)
        except submitit.core.utils.FailedJobError as exc:
            said = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            cancelled = _cancel(jobs)
            raise SubmissionError(
                f"sbatch refused the job array: {said}; {_fix(said, options)}{cancelled}"
            ) from None
    return jobs


def _fix(said: str, options: SlurmOptions) -> str:
    """What to change, after sbatch's own words. A GPU request on a cluster with no GPUs (gres) is the
    refusal a first sweep most often meets, since --gpus-per-run defaults to 1."""
    if "gres" in said.lower() and options.gpus_per_run:
        return (
            f"--gpus-per-run {options.gpus_per_run} asks for GPUs this cluster (or --partition) does not "
            "have: choose a GPU partition, or --gpus-per-run 0 to train on CPUs"
        )
    return (
        "check that Slurm is configured here and that --partition, --time, --gpus-per-run, --cpus-per-run "
        "and --mem-gb fit this cluster"
    )


def max_array_size() -> int | None:
    """Slurm's MaxArraySize (an array's task indexes run 0 to it, less one); None when scontrol cannot say."""
    config = command_output(["scontrol", "show", "config"]) or ""
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", config, re.M)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def job_arrays(specs: list[RunSpec], limit: int | None) -> list[list[RunSpec]]:
    """The runs in arrays of at most `limit` tasks (None: one array)."""
    size = limit or len(specs) or 1
    return [specs[i : i + size] for i in range(0, len(specs), size)]


def _cancel(jobs: list) -> str:
    """scancel the arrays already submitted; the words that say so (or nothing)."""
    ids = arrays(job.job_id for job in jobs if isinstance(job, SlurmJob))
    if not ids:
        return ""
    subprocess.run(["scancel", *ids], capture_output=True)
    if len(ids) == 1:
        return f" (the array submitted before it, job {ids[0]}, was cancelled)"
    return f" (the {len(ids)} arrays submitted before it, jobs {', '.join(ids)}, were cancelled)"


def record_submission(jobs, specs: list[RunSpec]) -> None:
    """slurm-job.json in each run dir: the task that will train it, so that a rerun of the sweep (or a
    second --wait) does not queue the same run twice while that task is still queued or running."""
    for job, spec in zip(jobs, specs, strict=True):
        run = RunDir(spec.run_dir)
        with contextlib.suppress(OSError):  # best effort: the lock still stops two tasks training at once
            run.path.mkdir(parents=True, exist_ok=True)
            write_json(run.slurm_job_file, {"job_id": job.job_id, "submitted": time.time()})


def recorded_job(spec: RunSpec) -> str | None:
    """The Slurm task last submitted for this run (its slurm-job.json), if any."""
    job_id = (read_json(RunDir(spec.run_dir).slurm_job_file) or {}).get("job_id")
    return job_id if isinstance(job_id, str) else None


def already_queued(specs: list[RunSpec], runs_dir: Path) -> tuple[list[RunSpec], list[tuple[RunSpec, Any]]]:
    """(the runs to submit, [(run, its queued task as a submitit job)]): a run whose earlier task Slurm
    still lists is not queued twice; the sweep waits for that task instead. One squeue for them all."""
    recorded = [(spec, recorded_job(spec)) for spec in specs]
    ids = [job_id for _, job_id in recorded if job_id]
    queued = still_queued(ids) if ids and shutil.which("squeue") else set()
    folder = Path(runs_dir) / SUBMITIT_DIR / "%j"
    return (
        [spec for spec, job_id in recorded if job_id not in queued],
        [(spec, SlurmJob(folder, job_id)) for spec, job_id in recorded if job_id in queued],
    )


def describe_submission(
    specs: list[RunSpec], options: SlurmOptions, runs_dir: Path, launch: LaunchOptions
) -> str:
    if not specs:
        return NOTHING_TO_SUBMIT
    name, parts = f"resnet-{specs[0].suite}", job_arrays(specs, max_array_size())
    arrays_words = "1 Slurm job array" if len(parts) == 1 else f"{len(parts)} Slurm job arrays (MaxArraySize)"
    lines = [
        f"would submit {arrays_words} of {plural(len(specs), 'task')} (one run each) through submitit:",
        *("  sbatch " + " ".join(options.sbatch_flags(name, len(part))) for part in parts),
        f"  submitit folder: {Path(runs_dir) / SUBMITIT_DIR}; a task requeues itself on timeout or "
        "preemption",
    ]
    lines += [f"  task {i}: {spec.label}: {shlex.join(spec.command(launch))}" for i, spec in enumerate(specs)]
    return "\n".join(lines)
