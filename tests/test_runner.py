"""The sweep runner, for real: forked training processes on CPU slots, synthetic data, 1-6 epoch runs."""

import contextlib
import io
import json
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from resnet.cli.local import interrupted_line, print_failures, warn_if_cpu_busy
from resnet.display import SweepDisplay
from resnet.errors import DeviceError
from resnet.launch import Launcher
from resnet.machine import busy_cpus, usable_cpus
from resnet.pilot import run_pilot
from resnet.plan import Selection, make_plan
from resnet.presets import load_suite
from resnet.run_dir import RunDir
from resnet.run_lock import RunLock
from resnet.run_status import RunStatus
from resnet.runner import LocalSweep
from resnet.slots import make_slots
from resnet.states import RunState
from resnet.sweep_record import record_sweep
from resnet.tuning import Tune
from tests.conftest import (
    ROOT,
    alive,
    descendants,
    parent_of,
    run_cli,
    sweep_main,
    user_lines,
    wait_for_epochs,
    wait_until,
    write_cifar10,
)


@pytest.fixture(scope="module")
def launcher():
    """One forkserver for the in-process sweeps of this module (it imports torch once)."""
    return Launcher()


def sessions(run_dir) -> int:
    return len(json.loads((run_dir / "config.json").read_text())["sessions"])


def plan_for(suite_file, runs_dir, presets, seeds=(0,), **overrides):
    return make_plan(
        load_suite(suite_file), Selection(tuple(presets), None, tuple(overrides.items()), seeds), runs_dir
    )


def sweep(launcher, suite_file, runs_dir, presets, jobs=1, **overrides):
    specs = plan_for(suite_file, runs_dir, presets, **overrides).specs
    display = SweepDisplay(live=False, stream=io.StringIO())
    return LocalSweep(specs, make_slots("cpu", jobs=jobs), display=display, launcher=launcher).run()


def common(tmp_path, suite_file):
    return [
        "--suite-file",
        suite_file,
        "--runs-dir",
        tmp_path / "runs",
        "--results-dir",
        tmp_path / "results",
        "--device",
        "cpu",
        "--no-pilot",
    ]


def start_sweep(tmp_path, suite_file, *args, **popen):
    """run_ablations.py on the tiny suite as its own process (so that it can be killed or signalled)."""
    command = [sys.executable, ROOT / "run_ablations.py", *common(tmp_path, suite_file), *args]
    return subprocess.Popen([str(a) for a in command], cwd=ROOT, **popen)


