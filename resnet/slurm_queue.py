"""What Slurm's queue says about a sweep's tasks: which may still run, which wait for a request the
cluster will never grant, and the wait for them all (`run_ablations.py --launcher slurm --wait`).

The queue is read with squeue, one call per poll for every task. submitit's own check asks sacct, which
a cluster without accounting refuses, aloud, on every poll; it is the fallback only where squeue is
missing or does not answer. No torch import here.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from submitit.slurm.slurm import SlurmJob

from resnet.errors import SubmissionError
from resnet.failure import record_failure
from resnet.run_spec import RunSpec
from resnet.states import RunState
from resnet.words import plural

# Slurm's job states after which a task will not run again (squeue's long names)
ENDED_STATES = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"}
ENDED_STATES |= {"OUT_OF_MEMORY", "PREEMPTED", "SPECIAL_EXIT", "REVOKED"}
# pending reasons that ask more than the partition, account or QOS allows: the task waits for good.
# Not PartitionNodeLimit: for a one-node task it means the partition's nodes are down or drained.
NEVER_STARTS = {"PartitionConfig", "PartitionTimeLimit", "BadConstraints"}
NEVER_STARTS |= {"InvalidAccount", "InvalidQOS", "AccountNotAllowed", "QOSNotAllowed"}

Tasks = dict[str, set[tuple[str, str]]]  # task id -> its (state, reason) lines


def squeue(job_ids: list[str]) -> Tasks | None:
    """Each task's (state, reason), from one squeue (-r: a line per array task; all states: the default
    view hides a task for a moment while it is requeued). A task Slurm no longer knows is absent (a single
    one is an 'Invalid job id'). None without squeue or while the controller does not answer."""
    ids = sorted(set(job_ids))
    if not ids or not shutil.which("squeue"):
        return None
    command = ["squeue", "-h", "-t", "all", "-r", "-j", ",".join(ids), "-o", "%i %T %r"]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        return {} if "Invalid job id" in out.stderr else None  # else a passing hiccup: ask again later
    tasks: Tasks = {}
    for line in out.stdout.splitlines():
        job_id, state, reason = (line.strip().split(" ", 2) + ["", ""])[:3]
        tasks.setdefault(job_id, set()).add((state, reason))
    return tasks


def still_queued(job_ids: list[str]) -> set[str]:
    """The tasks among `job_ids` that Slurm may still run; all of them when the queue cannot be read."""
    tasks = squeue(job_ids)
    if tasks is None:
        return set(job_ids)
    return {job_id for job_id in set(job_ids) if _states(tasks, job_id) - ENDED_STATES}


def arrays(task_ids: Iterable[str]) -> list[str]:
    """The job arrays these tasks belong to ('123' of task '123_4')."""
    return sorted({task_id.split("_")[0] for task_id in task_ids})


def _states(tasks: Tasks, job_id: str) -> set[str]:
    return {state for state, _ in tasks.get(job_id, set())}


def _ended(job, tasks: Tasks | None) -> bool:
    if isinstance(job, SlurmJob) and tasks is not None:
        return not _states(tasks, job.job_id) - ENDED_STATES
    return job.done()


def _returned(job) -> bool:
    """Whether the task's own code returned (submitit pickled its result): then it recorded what became of
    its run itself, e.g. a run stopped by scancel is interrupted, with a checkpoint, not failed."""
    if not _of_this_task(job.paths.result_pickle, job):
        return False
    try:
        outcome, _ = pickle.loads(job.paths.result_pickle.read_bytes())
    except Exception:  # a torn result: it said nothing
        return False
    return outcome == "success"


def _of_this_task(path: Path, job) -> bool:
    """Whether `path` exists and was written for this task, not left by an earlier job of the same id (a
    cluster whose job ids started again): no older than the task's submission."""
    try:
        written = path.stat().st_mtime
    except OSError:
        return False
    try:
        return written >= job.paths.submitted_pickle.stat().st_mtime - 1  # 1 s: coarse file clocks
    except OSError:
        return True


