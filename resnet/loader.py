"""Batches made on the training device: uint8 images shuffled and augmented a batch at a time.

The whole split is one uint8 tensor on the device (CIFAR-10's train split is 150 MB, 480 MB once
zero-padded and mirrored for cropping). Each epoch's plan — the permutation and every augmentation
draw, indexed by position in the epoch — is drawn on the CPU from streams derived from the run seed
(resnet.seeding) and moved to the device in one copy. Each batch is then one gather from a strided view
of every crop window, optionally cut out or erased, and normalised in one fused op, as in airbench. No
DataLoader workers, no PIL. A run can start an epoch at any step: a resumed run sees exactly the
batches an uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from resnet.config import TrainConfig
from resnet.seeding import derive_seed


@dataclass(frozen=True)
class Augment:
    pad: int = 4
    flip: bool = True
    cutout: int = 0
    erasing: float = 0.0

    @classmethod
    def from_config(cls, config: TrainConfig) -> Augment:
        return cls(4 if config.crop else 0, config.flip, config.cutout, config.random_erasing)


@dataclass
class EpochPlan:
    """Per position i of the epoch: which image, and its augmentation draws (on the device)."""

    order: torch.Tensor
    dy: torch.Tensor
    dx: torch.Tensor
    mirror: torch.Tensor
    cutout: torch.Tensor | None = None  # (2, N) centres
    erasing: torch.Tensor | None = None  # (5, N) uniform draws

    def to(self, device: torch.device) -> EpochPlan:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=True)

        optional = (None if t is None else move(t) for t in (self.cutout, self.erasing))
        return EpochPlan(move(self.order), move(self.dy), move(self.dx), move(self.mirror), *optional)


def crop_flip_source(images: torch.Tensor, pad: int, flip: bool) -> torch.Tensor:
    """(N, F, H+2pad, W+2pad, C) uint8: each image zero-padded (as RandomCrop(32, padding=4)) and, with
    flip, its mirror image next to it. Channels last, so a gathered batch is channels-last for the convs."""
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    views = [padded, padded.flip(3)] if flip else [padded]
    return torch.stack(views, 1).permute(0, 1, 3, 4, 2).contiguous()


def gather_windows(source: torch.Tensor, index, mirror, dy, dx, size: int = 32) -> torch.Tensor:
    """Window (dy, dx) of view `mirror` of image `index`, for a whole batch in one gather from a strided view
    of every possible window. Returns (B, C, size, size) uint8 in channels-last memory format."""
    # (N, F, h-size+1, w-size+1, C, size, size), a view
    windows = source.unfold(2, size, 1).unfold(3, size, 1)
    return windows[index, mirror, dy, dx]


def rectangle_mask(top, left, height, width, size: int) -> torch.Tensor:
    """(N, size, size) bool mask, true inside each image's rectangle."""
    pos = torch.arange(size, device=top.device)
    inside_rows = (pos >= top[:, None]) & (pos < (top + height)[:, None])
    inside_cols = (pos >= left[:, None]) & (pos < (left + width)[:, None])
    return inside_rows[:, :, None] & inside_cols[:, None, :]


def cutout_mask(centres: torch.Tensor, side: int, size: int = 32) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017): a side x side square centred anywhere, clipped at the border."""
    top, left = centres[0] - side // 2, centres[1] - side // 2
    full = torch.full_like(top, side)
    return rectangle_mask(top, left, full, full, size)


def erasing_mask(u: torch.Tensor, p: float, size: int = 32) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): with probability p, a rectangle of 2-33% of the area, aspect
    0.3-3.3.
    `u` holds five uniform draws per image."""
    area = size * size * (0.02 + 0.31 * u[0])
    aspect = torch.exp(math.log(0.3) + (math.log(3.3) - math.log(0.3)) * u[1])
    height = torch.sqrt(area * aspect).round().clamp(1, size).long()
    width = torch.sqrt(area / aspect).round().clamp(1, size).long()
    top = ((size - height + 1) * u[2]).long()
    left = ((size - width + 1) * u[3]).long()
    return rectangle_mask(top, left, height, width, size) & (u[4] < p)[:, None, None]


class DeviceLoader:
    """Batches of one split held on the device. With `augment` and `seed` it is a training loader:
    shuffled, augmented, last incomplete batch dropped (every step a full batch; BatchNorm never sees a
    batch of one). Without, an evaluation loader: every image, in order."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        mean,
        std,
        *,
        device: torch.device | str = "cpu",
        channels_last: bool = False,
        augment: Augment | None = None,
        seed: int | None = None,
    ):
        if (augment is None) != (seed is None):
            raise ValueError("a training loader needs both augment and the run seed")
        self.device = torch.device(device)
        self.batch_size, self.augment, self.seed = batch_size, augment, seed
        pad, flip = (augment.pad, augment.flip) if augment else (0, False)
        self.source = crop_flip_source(images.to(self.device), pad, flip)  # (N, 1 or 2, H, W, C)
        self.labels = labels.to(self.device)
        std_t = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.neg_shift = -torch.tensor(mean, device=self.device).view(1, 3, 1, 1) / std_t
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @property
    def num_images(self) -> int:
        return self.labels.shape[0]

    @property
    def train(self) -> bool:
        return self.augment is not None

    def __len__(self) -> int:
        full, rest = divmod(self.num_images, self.batch_size)
        return full if self.train else full + bool(rest)

    def plan(self, epoch: int) -> EpochPlan:
        """The epoch's permutation and augmentation draws, from CPU streams derived from (seed, epoch)."""
        assert self.augment is not None and self.seed is not None
        n, seed, aug = self.num_images, self.seed, self.augment

        def stream(purpose: str) -> torch.Generator:
            return torch.Generator().manual_seed(derive_seed(seed, purpose, epoch))

        crop = stream("crop")
        plan = EpochPlan(
            torch.randperm(n, generator=stream("order")),
            torch.randint(0, 2 * aug.pad + 1, (n,), generator=crop),
            torch.randint(0, 2 * aug.pad + 1, (n,), generator=crop),
            torch.randint(0, 2 if aug.flip else 1, (n,), generator=stream("flip")),
            torch.randint(0, 32, (2, n), generator=stream("cutout")) if aug.cutout else None,
            torch.rand(5, n, generator=stream("erasing")) if aug.erasing else None,
        )
        return plan.to(self.device)

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Training batches start_step.. of `epoch` (1-based)."""
        plan, augment = self.plan(epoch), self.augment
        assert augment is not None
        for step in range(start_step, len(self)):
            span = slice(step * self.batch_size, (step + 1) * self.batch_size)
            index = plan.order[span]
            x = self.normalise(
                gather_windows(self.source, index, plan.mirror[span], plan.dy[span], plan.dx[span])
            )
            if plan.cutout is not None:
                x = x.masked_fill(cutout_mask(plan.cutout[:, span], augment.cutout)[:, None], 0.0)
            if plan.erasing is not None:
                x = x.masked_fill(erasing_mask(plan.erasing[:, span], augment.erasing)[:, None], 0.0)
            yield x.contiguous(memory_format=self.memory_format), self.labels[index]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Evaluation batches: every image in order, un-augmented."""
        for start in range(0, self.num_images, self.batch_size):
            span = slice(start, start + self.batch_size)
            images = self.source[span, 0].permute(0, 3, 1, 2)
            yield self.normalise(images).contiguous(memory_format=self.memory_format), self.labels[span]

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """(x / 255 - mean) / std in one op."""
        return torch.addcmul(self.neg_shift, images, self.scale)
