"""The Slurm launcher: options and dry run, submitit's local executor, and (marker `slurm`) a real slurmd."""

import json
import os
import subprocess
import time

import pytest

from resnet.errors import SubmissionError
from resnet.plan import Selection, make_plan
from resnet.presets import load_suite
from resnet.run_spec import LaunchOptions
from resnet.slurm import SlurmOptions, SlurmTrainTask, submit_sweep
from resnet.slurm_queue import wait_for
from resnet.states import RunState
from resnet.train import train
from tests.conftest import run_cli, sweep_main, wait_for_epochs
from tests.slurm_cluster import SlurmCluster


def quiet(*args, **kwargs):
    pass


def sessions(run_dir) -> int:
    return len(json.loads((run_dir / "config.json").read_text())["sessions"])


def specs_for(suite_file, runs_dir, presets, seeds=(0,), **overrides):
    selection = Selection(tuple(presets), None, tuple(overrides.items()), seeds)
    return make_plan(load_suite(suite_file), selection, runs_dir).specs


def test_time_limits_and_sbatch_flags():
    assert SlurmOptions(time="12:00:00").timeout_min == 720
    assert SlurmOptions(time="1-02:00:30").timeout_min == 1561
    with pytest.raises(
        ValueError, match=r"--time must be \[D-\]HH:MM:SS with minutes and seconds 00-59, got '90'"
    ):
        SlurmOptions(time="90")
    with pytest.raises(
        ValueError, match=r"--time must be \[D-\]HH:MM:SS with minutes and seconds 00-59, got '12:90:00'"
    ):
        SlurmOptions(time="12:90:00")  # a typo, not 13:30
    with pytest.raises(ValueError, match="--time 00:02:00 leaves no time to train"):
        SlurmOptions(time="00:02:00")  # USR2 two minutes before the limit: at the start, requeued forever
    for bad, message in (
        ({"gpus_per_run": -1}, "--gpus-per-run must be at least 0, got -1"),
        ({"gpus_per_run": 2}, "--gpus-per-run 2: a run trains on one GPU"),  # the second would sit idle
        ({"cpus_per_run": 0}, "--cpus-per-run must be at least 1, got 0"),
        ({"mem_gb": 0}, "--mem-gb must be at least 1, got 0"),
        ({"max_parallel": 0}, "--max-parallel must be at least 1, got 0"),
    ):
        with pytest.raises(ValueError, match=message):
            SlurmOptions(**bad)
    flags = SlurmOptions(partition="gpu", gpus_per_run=1, max_parallel=4).sbatch_flags("resnet-x", 7)
    assert "--array=0-6%4" in flags and "--partition=gpu" in flags and "--gpus-per-node=1" in flags
    params = SlurmOptions(partition="gpu", mem_gb=32).executor_parameters("resnet-x", 7)
    assert (
        params["slurm_partition"] == "gpu"
        and params["gpus_per_node"] == 1
        and params["slurm_array_parallelism"] == 7
    )


def two_arms_on_slurm(suite_file) -> list:
    """2 arms x 2 seeds of the test suite through the Slurm launcher."""
    return [
        "--suite-file",
        suite_file,
        "--config",
        "base",
        "cosine",
        "--seeds",
        "0",
        "1",
        "--launcher",
        "slurm",
    ]


def test_dry_run_prints_the_array_without_submitting(tmp_path, suite_file):
    result = run_cli(
        "run_ablations.py",
        *two_arms_on_slurm(suite_file),
        "--partition",
        "gpu",
        "--time",
        "02:00:00",
        "--runs-dir",
        tmp_path / "runs",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "would submit 1 Slurm job array of 4 tasks (one run each) through submitit:"
    assert "--array=0-3%4" in lines[1] and "--partition=gpu" in lines[1] and "--time=120" in lines[1]
    assert (
        lines[3].startswith("  task 0: tiny/base/seed0: ")
        and "--run-dir" in lines[3]
        and "--resume" in lines[3]
    )
    assert "--config-json" in lines[3] and "--device cuda --threads 4" in lines[3]
    assert lines[-1].startswith("# 2 arms x 2 seeds = 4 runs; about ") and "wall time" not in result.stdout
    assert not (tmp_path / "runs").exists()
    failed = tmp_path / "runs" / "tiny" / "base" / "seed0"
    failed.mkdir(parents=True)
    (failed / "failure.json").write_text('{"reason": "out of memory"}')
    result = run_cli(
        "run_ablations.py", *two_arms_on_slurm(suite_file), "--runs-dir", tmp_path / "runs", "--dry-run"
    )
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "# skip tiny/base/seed0: failed before: out of memory (failure.json); pass --retry-failed to run it "
        "again"
    )
    assert lines[1] == "would submit 1 Slurm job array of 3 tasks (one run each) through submitit:"
    assert lines[-1].startswith("# still to train: 3 runs, about ")  # what a submission costs, as locally


