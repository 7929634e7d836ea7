"""Exact resume after SIGKILL and Ctrl-C at any step, damaged checkpoints, locks, a full disk, and bad input
that gets one line and damages nothing."""

import io
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile

import pytest
import torch

from resnet.checkpoint import load_latest_checkpoint
from resnet.errors import RunDirError, RunLocked
from resnet.run_dir import RunDir
from resnet.run_lock import RunLock
from resnet.runtime import bf16_is_fast
from resnet.train import Interrupted, StopRequest, train
from tests.conftest import (
    FAST_ARGS,
    ROOT,
    TIMING,
    TOO_DEEP,
    fast_config,
    train_main,
    wait_for_epochs,
    write_cifar10,
)

EPOCHS = 2
# With cutout and random erasing every augmentation stream must be restored exactly.
ARGS = [
    *FAST_ARGS,
    "--epochs",
    str(EPOCHS),
    "--seed",
    "5",
    "--cutout",
    "8",
    "--random-erasing",
    "0.5",
    "--val-size",
    "128",
]


def config():
    return fast_config(epochs=EPOCHS, seed=5, cutout=8, random_erasing=0.5, val_size=128)


def comparable(run_dir):
    metrics = [
        {k: v for k, v in json.loads(line).items() if k not in TIMING}
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    summary = json.loads((run_dir / "summary.json").read_text())
    keep = (
        "status",
        "best_epoch",
        "test_acc_at_best",
        "final_test_acc",
        "final_train_loss",
        "epochs_completed",
    )
    return metrics, {k: summary[k] for k in keep}


def same_weights(a, b):
    wa, wb = (torch.load(d / "model.pt", weights_only=True)["model"] for d in (a, b))
    return all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(config(), run_dir)
    return run_dir


def start(run_dir, *extra):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train_cifar.py"), *ARGS, "--run-dir", str(run_dir), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def signalled_in_epoch_2(tmp_path, signum, *extra):
    """Start a run, wait for epoch 1's record, then a quarter of its length (inside epoch 2 on a slow
    machine and on a fast one), and send `signum`. Should the load on the machine ease just then, epoch 2
    (the last) can end before the signal lands: then again with a shorter wait. Returns the run dir, the
    process's exit status and its stderr."""
    for attempt, fraction in enumerate((0.25, 0.08, 0.02)):
        run_dir = tmp_path / f"run{attempt}"
        process = start(run_dir, *extra)
        wait_for_epochs(run_dir / "metrics.jsonl", 1, process)
        first = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
        time.sleep(fraction * first["epoch_seconds"])
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        if not (run_dir / "summary.json").exists():
            return run_dir, process.returncode, err
    pytest.fail("the run finished before the signal in each of three tries")


def test_kill_9_between_mid_epoch_checkpoints_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    # a checkpoint after about every step; killed somewhere inside epoch 2, maybe while writing one
    run_dir, _, _ = signalled_in_epoch_2(tmp_path, signal.SIGKILL, "--checkpoint-every", "0.0005")
    code, _, err = train_main(*ARGS, "--run-dir", run_dir)
    assert code == 2 and "pass --resume" in err
    code, out, err = train_main(*ARGS, "--run-dir", run_dir, "--resume")
    assert code == 0, err
    assert "resuming" in out
    assert comparable(run_dir) == comparable(uninterrupted) and same_weights(run_dir, uninterrupted)
    assert len(json.loads((run_dir / "config.json").read_text())["sessions"]) == 2


def test_stopped_before_the_first_checkpoint_it_never_promises_one(tmp_path, monkeypatch):
    import resnet.train

    def stopped_at_once(*args, **kwargs):
        raise KeyboardInterrupt("SIGINT")  # a second Ctrl-C before the first step

    monkeypatch.setattr(resnet.train, "train", stopped_at_once)
    code, _, err = train_main(*ARGS, "--run-dir", tmp_path / "run")
    assert code == 130 and "keeps a checkpoint" not in err
    assert err.endswith("before the first checkpoint, so nothing was trained to keep; run the same command\n")


def test_ctrl_c_mid_epoch_checkpoints_there_and_resumes_bit_for_bit(tmp_path, uninterrupted):
    # mid-epoch checkpoints only on request: the one written on Ctrl-C
    run_dir, returncode, err = signalled_in_epoch_2(tmp_path, signal.SIGINT)
    assert returncode == 130
    assert f"keeps a checkpoint; continue with train_cifar.py --resume --run-dir {run_dir}" in err
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert (
        checkpoint["epoch"] == 1 and 1 <= checkpoint["step"] <= 14
    )  # inside epoch 2 (of 14 steps), not at its start
    code, out, err = train_main("--run-dir", run_dir, "--resume")  # the config as recorded in the run dir
    assert code == 0, err
    assert f"and {checkpoint['step']} of 14 steps of epoch 2" in out
    assert comparable(run_dir) == comparable(uninterrupted) and same_weights(run_dir, uninterrupted)


@pytest.mark.parametrize("in_a_sweep", [False, True])
def test_a_sweeps_run_checkpoints_however_many_stop_signals_reach_it(tmp_path, in_a_sweep):
    """Slurm and systemd signal every process of a job: a sweep's run got SIGTERM from them and SIGINT from
    its sweep, took the second for a second request and stopped without its checkpoint. In a sweep's run
    (resnet.child sets in_a_sweep) only the first counts, as its sweep kills it when asked twice; run
    alone, a second signal still stops it at once."""
    run_dir = tmp_path / "run"
    script = f"import sys, resnet.cli.train as t; t.in_a_sweep = {in_a_sweep}; sys.exit(t.main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", script, *ARGS, "--epochs", "6", "--run-dir", str(run_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_epochs(run_dir / "metrics.jsonl", 1, process)
    # Both arrive together, while a step goes on: frozen meanwhile, the run cannot finish its step and stop
    # between the two when this test is descheduled between them (a busy CI machine did).
    process.send_signal(signal.SIGSTOP)
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGCONT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    if in_a_sweep:
        assert "interrupted (stopped in epoch" in err and f"{run_dir} keeps a checkpoint" in err, err
    else:
        assert re.search(r"interrupted \(SIG(INT|TERM)\): ", err), err  # at once, the last checkpoint kept


def two_checkpoints(run_dir):
    """checkpoint.prev.pt after step 1 and checkpoint.pt after step 2 of an interrupted run."""
    for _ in range(2):
        with pytest.raises(Interrupted):
            train(config(), run_dir, resume=True, stop=StopRequest(requested=True))
    return run_dir / "checkpoint.pt"


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted):
    checkpoint = two_checkpoints(tmp_path / "run")
    code, out, _ = train_main("--evaluate", checkpoint)  # a mid-epoch checkpoint says where it stands
    assert code == 0 and "resnet8 after epoch 0 and 2 steps of epoch 1: test acc" in out
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])  # torn by a crash
    for leftover in (".checkpoint.pt.tmp", ".model.pt.4242.0badf00d.tmp"):  # killed mid-write: model-sized
        (tmp_path / "run" / leftover).write_bytes(checkpoint.read_bytes())
    code, out, err = train_main(*ARGS, "--run-dir", tmp_path / "run", "--resume")
    assert code == 0, err
    assert not list((tmp_path / "run").glob(".*.tmp"))  # the finished run keeps no leftovers
    assert (
        "checkpoint.pt is unreadable" in err and "resuming from checkpoint.prev.pt (epoch 0) instead" in err
    )
    assert comparable(tmp_path / "run") == comparable(
        uninterrupted
    )  # step 2 trained again, to the same numbers


