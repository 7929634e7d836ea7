import json
import math
import os
import shutil
import signal
from types import SimpleNamespace

import pytest
import torch

from resnet.checkpoint import save_checkpoint
from resnet.components import build
from resnet.config import TrainConfig
from resnet.errors import RunDirError
from resnet.evaluate import evaluate_checkpoint
from resnet.files import read_json, write_atomic
from resnet.run_dir import RunDir
from resnet.runtime import Runtime
from resnet.schedule import lr_multiplier
from resnet.states import RunState
from resnet.summary import summarize
from resnet.train import Interrupted, StopRequest, train
from tests.conftest import FAST_ARGS, TIMING, fast_config, train_main


def metrics(run_dir):
    return [
        {k: v for k, v in json.loads(line).items() if k not in TIMING}
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]


def test_multistep_schedule_steps_at_fractions_of_the_run():
    f = lr_multiplier(TrainConfig(epochs=10), steps_per_epoch=100)  # milestones at steps 500 and 750
    assert [f(s) for s in (0, 499, 500, 749, 750, 999)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    bearpaw = lr_multiplier(TrainConfig(epochs=164, milestones=["81/164", "122/164"]), steps_per_epoch=390)
    assert bearpaw(81 * 390 - 1) == 1 and bearpaw(81 * 390) == pytest.approx(0.1)  # drops exactly at epoch 82
    assert bearpaw(122 * 390) == pytest.approx(0.01)


def test_cosine_constant_and_warmup_schedules():
    cosine = lr_multiplier(TrainConfig(epochs=10, lr_schedule="cosine"), steps_per_epoch=100)
    assert (
        cosine(0) == 1
        and cosine(500) == pytest.approx(0.5)
        and cosine(250) == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))
    )
    assert cosine(999) < 1e-4
    assert {lr_multiplier(TrainConfig(lr_schedule="none"), 10)(s) for s in range(0, 2000, 7)} == {1.0}
    warm = lr_multiplier(TrainConfig(epochs=10, warmup_epochs=2), steps_per_epoch=100)
    assert [warm(s) for s in (0, 99, 199, 200)] == pytest.approx([0.005, 0.5, 1.0, 1.0])


def test_a_run_learns_and_records_everything(finished_run):
    run_dir, summary = finished_run
    assert (
        summary["status"] == "completed"
        and summary["epochs_completed"] == 2
        and summary["final_test_acc"] > 40
    )
    record = read_json(run_dir / "config.json")
    config = fast_config(seed=3)
    assert record["config"] == config.to_dict() and record["seed"] == 3 and record["params"] == 75_290
    assert (record["config_hash"], record["arm_hash"]) == (config.short_hash(), config.arm_hash())
    assert record["runtime"]["threads"] == torch.get_num_threads() and record["runtime"]["device"] == "cpu"
    assert record["data"] == {"dataset": "synthetic", "files_match_official_md5": None}
    env = record["environment"]
    assert env["torch"] == torch.__version__ and env["device"].startswith("cpu")
    assert {"python", "cuda", "git", "host", "started_at", "command", "torchvision"} <= set(env)
    assert [m["epoch"] for m in metrics(run_dir)] == [1, 2]
    assert summary == read_json(run_dir / "summary.json")
    assert summary["selection"] == "test" and summary["best_test_acc"] == max(
        m["test_acc"] for m in metrics(run_dir)
    )
    assert summary["params"] == 75_290 and summary["images_per_sec"] > 0 and summary["mean_epoch_seconds"] > 0
    # A finished run keeps what --evaluate needs, not the resumable state.
    assert (run_dir / "model.pt").exists() and not (run_dir / "checkpoint.pt").exists()
    assert not (run_dir / "checkpoint.prev.pt").exists() and not (run_dir / "checkpoints").exists()
    assert RunDir(run_dir).state(config) == RunState.COMPLETED


def test_tensorboard_has_scalars_and_hparams(finished_run):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    run_dir, _ = finished_run
    events = EventMultiplexer().AddRunsFromDirectory(str(run_dir / "tb"))
    events.Reload()
    runs = events.Runs()
    scalars = {
        tag: events.Scalars(run, tag)
        for run in runs
        for tag in runs[run]["scalars"]
        if tag == "accuracy/test"
    }
    assert [e.step for e in scalars["accuracy/test"]] == [1, 2]
    assert any(events.PluginRunToTagToContent("hparams").values())