def wait_for(jobs, specs: list[RunSpec], poll_s: float = 5.0, echo=print) -> list[RunSpec]:
    """Wait until every task ended, saying what became of each run (_say_ended); returns the specs whose
    run did not finish. Tasks pending for a reason that never passes are named once per reason; when they
    are all that is left, waiting would never end: SubmissionError (the tasks stay queued for the user to
    scancel, as an admin may still raise the limit)."""
    pending = dict(zip(jobs, specs, strict=True))
    told: set[str] = set()
    while pending:
        tasks = squeue([job.job_id for job in pending if isinstance(job, SlurmJob)])
        for job, spec in list(pending.items()):
            if _ended(job, tasks):
                pending.pop(job)
                _say_ended(job, spec, "CANCELLED" in _states(tasks or {}, job.job_id), echo)
        stuck = _never_starting(tasks or {})
        stuck_ids = {job_id for ids in stuck.values() for job_id in ids}
        if pending and all(_only_stuck(job, tasks or {}, stuck_ids) for job in pending):
            raise SubmissionError(
                f"stopped waiting: Slurm will never start the {plural(len(pending), 'task')} left "
                f"{_why_stuck(stuck)}; `run_ablations.py --report` tables what finished"
            )
        _say_never_starting(stuck, told, echo)
        if pending:
            time.sleep(poll_s)
    return [spec for spec in specs if not spec.state().finished]


def _only_stuck(job, tasks: Tasks, stuck_ids: set[str]) -> bool:
    """Whether every line squeue has for this task is a pending one that never passes."""
    return isinstance(job, SlurmJob) and job.job_id in stuck_ids and _states(tasks, job.job_id) == {"PENDING"}


def _say_ended(job, spec: RunSpec, cancelled: bool, echo) -> None:
    """A failure is recorded only for a task that started and ended without finishing its run or saying
    why (killed from outside, a node lost): not for one cancelled (scancel stops a run as Ctrl-C does) nor
    one whose own code returned (it recorded what became of the run). An interrupted run, or one that
    never started, is for the next sweep to resume or submit."""
    state, task = spec.state(), f"Slurm task {job.job_id}"
    started = _of_this_task(job.paths.stderr, job)
    if not (state.finished or state == RunState.FAILED or cancelled or not started or _returned(job)):
        record_failure(spec, None, f"{task} ended without finishing the run; see {job.paths.stderr}")
        state = RunState.FAILED
    if state == RunState.PENDING:
        echo(f"{spec.label}: never started ({task}); the next sweep submits it")
    elif state == RunState.INTERRUPTED:
        echo(f"{spec.label}: interrupted ({task}); the next sweep resumes it")
    else:
        echo(f"{spec.label}: {state} ({task})")


def never_starts(reason: str) -> bool:
    """Whether a pending reason lasts as long as the task does: a request past a partition's bounds, or past
    a QOS or association limit on one job or node (QOSMaxCpuPerJobLimit, AssocMaxGRESPerNode) or below a
    QOS minimum. Not the limits on how much a user or account runs at once (QOSMaxJobsPerUserLimit,
    AssocMaxJobsLimit, QOSMaxCpuPerUserLimit): those pass as the sweep's other tasks end, which is how a
    large array on a shared cluster normally waits."""
    if reason in NEVER_STARTS or reason.startswith("QOSMin"):
        return True
    return reason.startswith(("QOSMax", "AssocMax")) and ("PerJob" in reason or "PerNode" in reason)


def say_if_never_starting(job_ids: list[str], echo=print) -> None:
    """One look at the queue, for a sweep that does not wait: Slurm gives a task asking for more than the
    cluster grants its reason at submission, so the submitter hears it now, not after hours of 'queued'."""
    _say_never_starting(_never_starting(squeue(job_ids) or {}), set(), echo)


def _never_starting(tasks: Tasks) -> dict[str, list[str]]:
    """The tasks pending for a reason that never passes, by reason."""
    stuck: dict[str, list[str]] = {}
    for job_id, lines in sorted(tasks.items()):
        for state, reason in lines:
            if state == "PENDING" and never_starts(reason):
                stuck.setdefault(reason, []).append(job_id)
    return stuck


def _say_never_starting(stuck: dict[str, list[str]], told: set[str], echo) -> None:
    for reason, ids in stuck.items():
        if reason not in told:
            told.add(reason)
            echo(f"Slurm holds {plural(len(ids), 'task')} pending for good {_why_stuck({reason: ids})}")


def _why_stuck(stuck: dict[str, list[str]]) -> str:
    """The reasons, and the fix: what was asked for is more than the cluster grants."""
    ids = [job_id for ids in stuck.values() for job_id in ids]
    return (
        f"({', '.join(stuck)}: more than this cluster grants such a job); scancel {' '.join(arrays(ids))}, "
        "then submit again with less (--cpus-per-run, --gpus-per-run, --mem-gb, --time) or another "
        "--partition"
    )