def flip_a_bit_in_the_weights(data: bytes) -> bytes:
    """One bit of the largest tensor flipped: torch.load reads the file without complaint."""
    largest = max(zipfile.ZipFile(io.BytesIO(data)).infolist(), key=lambda record: record.file_size)
    name_length, extra_length = struct.unpack(
        "<HH", data[largest.header_offset + 26 : largest.header_offset + 30]
    )
    damaged = bytearray(data)
    damaged[largest.header_offset + 30 + name_length + extra_length + largest.file_size // 2] ^= 0x04
    intact, loaded = (torch.load(io.BytesIO(d), weights_only=True)["model"] for d in (data, damaged))
    assert any(not torch.equal(intact[key], loaded[key]) for key in intact)
    return bytes(damaged)


@pytest.mark.parametrize("damage", ["truncated", "empty", "random bytes", "a directory", "one flipped bit"])
def test_every_kind_of_damage_is_skipped_for_the_previous_checkpoint(tmp_path, damage):
    checkpoint = two_checkpoints(tmp_path / "run")
    data = checkpoint.read_bytes()
    checkpoint.unlink()
    if damage == "a directory":
        checkpoint.mkdir()
    else:
        checkpoint.write_bytes(
            {
                "truncated": data[: len(data) // 3],
                "empty": b"",
                "random bytes": random.Random(0).randbytes(4096),
                "one flipped bit": flip_a_bit_in_the_weights(data),  # torch.load alone reads it
            }[damage]
        )
    state = load_latest_checkpoint(RunDir(tmp_path / "run"))
    assert (state["epoch"], state["step"]) == (0, 1)


def test_no_usable_checkpoint_is_one_line(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config(), run_dir, stop=StopRequest(requested=True))
    (run_dir / "checkpoint.pt").write_bytes(b"")
    code, _, err = train_main(*ARGS, "--run-dir", run_dir, "--resume")
    assert code == 2 and err.count("\n") == 1
    assert (
        "checkpoint.pt is unreadable (an empty file); no usable checkpoint left: delete them to start over"
        in err
    )


def test_a_full_disk_says_so_and_leaves_no_temp_file(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.symlink(
        "/dev/full", run_dir / ".checkpoint.pt.tmp"
    )  # writes there fail with ENOSPC, as on a full disk
    with pytest.raises(
        RunDirError, match=f"cannot write a checkpoint: no space left on device \\({run_dir}\\)"
    ):
        train(config(), run_dir, stop=StopRequest(requested=True))
    assert not os.path.lexists(run_dir / ".checkpoint.pt.tmp")


def test_any_write_that_fails_mid_run_is_one_line_that_says_how_to_go_on(tmp_path, monkeypatch):
    import errno

    import resnet.records

    blocked = tmp_path / "blocked"
    (blocked / "config.json").mkdir(parents=True)  # where the run records its config
    with pytest.raises(
        RunDirError,
        match=f"the run stopped: is a directory, not a file \\({blocked}/config.json\\); "
        "fix that, then run the same command with --resume",
    ):
        train(config(), blocked)

    record_epoch = resnet.records.RunRecorder.epoch

    def disk_full_in_epoch_2(recorder, record):
        if record["epoch"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")  # what a write() to a full disk raises
        record_epoch(recorder, record)

    monkeypatch.setattr(resnet.records.RunRecorder, "epoch", disk_full_in_epoch_2)
    run_dir = tmp_path / "full"
    with pytest.raises(RunDirError, match=f"the run stopped: no space left on device \\({run_dir}\\)"):
        train(config(), run_dir)
    assert RunDir(run_dir).has_checkpoint() and not RunDir(run_dir).is_locked()
    monkeypatch.undo()  # space again: it goes on from epoch 1's checkpoint
    assert train(config(), run_dir, resume=True)["status"] == "completed"
    assert [r["epoch"] for r in RunDir(run_dir).metrics()] == [1, 2]


def test_a_lock_dies_with_its_holder(tmp_path):
    lock_file = tmp_path / ".lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, sys.argv[1]);"
            "from resnet.run_lock import RunLock; l = RunLock(sys.argv[2]).__enter__(); "
            "print('locked', flush=True); time.sleep(60)",
            str(ROOT),
            str(lock_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
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
            train(fast_config(), run_dir)
        code, _, err = train_main("--model", "resnet8", "--dataset", "synthetic", "--run-dir", run_dir)
        assert code == 75 and "being trained by" in err
    assert not (run_dir / "metrics.jsonl").exists()


def test_a_filesystem_without_locks_is_one_line_and_counts_as_unlocked(tmp_path, monkeypatch):
    """flock on an NFS mount without its lock service: ENOLCK, which was a traceback in the run's log."""
    import errno

    from resnet.run_lock import is_held

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr("fcntl.flock", no_locks)
    run_dir = tmp_path / "run"
    code, _, err = train_main("--model", "resnet8", "--dataset", "synthetic", "--run-dir", run_dir)
    assert code == 2 and err.count("\n") == 1
    assert f"cannot lock {run_dir / '.lock'}: No locks available; put the runs dir on a filesystem" in err
    assert not is_held(run_dir / ".lock")  # what a sweep or a report asks: no one can hold it
    assert not (run_dir / "metrics.jsonl").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "resnt18"], "unknown model 'resnt18' (did you mean resnet18?); valid: resnet18"),
        (
            ["--dataset", "imagenet"],
            "invalid choice: 'imagenet' (choose from 'cifar10', 'cifar100', 'synthetic')",
        ),
        (["--lr", "-1"], "lr: Input should be greater than 0 (got -1.0)"),
        (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
        (["--batch-size", "0"], "batch_size: Input should be greater than or equal to 2 (got 0)"),
        (["--epochs", "0"], "epochs: Input should be greater than or equal to 1 (got 0)"),
        (["--milestones", "0.5", "1.5"], "each milestone must be a fraction of the run in (0, 1)"),
        (["--milestones", "81/0"], "milestones must be numbers or fractions like 81/164, got ['81/0']"),
        (
            ["--config", "cosin"],
            "unknown preset 'cosin' in suite 'ablations' (did you mean cosine?); valid: baseline, cosine",
        ),
        (["--config", "nosuite:baseline"], "unknown suite 'nosuite'"),
        (["--config", "../../etc/passwd.json"], "config file ../../etc/passwd.json does not exist"),
        (["--evaluate", "/dev/zero"], "checkpoint /dev/zero is not a regular file"),
        (
            ["--device", "cuda:3", "--dataset", "synthetic"],
            "device cuda:3 asked for, but no CUDA GPU is visible here",
        ),
        (["--device", "tpu", "--dataset", "synthetic"], "unknown device 'tpu'; accepted: cpu, cuda, cuda:N"),
        (["--threads", "0", "--dataset", "synthetic"], "--threads must be between 1 and 1024, got 0"),
        (["--threads", "100000", "--dataset", "synthetic"], "--threads must be between 1 and 1024, got 1000"),
        (
            ["--checkpoint-every", "0"],
            "argument --checkpoint-every: must be a positive, finite number of minutes, got '0'",
        ),
        (
            ["--checkpoint-every", "nan"],
            "argument --checkpoint-every: must be a positive, finite number of minutes, got 'nan'",
        ),
        (["--config-json", "{bad"], "--config-json is not valid JSON"),
        (
            ["--config-json", '{"model": "\\udcff"}'],
            "--config-json is not valid JSON (a \\u escape that is no",
        ),
        (["--model", "r\udcff"], "argument --model: r\\xff is not valid UTF-8 text"),  # bytes, not UTF-8
        (["--config", "c\udcff"], "argument --config: c\\xff is not valid UTF-8 text"),
        (["--device", "cu\udcff"], "argument --device: cu\\xff is not valid UTF-8 text"),
        (["--milestones", "1e309"], "milestones must be numbers or fractions like 81/164, got ['1e309']"),
        (
            ["--run-dir", ""],
            "argument --run-dir: an empty path; give a file or directory name",
        ),  # "$DIR" unset
        (["--data-dir", ""], "invalid config: data_dir: String should have at least 1 character (got '')"),
        pytest.param(
            ["--config-json", "[" * TOO_DEEP + "]" * TOO_DEEP],
            "--config-json is not valid JSON (arrays or objects nested too deeply",
            id="nested-too-deeply",
        ),
        (
            ["--evaluate", "m\udcff.pt"],
            "argument --evaluate: the path m\\xff.pt is not valid UTF-8; rename it",
        ),
        (
            ["--config-json", '{"model": "resnet8", "dataset": "synthetic"}', "--expect-hash", "00000000"],
            "the config to train has hash",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_touches_nothing(tmp_path, args, message):
    run_dir = [] if "--evaluate" in args else ["--run-dir", tmp_path / "run"]  # it trains nothing
    code, _, err = train_main(*args, *run_dir)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert not (tmp_path / "run").exists()


def test_missing_data_dir_error_says_where_it_looked(tmp_path):
    code, _, err = train_main("--data-dir", tmp_path / "nowhere", "--run-dir", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1
    assert (
        f"not found in {tmp_path / 'nowhere' / 'cifar-10-batches-py'}" in err and "--dataset synthetic" in err
    )


def test_corrupt_batch_file_through_the_cli(tmp_path):
    write_cifar10(tmp_path / "data")
    (tmp_path / "data" / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    code, _, err = train_main(
        "--data-dir",
        tmp_path / "data",
        "--model",
        "resnet8",
        "--batch-size",
        "8",
        "--run-dir",
        tmp_path / "run",
    )
    assert code == 2 and "corrupt CIFAR-10 file" in err and "test_batch" in err


def test_unwritable_run_dir_and_things_that_are_not_checkpoints(tmp_path, finished_run):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = train_main("--dataset", "synthetic", "--run-dir", blocker / "run")
    assert code == 2 and "cannot write to the run dir: a path component is a file" in err
    run_dir, _ = finished_run
    code, _, err = train_main("--evaluate", run_dir / "model.pt", "--model", "resnet20")
    assert code == 2 and "holds a resnet8 checkpoint, not resnet20" in err
    code, out, _ = train_main("--evaluate", run_dir / "model.pt")
    assert code == 0 and "resnet8 after epoch 2: test acc" in out
    code, from_dir, _ = train_main("--evaluate", run_dir)  # a run dir: its model.pt
    assert code == 0 and from_dir == out
    code, _, err = train_main("--evaluate", run_dir, "--epochs", "3", "--resume")  # not ignored: refused
    assert code == 2 and err.endswith("nothing is trained (got --epochs, --resume)\n"), err
    code, _, err = train_main("--evaluate", tmp_path)
    assert code == 2 and err == f"error: run dir {tmp_path} holds no model.pt or checkpoint.pt to evaluate\n"
    junk = tmp_path / "junk.pt"
    for seed in range(5):  # random bytes fail in torch.load in different ways: each is one line
        junk.write_bytes(random.Random(seed).randbytes(1000))
        code, _, err = train_main("--evaluate", junk)
        assert code == 2 and err.count("\n") == 1, err
        assert re.fullmatch(
            rf"error: {re.escape(str(junk))} is unreadable \(damaged or not a checkpoint: \w+\); "
            r"--evaluate takes a model.pt or checkpoint.pt, or the run dir that holds one\n",
            err,
        )


def test_evaluating_a_run_dir_falls_back_past_a_damaged_file_and_says_what_it_takes(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[0], run_dir)
    shutil.copy(run_dir / "model.pt", run_dir / "checkpoint.prev.pt")
    (run_dir / "model.pt").write_bytes(b"PK\x03\x04 torn")
    code, out, err = train_main("--evaluate", run_dir)
    assert code == 0 and out.startswith(f"{run_dir / 'checkpoint.prev.pt'}: resnet8 after epoch 2")
    assert "model.pt is unreadable" in err and "evaluated checkpoint.prev.pt instead" in err
    code, out, err = train_main("--evaluate", run_dir / "config.json")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "config.json is unreadable" in err and err.rstrip().endswith("or the run dir that holds one")


def test_resume_of_a_run_with_a_different_config_is_refused(tmp_path, finished_run):
    run_dir, _ = finished_run
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    code, _, err = train_main(
        *FAST_ARGS,
        "--lr",
        "0.05",
        "--run-dir",
        run_dir,
        "--resume",
    )
    assert code == 2 and "holds a run of another config" in err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    assert RunDir(run_dir).verified_summary(fast_config(seed=3)) is not None


def test_resuming_on_another_device_continues_and_says_the_numbers_will_differ(tmp_path, uninterrupted):
    checkpoint = two_checkpoints(tmp_path / "run")
    state = torch.load(checkpoint, weights_only=True)
    assert state["runtime"]["device"] == "cpu"
    here = bf16_is_fast(torch.device("cpu"))  # what amp=auto resolves to on this CPU (AMX: bf16)
    state["runtime"].update(device="cuda:0", amp_bf16=not here)  # as if written by a GPU run
    torch.save(state, checkpoint)
    code, _, err = train_main(*ARGS, "--run-dir", tmp_path / "run", "--resume")
    assert code == 0, err
    assert f"resuming with device cuda:0 -> cpu, amp_bf16 {not here} -> {here}" in err
    assert comparable(tmp_path / "run") == comparable(uninterrupted)  # CPU state restored either way


def test_a_run_whose_training_code_cannot_import_says_why_in_its_log(tmp_path):
    """torch that cannot load in the sweep's warm interpreter (a broken install, a memory limit): the fork
    imports resnet.child again, before its output goes to the run's log. The traceback goes to the log, so
    that the run's failure reads 'ImportError: ...', not 'exit 1' with no output."""
    log = tmp_path / "train.log"
    log.write_text("=== header\n")
    script = (
        "import sys\n"
        "sys.modules['resnet.child'] = None  # import resnet.child now raises ImportError\n"
        "from resnet.launch import _call\n"
        f"_call('train', {str(log)!r}, ())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == ""
    lines = log.read_text().splitlines()
    assert lines[0] == "=== header" and lines[-1].endswith(
        "Error: import of resnet.child halted; None in sys.modules"
    )
