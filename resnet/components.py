"""Everything a run trains with, built from its config: the data on the device (validation split included),
the model with its initial weights drawn from the seed's init stream, SGD and the schedule."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from resnet.config import TrainConfig
from resnet.data import load_splits
from resnet.evaluate import EVAL_BATCH_SIZE
from resnet.loader import Augment, DeviceLoader
from resnet.models import create_model
from resnet.runtime import Runtime
from resnet.schedule import lr_multiplier
from resnet.seeding import derive_seed

log = logging.getLogger("resnet.train")


@dataclass
class Setup:
    """Everything a run trains with; `state_dict` and `restore` are what a checkpoint holds."""

    train_loader: DeviceLoader
    eval_loaders: dict[str, DeviceLoader]  # "val" (when held out) and "test"
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    criterion: torch.nn.Module
    provenance: dict = field(default_factory=dict)

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def restore(self, checkpoint: dict) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])


def build(config: TrainConfig, runtime: Runtime) -> Setup:
    """Data on the device, the model (initial weights drawn on the CPU from the seed's init stream), SGD
    and the schedule."""
    if runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    started = time.perf_counter()
    splits = load_splits(config)
    if splits.notice:
        log.warning(splits.notice)
    held_out = 0 if splits.val_labels is None else len(splits.val_labels)
    log.debug(
        "data: %s, %s training, %s validation and %s test images (%.1f s)",
        config.dataset,
        f"{len(splits.train_labels):,}",
        f"{held_out:,}",
        f"{len(splits.test_labels):,}",
        time.perf_counter() - started,
    )
    place: dict[str, Any] = {"device": runtime.device, "channels_last": runtime.channels_last}
    train_loader = DeviceLoader(
        splits.train_images,
        splits.train_labels,
        config.batch_size,
        splits.mean,
        splits.std,
        augment=Augment.from_config(config),
        seed=config.seed,
        **place,
    )
    evals = {
        "test": DeviceLoader(
            splits.test_images, splits.test_labels, EVAL_BATCH_SIZE, splits.mean, splits.std, **place
        )
    }
    if splits.val_images is not None and splits.val_labels is not None:
        evals = {
            "val": DeviceLoader(
                splits.val_images, splits.val_labels, EVAL_BATCH_SIZE, splits.mean, splits.std, **place
            ),
            **evals,
        }
    torch.manual_seed(derive_seed(config.seed, "init"))
    model = runtime.place(create_model(config.model, config.num_classes, config.norm, config.dropout))
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(config, len(train_loader)))
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    return Setup(train_loader, evals, model, optimizer, scheduler, criterion, splits.provenance)