def test_validation_selects_the_best_epoch_and_the_table_reads_test_there(tmp_path):
    summary = train(fast_config(epochs=3, val_size=128), tmp_path / "run")
    rows = metrics(tmp_path / "run")
    assert all("val_acc" in r and "test_acc" in r for r in rows)
    best = max(rows, key=lambda r: r["val_acc"])
    assert summary["selection"] == "val" and summary["best_epoch"] == best["epoch"]
    assert summary["best_val_acc"] == best["val_acc"] and summary["test_acc_at_best"] == best["test_acc"]
    assert summary["final_test_acc"] == rows[-1]["test_acc"]
    record = read_json(tmp_path / "run" / "config.json")
    assert record["data"]["val_size"] == 128 and len(record["data"]["val_indices_sha256"]) == 16


def test_same_seed_same_numbers_on_cpu(tmp_path, finished_run):
    run_dir, first = finished_run
    again = train(fast_config(seed=3), tmp_path / "again")
    assert metrics(tmp_path / "again") == metrics(run_dir)
    a = torch.load(run_dir / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "again" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a) and again["final_test_acc"] == first["final_test_acc"]
    train(fast_config(seed=4, epochs=1), tmp_path / "other")
    assert metrics(tmp_path / "other")[0] != metrics(run_dir)[0]


def test_a_seed_gives_the_same_initial_weights_and_first_batches_in_every_arm():
    runtime = Runtime.resolve(fast_config())
    baseline = build(fast_config(seed=5), runtime)
    cosine = build(fast_config(seed=5, lr_schedule="cosine", lr=0.05, cutout=0), runtime)
    without_bn = build(fast_config(seed=5, norm="none"), runtime)
    a, b = baseline.model.state_dict(), cosine.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # same architecture: same initial weights
    assert set(without_bn.model.state_dict()) != set(a)  # another architecture has other weights
    (xa, ya), (xb, yb) = next(baseline.train_loader.epoch(1)), next(cosine.train_loader.epoch(1))
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    other = build(fast_config(seed=6), runtime)
    assert not torch.equal(other.model.state_dict()["stem.0.weight"], a["stem.0.weight"])


def test_finished_runs_are_not_retrained_and_other_configs_not_overwritten(finished_run, caplog):
    run_dir, summary = finished_run
    before = (run_dir / "summary.json").read_text()
    with caplog.at_level("INFO", logger="resnet"):
        assert train(fast_config(seed=3), run_dir) == summary
    assert "already holds this finished run" in caplog.text
    with pytest.raises(RunDirError, match="holds a run of another config .*lr=0.1.* never overwritten"):
        train(fast_config(seed=3, lr=0.05), run_dir)
    with pytest.raises(RunDirError, match=r"another config \(hash \w+: seed=3; this one is"):
        train(fast_config(seed=4), run_dir)  # a seed dir copied to another seed's place
    assert (run_dir / "summary.json").read_text() == before


def test_a_run_is_never_written_among_files_that_are_not_a_runs(tmp_path):
    """`--run-dir .` in a project: its files stay as they were and no run lands among them."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("thesis.tex", "data.csv", "notes", "plots", ".git"):
        (project / name).write_text("mine")
    with pytest.raises(RunDirError) as err:
        train(fast_config(), project)
    assert str(err.value) == (
        f"{project} holds other files (data.csv, notes, plots and 1 more) and no run; a run is never "
        "written among them: choose a new or empty run dir (--run-dir / --runs-dir)"
    )
    assert sorted(p.name for p in project.iterdir()) == [".git", "data.csv", "notes", "plots", "thesis.tex"]
    fresh = tmp_path / "fresh"  # what a runner leaves before the run starts is no obstacle
    fresh.mkdir()
    (fresh / "train.log").write_text("")
    (fresh / ".lock").write_text("")
    assert RunDir(fresh).conflict(fast_config()) is None


def test_a_run_is_never_started_inside_another_runs_directory(finished_run):
    """No report looks into a run's own subdirectories: a run there would be trained and never tabled."""
    run_dir, _ = finished_run
    code, _, err = train_main(*FAST_ARGS, "--run-dir", run_dir / "tb" / "more")
    assert code == 2 and f"lies inside the run dir {run_dir}: no report looks into a run dir; choose" in err
    assert not (run_dir / "tb" / "more").exists()


