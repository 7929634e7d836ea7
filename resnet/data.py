"""CIFAR as uint8 tensors, the held-out validation split, and the cached decode.

The official python-pickle files are decoded once into `<folder>/.decoded-uint8.npz` (keyed on the
files' sizes and mtimes; it also keeps the md5 verdict), so a run loads the dataset in a fraction of a
second. `val_size > 0` holds out a stratified, fixed subset of the training set, drawn with its own seed
(`val_split_seed`), so every run of a suite uses the same split; the SHA-256 of its indices is recorded.
Batches are made on the device by resnet.loader.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from resnet.config import DATASETS, TrainConfig
from resnet.errors import DatasetError
from resnet.files import describe_os_error, write_atomic
from resnet.seeding import derive_seed

log = logging.getLogger(__name__)
CACHE_NAME = ".decoded-uint8.npz"


@dataclass(frozen=True)
class CifarSource:
    """The official python-pickle release of one CIFAR dataset (file names and md5 as torchvision has
    them)."""

    title: str
    url: str
    archive_md5: str
    folder: str
    train_files: tuple[tuple[str, str], ...]
    test_files: tuple[tuple[str, str], ...]
    label_key: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def archive_name(self) -> str:
        return self.url.rsplit("/", 1)[1]


SOURCES = {
    "cifar10": CifarSource(
        "CIFAR-10",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        (
            ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            ("data_batch_4", "634d18415352ddfa80567beed471001a"),
            ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        ),
        (("test_batch", "40351d587109b95175f43aff81a1287e"),),
        "labels",
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
    ),
    "cifar100": CifarSource(
        "CIFAR-100",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        (("train", "16019d7e3df5f24257cddd939b257f8d"),),
        (("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
        "fine_labels",
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
    ),
}
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
def md5sum(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


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
    arrays, differing = _decoded(source, root)
    notice = ""
    if differing:
        notice = (
            f"notice: {root} differs from the official {source.title} release (md5 of "
            f"{', '.join(differing)}); "
            "loading it anyway, but accuracies may not match published numbers"
        )
    provenance = {"dataset": dataset, "files_match_official_md5": not differing, "differing_files": differing}
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


def _fingerprint(root: Path, files) -> list[list]:
    return [[name, (root / name).stat().st_size, (root / name).stat().st_mtime_ns] for name, _ in files]


def _decoded(source: CifarSource, root: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The decoded arrays and the files whose md5 differs, from the cache when the files are unchanged."""
    files = source.train_files + source.test_files
    fingerprint = _fingerprint(root, files)
    try:
        with np.load(root / CACHE_NAME) as cached:
            meta = json.loads(str(cached["meta"]))
            if meta["fingerprint"] == fingerprint:
                return {k: cached[k] for k in ("train_x", "train_y", "test_x", "test_y")}, meta["differing"]
    except Exception:  # absent, stale or torn: decode again
        pass
    differing = [name for name, md5 in files if md5sum(root / name) != md5]
    train = [read_batch(root / name, source) for name, _ in source.train_files]
    test = [read_batch(root / name, source) for name, _ in source.test_files]
    arrays = {
        "train_x": np.concatenate([t[0] for t in train]),
        "train_y": np.concatenate([t[1] for t in train]),
        "test_x": np.concatenate([t[0] for t in test]),
        "test_y": np.concatenate([t[1] for t in test]),
    }
    meta = json.dumps({"fingerprint": fingerprint, "differing": differing})
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(meta), **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds as bool
    try:
        write_atomic(root / CACHE_NAME, buffer.getvalue())
    except OSError as exc:  # a read-only or full data dir: decode every time instead
        log.debug("not caching the decoded dataset: %s", describe_os_error(exc, root / CACHE_NAME))
    return arrays, differing


@contextlib.contextmanager
def download_lock(data_dir: Path) -> Iterator[None]:
    """An exclusive lock for the download, removed afterwards: a lock file that was unlinked while we
    waited for it is not the lock any more, so take the new one."""
    path = data_dir / ".download.lock"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fh = open(path, "a")  # noqa: SIM115  (held, and closed, below)
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino:
                    break
            except FileNotFoundError:
                pass
            fh.close()
    except OSError as exc:
        raise DatasetError(
            f"cannot write to the data dir: {describe_os_error(exc)}; fix: pass a writable "
            "--data-dir, or put the extracted dataset there yourself"
        ) from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        fh.close()


def fetch_archive(source: CifarSource, data_dir: Path) -> None:
    """Download and md5-check the official archive with torchvision's utilities, then extract it."""
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(
            source.url, str(data_dir), filename=source.archive_name, md5=source.archive_md5
        )
    except Exception as exc:
        # network errors, md5 mismatch, unwritable dir: all end the same way for the user; a partial or
        # wrong archive only fills the disk
        (data_dir / source.archive_name).unlink(missing_ok=True)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatasetError(
            f"{source.title} not found in {data_dir / source.folder} and downloading {source.url} failed "
            f"({reason}); "
            f"fix: download it where there is internet and extract it into {data_dir}, pass --data-dir DIR, "
            "or use --dataset synthetic"
        ) from None


def read_batch(path: Path, source: CifarSource) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        images = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(entry[source.label_key], dtype=np.int64)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
    except Exception as exc:
        raise DatasetError(
            f"corrupt {source.title} file {path} ({type(exc).__name__}: {exc}); fix: delete {path.parent} "
            f"and let it download again, or extract the official archive {source.url} there"
        ) from None
    return images, labels


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