def slurm_sweep(tmp_path, suite_file, *flags):
    return sweep_main(
        "--suite-file", suite_file, "--config", "base", "--runs-dir", tmp_path / "runs",
        "--results-dir", tmp_path / "results", "--launcher", "slurm", "--gpus-per-run", "0", *flags,
    )  # fmt: skip


def test_without_slurm_a_slurm_sweep_is_one_line_and_never_trains_here(tmp_path, suite_file, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no sbatch (submitit would fall back to local)
    code, out, err = slurm_sweep(tmp_path, suite_file)
    assert code == 2 and err.count("\n") == 1 and out == ""
    assert err.startswith(
        "error: --launcher slurm needs Slurm's sbatch and srun, and there is no sbatch or srun"
    )
    fake_tool(tmp_path / "bin", "sbatch", "exit 1")  # sbatch alone: submitit would fail on the missing srun
    code, out, err = slurm_sweep(tmp_path, suite_file)
    assert code == 2 and "Traceback" not in err and "there is no srun on PATH here; submit from" in err
    assert not list(tmp_path.glob("runs/*/*/seed0/config.json"))


def fake_tool(bin_dir, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / name).chmod(0o755)


def test_sbatch_refusing_the_array_is_one_line_with_what_it_said(tmp_path, suite_file, monkeypatch):
    bin_dir = tmp_path / "bin"
    fake_tool(
        bin_dir,
        "sbatch",
        "echo 'sbatch: error: invalid partition specified: nosuch' >&2\n"
        "echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1",
    )
    fake_tool(bin_dir, "srun", "exit 1")  # never run at submission; submitit only looks for it
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out, err = slurm_sweep(tmp_path, suite_file, "--partition", "nosuch")
    assert code == 2 and err.count("\n") == 1, err
    assert err == (
        "error: sbatch refused the job array: sbatch: error: invalid partition specified: nosuch; sbatch: "
        "error: Batch job submission failed: Invalid partition name specified; check that Slurm is "
        "configured here and that --partition, --time, --gpus-per-run, --cpus-per-run and --mem-gb fit "
        "this cluster\n"
    )


def test_a_submission_slurm_will_never_start_is_named_at_once(tmp_path, suite_file, monkeypatch):
    """sbatch takes an array that asks for more than any node has (--cpus-per-run 64 on a 2-CPU node of
    a real slurmctld) and squeue gives its reason at once: without --wait the submitter heard only
    'submitted', and the task sat pending for good."""
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "sbatch", "echo 'Submitted batch job 51'")
    fake_tool(bin_dir, "srun", "exit 1")
    fake_tool(bin_dir, "squeue", "echo '51_0 PENDING PartitionConfig'")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out, err = slurm_sweep(tmp_path, suite_file, "--cpus-per-run", "64")
    assert code == 0 and err == "", err
    assert out.splitlines()[1] == (
        "Slurm holds 1 task pending for good (PartitionConfig: more than this cluster grants such a job); "
        "scancel 51, then submit again with less (--cpus-per-run, --gpus-per-run, --mem-gb, --time) or "
        "another --partition"
    )