def test_a_summary_verifies_only_when_every_number_follows_from_the_metrics(finished_run, tmp_path):
    from resnet.summary import verify

    run_dir, summary = finished_run
    config, history = fast_config(seed=3), RunDir(run_dir).metrics()
    assert verify(summary, config, history) is None
    edited = {**summary, "test_acc_at_best": summary["test_acc_at_best"] + 1}  # a hand-edited number
    assert (
        verify(edited, config, history)
        == "summary.json's test_acc_at_best differs from what metrics.jsonl gives"
    )
    assert (
        verify({**summary, "params": "x"}, config, history)
        == "summary.json's params has the wrong type (str)"
    )
    assert verify({k: v for k, v in summary.items() if k != "arm_hash"}, config, history) is None  # older
    # every number consistent with the metrics, but only 1 of the config's 2 epochs ran: not finished
    short = summarize(config, history[:1], status="completed", runtime={}, params=summary["params"])
    assert verify(short, config, history[:1]) == "summary.json says completed after 1 of 2 epochs"
    diverged = summarize(config, history, status="diverged", runtime={}, params=summary["params"])
    assert (
        verify(diverged, config, history) == "summary.json says diverged after 2 of 2 epochs"
    )  # loss finite
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    lines = (copy / "metrics.jsonl").read_text().splitlines()
    edited_line = json.dumps({**json.loads(lines[0]), "test_acc": "x"})
    (copy / "metrics.jsonl").write_text("\n".join([edited_line, *lines[1:]]) + "\n")
    assert RunDir(copy).metrics() == []  # reading stops at the first record that is not all numbers
    assert RunDir(copy).state(config) == RunState.UNVERIFIED


def test_an_epoch_stopped_with_ctrl_z_counts_in_no_speed_figure(tmp_path):
    """Its time holds the stop: mean epoch time and images/s come from the other epochs, and the live step
    rate is measured afresh once the process is continued."""
    from resnet.progress import Progress
    from resnet.summary import summarize

    def record(epoch, seconds, images_per_sec, **extra):
        return {"epoch": epoch, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0, "test_acc": 50.0,
                "lr": 0.1, "epoch_seconds": seconds, "train_seconds": seconds - 1,
                "images_per_sec": images_per_sec, **extra}  # fmt: skip

    history = [
        record(1, 9.0, 100.0),
        record(2, 5.0, 250.0),
        record(3, 65.0, 16.0, stops=1),
        record(4, 3.0, 500.0),
    ]
    summary = summarize(fast_config(epochs=4), history, status="completed", runtime={}, params=None)
    assert summary["mean_epoch_seconds"] == (5.0 + 3.0) / 2  # epoch 1 warms up, epoch 3 was stopped
    assert summary["images_per_sec"] == (100 * 8 + 250 * 4 + 500 * 2) / (8 + 4 + 2)  # weighted by train time
    assert summary["total_seconds"] == 82.0 and summary["stopped_epochs"] == 1  # the wall time, stop included
    stopped = [{**r, "stops": 2} for r in history]  # every epoch stopped: no speed can be told
    summary = summarize(fast_config(epochs=4), stopped, status="completed", runtime={}, params=None)
    assert summary["mean_epoch_seconds"] is None and summary["images_per_sec"] is None

    progress = Progress(RunDir(tmp_path), epochs=4, steps_per_epoch=10, batch_size=64, start_epoch=0)
    try:
        for step in (1, 2, 3):
            progress.step(1, step)
        assert progress.session_steps == 2
        os.kill(os.getpid(), signal.SIGCONT)  # what `fg` sends
        progress.step(1, 4)
        assert progress.session_steps == 0 and progress.rate() is None  # afresh from this step
    finally:
        progress.close()
    assert signal.getsignal(signal.SIGCONT) == signal.SIG_DFL


def test_a_stop_that_ends_between_two_epochs_is_recorded_by_the_next(tmp_path, monkeypatch):
    """A continue that lands in the checkpoint written at an epoch's end (on a fast run, much of the time
    between two steps) is counted by the next epoch's record, not lost from every record."""
    import resnet.train

    def checkpoint_and_continue(state, run, keep_epoch):
        save_checkpoint(state, run, keep_epoch=keep_epoch)
        if state["epoch"] == 1 and not state["step"]:  # after epoch 1's record, before epoch 2's start
            os.kill(os.getpid(), signal.SIGCONT)

    monkeypatch.setattr(resnet.train, "save_checkpoint", checkpoint_and_continue)
    train(fast_config(epochs=3), tmp_path / "run")
    assert [r.get("stops", 0) for r in RunDir(tmp_path / "run").metrics()] == [0, 1, 0]


def test_a_report_read_while_a_run_starts_never_finds_it_unreadable(tmp_path, monkeypatch):
    """The first file that makes a directory a run's is config.json: a report of a sweep that another
    sweep is starting runs in sees what each trains, never a metrics.jsonl that nothing explains."""
    import resnet.records
    from resnet.report.collect import read_run

    seen = []

    def write_and_read(path, text):
        write_atomic(path, text)
        seen.append(read_run(tmp_path / "run"))

    monkeypatch.setattr(resnet.records, "write_atomic", write_and_read)
    train(fast_config(epochs=1), tmp_path / "run")
    assert seen and not [problem for problem in seen if isinstance(problem, str)]


