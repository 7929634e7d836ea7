import json
import math

import pytest
import torch

from resnet.config import TrainConfig
from resnet.run_dir import RunDirError, read_json
from resnet.train import evaluate_checkpoint, lr_multiplier, train
from tests.conftest import fast_config, quiet

TIMING = {"epoch_seconds", "train_seconds", "images_per_sec"}


def test_multistep_schedule_steps_at_fractions_of_the_run():
    f = lr_multiplier(TrainConfig(epochs=10), steps_per_epoch=100)  # milestones at steps 500 and 750
    assert [f(s) for s in (0, 499, 500, 749, 750, 999)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    bearpaw = lr_multiplier(TrainConfig(epochs=164, milestones=["81/164", "122/164"]), steps_per_epoch=390)
    assert bearpaw(81 * 390 - 1) == 1 and bearpaw(81 * 390) == pytest.approx(0.1)  # drops exactly at epoch 82
    assert bearpaw(122 * 390) == pytest.approx(0.01)


def test_cosine_constant_and_warmup_schedules():
    cosine = lr_multiplier(TrainConfig(epochs=10, lr_schedule="cosine"), steps_per_epoch=100)
    assert cosine(0) == 1 and cosine(500) == pytest.approx(0.5) and cosine(250) == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))
    assert cosine(999) < 1e-4
    assert {lr_multiplier(TrainConfig(lr_schedule="none"), 10)(s) for s in range(0, 2000, 7)} == {1.0}
    warm = lr_multiplier(TrainConfig(epochs=10, warmup_epochs=2), steps_per_epoch=100)
    assert [warm(s) for s in (0, 99, 199, 200)] == pytest.approx([0.005, 0.5, 1.0, 1.0])
    warm_cos = lr_multiplier(TrainConfig(epochs=10, warmup_epochs=2, lr_schedule="cosine"), steps_per_epoch=100)
    assert warm_cos(200) == 1 and warm_cos(600) == pytest.approx(0.5)


def test_a_short_synthetic_run_learns(finished_run):
    _, summary = finished_run
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["final_test_acc"] > 40  # chance is 10%


def test_a_run_records_everything(finished_run):
    run_dir, summary = finished_run
    record = read_json(run_dir / "config.json")
    assert record["config"] == fast_config(seed=3).to_dict() and record["seed"] == 3
    assert record["config_hash"] == fast_config(seed=3).short_hash()
    env = record["environment"]
    assert env["torch"] == torch.__version__ and env["device"].startswith("cpu")
    assert {"python", "cuda", "git", "host", "started_at", "command", "torchvision"} <= set(env)
    assert "commit" in env["git"]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "epoch_seconds", "images_per_sec"} <= set(metrics[0])
    assert summary == read_json(run_dir / "summary.json")
    assert summary["best_test_acc"] == max(m["test_acc"] for m in metrics)
    assert summary["params"] == 75_290 and summary["images_per_sec"] > 0 and summary["mean_epoch_seconds"] > 0
    assert (run_dir / "checkpoint.pt").exists() and (run_dir / "checkpoint.prev.pt").exists()
    assert not (run_dir / "checkpoints").exists()  # per-epoch checkpoints only with keep_checkpoints


def test_tensorboard_has_scalars_and_hparams(finished_run):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    run_dir, _ = finished_run
    events = EventMultiplexer().AddRunsFromDirectory(str(run_dir / "tb"))
    events.Reload()
    runs = events.Runs()
    scalars = {tag: events.Scalars(run, tag) for run in runs for tag in runs[run]["tensors"] + runs[run]["scalars"]
               if tag == "accuracy/test"}
    assert [e.step for e in scalars["accuracy/test"]] == [1, 2]
    assert any(events.PluginRunToTagToContent("hparams").values())


def test_same_seed_same_numbers_on_cpu(tmp_path, finished_run):
    run_dir, first = finished_run
    again = train(fast_config(seed=3), tmp_path / "again", echo=quiet)
    def strip(path):
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
                for line in (path / "metrics.jsonl").read_text().splitlines()]

    assert strip(tmp_path / "again") == strip(run_dir)
    assert again["final_test_acc"] == first["final_test_acc"]
    a = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "again" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = train(fast_config(seed=4, epochs=1), tmp_path / "other", echo=quiet)
    assert strip(tmp_path / "other")[0] != strip(run_dir)[0]
    assert other["status"] == "completed"


def test_finished_runs_are_not_retrained_and_other_configs_not_overwritten(finished_run):
    run_dir, summary = finished_run
    before = (run_dir / "summary.json").read_text()
    messages = []
    assert train(fast_config(seed=3), run_dir, echo=messages.append) == summary
    assert "already holds this finished run" in messages[0]
    with pytest.raises(RunDirError, match="holds a run of another config .* never overwritten"):
        train(fast_config(seed=3, lr=0.05), run_dir, echo=quiet)
    assert (run_dir / "summary.json").read_text() == before


def test_interrupted_run_needs_resume(tmp_path):
    run_dir = tmp_path / "run"
    train(fast_config(epochs=1), run_dir, echo=quiet)
    (run_dir / "summary.json").unlink()  # as if killed after its first checkpoint
    with pytest.raises(RunDirError, match="holds an interrupted run .* pass --resume"):
        train(fast_config(epochs=1), run_dir, echo=quiet)


def test_evaluate_checkpoint_and_wrong_architecture(finished_run):
    run_dir, summary = finished_run
    result = evaluate_checkpoint(run_dir / "checkpoint.pt")
    assert result["model"] == "resnet8" and result["epoch"] == 2
    assert result["test_acc"] == pytest.approx(summary["final_test_acc"])
    with pytest.raises(RunDirError, match="holds a resnet8 checkpoint, not resnet20"):
        evaluate_checkpoint(run_dir / "checkpoint.pt", model="resnet20")


def test_divergence_stops_the_run_and_is_recorded(tmp_path):
    summary = train(fast_config(lr=10, momentum=0.99, norm="none", epochs=3), tmp_path / "run", echo=quiet)
    assert summary["status"] == "diverged" and summary["diverged_epoch"] == 1 and summary["epochs_completed"] == 1
    assert not math.isfinite(summary["final_train_loss"])
    assert read_json(tmp_path / "run" / "summary.json")["status"] == "diverged"


def test_keep_checkpoints_keeps_every_epoch(tmp_path):
    train(fast_config(epochs=2), tmp_path / "run", keep_checkpoints=True, echo=quiet)
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert kept == ["epoch_0001.pt", "epoch_0002.pt"]
    assert torch.load(tmp_path / "run" / "checkpoints" / "epoch_0001.pt", weights_only=True)["epoch"] == 1


def test_augmentations_and_label_smoothing_train(tmp_path):
    summary = train(fast_config(epochs=1, cutout=8, random_erasing=0.5, label_smoothing=0.1, nesterov=True),
                    tmp_path / "run", echo=quiet)
    assert summary["status"] == "completed" and math.isfinite(summary["final_train_loss"])