@pytest.mark.parametrize(
    "reason, for_good",
    [  # Slurm's own reason names (libslurm 22.05)
        ("PartitionConfig", True),
        ("QOSMaxCpuPerJobLimit", True),
        ("QOSMaxWallDurationPerJobLimit", True),
        ("AssocMaxGRESPerNode", True),
        ("AssocMaxNodePerJobLimit", True),
        ("QOSMinCpuNotSatisfied", True),
        ("QOSMaxJobsPerUserLimit", False),  # a user's Nth task waits for the others: the normal case
        ("QOSMaxCpuPerUserLimit", False),
        ("QOSMaxSubmitJobPerUserLimit", False),
        ("AssocMaxJobsLimit", False),
        ("AssocGrpCpuLimit", False),
        ("PartitionNodeLimit", False),  # for one-node tasks: the partition's nodes are down or drained
        ("Resources", False),
        ("Priority", False),
    ],
)
def test_only_a_request_no_wait_can_grant_is_called_pending_for_good(reason, for_good):
    """A 100-task array on a cluster that runs 4 tasks per user waits behind QOSMaxJobsPerUserLimit: telling
    that user to scancel a healthy sweep would be the harm."""
    from resnet.slurm_queue import never_starts

    assert never_starts(reason) is for_good


def test_a_gpu_request_on_a_cluster_without_gpus_says_how_to_train_on_cpus(tmp_path, suite_file, monkeypatch):
    """What sbatch says (here a real slurmctld without GPUs, word for word) when --gpus-per-run keeps its
    default of 1: the fix is named, not left among five flags to check."""
    bin_dir = tmp_path / "bin"
    fake_tool(
        bin_dir, "sbatch", "echo 'sbatch: error: Invalid generic resource (gres) specification' >&2\nexit 1"
    )
    fake_tool(bin_dir, "srun", "exit 1")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out, err = slurm_sweep(tmp_path, suite_file, "--gpus-per-run", "1")
    assert code == 2 and err.count("\n") == 1, err
    assert err.endswith(
        "specification; --gpus-per-run 1 asks for GPUs this cluster (or --partition) does not have: choose "
        "a GPU partition, or --gpus-per-run 0 to train on CPUs\n"
    )


