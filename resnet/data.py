"""CIFAR on the training device: uint8 tensors, shuffled and augmented a batch at a time with tensor ops.

The whole split is one uint8 tensor on the device (CIFAR-10's train split is 150 MB, 240 MB once
zero-padded for cropping). Each epoch is a permutation drawn from the run's generator; each batch is
cropped, flipped, optionally cut out or erased, then normalised, all on the device, as in airbench.
No DataLoader workers and no PIL in the loop.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from resnet.config import TrainConfig


class DatasetError(RuntimeError):
    """Missing or unreadable data; the message says where we looked and how to fix it."""


@dataclass(frozen=True)
class CifarSource:
    """The official python-pickle release of one CIFAR dataset (file names and md5 as torchvision has them)."""

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
        "CIFAR-10", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        (("data_batch_1", "c99cafc152244af753f735de768cd75f"), ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
         ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"), ("data_batch_4", "634d18415352ddfa80567beed471001a"),
         ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb")),
        (("test_batch", "40351d587109b95175f43aff81a1287e"),),
        "labels", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": CifarSource(
        "CIFAR-100", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        (("train", "16019d7e3df5f24257cddd939b257f8d"),),
        (("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
        "fine_labels", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
SYNTHETIC_STATS = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
SYNTHETIC_SIZES = (1024, 256)  # train, test


@dataclass
class Splits:
    """uint8 images (N, 3, 32, 32) and int64 labels for both splits, plus what to tell the user."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    notice: str = ""


def load_splits(config: TrainConfig, download: bool = True) -> Splits:
    if config.dataset == "synthetic":
        return make_synthetic()
    return load_cifar(config.dataset, Path(config.data_dir), download=download)


# --- the official files ------------------------------------------------------------------------------
def md5sum(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def load_cifar(dataset: str, data_dir: Path, download: bool = True) -> Splits:
    source = SOURCES[dataset]
    root = data_dir / source.folder
    files = source.train_files + source.test_files
    missing = [name for name, _ in files if not (root / name).is_file()]
    if missing and download:
        with download_lock(data_dir):  # concurrent runs of a sweep: one downloads, the others wait for it
            if any(not (root / name).is_file() for name, _ in files):
                fetch_archive(source, data_dir)
        missing = [name for name, _ in files if not (root / name).is_file()]
    if missing:
        raise DatasetError(
            f"{source.title} not found: {root} lacks {', '.join(missing)}; fix: allow the download, extract "
            f"{source.url} into {data_dir}, pass --data-dir DIR holding {source.folder}/, or use --dataset synthetic")
    differing = [name for name, md5 in files if md5sum(root / name) != md5]
    train = [read_batch(root / name, source) for name, _ in source.train_files]
    test = [read_batch(root / name, source) for name, _ in source.test_files]
    notice = ""
    if differing:
        notice = (f"notice: {root} differs from the official {source.title} release (md5 of {', '.join(differing)}); "
                  "loading it anyway, but accuracies may not match published numbers")
    return Splits(*_concat(train), *_concat(test), source.mean, source.std, notice)


@contextlib.contextmanager
def download_lock(data_dir: Path):
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fh = open(data_dir / ".download.lock", "w")
    except OSError as exc:
        raise DatasetError(f"cannot write to the data dir {data_dir} ({exc.strerror or exc}); fix: pass a writable "
                           "--data-dir, or put the extracted dataset there yourself") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def fetch_archive(source: CifarSource, data_dir: Path) -> None:
    """Download and md5-check the official archive with torchvision's utilities, then extract it."""
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(source.url, str(data_dir), filename=source.archive_name, md5=source.archive_md5)
    except Exception as exc:  # network errors, md5 mismatch, unwritable dir: all end the same way for the user
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatasetError(
            f"{source.title} not found in {data_dir / source.folder} and downloading {source.url} failed ({reason}); "
            f"fix: download it where there is internet and extract it into {data_dir}, pass --data-dir DIR, "
            "or use --dataset synthetic") from None


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
            f"and let it download again, or extract the official archive {source.url} there") from None
    return images, labels


def _concat(parts) -> tuple[torch.Tensor, torch.Tensor]:
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


# --- synthetic data -------------------------------------------------------------------------------
def make_synthetic(num_classes: int = 10, sizes: tuple[int, int] = SYNTHETIC_SIZES, seed: int = 0) -> Splits:
    """A small CIFAR-shaped dataset with learnable structure, the same for every run (fixed seed).

    Each class is a smooth random colour pattern; an image is its class pattern, shifted by up to 4
    pixels, dimmed or brightened, plus pixel noise. A ResNet learns it within a couple of epochs.
    """
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

    notice = (f"notice: dataset 'synthetic' is generated data ({sizes[0]} train / {sizes[1]} test images, "
              f"{num_classes} classes) for smoke runs; its accuracies say nothing about CIFAR")
    return Splits(*split(sizes[0]), *split(sizes[1]), *SYNTHETIC_STATS, notice=notice)