def test_a_damaged_summary_is_rebuilt_from_complete_metrics_without_training(tmp_path):
    run_dir = tmp_path / "run"
    first = train(fast_config(epochs=1), run_dir)
    (run_dir / "summary.json").write_text(json.dumps(first)[:40])  # truncated
    assert RunDir(run_dir).state(fast_config(epochs=1)) == RunState.UNVERIFIED  # not counted as finished
    code, out, err = train_main(
        *FAST_ARGS,
        "--epochs",
        "1",
        "--run-dir",
        run_dir,
        "--resume",
    )
    assert code == 0 and "rebuilt it from metrics.jsonl without training" in err
    rebuilt = read_json(run_dir / "summary.json")
    assert rebuilt["final_test_acc"] == first["final_test_acc"] and rebuilt["status"] == "completed"
    assert len(read_json(run_dir / "config.json")["sessions"]) == 1  # nothing trained again
    assert RunDir(run_dir).state(fast_config(epochs=1)) == RunState.COMPLETED


def test_a_finished_run_that_cannot_be_verified_starts_over_and_keeps_its_files(
    tmp_path, caplog, monkeypatch
):
    import resnet.run_dir

    monkeypatch.setattr(resnet.run_dir, "time", SimpleNamespace(strftime=lambda fmt: "20261126T120000"))
    run_dir = tmp_path / "run"
    config = fast_config(epochs=1)
    first = train(config, run_dir)
    (run_dir / "metrics.jsonl").write_bytes(b"\xff\xfe garbage\n")  # nothing to rebuild from, no checkpoint
    old_model = (run_dir / "model.pt").read_bytes()
    with caplog.at_level("WARNING", logger="resnet"):
        again = train(config, run_dir, resume=True)
    kept = list(run_dir.glob("unverified-*"))
    assert len(kept) == 1 and f"the unverifiable files are kept in {kept[0]}" in caplog.text
    assert "(summary.json says epochs_completed 1, but metrics.jsonl holds 0 epochs)" in caplog.text
    assert read_json(kept[0] / "summary.json") == first and (kept[0] / "model.pt").read_bytes() == old_model
    assert again["final_test_acc"] == first["final_test_acc"]  # same config and seed: same numbers
    assert RunDir(run_dir).state(config) == RunState.COMPLETED
    (run_dir / "config.json").unlink()  # the report cannot say what trained: the sweep must not count it
    assert RunDir(run_dir).state(config) == RunState.UNVERIFIED
    with caplog.at_level("WARNING", logger="resnet"):
        train(config, run_dir, resume=True)
    assert "(its config.json is missing, so nothing records what trained it)" in caplog.text
    assert sorted(p.name for p in run_dir.glob("unverified-*")) == [  # both within one second
        "unverified-20261126T120000",
        "unverified-20261126T120000-2",
    ]
    assert RunDir(run_dir).state(config) == RunState.COMPLETED


def test_a_checkpoint_resumes_only_the_config_it_was_written_for(tmp_path):
    run_dir = tmp_path / "run"
    stop = StopRequest(requested=True)  # stops after the first step, writing a checkpoint
    with pytest.raises(Interrupted):
        train(fast_config(epochs=3, lr=0.02), run_dir, stop=stop)
    (run_dir / "config.json").unlink()  # nothing left on disk says what the run was... but its checkpoint
    with pytest.raises(
        RunDirError, match=r"its checkpoint belongs to config \w+ \(lr=0.02\), not \w+; never resuming"
    ):
        train(fast_config(epochs=3, lr=0.1), run_dir, resume=True)


def test_resume_restores_the_thread_count_it_started_with(tmp_path, caplog):
    run_dir = tmp_path / "run"
    threads = torch.get_num_threads()
    try:
        with pytest.raises(Interrupted):
            train(fast_config(epochs=1), run_dir, threads=1, stop=StopRequest(requested=True))
        with caplog.at_level("WARNING", logger="resnet"):
            train(fast_config(epochs=1), run_dir, resume=True, threads=2)
        assert "resuming with 1 thread as the run started (not 2)" in caplog.text
        assert read_json(run_dir / "config.json")["runtime"]["threads"] == 1
    finally:
        torch.set_num_threads(threads)


