"""The sweep runner, for real: subprocesses on CPU slots, synthetic data, 1-2 epoch runs."""
import json
import signal
import subprocess
import sys
import time

import pytest

from resnet.presets import load_suite
from resnet.run_dir import RunDir
from resnet.runner import LocalSweep, SweepDisplay, make_slots, plan_runs
from tests.conftest import ROOT, run_cli, wait_for_epochs

SUITE = """
description = "test suite"
baseline = "base"

[base]
model = "resnet8"
dataset = "synthetic"
batch_size = 64
epochs = 1

[presets.base]
description = "the baseline"

[presets.cosine]
description = "cosine"
lr_schedule = "cosine"

[presets.broken]
description = "fails at run time: a batch larger than the 1024 synthetic training images"
batch_size = 2048

[presets.long]
description = "long enough to interrupt"
epochs = 6
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    return path


def sessions(run_dir) -> int:
    return len(json.loads((run_dir / "config.json").read_text())["sessions"])


def sweep(suite_file, runs_dir, presets, jobs=1, seeds=(0,), **overrides):
    specs = plan_runs(load_suite(suite_file), presets, list(seeds), overrides, runs_dir, str(suite_file))
    display = SweepDisplay(live=False, stream=open("/dev/null", "w"))
    return LocalSweep(specs, make_slots("cpu", jobs=jobs), display=display).run()


def test_dry_run_prints_exact_commands_with_devices_and_skips(tmp_path, suite_file):
    args = ["--suite-file", suite_file, "--all", "--seeds", "0", "1", "--runs-dir", tmp_path / "runs", "--dry-run",
            "--device", "cpu", "--jobs", "2", "--epochs", "3"]
    result = run_cli("run_ablations.py", *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 8
    first = lines[0]
    assert first.startswith("CUDA_VISIBLE_DEVICES='' OMP_NUM_THREADS=1 ")
    assert f"--config {suite_file}:base --seed 0 --epochs 3 --run-dir {tmp_path}/runs/tiny/base/seed0 --resume" in first
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing
    # The printed command really runs: it trains the first run.
    command = first.split(" ", 2)[2]  # after the two environment assignments
    trained = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""})
    assert trained.returncode == 0, trained.stderr
    again = run_cli("run_ablations.py", *args).stdout.splitlines()
    assert again[0] == "# skip tiny/base/seed0: finished (summary.json exists)" and len(again) == 8


def test_gpu_slots_and_dry_run_assignment():
    slots = make_slots(None, gpus=["0", "1"], jobs_per_gpu=2)
    assert [s.device for s in slots] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert slots[2].env["CUDA_VISIBLE_DEVICES"] == "1"
    assert [s.device for s in make_slots("cpu", gpus=["0"], jobs=3)] == ["cpu"] * 3
    with pytest.raises(ValueError, match="no GPU is visible"):
        make_slots("cuda", gpus=[])


def test_list_and_dry_run_do_not_import_torch(tmp_path):
    code = ("import sys; from resnet.cli import ablations_main; ablations_main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    for args in (["--list"], ["--list", "--suite", "depth"], ["--all", "--seed", "42", "--dry-run"],
                 ["--suite", "classic", "--all", "--dry-run", "--launcher", "slurm", "--partition", "gpu"]):
        result = subprocess.run([sys.executable, "-c", code, *args, "--runs-dir", str(tmp_path)], cwd=ROOT,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert "resnet50" in subprocess.run([sys.executable, "run_ablations.py", "--list"], cwd=ROOT, capture_output=True,
                                        text=True).stdout


def test_failing_preset_is_recorded_while_others_finish_and_two_slots_run_at_once(tmp_path, suite_file):
    statuses = sweep(suite_file, tmp_path / "runs", ["base", "broken", "cosine"], jobs=2)
    state = {s.spec.preset: s for s in statuses}
    assert state["base"].state == state["cosine"].state == "finished"
    assert state["broken"].state == "failed" and state["broken"].exit_code == 2
    failure = json.loads((tmp_path / "runs" / "tiny" / "broken" / "seed0" / "failure.json").read_text())
    assert failure["exit_code"] == 2 and "batch_size 2048 is larger than the 1024 training images" in failure["log_tail"][-1]
    base, broken = state["base"], state["broken"]
    assert base.started < broken.ended and broken.started < base.ended  # the two slots overlapped in time

    # A second sweep skips what finished, leaves the failure alone unless asked, and trains nothing twice.
    again = {s.spec.preset: s.state for s in sweep(suite_file, tmp_path / "runs", ["base", "broken", "cosine"])}
    assert again == {"base": "skipped", "broken": "failed", "cosine": "skipped"}
    assert sessions(tmp_path / "runs" / "tiny" / "base" / "seed0") == 1


def test_runner_cli_exit_status_report_and_conflicts(tmp_path, suite_file):
    runs, results = tmp_path / "runs", tmp_path / "results"
    common = ["--suite-file", suite_file, "--runs-dir", runs, "--results-dir", results, "--device", "cpu"]
    result = run_cli("run_ablations.py", *common, "--config", "base", "broken")
    assert result.returncode == 1
    assert "failed: tiny/broken/seed0: exit 2" in result.stderr and "1 finished" in result.stdout
    table = (results / "tiny.md").read_text()
    assert "| broken |" in table and "1 failed" in table
    # Same preset, another config in the same run dir: refused before anything runs, nothing overwritten.
    before = (runs / "tiny" / "base" / "seed0" / "summary.json").read_text()
    result = run_cli("run_ablations.py", *common, "--config", "base", "--lr", "0.05")
    assert result.returncode == 2 and "holds a run of another config" in result.stderr
    assert (runs / "tiny" / "base" / "seed0" / "summary.json").read_text() == before
    result = run_cli("run_ablations.py", *common, "--config", "nope")
    assert result.returncode == 2 and "unknown preset 'nope' in suite 'tiny'" in result.stderr


def test_ctrl_c_stops_children_and_the_next_sweep_resumes(tmp_path, suite_file):
    runs = tmp_path / "runs"
    # Started as `cmd &` from a script would be: with SIGINT ignored. The runner must still stop on it.
    runner = subprocess.Popen([sys.executable, str(ROOT / "run_ablations.py"), "--suite-file", str(suite_file),
                               "--config", "long", "--runs-dir", str(runs), "--results-dir", str(tmp_path / "results"),
                               "--device", "cpu"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    run_dir = runs / "tiny" / "long" / "seed0"
    wait_for_epochs(run_dir / "metrics.jsonl", 2, runner)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "run the same command to resume" in err
    assert RunDir(run_dir).state(RunDir(run_dir).recorded_hash()) == "interrupted"
    assert not RunDir(run_dir).is_locked()
    statuses = sweep(suite_file, runs, ["long"])
    assert statuses[0].state == "finished"
    assert sessions(run_dir) == 2 and len(RunDir(run_dir).metrics()) == 6
    assert "resuming" in (run_dir / "train.log").read_text()


def test_two_runners_on_one_runs_dir_never_train_a_run_twice(tmp_path, suite_file):
    command = [sys.executable, str(ROOT / "run_ablations.py"), "--suite-file", str(suite_file), "--config", "base",
               "cosine", "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"),
               "--device", "cpu"]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    second = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [p.communicate(timeout=240)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    for preset in ("base", "cosine"):
        run_dir = tmp_path / "runs" / "tiny" / preset / "seed0"
        assert sessions(run_dir) == 1 and (run_dir / "summary.json").exists()
        # The runner that lost each race either skipped the run, found it locked, or found it finished.
        assert (run_dir / "train.log").read_text().count("completed: best test acc") == 1