# --- batch augmentation on the device ---------------------------------------------------------------
def crop_flip_source(images: torch.Tensor, pad: int, flip: bool) -> torch.Tensor:
    """(N, F, H+2pad, W+2pad, C) uint8: each image zero-padded (as RandomCrop(32, padding=4)) and, with
    flip, its mirror image next to it. Channels last, so a gathered batch is channels-last for the convs."""
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    views = [padded, padded.flip(3)] if flip else [padded]
    return torch.stack(views, 1).permute(0, 1, 3, 4, 2).contiguous()


def random_crop_flip(source: torch.Tensor, index: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A random size x size window of image `index[i]`, mirrored with probability 1/2 when `source` holds
    mirrors: one gather from a strided view of every possible window, no per-image work.

    Returns (B, C, size, size) uint8 in channels-last memory format."""
    n, views, h, w, _ = source.shape
    windows = source.unfold(2, size, 1).unfold(3, size, 1)  # (N, F, h-size+1, w-size+1, C, size, size), a view
    b, device = index.shape[0], index.device
    dy = torch.randint(0, h - size + 1, (b,), generator=generator, device=device)
    dx = torch.randint(0, w - size + 1, (b,), generator=generator, device=device)
    mirror = torch.randint(0, views, (b,), generator=generator, device=device)
    return windows[index, mirror, dy, dx]


def rectangle_mask(top, left, height, width, size: int) -> torch.Tensor:
    """(N, size, size) bool mask, true inside each image's rectangle."""
    pos = torch.arange(size, device=top.device)
    inside_rows = (pos >= top[:, None]) & (pos < (top + height)[:, None])
    inside_cols = (pos >= left[:, None]) & (pos < (left + width)[:, None])
    return inside_rows[:, :, None] & inside_cols[:, None, :]


def cutout_mask(n: int, side: int, size: int, generator: torch.Generator, device) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017): a side x side square centred anywhere, clipped at the border."""
    centre = torch.randint(0, size, (2, n), generator=generator, device=device)
    top, left = centre[0] - side // 2, centre[1] - side // 2
    full = torch.full((n,), side, device=device)
    return rectangle_mask(top, left, full, full, size)


def erasing_mask(n: int, p: float, size: int, generator: torch.Generator, device) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): with probability p, a rectangle of 2-33% of the area, aspect 0.3-3.3."""
    u = torch.rand(5, n, generator=generator, device=device)
    area = size * size * (0.02 + 0.31 * u[0])
    aspect = torch.exp(math.log(0.3) + (math.log(3.3) - math.log(0.3)) * u[1])
    height = torch.sqrt(area * aspect).round().clamp(1, size).long()
    width = torch.sqrt(area / aspect).round().clamp(1, size).long()
    top = ((size - height + 1) * u[2]).long()
    left = ((size - width + 1) * u[3]).long()
    return rectangle_mask(top, left, height, width, size) & (u[4] < p)[:, None, None]


class DeviceLoader:
    """Batches of one split held on the device; training batches are shuffled and augmented there.

    Training drops the last incomplete batch (as airbench does): every step sees a full batch and
    BatchNorm never sees a batch of one. Evaluation keeps every image.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, mean, std, *,
                 train: bool, config: TrainConfig | None = None, generator: torch.Generator | None = None,
                 device="cpu", channels_last: bool = False):
        if train and (config is None or generator is None):
            raise ValueError("a training loader needs the config and the run's generator")
        self.device = torch.device(device)
        self.train, self.batch_size, self.generator = train, batch_size, generator
        self.cutout = config.cutout if train else 0
        self.erasing = config.random_erasing if train else 0.0
        images = images.to(self.device)
        pad, flip = (4 if config.crop else 0, config.flip) if train else (0, False)
        self.source = crop_flip_source(images, pad, flip)  # (N, 1 or 2, H, W, C)
        self.labels = labels.to(self.device)
        std_t = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.neg_shift = -torch.tensor(mean, device=self.device).view(1, 3, 1, 1) / std_t
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @property
    def num_images(self) -> int:
        return self.labels.shape[0]

    def __len__(self) -> int:
        full, rest = divmod(self.num_images, self.batch_size)
        return full if self.train else full + bool(rest)

    def __iter__(self):
        n = self.num_images
        order = (torch.randperm(n, generator=self.generator, device=self.device) if self.train
                 else torch.arange(n, device=self.device))
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.batch(index), self.labels[index]

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Augmented (training) or plain images `index`, normalised: (x / 255 - mean) / std in one op."""
        if self.train:
            images = random_crop_flip(self.source, index, 32, self.generator)
        else:
            images = self.source[index, 0].permute(0, 3, 1, 2)
        x = torch.addcmul(self.neg_shift, images, self.scale)
        n = x.shape[0]
        if self.cutout:
            x = x.masked_fill(cutout_mask(n, self.cutout, 32, self.generator, self.device)[:, None], 0.0)
        if self.erasing:
            x = x.masked_fill(erasing_mask(n, self.erasing, 32, self.generator, self.device)[:, None], 0.0)
        return x.contiguous(memory_format=self.memory_format)
