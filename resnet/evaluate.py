"""Accuracy and loss on a split, kept on the device until read; and the test accuracy of a saved model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from resnet.checkpoint import load_checkpoint_file
from resnet.config import TrainConfig
from resnet.data import load_splits
from resnet.errors import RunDirError
from resnet.loader import DeviceLoader
from resnet.models import create_model
from resnet.runtime import Runtime

EVAL_BATCH_SIZE = 1000


class Interrupted(Exception):
    """The run stopped on request after writing a checkpoint it resumes from."""


class EpochMeter:
    """Summed loss and correct predictions kept on the device: `read` syncs once per epoch."""

    def __init__(self, device: torch.device, state: dict | None = None):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.count = 0
        if state:
            self.loss.copy_(state["loss"])
            self.correct.copy_(state["correct"])
            self.count = state["count"]

    def add(self, loss_sum: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss += loss_sum.detach().float()
        self.correct += (outputs.argmax(1) == labels).sum()
        self.count += labels.shape[0]

    def read(self) -> tuple[float, float]:
        return self.loss.item() / self.count, 100.0 * self.correct.item() / self.count

    def state(self) -> dict:
        return {"loss": self.loss.detach().cpu(), "correct": self.correct.cpu(), "count": self.count}


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: DeviceLoader,
    runtime: Runtime,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    model.eval()
    meter = EpochMeter(runtime.device)
    for images, labels in loader:
        if should_stop and should_stop():
            raise Interrupted
        with runtime.autocast():
            outputs = model(images)
        meter.add(F.cross_entropy(outputs.float(), labels, reduction="sum"), outputs, labels)
    loss, acc = meter.read()
    return {"loss": loss, "acc": acc}


def evaluate_checkpoint(
    path: str | Path, model: str | None = None, data_dir: str | None = None, device: str | None = None
) -> dict:
    """Test accuracy of a saved model.pt or checkpoint; `model`, if given, must be the architecture it
    holds."""
    state = load_checkpoint_file(Path(path))
    config = TrainConfig.from_dict(state["config"])
    if model is not None and model != config.model:
        raise RunDirError(
            f"{path} holds a {config.model} checkpoint, not {model}; "
            f"evaluate it with --model {config.model} or leave --model out"
        )
    if data_dir is not None:
        config = config.with_overrides(data_dir=data_dir)
    runtime = Runtime.resolve(config, device)
    net = create_model(config.model, config.num_classes, config.norm, config.dropout)
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise RunDirError(f"{path} does not fit {config.model}: {str(exc).splitlines()[0]}") from None
    splits = load_splits(config.with_overrides(val_size=0))
    loader = DeviceLoader(
        splits.test_images,
        splits.test_labels,
        EVAL_BATCH_SIZE,
        splits.mean,
        splits.std,
        device=runtime.device,
        channels_last=runtime.channels_last,
    )
    result = evaluate(runtime.place(net), loader, runtime)
    return {
        "model": config.model,
        "epoch": state["epoch"],
        "step": state.get("step", 0),  # > 0: a mid-epoch checkpoint, this many steps into the next epoch
        "test_acc": result["acc"],
        "test_loss": result["loss"],
    }
