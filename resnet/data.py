"""CIFAR as uint8 tensors for a run: the splits, the held-out validation split, and synthetic data.

The official files are found, downloaded and decoded by resnet.cifar_files. `val_size > 0` holds out a
stratified, fixed subset of the training set, drawn with its own seed (`val_split_seed`), so every run
of a suite uses the same split; the SHA-256 of its indices is recorded. Batches are made on the device
by resnet.loader.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from resnet.cifar_files import SOURCES, decoded, download_lock, fetch_archive
from resnet.config import DATASETS, TrainConfig
from resnet.errors import DatasetError
from resnet.seeding import derive_seed

SYNTHETIC_STATS = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


@dataclass
class Splits:
    """uint8 images (N, 3, 32, 32) and int64 labels per split, what to tell the user, and provenance."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    notice: str = ""
    val_images: torch.Tensor | None = None
    val_labels: torch.Tensor | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


def load_splits(config: TrainConfig) -> Splits:
    """The config's dataset with its validation split held out (when val_size > 0)."""
    splits = (
        make_synthetic()
        if config.dataset == "synthetic"
        else load_cifar(config.dataset, Path(config.data_dir))
    )
    if config.val_size:
        hold_out(splits, config.val_size, config.val_split_seed)
    return splits


# --- the validation split -----------------------------------------------------------------------------
def stratified_indices(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """`size` sorted indices into `labels`, each class in proportion to its share (largest remainder),
    drawn with the split's own seed: the same split for every run that asks for it."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "val-split"))
    classes, counts = labels.unique(return_counts=True)
    exact = counts.double() * size / len(labels)
    quota = exact.floor().long()
    short = size - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    chosen = []
    for cls, take in zip(classes.tolist(), quota.tolist(), strict=True):
        members = (labels == cls).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.cat(chosen).sort().values


def indices_hash(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.to(torch.int64).numpy().tobytes()).hexdigest()[:16]


def hold_out(splits: Splits, size: int, seed: int) -> None:
    val = stratified_indices(splits.train_labels, size, seed)
    keep = torch.ones(len(splits.train_labels), dtype=torch.bool)
    keep[val] = False
    splits.val_images, splits.val_labels = splits.train_images[val], splits.train_labels[val]
    splits.train_images, splits.train_labels = splits.train_images[keep], splits.train_labels[keep]
    splits.provenance.update(val_size=size, val_split_seed=seed, val_indices_sha256=indices_hash(val))


# --- the official files ------------------------------------------------------------------------------
def load_cifar(dataset: str, data_dir: Path, download: bool = True) -> Splits:
    source = SOURCES[dataset]
    root = data_dir / source.folder
    files = source.train_files + source.test_files

    def missing_files() -> list[str]:
        return [name for name, _ in files if not (root / name).is_file()]

    if missing_files() and download:
        with download_lock(data_dir):  # concurrent runs of a sweep: one downloads, the others wait for it
            if missing_files():
                fetch_archive(source, data_dir)
    missing = missing_files()
    if missing:
        raise DatasetError(
            f"{source.title} not found: {root} lacks {', '.join(missing)}; fix: allow the download, "
            f"extract {source.url} into {data_dir}, pass --data-dir DIR holding {source.folder}/, or use "
            f"--dataset synthetic"
        )
    arrays, differing, files_sha256 = decoded(source, root)
    notice = ""
    if differing:
        notice = (
            f"notice: {root} differs from the official {source.title} release (md5 of "
            f"{', '.join(differing)}); "
            "loading it anyway, but accuracies may not match published numbers"
        )
    provenance = {
        "dataset": dataset,
        "files_match_official_md5": not differing,
        "differing_files": differing,
        "files_sha256": files_sha256,  # which copy: the same for every run on the same files
    }
    tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
    return Splits(
        tensors["train_x"],
        tensors["train_y"],
        tensors["test_x"],
        tensors["test_y"],
        source.mean,
        source.std,
        notice,
        provenance=provenance,
    )


# --- synthetic data -------------------------------------------------------------------------------
def make_synthetic(num_classes: int = 10, seed: int = 0) -> Splits:
    """A small CIFAR-shaped dataset with learnable structure, the same for every run (fixed seed).

    Each class is a smooth random colour pattern; an image is its class pattern, shifted by up to 4
    pixels, dimmed or brightened, plus pixel noise. A ResNet learns it within a few epochs.
    """
    shape = DATASETS["synthetic"]
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(num_classes, 3, 4, 4, generator=g)
    patterns = torch.nn.functional.interpolate(patterns, size=40, mode="bicubic", align_corners=False)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, num_classes, (n,), generator=g)
        dy, dx = torch.randint(0, 9, (2, n), generator=g)
        rows = dy[:, None] + torch.arange(32)
        cols = dx[:, None] + torch.arange(32)
        base = patterns[labels[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        gain = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)
        images = base * gain + 0.25 * torch.randn(n, 3, 32, 32, generator=g)
        return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels

    notice = (
        f"notice: dataset 'synthetic' is generated data ({shape.train_images} train / {shape.test_images} "
        f"test images, {num_classes} classes) for smoke runs; its accuracies say nothing about CIFAR"
    )
    train, test = split(shape.train_images), split(shape.test_images)
    return Splits(
        *train,
        *test,
        *SYNTHETIC_STATS,
        notice=notice,
        provenance={"dataset": "synthetic", "files_match_official_md5": None},
    )
