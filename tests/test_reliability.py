"""Exact resume after SIGKILL, torn checkpoints, run-dir locks, and bad input that damages nothing."""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from resnet.run_dir import RunDir, RunLock, RunLocked
from resnet.train import train
from tests.conftest import ROOT, fast_config, quiet, run_cli, wait_for_epochs

TIMING = {"epoch_seconds", "train_seconds", "images_per_sec"}


def train_args(run_dir, epochs=4):
    # With random erasing both the data-order and the augmentation draws must be restored exactly.
    return ["--model", "resnet8", "--dataset", "synthetic", "--batch-size", "64", "--epochs", str(epochs), "--seed", "5",
            "--random-erasing", "0.5", "--run-dir", str(run_dir)]


def comparable(run_dir):
    metrics = [{k: v for k, v in json.loads(line).items() if k not in TIMING}
               for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run_dir / "summary.json").read_text())
    keep = ("status", "best_test_acc", "best_epoch", "final_test_acc", "final_train_loss", "epochs_completed")
    return metrics, {k: summary[k] for k in keep}


def weights(run_dir):
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = run_cli("train_cifar.py", *train_args(run_dir))
    assert result.returncode == 0, result.stderr
    return run_dir


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(ROOT / "train_cifar.py"), *train_args(run_dir)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epochs(run_dir / "metrics.jsonl", 2, process)
    process.send_signal(signal.SIGKILL)  # somewhere in epoch 3
    process.wait()
    assert not (run_dir / "summary.json").exists()

    refused = run_cli("train_cifar.py", *train_args(run_dir))
    assert refused.returncode == 2 and "pass --resume" in refused.stderr

    resumed = run_cli("train_cifar.py", *train_args(run_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert comparable(run_dir) == comparable(uninterrupted)
    a, b = weights(run_dir), weights(uninterrupted)
    assert all(torch.equal(a[k], b[k]) for k in a)
    sessions = json.loads((run_dir / "config.json").read_text())["sessions"]
    assert len(sessions) == 2


def test_torn_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    assert run_cli("train_cifar.py", *train_args(run_dir, epochs=3)).returncode == 0
    finished = comparable(run_dir)
    # As if the disk tore epoch 3's checkpoint and the run died before writing its summary.
    (run_dir / "summary.json").unlink()
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    resumed = run_cli("train_cifar.py", *train_args(run_dir, epochs=3), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "checkpoint.pt is unreadable" in resumed.stdout
    assert "resuming from checkpoint.prev.pt (epoch 2) instead" in resumed.stdout
    assert comparable(run_dir) == finished  # epoch 3 trained again, to the same numbers


def test_a_lock_dies_with_its_holder(tmp_path):
    lock_file = tmp_path / ".lock"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
                               "from resnet.run_dir import RunLock; l = RunLock(sys.argv[2]).__enter__(); "
                               "print('locked', flush=True); time.sleep(60)", str(ROOT), str(lock_file)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunLocked, match=f"being trained by pid {holder.pid}"):
        RunLock(lock_file).__enter__()
    os.kill(holder.pid, signal.SIGKILL)  # a crash: the lock file stays behind
    holder.wait()
    assert lock_file.exists()
    with RunLock(lock_file):  # but it is not held any more
        pass


def test_a_locked_run_is_not_trained_twice(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunLock(run_dir / ".lock"):
        with pytest.raises(RunLocked):
            train(fast_config(), run_dir, echo=quiet)
        result = run_cli("train_cifar.py", "--model", "resnet8", "--dataset", "synthetic", "--run-dir", run_dir)
        assert result.returncode == 75 and "being trained by" in result.stderr
    assert not (run_dir / "metrics.jsonl").exists()


@pytest.mark.parametrize("args, message", [
    (["--model", "resnt18"], "unknown model 'resnt18' (did you mean resnet18?); valid: resnet18"),
    (["--dataset", "imagenet"], "invalid choice: 'imagenet' (choose from 'cifar10', 'cifar100', 'synthetic')"),
    (["--lr", "-1"], "lr: Input should be greater than 0 (got -1.0)"),
    (["--batch-size", "0"], "batch_size: Input should be greater than or equal to 2 (got 0)"),
    (["--epochs", "0"], "epochs: Input should be greater than or equal to 1 (got 0)"),
    (["--milestones", "0.5", "1.5"], "each milestone must be a fraction of the run in (0, 1)"),
    (["--config", "cosin"], "unknown preset 'cosin' in suite 'ablations' (did you mean cosine?); valid: baseline, cosine"),
    (["--config", "nosuite:baseline"], "unknown suite 'nosuite'"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, message):
    result = run_cli("train_cifar.py", *args, "--run-dir", tmp_path / "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_missing_data_dir_error_says_where_it_looked(tmp_path):
    env = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # the download must fail
    result = run_cli("train_cifar.py", "--data-dir", tmp_path / "nowhere", "--run-dir", tmp_path / "run", env=env)
    assert result.returncode == 2
    assert f"not found in {tmp_path / 'nowhere' / 'cifar-10-batches-py'}" in result.stderr
    assert "--dataset synthetic" in result.stderr


def test_corrupt_batch_file_through_the_cli(tmp_path):
    from tests.conftest import write_cifar10

    write_cifar10(tmp_path / "data")
    (tmp_path / "data" / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    result = run_cli("train_cifar.py", "--data-dir", tmp_path / "data", "--model", "resnet8", "--batch-size", "8",
                     "--run-dir", tmp_path / "run")
    assert result.returncode == 2 and "corrupt CIFAR-10 file" in result.stderr and "test_batch" in result.stderr


def test_unwritable_run_dir_and_wrong_checkpoint(tmp_path, finished_run):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("train_cifar.py", "--dataset", "synthetic", "--run-dir", blocker / "run")
    assert result.returncode == 2 and "cannot write to" in result.stderr
    run_dir, _ = finished_run
    before = (run_dir / "checkpoint.pt").read_bytes()
    result = run_cli("train_cifar.py", "--evaluate", run_dir / "checkpoint.pt", "--model", "resnet20")
    assert result.returncode == 2 and "holds a resnet8 checkpoint, not resnet20" in result.stderr
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    result = run_cli("train_cifar.py", "--evaluate", run_dir / "checkpoint.pt")
    assert result.returncode == 0 and "resnet8 after epoch 2: test acc" in result.stdout


def test_resume_of_a_run_with_a_different_config_is_refused(tmp_path, finished_run):
    run_dir, _ = finished_run
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    result = run_cli("train_cifar.py", "--model", "resnet8", "--dataset", "synthetic", "--lr", "0.05",
                     "--run-dir", run_dir, "--resume")
    assert result.returncode == 2 and "holds a run of another config" in result.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    assert RunDir(run_dir).state(fast_config(seed=3).short_hash()) == "finished"