def test_a_recorded_configs_other_thread_count_is_noticed_once(tmp_path):
    """`--config <config.json> --threads N` with another count than recorded: a new run says its numbers
    will differ; a resume keeps its checkpoint's count and says only that."""
    run_dir, threads = tmp_path / "run", torch.get_num_threads()
    try:
        with pytest.raises(Interrupted):
            train(fast_config(epochs=1), run_dir, threads=1, stop=StopRequest(requested=True))
        recorded = run_dir / "config.json"
        code, _, err = train_main("--config", recorded, "--threads", "2", "--run-dir", tmp_path / "new")
        assert code == 0 and "was recorded with 1 thread; with --threads 2 its numbers will differ" in err
        code, _, err = train_main("--config", recorded, "--threads", "2", "--run-dir", run_dir, "--resume")
        assert code == 0 and "resuming with 1 thread as the run started (not 2)" in err
        assert "was recorded with" not in err, err
    finally:
        torch.set_num_threads(threads)


def test_more_threads_than_usable_cpus_is_warned(monkeypatch, caplog):
    import resnet.runtime

    monkeypatch.setattr(resnet.runtime, "usable_cpus", lambda: 1)  # as under `taskset -c 0`
    threads = torch.get_num_threads()
    try:
        with caplog.at_level("WARNING", logger="resnet"):
            resnet.runtime.Runtime.resolve(fast_config(), "cpu", threads=1)
            assert caplog.text == ""
            resnet.runtime.Runtime.resolve(fast_config(), "cpu", threads=2)
        assert (
            "2 threads on 1 usable CPU: oversubscribed" in caplog.text
            and "--threads 1 or fewer" in caplog.text
        )
    finally:
        torch.set_num_threads(threads)


def test_interrupted_run_needs_resume(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(fast_config(epochs=1), run_dir, stop=StopRequest(requested=True))
    with pytest.raises(RunDirError, match="holds an interrupted run .* pass --resume"):
        train(fast_config(epochs=1), run_dir)
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert (checkpoint["epoch"], checkpoint["step"]) == (0, 1)
    assert (
        "rng" not in checkpoint
    )  # every stream is derived from the seed: nothing device-specific to restore
    code, _, err = train_main("--run-dir", tmp_path / "elsewhere", "--resume")
    assert code == 2 and "nothing to resume in" in err and "drop --resume" in err
    assert not (tmp_path / "elsewhere").exists()


def test_evaluate_a_finished_model_and_refuse_the_wrong_architecture(finished_run):
    run_dir, summary = finished_run
    result = evaluate_checkpoint(run_dir / "model.pt")
    assert result["model"] == "resnet8" and result["epoch"] == 2
    assert result["test_acc"] == pytest.approx(summary["final_test_acc"])
    with pytest.raises(RunDirError, match="holds a resnet8 checkpoint, not resnet20"):
        evaluate_checkpoint(run_dir / "model.pt", model="resnet20")


def test_divergence_stops_the_run_and_is_recorded_in_strict_json(tmp_path):
    summary = train(fast_config(lr=10, momentum=0.99, norm="none", epochs=3), tmp_path / "run")
    assert (
        summary["status"] == "diverged"
        and summary["diverged_epoch"] == 1
        and summary["epochs_completed"] == 1
    )
    assert "train loss is nan in epoch 1" in summary["status_reason"] or "inf" in summary["status_reason"]
    for name in ("summary.json", "metrics.jsonl", "config.json"):
        text = (tmp_path / "run" / name).read_text()
        assert "NaN" not in text and "Infinity" not in text  # strict JSON: non-finite numbers are null
        for line in text.splitlines() if name.endswith("jsonl") else [text]:
            json.loads(line, parse_constant=lambda c, name=name: pytest.fail(f"{name} holds {c}"))
    assert read_json(tmp_path / "run" / "summary.json")["final_train_loss"] is None


def test_keep_checkpoints_keeps_every_epoch(tmp_path):
    train(fast_config(epochs=2), tmp_path / "run", keep_checkpoints=True)
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert kept == ["epoch_0001.pt", "epoch_0002.pt"] and (tmp_path / "run" / "checkpoint.pt").exists()
    assert torch.load(tmp_path / "run" / "checkpoints" / "epoch_0001.pt", weights_only=True)["epoch"] == 1


def test_augmentations_and_label_smoothing_train(tmp_path):
    summary = train(
        fast_config(epochs=1, cutout=8, random_erasing=0.5, label_smoothing=0.1, nesterov=True),
        tmp_path / "run",
    )
    assert summary["status"] == "completed" and math.isfinite(summary["final_train_loss"])