def test_dry_run_prints_exact_commands_with_devices_and_skips(tmp_path, suite_file):
    args = [
        "--suite-file",
        suite_file,
        "--all",
        "--seeds",
        "0",
        "1",
        "--runs-dir",
        tmp_path / "runs",
        "--dry-run",
        "--device",
        "cpu",
        "--jobs",
        "2",
        "--lr",
        "0.05",
    ]
    code, out, err = sweep_main(*args)
    assert code == 0, err
    lines = out.strip().splitlines()
    commands = [line for line in lines if not line.startswith("#")]
    assert len(commands) == 8 and "# 4 arms x 2 seeds = 8 runs; about" in out
    first = commands[0]
    threads = max(1, usable_cpus() // 2)  # two jobs share the cores: 1 each on 2 cores, 8 on 16
    assert first.startswith("CUDA_VISIBLE_DEVICES='' ") and f"--device cpu --threads {threads}" in first
    assert "--expect-hash" in first and f"--run-dir {tmp_path}/runs/tiny/base/seed0 --resume" in first
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing
    # The printed command really runs: it trains the first run, exactly the planned config.
    trained = subprocess.run(
        first,
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert trained.returncode == 0, trained.stderr
    again = sweep_main(*args)[1].splitlines()
    assert again[0] == "# skip tiny/base/seed0: already completed; summary.json verified" and len(again) == 11
    assert again[8].startswith("# 4 arms x 2 seeds = 8 runs; about") and "still to train" not in out
    assert again[9].startswith("# still to train: 7 runs, about ")  # what is left of a sweep begun before
    verbose = [line for line in sweep_main(*args, "-v")[1].splitlines() if not line.startswith("#")]
    assert len(verbose) == 7 and all(line.endswith(f"--threads {threads} -v") for line in verbose)


def test_a_run_finished_under_another_name_counts_there_and_is_not_trained_again(tmp_path, suite_file):
    """Renaming a preset (or reordering a grid) plans its runs in new directories: the finished ones under
    the old name were trained again for nothing (the table counts one, by config). They now count where
    they are: the sweep says so in one line, trains nothing, and the table has them in the renamed row."""
    args = [*common(tmp_path, suite_file), "--config", "base", "cosine", "--seeds", "0", "1"]
    assert sweep_main(*args)[0] == 0
    suite_file.write_text(suite_file.read_text().replace("[presets.cosine]", "[presets.cos]"))
    runs = tmp_path / "runs" / "tiny"
    renamed = [*args[:-4], "cos", "--seeds", "0", "1", "2"]
    code, out, err = sweep_main(*renamed, "--dry-run")
    assert f"# skip tiny/cos/seed0: already completed as {runs / 'cosine' / 'seed0'}; summary.json" in out
    trains = [line.split("--run-dir ")[1].split()[0] for line in out.splitlines() if "--run-dir" in line]
    assert trains == [str(runs / "base" / "seed2"), str(runs / "cos" / "seed2")]  # the new seed only
    assert err == (
        f"notice: 2 runs of this plan finished under other directories of the suite (e.g. "
        f"{runs / 'cos' / 'seed0'} as {runs / 'cosine' / 'seed0'}), with the same config and seed (a tuning "
        "run, a preset renamed, a grid reordered or extended since?): counted there, not trained again\n"
    )
    code, out, err = sweep_main(*renamed)
    assert code == 0 and err.startswith("notice: 2 runs of this plan finished"), err
    assert "sweep: 6 completed" in out and f"completed as {runs / 'cosine' / 'seed1'}; summary" in out
    assert not (runs / "cos" / "seed0").exists() and sessions(runs / "cosine" / "seed0") == 1
    table = (tmp_path / "results" / "tiny.md").read_text()
    assert "| cos | **" in table and "(n=3)" in table.split("| cos |")[1].split("\n")[0]
    assert "second run" not in table  # nothing trained twice


def test_more_cpu_jobs_than_cores_get_a_notice(monkeypatch, caplog):
    import resnet.slots

    monkeypatch.setattr(resnet.slots, "usable_cpus", lambda: 2)
    assert [s.threads for s in make_slots("cpu", jobs=2)] == [1, 1] and not caplog.records
    assert [s.threads for s in make_slots("cpu", jobs=3)] == [1, 1, 1]
    assert [s.device for s in make_slots("cpu", jobs_per_gpu=2)] == ["cpu"]
    assert [r.getMessage() for r in caplog.records] == [
        "notice: --jobs 3 on 2 usable CPU cores: the runs take turns on the cores (1 thread each), so more "
        "jobs than cores adds no throughput",
        "notice: --jobs-per-gpu 2, but the runs go to the CPU (no GPU visible, or --device cpu); --jobs N "
        "runs N at once there",
    ]
    caplog.clear()
    monkeypatch.setattr(resnet.slots, "visible_gpus", lambda: ["0", "1"])
    assert [s.device for s in make_slots(jobs=2)] == ["cuda:0", "cuda:1"]  # one per GPU, as without --jobs
    assert [r.getMessage() for r in caplog.records] == [
        "notice: --jobs 2, but the runs go to the GPUs (0, 1); --jobs-per-gpu N runs N at once on each"
    ]
    caplog.clear()
    assert [s.device for s in make_slots("cpu", gpus=["1"])] == ["cpu"]  # the flags disagree: CPU, said
    assert [r.getMessage() for r in caplog.records] == [
        "notice: --gpus 1 with --device cpu: the runs go to the CPU"
    ]


def test_a_cpu_quota_caps_the_threads_of_a_sweep_and_of_a_run(tmp_path, monkeypatch):
    """docker --cpus 1.5 or a Kubernetes limit: affinity still shows every core, and threads past the
    quota are throttled together. cgroup v2 and v1 files as the kernel writes them; the tightest quota from
    the process's cgroup up to the root counts."""
    from resnet.machine import cgroup_cpu_quota

    def files(root, tree: dict):
        for path, text in tree.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)

    v2, membership = tmp_path / "v2", tmp_path / "cgroup"
    files(
        v2, {"cpu.max": "max 100000\n", "pod/cpu.max": "400000 100000\n", "pod/c1/cpu.max": "150000 100000\n"}
    )
    membership.write_text("0::/pod/c1\n")
    assert cgroup_cpu_quota(membership, v2) == 1.5
    membership.write_text("0::/\n")  # a container's own namespace: its limit is at the root
    assert cgroup_cpu_quota(membership, v2) is None
    v1 = tmp_path / "v1"
    files(
        v1,
        {
            "cpu,cpuacct/docker/a/cpu.cfs_quota_us": "200000",
            "cpu,cpuacct/docker/a/cpu.cfs_period_us": "100000",
        },
    )
    files(v1, {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"})
    membership.write_text("12:memory:/docker/a\n4:cpu,cpuacct:/docker/a\n")
    assert cgroup_cpu_quota(membership, v1) == 2.0
    assert cgroup_cpu_quota(tmp_path / "no-such-file", v1) is None  # not Linux
    import torch

    import resnet.machine
    from resnet.config import TrainConfig
    from resnet.runtime import Runtime

    monkeypatch.setattr(resnet.machine, "cgroup_cpu_quota", lambda: 1.5)
    assert resnet.machine.usable_cpus() == 1  # whole CPUs: a second thread would be throttled
    assert [s.threads for s in make_slots("cpu")] == [1]  # a sweep's runs
    threads = torch.get_num_threads()  # 2 here: torch counts the cores, not the quota
    try:
        assert Runtime.resolve(TrainConfig(dataset="synthetic"), "cpu").threads == 1  # a run on its own
    finally:
        torch.set_num_threads(threads)


def test_gpu_slots_and_gpus_that_are_not_here(monkeypatch):
    import resnet.slots as runner

    monkeypatch.setattr(runner, "visible_gpus", lambda: ["0", "1"])
    slots = make_slots(None, jobs_per_gpu=2)
    assert [s.device for s in slots] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert slots[2].env["CUDA_VISIBLE_DEVICES"] == "1" and slots[2].launch_device == "cuda"
    assert [s.device for s in make_slots("cpu", gpus=["0"], jobs=3)] == ["cpu"] * 3
    with pytest.raises(DeviceError, match="--gpus 7: GPU 7 is not visible here \\(visible: 0, 1\\)"):
        make_slots(None, gpus=["7"])
    monkeypatch.setattr(runner, "visible_gpus", lambda: [])
    with pytest.raises(DeviceError, match="no GPU is visible"):
        make_slots("cuda")


def test_gpu_ids_mean_the_same_gpu_to_the_runs_as_to_the_sweep(monkeypatch, tmp_path):
    import resnet.slots as slots

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    monkeypatch.setattr(slots, "gpu_driver", lambda: True)
    monkeypatch.setattr(slots.shutil, "which", lambda name: None)  # a driver without nvidia-smi: ask torch
    python = tmp_path / "python"  # stands in for `python -c "import torch; print(device_count())"`
    python.write_text("#!/bin/sh\necho 2\n")
    python.chmod(0o755)
    monkeypatch.setattr(slots.sys, "executable", str(python))
    assert slots.visible_gpus() == ["0", "1"]
    assert make_slots(None)[1].env == {"CUDA_VISIBLE_DEVICES": "1"}  # CUDA's order, as torch counted
    python.write_text("#!/bin/sh\necho 'ImportError: no torch' >&2; exit 1\n")
    assert slots.visible_gpus() == []
    monkeypatch.setattr(slots.shutil, "which", lambda name: f"/usr/bin/{name}")  # nvidia-smi's ids
    monkeypatch.setattr(slots, "visible_gpus", lambda: ["0", "1"])
    assert make_slots(None)[1].env == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the user's ids keep the user's order
    assert make_slots(None)[1].env == {"CUDA_VISIBLE_DEVICES": "1"}


def test_gpus_not_visible_is_one_line_before_anything_starts(tmp_path, suite_file):
    code, _, err = sweep_main(*common(tmp_path, suite_file)[:4], "--all", "--gpus", "7", "--device", "cuda")
    assert code == 2 and err.count("\n") == 1 and "GPU 7 is not visible here" in err
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.parametrize(
    "gpus, message",
    [
        ("", "'' has an empty GPU id"),  # an empty $GPUS must not quietly mean the CPU
        ("0,,1", "'0,,1' has an empty GPU id"),
        (",", "',' has an empty GPU id"),
        ("abc", "'abc' is not a GPU id"),
        ("-1", "'-1' is not a GPU id"),
        ("0,0", "GPU 0 listed twice"),
    ],
)
def test_gpus_that_are_not_gpu_ids_are_one_line(tmp_path, suite_file, gpus, message):
    code, _, err = sweep_main(*common(tmp_path, suite_file)[:4], "--all", "--dry-run", "--gpus", gpus)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_a_flag_of_the_other_launcher_is_one_line_not_ignored(tmp_path, suite_file):
    base = (*common(tmp_path, suite_file)[:4], "--all")
    for flags, message in (
        (("--time", "0:10:00"), "--time applies to --launcher slurm only; add --launcher slurm"),
        (("--partition", "gpu", "--wait"), "--partition, --wait apply to --launcher slurm only"),
        (("--launcher", "slurm", "--jobs", "2"), "--jobs applies to --launcher local only; leave it out"),
    ):
        code, out, err = sweep_main(*base, *flags)
        assert code == 2 and out == "" and err == f"error: {message}" + err.split(message, 1)[1], err
        assert err.count("\n") == 1
    assert not (tmp_path / "runs").exists()
    assert sweep_main(*base, "--launcher", "slurm", "--time", "12:00:00", "--dry-run")[0] == 0  # the default


def test_a_training_flag_with_report_is_one_line_and_writes_nothing(tmp_path, suite_file):
    """--report --dry-run overwrote the results while --dry-run promised to write nothing."""
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    base = ("--suite-file", suite_file, "--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "res")
    for flags, words in (
        (("--dry-run",), "--dry-run does nothing with --report"),
        (("--jobs", "2", "--no-pilot"), "--jobs, --no-pilot do nothing with --report"),
    ):
        code, out, err = sweep_main(*base, "--report", *flags)
        assert code == 2 and out == "" and err.startswith(f"error: {words}, which only writes the table")
        assert err.count("\n") == 1 and not (tmp_path / "res").exists()
    assert sweep_main(*base, "--report", "--interval", "std", "--seeds", "0", "1")[0] == 0  # what it uses


def test_a_runs_dir_or_results_dir_inside_a_run_dir_is_refused(tmp_path, suite_file):
    run = tmp_path / "runs" / "tiny" / "base" / "seed0"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"config_hash": "0123abcd", "config": {}}))
    (run / "train.log").write_text("")
    # a run's config.json copied to the project's root (to train it again) does not make the root a run
    (tmp_path / "config.json").write_text((run / "config.json").read_text())
    inside = run / "more"
    code, _, err = sweep_main("--suite-file", suite_file, "--runs-dir", inside, "--all", "--dry-run")
    assert code == 2 and f"--runs-dir {inside} lies inside the run dir {run}: no report looks into" in err
    assert err.count("\n") == 1 and not inside.exists()
    assert (
        sweep_main("--suite-file", suite_file, "--runs-dir", tmp_path / "other", "--all", "--dry-run")[0] == 0
    )
    for args in (("--all",), ("--report",)):  # the table is no file of a run's either
        common = ("--suite-file", suite_file, "--runs-dir", tmp_path / "runs", "--results-dir", run / "tb")
        code, _, err = sweep_main(*common, *args)
        assert code == 2 and f"--results-dir {run / 'tb'} lies inside the run dir {run}: no report" in err
    assert not (run / "tb").exists()


def test_a_runs_dir_that_is_or_lies_inside_a_suites_runs_dir_is_refused(tmp_path, suite_file):
    """--runs-dir runs/tiny (one level too deep) would plan runs/tiny/tiny/... and table nothing."""
    runs = tmp_path / "runs"
    record_sweep(runs, load_suite(suite_file), Selection(None, None, (), (0,)))  # as a sweep leaves it
    (runs / "tiny" / "base").mkdir()
    suite = f"the runs dir of suite 'tiny' ({runs / 'tiny'} holds sweep.json)"
    commands = (
        ("--suite-file", suite_file, "--all", "--dry-run"),
        ("--report",),
        ("--suite-file", suite_file, "--report"),
    )
    for runs_dir, where in ((runs / "tiny", "is"), (runs / "tiny" / "base", "lies inside")):
        for args in commands:
            code, _, err = sweep_main("--runs-dir", runs_dir, *args)
            message = (
                f"--runs-dir {runs_dir} {where} {suite}; --runs-dir takes the directory above it, {runs}"
            )
            assert code == 2 and err == f"error: {message}\n", err
    assert sorted(p.name for p in (runs / "tiny").iterdir()) == ["base", "sweep.json"]


def test_list_and_dry_run_do_not_import_torch_and_a_closed_pipe_is_quiet(tmp_path):
    code = (
        "import sys; from resnet.cli.sweep import main; main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    for args in (
        ["--list"],
        ["--list", "--suite", "depth"],
        ["--all", "--seed", "42", "--dry-run"],
        ["--list-suites"],
        ["--suite", "classic", "--all", "--dry-run", "--launcher", "slurm", "--partition", "gpu"],
    ):
        result = subprocess.run(
            [sys.executable, "-c", code, *args, "--runs-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    listing = run_cli("run_ablations.py", "--list").stdout
    assert "resnet50" in listing and "other suites: " in listing and "quick" in listing
    grid = ["--suite", "quick", "--grid", "lr=0.05,0.2", "norm=none", "--grid-kind", "one_at_a_time"]
    listing = run_cli("run_ablations.py", *grid, "--from", "cosine", "--list").stdout
    assert "one_at_a_time design over preset 'cosine'" in listing and "4 arms x 1 seed = 4 runs" in listing
    row = next(line for line in listing.splitlines() if "norm=none" in line).split()
    assert row[1:6] == [
        "norm=none",
        "│",
        "0.1",
        "│",
        "none",
    ]  # the start's lr, the varied norm: the arm's config
    piped = subprocess.run(
        f"{sys.executable} run_ablations.py --all --dry-run --seeds 0 1 2 | head -3",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert len(piped.stdout.splitlines()) == 3 and piped.stderr == ""  # no BrokenPipeError traceback


def test_quiet_keeps_each_state_change_the_tally_and_the_results_only(tmp_path, suite_file):
    code, out, err = sweep_main(*common(tmp_path, suite_file), "--config", "base", "-q")
    assert code == 0 and err == "", err
    lines = [line.split(" | ", 1)[-1] for line in out.splitlines()]  # without the time of day
    assert len(lines) == 4 and lines[0] == "tiny/base/seed0 | running | on cpu", lines
    assert lines[1].startswith("tiny/base/seed0 | completed | on cpu | epoch 1.00/1")
    assert lines[2] == "sweep: 1 completed" and lines[3].startswith("results in ")
    code, out, _ = sweep_main(*common(tmp_path, suite_file), "--config", "base", "cosine", "-q")
    assert code == 0 and " sweep: about " not in out  # base's run times cosine's, but -q leaves it out
    code, out, _ = sweep_main(*common(tmp_path, suite_file), "--config", "base")  # not quiet: what and where
    assert out.startswith("1 run of suite 'tiny' (0 to run) on 1 slot: cpu;")


def test_a_failing_run_is_recorded_while_others_finish_on_two_slots(tmp_path, suite_file, launcher):
    statuses = sweep(launcher, suite_file, tmp_path / "runs", ["base", "broken", "cosine"], jobs=2)
    state = {s.spec.arm.name: s for s in statuses}
    assert state["base"].state == state["cosine"].state == RunState.COMPLETED
    assert state["broken"].state == RunState.FAILED and state["broken"].exit_code == 2
    failure = json.loads((tmp_path / "runs" / "tiny" / "broken" / "seed0" / "failure.json").read_text())
    assert failure["exit_code"] == 2 and "cannot write to the data dir" in failure["reason"]
    assert "cannot write to the data dir" in state["broken"].note  # the reason, whole, in the live view
    base, broken = state["base"], state["broken"]
    assert base.started < broken.ended and broken.started < base.ended  # the two slots overlapped in time
    again = {
        s.spec.arm.name: s
        for s in sweep(launcher, suite_file, tmp_path / "runs", ["base", "broken", "cosine"])
    }
    assert {name: s.state for name, s in again.items()} == {
        "base": RunState.COMPLETED,
        "broken": RunState.FAILED,
        "cosine": RunState.COMPLETED,
    }
    assert again["broken"].note == (  # why, without opening failure.json
        f"failed before: {failure['reason']} (failure.json); pass --retry-failed to run it again"
    )
    assert sessions(tmp_path / "runs" / "tiny" / "base" / "seed0") == 1
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("summary.json", "config.json", "model.pt"):
        mode = stat.S_IMODE((tmp_path / "runs" / "tiny" / "base" / "seed0" / name).stat().st_mode)
        assert mode == 0o666 & ~mask, name  # the user's umask, not 0600


def test_a_failure_says_what_the_run_said_last_or_why_it_cannot(tmp_path, suite_file):
    from resnet.failure import record_failure

    spec = plan_for(suite_file, tmp_path / "runs", ["base"]).specs[0]
    log = RunDir(spec.run_dir).log_file
    assert "its train.log is gone: was " in record_failure(spec, 2)["reason"]  # removed while it ran
    log.write_text("=== header\nepoch 1/1: 14%\nerror: cannot write a checkpoint: no space left\n\n")
    assert record_failure(spec, 2)["reason"] == "cannot write a checkpoint: no space left"
    log.write_text("")
    crash = "a crash in native code (torch, a driver or the hardware)"
    assert record_failure(spec, -signal.SIGSEGV)["reason"] == crash  # no Python error: nothing printed
    log.write_text(
        "epoch 10/30 | train loss 0.04\nterminate called after throwing an instance of 'c10::Error'\n"
    )
    assert record_failure(spec, -signal.SIGABRT)["reason"] == (
        f"{crash}; its last output: terminate called after throwing an instance of 'c10::Error'"
    )
    log.write_text("epoch 3/4 | train loss 0.5\n")  # progress, not the cause: the OOM killer says nothing
    assert record_failure(spec, -signal.SIGKILL)["reason"].startswith("not by this sweep: the kernel's")
    assert json.loads((log.parent / "failure.json").read_text())["exit_code"] == -9
    log.write_text("completed: test acc 50.00%\n")  # exit 0 and a cheerful last line, but nothing verifies
    assert record_failure(spec, 0)["reason"] == (
        "it ended without a verified result: its config.json is missing, so nothing records what trained it"
    )


def test_a_run_that_cannot_start_fails_alone_and_three_alike_stop_the_queue(
    tmp_path, suite_file, launcher, capsys
):
    runs = tmp_path / "runs"
    (runs / "tiny" / "cosine").mkdir(parents=True)
    (runs / "tiny" / "cosine" / "seed0").write_text("a file where the run dir should be")
    statuses = sweep(launcher, suite_file, runs, ["cosine", "base"])
    state = {s.spec.arm.name: s for s in statuses}
    assert state["cosine"].state == RunState.FAILED
    assert state["cosine"].note == f"cannot start: exists but is not a directory ({runs}/tiny/cosine/seed0)"
    assert state["base"].state == RunState.COMPLETED  # the sweep went on
    print_failures([state["cosine"]])
    assert capsys.readouterr().err == f"failed: tiny/cosine/seed0: {state['cosine'].note}\n"  # no log to name
    specs = plan_for(suite_file, tmp_path / "more", ["broken"], seeds=(0, 1, 2, 3, 4)).specs
    sweep_ = LocalSweep(
        specs,
        make_slots("cpu"),
        display=SweepDisplay(live=False, stream=io.StringIO()),
        launcher=launcher,
    )
    statuses = sweep_.run()
    assert [s.state for s in statuses] == [RunState.FAILED] * 3 + [RunState.PENDING] * 2
    assert "3 runs in a row failed with the same error" in sweep_.abort_reason
    print_failures([s for s in statuses if s.state == RunState.FAILED])
    lines = capsys.readouterr().err.splitlines()  # the three alike in one line, the reason once
    assert len(lines) == 1 and lines[0].startswith(
        "failed: tiny/broken/seed0, tiny/broken/seed1, tiny/broken/seed2: "
    )
    assert lines[0].count("cannot write to the data dir") == 1 and "train.log in each run dir" in lines[0]


def test_runs_that_fail_alike_in_their_own_dirs_stop_the_queue_and_share_one_line(
    tmp_path, suite_file, capsys
):
    """A full disk: each run's reason names its own dir, which made three alike look different, so the
    sweep went on failing every run, and printed a line for each."""
    specs = plan_for(suite_file, tmp_path / "runs", ["base"], seeds=(0, 1, 2, 3)).specs
    sweep_ = LocalSweep(specs, make_slots("cpu"), display=SweepDisplay(live=False, stream=io.StringIO()))
    statuses = sweep_.statuses
    for status in statuses[:3]:
        status.spec.run_dir.mkdir(parents=True)
        (status.spec.run_dir / "train.log").write_text("epoch 1/2 | train loss 0.5\n")
        status.started = time.monotonic()  # it started
        sweep_._failed(status, 2, f"no space left on device ({status.spec.run_dir}); fix that")
    assert "3 runs in a row failed with the same error" in sweep_.abort_reason  # seed 3 was queued
    print_failures(statuses[:3])
    assert capsys.readouterr().err == (
        "failed: tiny/base/seed0, tiny/base/seed1, tiny/base/seed2: exit 2: no space left on device (its run "
        "dir); fix that (log: train.log in each run dir)\n"
    )
    print_failures(statuses[:1])  # one run: its own dir named
    assert f"no space left on device ({specs[0].run_dir}); fix that" in capsys.readouterr().err
    # Three runs, all failed alike, and nothing left in the queue: no queue to stop, nothing to say.
    sweep_ = LocalSweep(specs[:3], make_slots("cpu"), display=SweepDisplay(live=False, stream=io.StringIO()))
    for status in sweep_.statuses:
        sweep_._failed(status, 2, f"no space left on device ({status.spec.run_dir}); fix that")
    assert sweep_.abort_reason == ""


def test_a_sweep_goes_seed_by_seed_so_a_partial_one_compares_its_arms(tmp_path, suite_file):
    """Arm by arm, a five-seed sweep stopped halfway had the first arms' every seed and none of the last
    arms': its table compared nothing. Seed by seed, every arm is on the same seeds at any point."""
    specs = plan_for(suite_file, tmp_path / "runs", ["base", "cosine", "long"], seeds=(0, 1)).specs
    assert [(spec.arm.name, spec.seed) for spec in specs] == [
        ("base", 0), ("cosine", 0), ("long", 0), ("base", 1), ("cosine", 1), ("long", 1)
    ]  # fmt: skip
    tuned = Selection(("base", "cosine"), None, (), (0, 1), Tune("lr", (0.05, 0.1)))
    specs = make_plan(load_suite(suite_file), tuned, tmp_path / "tuned").specs
    paths = [spec.arm.path for spec in specs]  # tuning first; the final runs follow once tuning chose
    assert paths == ["base/tune-lr=0.05", "base/tune-lr=0.1", "cosine/tune-lr=0.05", "cosine/tune-lr=0.1"]


def test_a_disk_that_fills_mid_sweep_stops_the_queue_but_one_arm_failing_does_not(tmp_path, suite_file):
    """Once runs finished, the first-three rule never fired again: a disk that filled up mid-sweep failed
    every run left, each after training until its first checkpoint. Three alike in a row stop the queue
    when they span arms; three seeds of one arm failing alike are that arm's problem, and a run that
    finishes in between ends the streak."""
    specs = plan_for(suite_file, tmp_path / "runs", ["base", "cosine", "long"], seeds=(0, 1, 2, 3)).specs
    sweep_ = LocalSweep(specs, make_slots("cpu"), display=SweepDisplay(live=False, stream=io.StringIO()))
    base, cosine, long = (
        [s for s in sweep_.statuses if s.spec.arm.name == arm] for arm in ("base", "cosine", "long")
    )

    def fail(status: RunStatus, reason: str = "no space left on device ({}); free space") -> None:
        sweep_._failed(status, 2, reason.format(status.spec.run_dir))

    sweep_._ended(base[0], RunState.COMPLETED)
    for status in base[1:]:
        fail(status, "CUDA out of memory ({})")  # one arm's seeds, alike: the others go on
    assert sweep_.abort_reason == ""
    fail(cosine[0])
    fail(cosine[1])
    sweep_._ended(cosine[2], RunState.COMPLETED)  # space came back: the streak ends
    fail(cosine[3])
    fail(long[0])
    assert sweep_.abort_reason == ""
    fail(long[1])  # the third in a row, of two arms, and long's seeds 2 and 3 still queued
    assert sweep_.abort_reason == (
        "3 runs in a row, of 2 arms, failed with the same error; stopped queueing the others: fix it, then "
        "run the same command with --retry-failed"
    )
    # An arm's tuning runs (one per value) are that arm's: three of them failing alike stop nothing.
    tuned = Selection(("base", "cosine"), None, (), (0,), Tune("lr", (0.05, 0.1, 0.2)))
    sweep_ = LocalSweep(
        make_plan(load_suite(suite_file), tuned, tmp_path / "tuned").specs,
        make_slots("cpu"),
        display=SweepDisplay(live=False, stream=io.StringIO()),
    )
    assert [s.spec.arm.path for s in sweep_.statuses[:3]] == [f"base/tune-lr={v}" for v in (0.05, 0.1, 0.2)]
    sweep_._ended(sweep_.statuses[3], RunState.COMPLETED)
    for status in sweep_.statuses[:3]:
        fail(status, "CUDA out of memory ({})")
    assert sweep_.abort_reason == "" and sweep_.statuses[4].state == RunState.QUEUED


def test_a_run_held_by_another_process_is_waited_for_not_skipped(tmp_path, suite_file, launcher):
    runs = tmp_path / "runs"
    held = runs / "tiny" / "base" / "seed0"
    lock = RunLock(held / ".lock").__enter__()  # as if another sweep trained it right now
    threading.Timer(3.0, lock.__exit__, args=(None, None, None)).start()
    start = time.monotonic()
    statuses = sweep(launcher, suite_file, runs, ["base"])
    assert statuses[0].state == RunState.COMPLETED and time.monotonic() - start > 3.0
    assert sessions(held) == 1


# Runs a test stops or kills part-way: the 4 epochs of 'long' can end within a second on a fast CPU (they
# did, on a Xeon with bf16), before the signal reaches the run. Stopped runs train no longer for this.
LONGER = ("--epochs", "40")


def answer_hangups() -> None:
    """In a child before exec: SIGHUP as a terminal's sweep has it, though these tests run under nohup."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_hangup_then_ctrl_c_stop_everything_at_once_and_cleanly(tmp_path, suite_file):
    """Started as `cmd &` from a script would be, with SIGINT ignored. A SIGHUP (the terminal closed) stops
    the sweep as SIGTERM would: every run checkpoints; a second signal stops the runs at once; the report is
    still written, the exit says how to resume, and there is no traceback."""
    runner = start_sweep(
        tmp_path,
        suite_file,
        "--config",
        "long",
        *LONGER,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: (answer_hangups(), signal.signal(signal.SIGINT, signal.SIG_IGN)),
    )
    run_dir = tmp_path / "runs" / "tiny" / "long" / "seed0"
    wait_for_epochs(run_dir / "metrics.jsonl", 1, runner)
    children = descendants(runner.pid)
    runner.send_signal(signal.SIGHUP)
    while "stopping: every run writes a checkpoint" not in (line := runner.stdout.readline()):
        assert line, "the runner ended without saying it stops"
    runner.send_signal(signal.SIGINT)  # honoured although ignored at start: stop the runs at once
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "run the same command to resume" in err and "Traceback" not in err
    assert (tmp_path / "results" / "tiny.md").exists()  # the report is written on the way out
    wait_until(lambda: not any(alive(pid) for pid in children), 30, what="the runner's children to end")
    assert RunDir(run_dir).state(load_suite(suite_file).config("long", epochs=40)) == RunState.INTERRUPTED
    assert not RunDir(run_dir).is_locked()


def test_a_stop_from_timeout_lets_the_runs_checkpoint(tmp_path, suite_file):
    """`timeout` signals its command, then its process group, which holds the command: the sweep got SIGINT
    twice, took it for a second Ctrl-C and killed its runs before their checkpoint (the shell and then the
    kernel hanging up a closed terminal do the same with SIGHUP, milliseconds apart, as here). One request
    sent twice is one: each run checkpoints and stops."""
    quiet = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    runner = start_sweep(tmp_path, suite_file, "--config", "long", *LONGER, process_group=0, **quiet)
    run_dir = tmp_path / "runs" / "tiny" / "long" / "seed0"
    wait_for_epochs(run_dir / "metrics.jsonl", 1, runner)
    os.kill(runner.pid, signal.SIGINT)
    time.sleep(0.02)
    os.killpg(runner.pid, signal.SIGINT)  # the sweep's children lead groups of their own: not them
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "Traceback" not in err, err
    log = (run_dir / "train.log").read_text()
    assert "stopping after the current step" in log and f"{run_dir} keeps a checkpoint" in log, log
    assert RunDir(run_dir).state(load_suite(suite_file).config("long", epochs=40)) == RunState.INTERRUPTED


def test_a_closed_terminal_stops_the_sweep_cleanly_though_nothing_can_be_written_to_it(tmp_path, suite_file):
    """Closing the terminal (the tmux window, the ssh session) hangs it up: SIGHUP, then EIO for every
    write. The runs still checkpoint and stop, and the table is still written, with no one to read them."""
    import pty

    command = [sys.executable, str(ROOT / "run_ablations.py"), *map(str, common(tmp_path, suite_file))]
    pid, terminal = pty.fork()  # the sweep leads a session whose controlling terminal is this pty
    if pid == 0:
        os.chdir(ROOT)
        answer_hangups()
        os.execv(sys.executable, [*command, "--config", "long", *LONGER])
    try:
        run_dir = tmp_path / "runs" / "tiny" / "long" / "seed0"
        deadline = time.monotonic() + 120
        while not (run_dir / "metrics.jsonl").exists() and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.1)[0]:
                os.read(terminal, 65536)  # the live table, drawn while the terminal lives
    finally:
        os.close(terminal)  # the hang-up
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 130  # interrupted: the same command resumes
    assert (tmp_path / "results" / "tiny.md").exists()
    assert "interrupted" in (run_dir / "train.log").read_text()  # it checkpointed on its way out
    assert RunDir(run_dir).state(load_suite(suite_file).config("long", epochs=40)) == RunState.INTERRUPTED


def test_a_reader_that_goes_away_leaves_the_sweep_to_finish_and_write_its_table(tmp_path, suite_file):
    """`run_ablations.py ... | head -1`: once head has its line, every write to the pipe fails (EPIPE). The
    sweep goes on with its output going nowhere: its runs finish and the table is written."""
    command = [sys.executable, str(ROOT / "run_ablations.py"), *map(str, common(tmp_path, suite_file))]
    sweep = subprocess.Popen(
        [*command, "--config", "base", "cosine", "--no-pilot"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert sweep.stdout.readline()  # what `head -1` reads, before it exits
    sweep.stdout.close()
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 0 and b"Error" not in err and b"Traceback" not in err, err
    assert (tmp_path / "results" / "tiny.md").exists()
    runs = tmp_path / "runs" / "tiny"
    assert all((runs / arm / "seed0" / "summary.json").exists() for arm in ("base", "cosine"))


def leads_its_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:  # ended since it was listed
        return False


def process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_ctrl_z_stops_the_runs_with_the_sweep_and_a_sweep_killed_while_stopped_leaves_none_stopped(
    tmp_path, suite_file
):
    """The runs lead process groups of their own, which the terminal's Ctrl-Z (SIGTSTP to the sweep's
    group, as sent here) does not reach: the sweep stops them with itself and continues them with itself.
    The stopped epoch's time counts in no speed figure. Killed while stopped (`kill -9 %1`), the sweep
    leaves no run stopped for good: each is continued, checkpoints and stops."""
    quiet = {"stdout": subprocess.PIPE, "text": True}
    runner = start_sweep(tmp_path, suite_file, "--config", "long", *LONGER, "-q", process_group=0, **quiet)
    run_dir = tmp_path / "runs" / "tiny" / "long" / "seed0"
    wait_for_epochs(run_dir / "metrics.jsonl", 1, runner)
    below = descendants(runner.pid)
    # the run leads its group (as the forkserver, the runner's child, does too): the runner's grandchild
    run = next(p for p in below if leads_its_group(p) and parent_of(p) in below)

    def records() -> list[dict]:
        return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]

    for stop_again in (False, True):
        os.killpg(runner.pid, signal.SIGTSTP)
        wait_until(lambda: process_state(runner.pid) == process_state(run) == "T", 30, what="both to stop")
        if stop_again:
            break
        time.sleep(1.0)
        os.killpg(runner.pid, signal.SIGCONT)  # fg
        wait_until(lambda: process_state(run) in "RSD", 30, what="the run to continue")
        wait_until(lambda: any("stops" in r for r in records()), 60, runner, "the paused epoch to end")
    paused = [r for r in records() if "stops" in r]  # read while both are stopped: nothing moves
    # one epoch is marked: the one the stop fell in, or the next for a stop between two (test_train.py)
    assert len(paused) == 1 and paused[0]["stops"] == 1
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    said = runner.stdout.read()
    assert "paused: this sweep and its 1 run stopped; fg or bg continues them" in said
    assert said.count("continued: 1 run") == 1
    wait_until(lambda: process_state(run) == "gone", 30, what="the stopped run to end")
    assert "interrupted" in (run_dir / "train.log").read_text()  # it checkpointed on its way out
    assert RunDir(run_dir).state(load_suite(suite_file).config("long", epochs=40)) == RunState.INTERRUPTED


def test_under_nohup_a_closed_terminal_does_not_stop_the_sweep(tmp_path, suite_file):
    """nohup starts it with SIGHUP ignored: the hang-up the shell passes on when the terminal closes must
    not stop it (handled like SIGTERM, it did)."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
    ignore_hangups = lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)  # noqa: E731  (what nohup does)
    runner = start_sweep(
        tmp_path, suite_file, "--config", "long", process_group=0, preexec_fn=ignore_hangups, **quiet
    )
    run_dir = tmp_path / "runs" / "tiny" / "long" / "seed0"
    wait_for_epochs(run_dir / "metrics.jsonl", 1, runner)
    os.killpg(runner.pid, signal.SIGHUP)  # the shell's hang-up goes to its jobs: the sweep's process group
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err
    assert RunDir(run_dir).state(load_suite(suite_file).config("long")) == RunState.COMPLETED
    assert sessions(run_dir) == 1


def test_a_pause_stops_and_continues_every_run_and_does_not_eat_the_grace_after_ctrl_c(
    tmp_path, suite_file, monkeypatch
):
    import resnet.runner

    class FakeChild:
        def __init__(self):
            self.signals = []

        def signal(self, sig):
            self.signals.append(sig)

    clock = [1000.0]
    monkeypatch.setattr(resnet.runner, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(resnet.runner, "stop_this_process", lambda: clock.__setitem__(0, clock[0] + 600))
    specs = plan_for(suite_file, tmp_path / "runs", ["base", "cosine"]).specs
    out = io.StringIO()
    sweep_ = LocalSweep(specs, make_slots("cpu"), display=SweepDisplay(live=False, stream=out))
    for status in sweep_.statuses:
        status.child = FakeChild()
    sweep_.stop_started = 990.0  # Ctrl-C 10 s ago: 20 s of grace left
    sweep_.request_suspend(signal.SIGTSTP, None)
    sweep_._handle_suspend()
    assert [s.child.signals for s in sweep_.statuses] == [[signal.SIGSTOP, signal.SIGCONT]] * 2
    assert sweep_.stop_started == 1590.0 and not sweep_.suspend_requested  # still 20 s of grace left
    said = out.getvalue()
    assert "paused: this sweep and its 2 runs stopped; fg or bg continues them" in said
    assert "continued: 2 runs" in said


def test_a_run_signalled_before_it_made_its_process_group_still_gets_the_signal():
    """Ctrl-Z or Ctrl-C in the moment between a run's fork and its setpgid must not miss that run."""
    import multiprocessing

    from resnet.launch import Child

    def sleep_until_terminated():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not as inherited: the tests may run with it ignored
        time.sleep(30)

    process = multiprocessing.get_context("fork").Process(target=sleep_until_terminated)
    process.start()  # it never makes a group of its own: killpg(pid) finds no such group
    child = Child(process)
    child.signal(signal.SIGTERM)
    assert child.wait(10) == -signal.SIGTERM
    child.signal(signal.SIGTERM)  # ended: nothing to signal, and no error


def test_a_run_stopped_from_outside_is_shown_so_and_a_stop_still_reaches_it(tmp_path, suite_file):
    """kill -STOP on a run (not Ctrl-Z on the sweep) would leave it 'running' for good, and Ctrl-C could not
    make it checkpoint: the table says what happened and how to continue it, and a stop continues it."""
    import multiprocessing

    from resnet.launch import Child

    def a_run(ready) -> None:  # ends on SIGINT, by the kernel: nothing in a child forked from the threaded
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # test process (which Python 3.13 warns of) can hang it
        ready.set()
        time.sleep(30)

    context = multiprocessing.get_context("fork")
    ready = context.Event()
    process = context.Process(target=a_run, args=(ready,))
    process.start()
    child = Child(process)
    assert ready.wait(10) and not child.stopped()
    os.kill(process.pid, signal.SIGSTOP)
    wait_until(child.stopped, 10, what="the run to stop")
    spec = plan_for(suite_file, tmp_path / "runs", ["base"]).specs[0]
    sweep_ = LocalSweep([spec], make_slots("cpu"), display=SweepDisplay(live=False, stream=io.StringIO()))
    status = sweep_.statuses[0]
    status.child, status.state = child, RunState.RUNNING
    sweep_._check_stopped()
    said = f"stopped by a signal from outside this sweep; kill -CONT {process.pid} continues it"
    assert status.note == said
    sweep_.request_stop()
    sweep_._handle_stop()  # SIGINT, and SIGCONT so that it can act on it
    assert child.wait(10) == -signal.SIGINT  # continued, it heard the SIGINT
    sweep_._check_stopped()
    assert status.note == ""


def test_without_a_parent_death_signal_an_orphaned_run_still_hears_of_it(tmp_path, monkeypatch):
    """macOS has no prctl(PR_SET_PDEATHSIG): a thread notices the re-parenting and signals the run."""
    import resnet.launch

    heard = tmp_path / "heard"

    def hear(*_):  # written whole before it exists: the test polls for the file
        (tmp_path / "heard.tmp").write_text("SIGUSR1")
        os.replace(tmp_path / "heard.tmp", heard)
        os._exit(0)

    middle = os.fork()
    if middle == 0:  # the process that dies (the forkserver's role)
        run = os.fork()
        if run == 0:  # the run
            try:
                monkeypatch.setattr(resnet.launch.sys, "platform", "darwin")
                signal.signal(signal.SIGUSR1, hear)
                resnet.launch.die_with_parent(signal.SIGUSR1)
                time.sleep(3)  # waits for the signal, which ends it
            finally:
                os._exit(1)
        time.sleep(0.5)
        os._exit(0)
    os.waitpid(middle, 0)
    wait_until(heard.exists, 10, what="the orphaned run to get its signal")
    assert heard.read_text() == "SIGUSR1"


def test_kill_9_while_the_forkserver_still_imports_torch_leaves_nothing_behind(tmp_path, suite_file):
    """The forkserver takes seconds to import torch; killed with the sweep, it goes at once, not after."""

    def forkservers() -> list[int]:
        found = []
        for pid in descendants(runner.pid):
            with contextlib.suppress(OSError):
                if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
        return found

    runner = start_sweep(
        tmp_path, suite_file, "--config", "base", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_until(lambda: bool(forkservers()), 60, runner, "the forkserver to start")
    children = descendants(runner.pid)
    runner.kill()
    runner.wait()
    wait_until(lambda: not any(alive(pid) for pid in children), 3, what="the importing forkserver to end")


PRELOAD_PROBE = """
import multiprocessing, pathlib, sys
sys.path.insert(0, {root!r})  # as running {root}/run_ablations.py from another directory does
from resnet.launch import _start_servers_detached

def preloaded(path):
    pathlib.Path(path).write_text(str("resnet.files" in sys.modules))

if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    _start_servers_detached(context, preload=("resnet.files",))
    process = context.Process(target=preloaded, args=("preloaded.txt",))
    process.start()
    process.join()
"""


def test_the_forkserver_preloads_the_code_from_any_working_directory(tmp_path):
    """Python 3.11's forkserver ignores the sweep's sys.path (CPython gh-117378): from another directory its
    preload failed silently and every run imported torch again (5-6 s a run). -S: no site-packages, so
    only the sweep's own path can find the package."""
    (tmp_path / "probe.py").write_text(PRELOAD_PROBE.format(root=str(ROOT)))
    subprocess.run([sys.executable, "-S", "probe.py"], cwd=tmp_path, check=True, timeout=60)
    assert (tmp_path / "preloaded.txt").read_text() == "True"


def test_kill_9_of_the_runner_leaves_no_process_behind_and_a_rerun_finishes(tmp_path, suite_file):
    # killed after epoch 1 of 6: several epochs of slack for the signals (1 of 2 ended before them, on a Xeon)
    sweep_args = ("--config", "long", "--epochs", "6", "--jobs", "2", "--seeds", "0", "1")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    # the sweep's own temp dir (other processes, pytest -n 2, come and go in /tmp), short enough for the
    # forkserver's socket to live in it (a longer one is replaced by /tmp: resnet.launch)
    temp = Path(tempfile.mkdtemp(prefix="k9-"))
    environment = {**os.environ, "TMPDIR": str(temp)}
    runner = start_sweep(tmp_path, suite_file, *sweep_args, env=environment, **quiet)
    run_dir = tmp_path / "runs" / "tiny" / "long" / "seed0"
    wait_for_epochs(run_dir / "metrics.jsonl", 1, runner)
    children = descendants(runner.pid)
    assert len(children) >= 3  # the forkserver and two training processes (and multiprocessing's tracker)
    assert list(temp.glob("pymp-*"))  # multiprocessing's, for the forkserver's socket
    runner.kill()
    runner.wait()
    wait_until(
        lambda: not any(alive(pid) for pid in children), 30, what="every child of the killed runner to end"
    )
    assert not list(temp.glob("pymp-*"))  # nor a directory in the temp dir
    shutil.rmtree(temp)  # what else the runs left there (torch's caches)
    assert "interrupted" in (run_dir / "train.log").read_text()  # it checkpointed on its way out
    code, out, err = sweep_main(*common(tmp_path, suite_file), *sweep_args)
    assert code == 0, err
    assert "2 completed" in out and all(
        sessions(tmp_path / "runs" / "tiny" / "long" / f"seed{s}") == 2 for s in (0, 1)
    )


def test_a_sweep_under_a_long_tmpdir_trains(tmp_path, suite_file):
    """multiprocessing puts the forkserver's socket under $TMPDIR; one of 80 characters made its path too
    long for a Unix socket, and the sweep died with 'OSError: AF_UNIX path too long' (a traceback)."""
    temp = tmp_path / ("t" * max(1, 80 - len(str(tmp_path)) - 1))
    temp.mkdir()
    result = run_cli(
        "run_ablations.py", *common(tmp_path, suite_file), "--config", "base", env={"TMPDIR": str(temp)}
    )
    assert result.returncode == 0 and "sweep: 1 completed" in result.stdout, result.stderr


def test_a_run_whose_fork_server_is_killed_is_resumed_not_failed(tmp_path, suite_file):
    """kill -9 of the sweep's fork server (the parent of its runs): the run checkpoints and stops, as on
    any death of its parent, but its exit status dies with the server (multiprocessing says 255). It was
    marked failed, its last log line for a reason, and the next sweep skipped it. Now the sweep waits for
    it to stop and resumes it, with a fresh server."""
    runner = start_sweep(
        tmp_path, suite_file, "--config", "long", "--epochs", "6", stdout=subprocess.PIPE, text=True
    )
    run_dir = tmp_path / "runs" / "tiny" / "long" / "seed0"
    wait_for_epochs(run_dir / "metrics.jsonl", 1, runner)
    servers = [p for p in descendants(runner.pid) if b"forkserver" in Path(f"/proc/{p}/cmdline").read_bytes()]
    os.kill(min(servers, key=lambda pid: parent_of(pid) != runner.pid), signal.SIGKILL)  # the server itself
    out, _ = runner.communicate(timeout=120)
    assert runner.returncode == 0 and "sweep: 1 completed" in out, out
    lost = "exit status lost: the sweep's fork server was killed; resuming it once it stopped"
    assert lost in out, out
    assert not (run_dir / "failure.json").exists() and sessions(run_dir) == 2  # stopped, then resumed


def test_editing_the_suite_mid_sweep_does_not_change_what_trains(tmp_path, suite_file, monkeypatch):
    import resnet.cli.local

    real_pilot = resnet.cli.local.pilot

    def edit_then_pilot(*args):  # planned, nothing trained yet: every run starts after the edit
        suite_file.write_text(
            suite_file.read_text().replace('lr_schedule = "cosine"', 'lr_schedule = "cosine"\nlr = 0.02')
        )
        real_pilot(*args)

    monkeypatch.setattr(resnet.cli.local, "pilot", edit_then_pilot)
    planned = load_suite(suite_file).config("cosine").short_hash()
    code, out, err = sweep_main(*common(tmp_path, suite_file), "--config", "base", "cosine")
    assert code == 0, err
    assert "lr = 0.02" in suite_file.read_text()
    record = json.loads((tmp_path / "runs" / "tiny" / "cosine" / "seed0" / "config.json").read_text())
    assert record["config_hash"] == planned and record["config"]["lr"] == 0.1  # the plan, not the edit
    md = (tmp_path / "results" / "tiny.md").read_text()
    edited = f"⚠ The suite file {suite_file} changed while this sweep ran: this table is of the sweep's plan"
    assert "| cosine | " in md, md
    assert edited in md, md
    assert "".join(edited.split()) in "".join(out.split()), out
    code, out, _ = sweep_main(*common(tmp_path, suite_file)[:6], "--report", "--config", "cosine")
    md = (tmp_path / "results" / "tiny.md").read_text()
    assert "changed while this sweep ran" not in out + md
    assert (
        code == 0 and "## Other configurations" in md and "`cosine` with lr=0.1" in md
    )  # the edited suite's table


def test_two_runners_on_one_runs_dir_never_train_a_run_twice(tmp_path, suite_file, launcher):
    """Two sweeps at once (here two runners in two threads; each run is its own process holding its lock)."""
    results = {}

    def runner(name):
        results[name] = sweep(launcher, suite_file, tmp_path / "runs", ["base", "cosine"])

    threads = [threading.Thread(target=runner, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join()
    for preset in ("base", "cosine"):
        run_dir = tmp_path / "runs" / "tiny" / preset / "seed0"
        assert sessions(run_dir) == 1 and (run_dir / "summary.json").exists()
        assert (run_dir / "train.log").read_text().count("completed: test acc") == 1
    for statuses in results.values():
        assert [s.state for s in statuses] == [RunState.COMPLETED, RunState.COMPLETED]


def test_the_pilot_stops_a_sweep_without_its_data_or_that_cannot_train_before_anything_runs(
    tmp_path, suite_file
):
    data_dir = tmp_path / "data"
    suite_file.write_text(
        suite_file.read_text() + '\n[presets.huge]\nmodel = "resnet18"\ndataset = "cifar10"\n'
        f'batch_size = 40000\ndata_dir = "{data_dir}"\n'
    )
    limit = 8 * 2**30  # a machine with 8 GB: ResNet-18 at batch 40,000 needs far more

    def small_machine():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def sweep():
        start = time.monotonic()
        args = [a for a in common(tmp_path, suite_file) if a != "--no-pilot"]
        result = run_cli("run_ablations.py", *args, "--config", "base", "huge", preexec_fn=small_machine)
        assert result.returncode == 2 and time.monotonic() - start < 90, result.stdout + result.stderr
        assert len(user_lines(result.stderr)) == 1  # one line
        assert not list((tmp_path / "runs").glob("tiny/*/seed0/config.json"))  # nothing trained
        return result.stderr

    # offline (conftest), no CIFAR-10 in data_dir: one line from the pilot, not three failed runs
    args = [a for a in common(tmp_path, suite_file) if a != "--no-pilot"]
    code, _, err = sweep_main(*args, "--config", "base", "huge")
    assert code == 2 and len(user_lines(err)) == 1, err
    assert user_lines(err)[0].startswith(
        "error: CIFAR-10 not found in " + str(data_dir / "cifar-10-batches-py")
    )
    assert not list((tmp_path / "runs").glob("tiny/*/seed0/config.json"))  # nothing trained
    write_cifar10(data_dir)
    error = sweep()
    assert "error: pilot: huge (resnet18, batch 40000) cannot train on cpu: RuntimeError" in error
    assert "--no-pilot" in error


def test_compile_on_a_cpu_without_a_cpp_compiler_is_one_line_before_anything_trains(tmp_path, suite_file):
    """torch.compile on the CPU builds C++: without a compiler it failed at the first step, deep in
    inductor (a traceback in the run's log), and the pilot told to pick a smaller model."""
    no_compiler = {"CXX": str(tmp_path / "no-such-c++")}
    message = (
        "--compile on the CPU needs a C++ compiler, and none works here (InvalidCxxCompiler); install one "
        "(e.g. apt install g++) or leave --compile out\n"
    )
    args = [a for a in common(tmp_path, suite_file) if a != "--no-pilot"]
    sweep = run_cli("run_ablations.py", *args, "--config", "base", "--compile", env=no_compiler)
    assert sweep.returncode == 2 and user_lines(sweep.stderr) == [
        "error: pilot: base (resnet8, batch 64) cannot train on cpu: " + message.rstrip("\n")
    ], sweep.stderr
    assert not list((tmp_path / "runs").rglob("metrics.jsonl"))
    train = ["--model", "resnet8", "--dataset", "synthetic", "--compile", "--device", "cpu"]
    alone = run_cli("train_cifar.py", *train, "--run-dir", tmp_path / "alone", env=no_compiler)
    assert alone.returncode == 2 and alone.stderr == "error: " + message


def test_a_pilot_past_its_time_limit_is_one_line_and_killed(tmp_path, suite_file, launcher, monkeypatch):
    """A pilot step that hangs (a wedged driver, a swapping machine) stops the sweep after its time limit,
    in one line that says how to skip the check, and the pilot process does not outlive it."""
    suite_file.write_text(suite_file.read_text() + '\n[presets.slow]\nmodel = "resnet18"\nbatch_size = 512\n')
    started = []
    start_pilot = launcher.pilot
    monkeypatch.setattr(launcher, "pilot", lambda *args: started.append(start_pilot(*args)) or started[-1])
    specs = plan_for(suite_file, tmp_path / "runs", ["slow"]).specs
    begin = time.monotonic()
    with pytest.raises(DeviceError) as error:
        run_pilot(specs, make_slots("cpu", jobs=1)[0], launcher, timeout=1.0)  # a ResNet-18 step: seconds
    assert time.monotonic() - begin < 10
    assert (
        str(error.value) == "the pilot step did not finish in 1 s on cpu; pass --no-pilot to skip this check"
    )
    (child,) = started
    assert child.poll() is not None  # killed and reaped, not left running


def test_a_stop_after_every_run_finished_does_not_ask_to_resume(tmp_path, suite_file):
    """Ctrl-C while a rerun of a finished sweep checked its runs said every stopped run kept a checkpoint
    and asked to resume, with nothing stopped and nothing to resume."""
    specs = plan_for(suite_file, tmp_path / "runs", ["base", "cosine"]).specs
    statuses = [RunStatus(spec, RunState.COMPLETED) for spec in specs]
    assert interrupted_line(statuses) == "interrupted after every run had finished: nothing to resume"
    statuses[1].state = RunState.INTERRUPTED
    assert interrupted_line(statuses) == (
        "interrupted: every stopped run kept a checkpoint; run the same command to resume"
    )


def test_a_sweep_stopped_during_its_pilot_says_so_in_one_line_and_leaves_no_pilot_behind(
    tmp_path, suite_file
):
    """SIGTERM before any run started ends it as Ctrl-C does (it used to die silently, status 143), and the
    pilot is killed on the way out. The pilot (a ResNet-18 step: seconds on a CPU) is frozen as soon as it
    is seen, so that it cannot end by itself before the signal."""
    suite_file.write_text(suite_file.read_text() + '\n[presets.slow]\nmodel = "resnet18"\nbatch_size = 512\n')
    args = [a for a in common(tmp_path, suite_file) if a != "--no-pilot"]
    command = [sys.executable, str(ROOT / "run_ablations.py"), *map(str, args), "--config", "slow"]
    sweep = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pilots: list[int] = []

    def pilot_started() -> bool:  # the forkserver's child: the pilot (no run starts before it ends)
        below = descendants(sweep.pid)
        pilots.extend(p for p in below if parent_of(p) in below)
        for pid in pilots:
            os.kill(pid, signal.SIGSTOP)
        return bool(pilots)

    try:
        wait_until(pilot_started, 60, sweep, "the pilot to start")
        sweep.terminate()
        out, err = sweep.communicate(timeout=60)
        assert sweep.returncode == 130 and "".join(user_lines(err)) == "interrupted", err
        wait_until(lambda: not any(alive(p) for p in pilots), 10, what="the pilot to end")
    finally:  # a failure here must not leave frozen processes behind
        if sweep.poll() is None:
            sweep.kill()
        for pid in filter(alive, pilots):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not (tmp_path / "runs" / "tiny" / "slow").exists()  # nothing trained


def test_a_gpu_that_is_not_there_is_a_device_error_not_a_config_to_fix(tmp_path, suite_file, monkeypatch):
    import resnet.slots

    # Exported by a shell profile, on a machine without GPUs; an id no machine has, so that torch sees no
    # GPU here on a GPU machine too (CUDA ignores an invalid id and every id after it).
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "99")
    monkeypatch.setattr(resnet.slots, "gpu_driver", lambda: False)
    assert resnet.slots.visible_gpus() == []
    monkeypatch.setattr(resnet.slots, "gpu_driver", lambda: True)
    assert resnet.slots.visible_gpus() == ["99"]
    args = [a for a in common(tmp_path, suite_file) if a not in ("--no-pilot", "--device", "cpu")]
    code, _, err = sweep_main(*args, "--config", "base")  # a driver that shows no GPU to torch
    assert code == 2 and len(user_lines(err)) == 1, err
    assert user_lines(err)[0].startswith(
        "error: pilot: cuda:99: device cuda asked for, but no CUDA GPU is visible here"
    )
    assert "fix the config" not in err and "--no-pilot" not in err


def test_a_factorial_grid_runs_end_to_end_with_its_main_effects(tmp_path, suite_file):
    import torch

    from resnet.runtime import bf16_is_fast

    code, out, err = sweep_main(
        *common(tmp_path, suite_file),
        "--grid",
        "lr_schedule=multistep,cosine",
        "norm=batch,none",
        "--jobs",
        "2",
    )
    assert code == 0, err
    assert "4 completed" in out
    md = (tmp_path / "results" / "tiny.md").read_text()
    assert "## Factorial design: main effects" in md
    # the cells equal to the presets base and cosine take their names; the others are named by their values
    assert "| base |" in md and "| cosine |" in md and "| lr_schedule=cosine,norm=none |" in md
    assert (
        "## Interaction: lr_schedule × norm" in md
        and (tmp_path / "results" / "tiny-interaction.pdf").exists()
    )
    runs = pd.read_csv(tmp_path / "results" / "tiny.csv")  # what ran, beside what was asked
    assert set(runs["config.amp"]) == {"auto"}
    assert set(runs["runtime.amp_bf16"]) == {bf16_is_fast(torch.device("cpu"))}  # as auto resolves here
    assert set(runs["runtime.device"]) == {"cpu"} and set(runs["runtime.threads"]) == {
        max(1, usable_cpus() // 2)
    }


def test_a_sweep_whose_run_dir_holds_another_config_refuses_before_anything_starts(tmp_path, suite_file):
    specs = plan_for(suite_file, tmp_path / "runs", ["base", "cosine"], seeds=(0, 1)).specs
    foreign = specs[0].config.with_overrides(lr=0.05)  # a run dir copied where it does not belong
    for spec in specs[:2]:
        spec.run_dir.mkdir(parents=True)
        (spec.run_dir / "config.json").write_text(json.dumps({"config": foreign.to_dict()}))
    code, _, err = sweep_main(
        *common(tmp_path, suite_file), "--config", "base", "cosine", "--seeds", "0", "1"
    )
    assert code == 2 and err.count("\n") == 1
    assert f"{specs[0].run_dir} holds a run of another config" in err and "(and 1 more runs)" in err
    assert not list((tmp_path / "runs").glob("*/*/seed*/metrics.jsonl"))  # nothing trained


def test_the_live_table_fits_a_small_terminal_with_the_running_runs_in_it(tmp_path, suite_file):
    from rich.console import Console

    from resnet.display import sweep_table
    from resnet.run_status import RunStatus
    from resnet.slots import Slot

    specs = plan_for(suite_file, tmp_path / "runs", ["base", "cosine", "long"], seeds=range(8)).specs
    states = [RunState.COMPLETED] * 16 + [RunState.QUEUED] * 6 + [RunState.RUNNING] * 2
    cpu = Slot("cpu", {}, 1)
    rows = [
        (RunStatus(spec, state, cpu), {"epochs": 1.0, "acc": 50.0, "split": "val", "ips": 400, "eta": 9})
        for spec, state in zip(specs, states, strict=True)
    ]
    rows[3] = (RunStatus(specs[3], RunState.FAILED, cpu, note="exit 2: " + "a long reason " * 8 + "FIX"), {})
    console = Console(file=io.StringIO(), width=100, height=20, color_system=None)
    console.print(sweep_table(rows, console))
    lines = console.file.getvalue().splitlines()
    text = "\n".join(lines)
    assert len(lines) <= 20 - 4 and max(map(len, lines)) <= 100  # room for messages above it
    assert text.startswith("sweep on cpu") and " device " not in text  # one device: in the title
    assert "tiny/cosine/seed7  running" in text and "tiny/long/seed7    running" in text
    assert "tiny/base/seed1    failed" in text and "FIX" in text  # the reason wraps, never cut
    assert "… 17 more" in text and "15 completed, 2 queued" in text  # what did not fit, summed up
    narrow = Console(file=io.StringIO(), width=60, height=20, color_system=None)
    narrow.print(sweep_table(rows, narrow))  # a split pane: columns go, whole, before cells are cut
    text = narrow.file.getvalue()
    assert text.count("…") == 1 and "… 22 more" in text and "running  1.00/4" in text
    assert " img/s" not in text and " acc" not in text and "ETA" in text


def test_a_reason_with_brackets_or_colour_codes_is_shown_as_it_is(tmp_path, suite_file):
    """A failure's reason is a child's text: '[enforce fail at ...]' was eaten as markup, a '[/x]' raised
    MarkupError in the runner, and a colour code or a clear-screen went to the terminal."""
    from types import SimpleNamespace

    from rich.console import Console

    from resnet.display import SweepDisplay, sweep_table
    from resnet.run_status import RunStatus

    spec = plan_for(suite_file, tmp_path / "runs", ["base"]).specs[0]
    reason = "RuntimeError: [enforce fail at x.cc:672] in [/tmp/a] \x1b[2J\x1b[31mred\x1b[0m"
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(sweep_table([(RunStatus(spec, RunState.FAILED, note=reason), {})], console))
    display = SweepDisplay(live=False)
    display._live = SimpleNamespace(console=console)  # a live view, printing where the test reads
    display.message(f"failed: {reason}")
    text = console.file.getvalue()
    assert text.count("RuntimeError: [enforce fail at x.cc:672] in [/tmp/a] red") == 2 and "\x1b" not in text
    described = suite_file.read_text().replace('description = "', 'description = "[b] in [/x] ', 1)
    suite_file.write_text(described)
    code, out, err = sweep_main("--suite-file", suite_file, "--list")
    assert code == 0 and "[b] in [/x] " in out, err


def test_the_live_view_trusts_only_numbers_in_a_runs_progress_file(tmp_path, suite_file):
    from resnet.run_status import RunStatus

    spec = plan_for(suite_file, tmp_path / "runs", ["base"]).specs[0]
    spec.run_dir.mkdir(parents=True)
    (spec.run_dir / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "val_acc": 40.0}) + "\n")
    (spec.run_dir / "progress.json").write_text(
        json.dumps({"epoch": "2", "step": 3, "steps": 10, "images_per_sec": "fast", "eta_seconds": 12.0})
    )
    status = RunStatus(spec, RunState.RUNNING)
    info = status.progress()  # an edited or foreign file must not take the runner down
    assert info["epochs"] == 1.0 and info["ips"] is None and info["eta"] == 12.0
    stream = io.StringIO()
    SweepDisplay(live=False, stream=stream).update([status])
    assert "epoch 1.00/1 | val acc 40.00% | ETA 0m12s" in stream.getvalue()


def test_plain_lines_say_each_state_change_and_progress_at_most_every_30_s(tmp_path, suite_file, monkeypatch):
    import resnet.display
    from resnet.run_status import RunStatus

    clock = [1000.0]
    monkeypatch.setattr(resnet.display.time, "monotonic", lambda: clock[0])
    spec = plan_for(suite_file, tmp_path / "runs", ["long"]).specs[0]
    spec.run_dir.mkdir(parents=True)
    status, stream = RunStatus(spec, RunState.RUNNING), io.StringIO()
    display = SweepDisplay(live=False, stream=stream)
    for second in range(0, 95, 5):  # an epoch ends every 5 s: a line per epoch would be 19 lines
        clock[0] = 1000.0 + second
        with (spec.run_dir / "metrics.jsonl").open("a") as metrics:
            metrics.write(json.dumps({"epoch": second // 5 + 1, "val_acc": 40.0}) + "\n")
        display.update([status])
    status.state = RunState.COMPLETED
    display.update([status])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5, lines  # started, +30 s, +60 s, +90 s, completed
    assert [line.split(" | ")[2] for line in lines] == ["running"] * 4 + ["completed"]


def test_a_sweep_on_a_cpu_others_keep_busy_says_so_before_it_starts(monkeypatch, caplog):
    """Its runs' threads would compete for the cores and train several times slower; measured for real,
    then the rule on given loads (2 CPUs, the sweep's 2 threads: half a CPU busy elsewhere is noise)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert busy_cpus() >= 0.8
    finally:
        spinner.kill()
        spinner.wait()
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    for busy, warning in ((0.5, []), (None, []), (1.0, ["about 1.0 of its 2 CPUs busy", "use 2 threads"])):
        caplog.clear()
        monkeypatch.setattr("resnet.cli.local.busy_cpus", lambda busy=busy: busy)
        warn_if_cpu_busy(threads=2)
        assert len(caplog.records) == (1 if warning else 0)
        assert all(words in caplog.text for words in warning)
    caplog.clear()
    warn_if_cpu_busy(threads=1)  # taskset to one CPU: the busy one may be the other
    assert not caplog.records
