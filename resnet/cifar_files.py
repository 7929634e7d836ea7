"""The official CIFAR files on disk: where they come from (URL, md5 sums), the download (one for
concurrent runs, under a lock that is removed afterwards), and the decode into uint8 arrays, cached once in
`<folder>/.decoded-uint8.npz` (keyed on the files' sizes and mtimes; it also keeps the md5 verdict), so a
run loads the dataset in a fraction of a second. resnet.data turns the arrays into a run's splits.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet.errors import DatasetError
from resnet.files import describe_os_error, write_atomic

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


def md5sum(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def _fingerprint(root: Path, files) -> list[list]:
    """What tells a file changed: size and mtime alone miss two batches swapped by `mv` (tar gives every
    file one mtime), so the inode and its change time too, which no copy or rename keeps."""
    stats = [(name, (root / name).stat()) for name, _ in files]
    return [[name, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns] for name, st in stats]


def decoded(source: CifarSource, root: Path) -> tuple[dict[str, np.ndarray], list[str], str]:
    """The decoded arrays, the files whose md5 differs, and a digest of every file's md5 (which copy of the
    data this is: two modified copies differ in it), from the cache when the files are unchanged."""
    files = source.train_files + source.test_files
    fingerprint = _fingerprint(root, files)
    try:
        with np.load(root / CACHE_NAME) as cached:
            meta = json.loads(str(cached["meta"]))
            if meta["fingerprint"] == fingerprint:
                cached_arrays = {k: cached[k] for k in ("train_x", "train_y", "test_x", "test_y")}
                log.debug("data: the decoded arrays from %s (the files unchanged since)", root / CACHE_NAME)
                return cached_arrays, meta["differing"], meta["files_sha256"]
    except Exception:  # absent, stale, torn or from an older version: decode again
        pass
    sums = {name: md5sum(root / name) for name, _ in files}
    differing = [name for name, md5 in files if sums[name] != md5]
    digest = hashlib.sha256(json.dumps(sums, sort_keys=True).encode()).hexdigest()[:16]
    train = [read_batch(root / name, source) for name, _ in source.train_files]
    test = [read_batch(root / name, source) for name, _ in source.test_files]
    arrays = {
        "train_x": np.concatenate([t[0] for t in train]),
        "train_y": np.concatenate([t[1] for t in train]),
        "test_x": np.concatenate([t[0] for t in test]),
        "test_y": np.concatenate([t[1] for t in test]),
    }
    meta = json.dumps({"fingerprint": fingerprint, "differing": differing, "files_sha256": digest})
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(meta), **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds as bool
    try:
        write_atomic(root / CACHE_NAME, buffer.getvalue())
        log.debug("data: %d files md5-checked and decoded; cached in %s", len(files), root / CACHE_NAME)
    except OSError as exc:  # a read-only or full data dir: decode every time instead
        log.debug("not caching the decoded dataset: %s", describe_os_error(exc, root / CACHE_NAME))
    return arrays, differing, digest


@contextlib.contextmanager
def download_lock(data_dir: Path) -> Iterator[None]:
    """An exclusive lock for the download, removed afterwards: a lock file that was unlinked while we
    waited for it is not the lock any more, so take the new one. A data dir this download created is
    removed again if it stays empty (offline, say): an empty data/ would only mislead the next step,
    such as a link to the dataset made inside it."""
    path = data_dir / ".download.lock"
    created = not data_dir.exists()
    try:
        while True:
            data_dir.mkdir(parents=True, exist_ok=True)  # again: another process may have removed it
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
        if created:
            with contextlib.suppress(OSError):  # not empty (the download's files), or not ours to remove
                data_dir.rmdir()


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