def test_waiting_reads_squeue_names_a_request_slurm_never_grants_and_records_a_task_gone(
    tmp_path, suite_file, monkeypatch
):
    """squeue alone says when a task ended (submitit's check asks sacct, which a cluster without accounting
    refuses aloud on every poll); a task pending for good (asking for 1000 CPUs) is named once, with the fix;
    one that ran and left the queue without finishing its run is recorded as failed; ones cancelled while
    pending stay to run (no failure.json: the next sweep submits them)."""
    from submitit.slurm.slurm import SlurmJob

    bin_dir, polls = tmp_path / "bin", tmp_path / "polls"
    fake_tool(  # two polls list the tasks, the third none: they ended
        bin_dir,
        "squeue",
        f'echo . >> "{polls}"\nif [ $(wc -l < "{polls}") -lt 3 ]; then\n'
        "echo '7_0 PENDING PartitionConfig'; echo '7_1 PENDING PartitionConfig'; echo '8_0 RUNNING None'\nfi",
    )
    fake_tool(bin_dir, "sacct", "echo 'Slurm accounting storage is disabled' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    specs = specs_for(suite_file, tmp_path / "runs", ["base", "cosine"], seeds=(0, 1))[:3]
    jobs = [SlurmJob(tmp_path / "submitit" / "%j", job_id) for job_id in ("7_0", "7_1", "8_0")]
    jobs[2].paths.stderr.parent.mkdir(parents=True)
    jobs[2].paths.stderr.write_text("slurmstepd: error: *** JOB 8 ON node CANCELLED ***\n")  # 8_0 ran
    said: list[str] = []
    assert wait_for(jobs, specs, poll_s=0.01, echo=said.append) == specs  # none finished its run
    assert said[0] == (
        "Slurm holds 2 tasks pending for good (PartitionConfig: more than this cluster grants such a job); "
        "scancel 7, then submit again with less (--cpus-per-run, --gpus-per-run, --mem-gb, --time) or "
        "another --partition"
    )
    assert said[1:] == [  # the two that never ran are still to run; the one that ran and vanished failed
        f"{specs[0].label}: never started (Slurm task 7_0); the next sweep submits it",
        f"{specs[1].label}: never started (Slurm task 7_1); the next sweep submits it",
        f"{specs[2].label}: failed (Slurm task 8_0)",
    ]
    assert polls.read_text().count(".") == 3  # one squeue per poll for every task, never sacct
    failure = json.loads((specs[2].run_dir / "failure.json").read_text())
    assert failure["reason"].startswith("Slurm task 8_0 ended without finishing the run; see ")
    assert not (specs[0].run_dir / "failure.json").exists()


def test_waiting_stops_once_only_tasks_slurm_never_starts_are_left(tmp_path, suite_file, monkeypatch):
    """--wait on an array asking for more than the cluster grants (a real slurmctld gave PartitionConfig to
    --cpus-per-run 4 on a 2-CPU node) waited forever. It waits while another task runs (8_0), then stops
    with the fix once nothing but the stuck tasks is left; they stay queued, and no run counts as failed."""
    from submitit.slurm.slurm import SlurmJob

    bin_dir, polls = tmp_path / "bin", tmp_path / "polls"
    fake_tool(  # 8_0 runs for two polls, then has left the queue; 7_0 and 7_1 stay stuck
        bin_dir,
        "squeue",
        f'echo . >> "{polls}"\necho "7_0 PENDING PartitionConfig"\necho "7_1 PENDING QOSMaxCpuPerJobLimit"\n'
        f'if [ $(wc -l < "{polls}") -lt 3 ]; then echo "8_0 RUNNING None"; fi',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    specs = specs_for(suite_file, tmp_path / "runs", ["base", "cosine"], seeds=(0, 1))[:3]
    jobs = [SlurmJob(tmp_path / "submitit" / "%j", job_id) for job_id in ("7_0", "7_1", "8_0")]
    said: list[str] = []
    with pytest.raises(SubmissionError) as raised:
        wait_for(jobs, specs, poll_s=0.01, echo=said.append)
    assert polls.read_text().count(".") == 3  # stopped at the first poll with only the stuck tasks left
    assert said[0].startswith("Slurm holds 1 task pending for good (PartitionConfig: more than this")
    assert said[2] == f"{specs[2].label}: never started (Slurm task 8_0); the next sweep submits it"
    assert str(raised.value) == (
        "stopped waiting: Slurm will never start the 2 tasks left (PartitionConfig, QOSMaxCpuPerJobLimit: "
        "more than this cluster grants such a job); scancel 7, then submit again with less (--cpus-per-run, "
        "--gpus-per-run, --mem-gb, --time) or another --partition; `run_ablations.py --report` tables what "
        "finished"
    )
    assert not list((tmp_path / "runs").glob("**/failure.json"))


def test_a_run_stopped_by_scancel_is_not_recorded_as_failed(tmp_path, suite_file, monkeypatch):
    """scancel stops a task's trainer with SIGTERM: it checkpoints and the task returns 'interrupted' (9_0),
    or Slurm, which lists the task CANCELLED, kills it first (9_2, 9_3: before it trained). Those runs
    are the next sweep's to resume or submit; only a task that started and ended without a word, not
    cancelled (killed, a node lost: 9_1), is a failure."""
    from submitit.core.utils import cloudpickle_dump
    from submitit.slurm.slurm import SlurmJob

    bin_dir = tmp_path / "bin"
    ended = ("9_1 FAILED", "9_2 CANCELLED", "9_3 CANCELLED")  # as squeue -t all lists them a while
    fake_tool(bin_dir, "squeue", "; ".join(f"echo '{task} None'" for task in ended))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    specs = specs_for(suite_file, tmp_path / "runs", ["base"], seeds=(0, 1, 2, 3))
    jobs = [SlurmJob(tmp_path / "submitit" / "%j", f"9_{seed}") for seed in range(4)]
    for spec in specs[:3]:  # stopped mid-run: metrics written, no summary
        spec.run_dir.mkdir(parents=True)
        (spec.run_dir / "metrics.jsonl").write_text("")
    for job in jobs:  # each ran
        job.paths.stderr.parent.mkdir(parents=True)
        job.paths.stderr.write_text("")
    cloudpickle_dump(("success", "interrupted"), jobs[0].paths.result_pickle)
    said: list[str] = []
    assert wait_for(jobs, specs, poll_s=0.01, echo=said.append) == specs  # none finished its run
    assert said == [
        f"{specs[0].label}: interrupted (Slurm task 9_0); the next sweep resumes it",
        f"{specs[1].label}: failed (Slurm task 9_1)",
        f"{specs[2].label}: interrupted (Slurm task 9_2); the next sweep resumes it",
        f"{specs[3].label}: never started (Slurm task 9_3); the next sweep submits it",
    ]
    assert [(spec.run_dir / "failure.json").exists() for spec in specs] == [False, True, False, False]


def test_files_an_earlier_job_of_the_same_id_left_say_nothing_of_this_task(tmp_path, suite_file, monkeypatch):
    """A cluster whose job ids started again: task 9_0's folder still holds the log and the result of the
    first 9_0. Older than this submission, they neither start nor finish the new task."""
    from submitit.core.utils import cloudpickle_dump
    from submitit.slurm.slurm import SlurmJob

    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "squeue", "exit 0")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    specs = specs_for(suite_file, tmp_path / "runs", ["base"], seeds=(0, 1))
    jobs = [SlurmJob(tmp_path / "submitit" / "%j", job_id) for job_id in ("9_0", "9_1")]
    specs[1].run_dir.mkdir(parents=True)
    (specs[1].run_dir / "metrics.jsonl").write_text("")  # 9_1 started and was killed: no result of its own
    for job in jobs:
        job.paths.stderr.parent.mkdir(parents=True)
        job.paths.stderr.write_text("the first job's log\n")
        cloudpickle_dump(("success", "completed"), job.paths.result_pickle)
        for old in (job.paths.stderr, job.paths.result_pickle):
            os.utime(old, (time.time() - 3600, time.time() - 3600))
        job.paths.submitted_pickle.write_bytes(b"")  # this submission: now
    jobs[1].paths.stderr.write_text("the first job's log\nthis one's, cut short\n")  # 9_1 did start
    said: list[str] = []
    wait_for(jobs, specs, poll_s=0.01, echo=said.append)
    assert said == [
        f"{specs[0].label}: never started (Slurm task 9_0); the next sweep submits it",
        f"{specs[1].label}: failed (Slurm task 9_1)",
    ]


def test_a_sweep_past_maxarraysize_goes_in_several_arrays_all_or_nothing(tmp_path, suite_file, monkeypatch):
    """Slurm refuses an array past MaxArraySize (1001 tasks by default) whole: the runs go in arrays that
    fit. When sbatch refuses a later one, the arrays already submitted are cancelled, so that nothing
    runs unrecorded and a rerun does not queue those runs twice."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    fake_tool(bin_dir, "scontrol", "echo 'MaxArraySize            = 2'")
    fake_tool(bin_dir, "srun", "exit 1")
    fake_tool(bin_dir, "scancel", f'echo "scancel $*" >> "{calls}"')
    fake_tool(  # the first two arrays are taken, the third refused
        bin_dir,
        "sbatch",
        f'echo "sbatch $*" >> "{calls}"\nn=$(grep -c sbatch "{calls}")\n'
        'if [ "$n" -le 2 ]; then echo "Submitted batch job 4$n"\n'
        'else echo "sbatch: error: QOS limit" >&2; exit 1; fi',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    specs = specs_for(suite_file, tmp_path / "runs", ["base", "cosine"], seeds=(0, 1, 2))  # 6 runs
    options = SlurmOptions(gpus_per_run=0, cpus_per_run=1, time="00:10:00")
    launch = options.launch(LaunchOptions())
    with pytest.raises(SubmissionError) as refused:
        submit_sweep(specs[:5], options, tmp_path / "runs", launch)  # arrays of 2, 2 and 1
    assert str(refused.value).endswith(
        "fit this cluster (the 2 arrays submitted before it, jobs 41, 42, were cancelled)"
    )
    assert "sbatch: error: QOS limit" in str(refused.value)
    sbatch = [line for line in calls.read_text().splitlines() if line.startswith("sbatch")]
    assert len(sbatch) == 3 and calls.read_text().splitlines()[-1] == "scancel 41 42"
    calls.unlink()
    jobs = submit_sweep(specs[:4], options, tmp_path / "runs", launch)  # two arrays, both taken
    assert [job.job_id for job in jobs] == ["41_0", "41_1", "42_0", "42_1"]
    from resnet.slurm import describe_submission

    described = describe_submission(specs, options, tmp_path / "runs", launch).splitlines()
    assert described[0].startswith("would submit 3 Slurm job arrays (MaxArraySize) of 6 tasks")
    assert [line.split("--array=")[1].split()[0] for line in described[1:4]] == ["0-1%2"] * 3


def test_a_task_requeues_itself_with_the_same_run():
    task = SlurmTrainTask("/somewhere", LaunchOptions("cpu", 1))
    delayed = task.checkpoint("spec")
    assert delayed.function is task and delayed.args == ("spec",)


def test_sweep_through_submitits_local_executor(tmp_path, suite_file, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative run dirs resolve where the sweep was submitted
    specs = specs_for(suite_file, tmp_path / "runs", ["base", "broken"])
    options = SlurmOptions(gpus_per_run=0, cpus_per_run=1, time="00:10:00")
    launch = options.launch(LaunchOptions())
    jobs = submit_sweep(specs, options, tmp_path / "runs", launch, cluster="local")
    failed = wait_for(jobs, specs, poll_s=0.5, echo=quiet)
    assert [s.arm.name for s in failed] == ["broken"]
    assert [job.result() for job in jobs] == ["completed", "failed"]
    assert (tmp_path / "runs" / "tiny" / "base" / "seed0" / "summary.json").exists()
    failure = json.loads((tmp_path / "runs" / "tiny" / "broken" / "seed0" / "failure.json").read_text())
    assert failure["exit_code"] == 2 and "cannot write to the data dir" in failure["reason"]
    # A second submission of a finished run trains nothing.
    again = submit_sweep(specs[:1], options, tmp_path / "runs", launch, cluster="local")
    assert again[0].result() == "completed" and sessions(specs[0].run_dir) == 1


# --- a real slurmd -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    os.environ["SLURM_CONF"] = str(cluster.conf)  # submitit calls sbatch/squeue/scontrol from this process
    yield cluster
    del os.environ["SLURM_CONF"]
    cluster.stop()


@pytest.mark.slurm
def test_sweep_on_a_real_slurm_cluster(tmp_path, suite_file, slurm):
    args = [
        *two_arms_on_slurm(suite_file),
        "--gpus-per-run",
        "0",
        "--cpus-per-run",
        "1",
        "--time",
        "00:10:00",
        "--runs-dir",
        tmp_path / "runs",
        "--results-dir",
        tmp_path / "results",
    ]
    result = run_cli("run_ablations.py", *args, "--wait", env=slurm.env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "submitted a Slurm job array of 4 runs" in result.stdout
    for preset in ("base", "cosine"):
        for seed in (0, 1):
            run_dir = tmp_path / "runs" / "tiny" / preset / f"seed{seed}"
            summary = json.loads((run_dir / "summary.json").read_text())
            assert summary["status"] == "completed" and summary["epochs_completed"] == 1
            assert "=== Slurm job" in (run_dir / "train.log").read_text()
    table = (tmp_path / "results" / "tiny.md").read_text()
    assert "| base |" in table and "(n=2)" in table
    again = run_cli("run_ablations.py", *args, env=slurm.env)
    assert again.returncode == 0 and "nothing to submit" in again.stdout
    report = run_cli(
        "run_ablations.py",
        "--suite-file",
        suite_file,
        "--report",
        "--runs-dir",
        tmp_path / "runs",
        "--results-dir",
        tmp_path / "again",
    )
    assert report.returncode == 0 and (tmp_path / "again" / "tiny.md").read_text() == table


@pytest.mark.slurm
def test_a_tuned_sweep_with_wait_submits_the_final_runs_once_tuning_chose(tmp_path, suite_file, slurm):
    tuned = tmp_path / "tuned.toml"
    tuned.write_text(suite_file.read_text() + "\n[tune]\nlr = [0.05, 0.1]\nseeds = [0]\n")
    result = run_cli(
        "run_ablations.py", "--suite-file", tuned, "--config", "base", "--seeds", "0", "1",
        "--launcher", "slurm", "--gpus-per-run", "0", "--cpus-per-run", "1", "--time", "00:10:00",
        "--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results", "--wait",
        env=slurm.env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    submitted = [line for line in result.stdout.splitlines() if line.startswith("submitted")]
    assert len(submitted) == 2 and "array of 2 runs" in submitted[0] and "array of 1 run:" in submitted[1]
    table = (tmp_path / "results" / "tuned.md").read_text()
    assert "selected by tuning" in table and "(n=2)" in table and "## Tuning: lr per arm" in table


@pytest.mark.slurm
def test_a_rerun_never_queues_a_run_twice_and_wait_waits_for_the_earlier_task(tmp_path, suite_file, slurm):
    command = (
        "run_ablations.py", "--suite-file", suite_file, "--config", "long", "--launcher", "slurm",
        "--gpus-per-run", "0", "--cpus-per-run", "1", "--time", "00:10:00",
        "--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results",
    )  # fmt: skip
    first = run_cli(*command, env=slurm.env, timeout=120)
    assert first.returncode == 0 and "submitted a Slurm job array of 1 run:" in first.stdout, first.stderr
    job = json.loads((tmp_path / "runs" / "tiny" / "long" / "seed0" / "slurm-job.json").read_text())["job_id"]
    again = run_cli(*command, env=slurm.env, timeout=120)  # while that task is queued or training
    assert again.returncode == 0 and "job array" not in again.stdout, again.stdout
    assert f"1 run still queued or running on Slurm from an earlier submission (job {job.split('_')[0]})" in (
        again.stdout
    )
    waited = run_cli(*command, "--wait", env=slurm.env, timeout=300)
    assert waited.returncode == 0 and "job array" not in waited.stdout, waited.stdout + waited.stderr
    assert f"tiny/long/seed0: completed (Slurm task {job})" in waited.stdout
    assert sessions(tmp_path / "runs" / "tiny" / "long" / "seed0") == 1  # one task trained it, once
    assert "| long | " in (tmp_path / "results" / "tiny.md").read_text()


@pytest.mark.slurm
def test_preempted_task_requeues_and_resumes_to_the_same_result(tmp_path, suite_file, slurm, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # 12 epochs: the 4 of 'long' could end on a fast CPU before the preemption signal reaches the task
    specs = specs_for(suite_file, tmp_path / "runs", ["long"], epochs=12)
    options = SlurmOptions(gpus_per_run=0, cpus_per_run=2, time="00:10:00")
    jobs = submit_sweep(specs, options, tmp_path / "runs", options.launch(LaunchOptions()))
    run_dir = specs[0].run_dir

    class Running:  # wait_for_epochs wants a process; the Slurm task is one as long as squeue lists it
        def poll(self):
            return None

    wait_for_epochs(run_dir / "metrics.jsonl", 2, Running(), timeout=300)
    # What Slurm does before preempting or timing out a job: USR2 to the task. submitit checkpoints and
    # requeues.
    subprocess.run(["scancel", "--signal=USR2", jobs[0].job_id], env=slurm.env, check=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["squeue", "-h", "-j", jobs[0].job_id, "-o", "%T"], env=slurm.env, capture_output=True, text=True
        ).stdout
        if "PENDING" in state:
            # Slurm holds a requeued job ~2 min so the old instance is gone first (slurmd refuses to
            # relaunch a job it is still killing); 10 s is plenty on one idle node.
            subprocess.run(
                ["scontrol", "update", f"JobId={jobs[0].job_id}", "StartTime=now+10"],
                env=slurm.env,
                check=True,
            )
            break
        time.sleep(0.2)
    assert wait_for(jobs, specs, poll_s=1, echo=quiet) == []
    assert sessions(run_dir) == 2 and "resuming" in (run_dir / "train.log").read_text()
    reference = train(specs[0].config, tmp_path / "reference")
    resumed = json.loads((run_dir / "summary.json").read_text())
    for key in ("final_test_acc", "best_test_acc", "final_train_loss", "epochs_completed"):
        assert resumed[key] == reference[key], key
    assert specs[0].state() == RunState.COMPLETED
