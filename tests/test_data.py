import concurrent.futures
import functools
import hashlib
import http.server
import os
import pickle
import tarfile
import threading

import numpy as np
import pytest
import torch

import resnet.cifar_files as cifar_files
import resnet.data as data
from resnet.cifar_files import CACHE_NAME
from resnet.config import TrainConfig
from resnet.data import DatasetError, load_cifar, load_splits, make_synthetic, stratified_indices
from resnet.loader import Augment, DeviceLoader, crop_flip_source, cutout_mask, erasing_mask, gather_windows
from tests.conftest import write_cifar10


def test_reads_the_official_layout_with_a_notice_when_md5_differs(tmp_path):
    arrays = write_cifar10(tmp_path)
    splits = load_cifar("cifar10", tmp_path, download=False)
    assert splits.train_images.shape == (30, 3, 32, 32) and splits.train_images.dtype == torch.uint8
    assert splits.test_images.shape == (6, 3, 32, 32) and splits.test_labels.dtype == torch.int64
    first, labels = arrays["data_batch_1"]
    # The official rows are planar RGB: 1024 red, then 1024 green, then 1024 blue values.
    assert torch.equal(splits.train_images[0, 1].flatten(), torch.from_numpy(first[0, 1024:2048]))
    assert splits.train_labels[:6].tolist() == labels
    assert splits.train_labels[6:12].tolist() == arrays["data_batch_2"][1]
    assert splits.mean == (0.4914, 0.4822, 0.4465) and splits.std == (0.2470, 0.2435, 0.2616)
    assert (
        splits.notice.startswith("notice: ") and "differs from the official CIFAR-10 release" in splits.notice
    )
    assert splits.provenance["files_match_official_md5"] is False


def test_the_decoded_dataset_is_cached_and_refreshed_when_the_files_change(tmp_path, monkeypatch):
    write_cifar10(tmp_path)
    first = load_cifar("cifar10", tmp_path, download=False)
    assert (tmp_path / "cifar-10-batches-py" / CACHE_NAME).exists()
    reads = []
    monkeypatch.setattr(cifar_files, "read_batch", lambda *a: reads.append(a) or pytest.fail("decoded again"))
    cached = load_cifar("cifar10", tmp_path, download=False)
    assert torch.equal(cached.train_images, first.train_images) and cached.notice == first.notice
    assert cached.provenance == first.provenance  # the digest of the copy too, from the cache
    monkeypatch.undo()
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    entry = pickle.loads(batch.read_bytes())
    entry["labels"] = [9] * len(entry["labels"])
    batch.write_bytes(pickle.dumps(entry))
    edited = load_cifar("cifar10", tmp_path, download=False)
    assert edited.train_labels[6:12].tolist() == [9] * 6
    # another modified copy: the md5 verdict is the same (False), the digest of the files is not
    assert (
        edited.provenance["files_match_official_md5"] is first.provenance["files_match_official_md5"] is False
    )
    assert len(first.provenance["files_sha256"]) == 16
    assert edited.provenance["files_sha256"] != first.provenance["files_sha256"]
    # two batches of one size and one mtime (as tar extracts them) swapped by renames: decoded again
    one, two = batch.with_name("data_batch_1"), batch
    for path in (one, two):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    load_cifar("cifar10", tmp_path, download=False)
    one.rename(tmp_path / "swap")
    two.rename(one)
    (tmp_path / "swap").rename(two)
    swapped = load_cifar("cifar10", tmp_path, download=False)
    assert swapped.train_labels[:6].tolist() == [9] * 6 and swapped.train_labels[6:12].tolist() != [9] * 6


def test_cifar100_uses_fine_labels_and_its_own_statistics(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 8), ("test", 4)):
        entry = {
            "data": np.zeros((n, 3072), np.uint8),
            "fine_labels": list(range(90, 90 + n)),
            "coarse_labels": [0] * n,
        }
        (folder / name).write_bytes(pickle.dumps(entry))
    splits = load_cifar("cifar100", tmp_path, download=False)
    assert splits.train_labels.tolist() == list(range(90, 98))
    assert splits.mean == (0.5071, 0.4865, 0.4409)


def test_missing_and_corrupt_data_say_where_and_how_to_fix(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_cifar("cifar10", tmp_path / "nowhere", download=False)
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    assert "--data-dir" in message and "--dataset synthetic" in message and "\n" not in message
    write_cifar10(tmp_path / "bad")
    batch = tmp_path / "bad" / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"corrupt CIFAR-10 file .*data_batch_3 .*fix: delete"):
        load_cifar("cifar10", tmp_path / "bad", download=False)


@pytest.fixture
def served_archive(tmp_path):
    """A tiny archive in the official layout, served over HTTP on localhost; yields (url, md5, downloads)."""
    site = tmp_path / "site"
    write_cifar10(tmp_path / "src")
    site.mkdir()
    archive = site / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    downloads = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            downloads.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield (
        f"http://127.0.0.1:{server.server_port}/{archive.name}",
        hashlib.md5(archive.read_bytes()).hexdigest(),
        downloads,
    )
    server.shutdown()


def test_missing_data_is_downloaded_once_md5_checked_and_the_lock_removed(
    tmp_path, monkeypatch, served_archive
):
    url, md5, downloads = served_archive
    source = cifar_files.SOURCES["cifar10"]
    monkeypatch.setitem(
        cifar_files.SOURCES,
        "cifar10",
        cifar_files.CifarSource(**{**source.__dict__, "url": url, "archive_md5": md5}),
    )
    fetches = []
    real_fetch = data.fetch_archive
    monkeypatch.setattr(data, "fetch_archive", lambda *args: fetches.append(args) or real_fetch(*args))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two runs of a sweep starting at once
        results = list(pool.map(lambda _: load_cifar("cifar10", tmp_path / "data"), range(2)))
    assert all(r.train_images.shape == (30, 3, 32, 32) for r in results)
    assert len(fetches) == 1 and downloads
    assert not (tmp_path / "data" / ".download.lock").exists()

    monkeypatch.setitem(
        cifar_files.SOURCES,
        "cifar10",
        cifar_files.CifarSource(**{**source.__dict__, "url": url, "archive_md5": "0" * 32}),
    )
    with pytest.raises(
        DatasetError, match=r"downloading .* failed .*fix: download it where there is internet"
    ):
        load_cifar("cifar10", tmp_path / "other")
    assert not (tmp_path / "other").exists()  # a failed download leaves nothing behind, not even its dir
    (tmp_path / "mine").mkdir()
    with pytest.raises(DatasetError, match="downloading .* failed"):
        load_cifar("cifar10", tmp_path / "mine")
    assert (tmp_path / "mine").is_dir() and not list((tmp_path / "mine").iterdir())  # not ours to remove


def test_official_md5_sums_match_torchvision():
    from torchvision.datasets import CIFAR10, CIFAR100

    for source, reference in (
        (cifar_files.SOURCES["cifar10"], CIFAR10),
        (cifar_files.SOURCES["cifar100"], CIFAR100),
    ):
        assert list(source.train_files) == [tuple(x) for x in reference.train_list]
        assert list(source.test_files) == [tuple(x) for x in reference.test_list]
        assert (source.url, source.archive_md5, source.folder) == (
            reference.url,
            reference.tgz_md5,
            reference.base_folder,
        )


def test_synthetic_is_deterministic_learnable_shaped_and_says_so():
    a, b = make_synthetic(), make_synthetic()
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    assert a.train_images.shape == (1024, 3, 32, 32) and a.train_images.dtype == torch.uint8
    assert set(a.train_labels.tolist()) == set(range(10))
    assert "synthetic" in a.notice and "say nothing about CIFAR" in a.notice
    means = torch.stack([a.train_images[a.train_labels == k].float().mean(0) for k in range(10)])
    assert (means[:, None] - means[None]).abs().mean() > 10


def test_the_validation_split_is_stratified_fixed_disjoint_and_recorded():
    labels = torch.tensor([0] * 500 + [1] * 300 + [2] * 200)
    val = stratified_indices(labels, 100, seed=0)
    assert len(val) == 100 and len(set(val.tolist())) == 100
    assert torch.bincount(labels[val]).tolist() == [50, 30, 20]  # each class in proportion
    assert torch.equal(val, stratified_indices(labels, 100, seed=0))  # the same split every time
    assert not torch.equal(val, stratified_indices(labels, 100, seed=1))  # its own seed moves it
    uneven = stratified_indices(torch.tensor([0] * 7 + [1] * 3), 5, seed=0)
    assert torch.bincount(torch.tensor([0] * 7 + [1] * 3)[uneven]).tolist() == [
        4,
        1,
    ]  # 3.5 / 1.5: largest remainder

    one = load_splits(TrainConfig(dataset="synthetic", val_size=128, seed=1, batch_size=64))
    other = load_splits(TrainConfig(dataset="synthetic", val_size=128, seed=2, lr=0.05, batch_size=64))
    assert torch.equal(one.val_images, other.val_images)  # independent of the run seed and the arm
    assert one.train_images.shape[0] == 1024 - 128 and one.val_images.shape[0] == 128
    everything = make_synthetic().train_images.flatten(1)
    train_rows = {tuple(r.tolist()) for r in one.train_images.flatten(1)}
    assert not train_rows & {tuple(r.tolist()) for r in one.val_images.flatten(1)}  # disjoint
    assert len(train_rows) + 128 == len({tuple(r.tolist()) for r in everything})
    assert one.provenance["val_indices_sha256"] == other.provenance["val_indices_sha256"]
    assert len(one.provenance["val_indices_sha256"]) == 16


def windows_of(image, pad):
    padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    return {
        (dy, dx): padded[:, dy : dy + 32, dx : dx + 32]
        for dy in range(2 * pad + 1)
        for dx in range(2 * pad + 1)
    }


def training_batches(images, augment, seed=0, batch=None, epoch=1):
    loader = DeviceLoader(
        images,
        torch.arange(len(images)),
        batch or len(images),
        (0.0,) * 3,
        (1 / 255,) * 3,
        augment=augment,
        seed=seed,
        channels_last=True,
    )
    return list(loader.epoch(epoch))


def test_random_crop_and_flip_give_windows_of_the_image_or_its_mirror():
    images = torch.randint(1, 256, (100, 3, 32, 32), dtype=torch.uint8)  # no zeros: padding is recognisable
    ((x, order),) = training_batches(images, Augment(pad=4, flip=True))
    assert x.is_contiguous(memory_format=torch.channels_last)
    mirrored, offsets = 0, set()
    for crop, index in zip(x.round().to(torch.uint8), order, strict=True):
        image = images[index]
        plain = [o for o, w in windows_of(image, 4).items() if torch.equal(crop, w)]
        mirror = [o for o, w in windows_of(image.flip(-1), 4).items() if torch.equal(crop, w)]
        assert plain or mirror, "a crop is not a window of its zero-padded image or mirror"
        mirrored += bool(mirror)
        offsets.add((plain or mirror)[0])
    assert 25 < mirrored < 75 and len(offsets) > 20


def test_gather_windows_is_one_indexing_op_over_a_strided_view():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).view(2, 3, 4, 4)
    source = crop_flip_source(images, pad=1, flip=True)
    out = gather_windows(
        source, torch.tensor([1]), torch.tensor([1]), torch.tensor([0]), torch.tensor([2]), size=4
    )
    expected = torch.nn.functional.pad(images[1].flip(-1), (1, 1, 1, 1))[:, 0:4, 2:6]
    assert torch.equal(out[0], expected)


def test_cutout_and_erasing_zero_rectangles():
    g = torch.Generator().manual_seed(2)
    mask = cutout_mask(torch.randint(0, 32, (2, 100), generator=g), 16)
    assert mask.shape == (100, 32, 32)
    assert (
        int(mask.sum(dim=(1, 2)).max()) == 256 and int(mask.sum(dim=(1, 2)).min()) >= 64
    )  # clipped at borders
    assert not erasing_mask(torch.rand(5, 50, generator=g), 0.0).any()
    areas = erasing_mask(torch.rand(5, 200, generator=g), 1.0).sum(dim=(1, 2)).float()
    assert (areas > 0).all() and areas.max() <= 0.4 * 1024


def test_paired_seeds_same_order_and_augmentation_in_every_arm():
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    plain = training_batches(images, Augment(), seed=3, batch=64)
    with_cutout = training_batches(images, Augment(cutout=8), seed=3, batch=64)
    bigger_batch = training_batches(images, Augment(), seed=3, batch=128)
    for (x, y), (xc, yc) in zip(plain, with_cutout, strict=True):
        assert torch.equal(y, yc)  # cutout draws from its own stream: the order and crops do not move
        assert torch.equal(x[xc != 0], xc[xc != 0])
    assert torch.equal(torch.cat([y for _, y in plain]), torch.cat([y for _, y in bigger_batch]))
    assert torch.equal(torch.cat([x for x, _ in plain]), torch.cat([x for x, _ in bigger_batch]))
    other_seed = training_batches(images, Augment(), seed=4, batch=64)
    assert not torch.equal(plain[0][1], other_seed[0][1])
    next_epoch = training_batches(images, Augment(), seed=3, batch=64, epoch=2)
    assert not torch.equal(plain[0][1], next_epoch[0][1])


def test_an_epoch_starts_at_any_step_with_the_same_batches():
    images = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8)
    loader = DeviceLoader(
        images, torch.arange(100), 32, (0.5,) * 3, (0.25,) * 3, augment=Augment(cutout=8, erasing=0.5), seed=1
    )
    whole = list(loader.epoch(2))
    later = list(loader.epoch(2, start_step=1))
    assert len(whole) == 3 and len(later) == 2  # the last partial batch is dropped
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(whole[1:], later, strict=True)
    )


def test_evaluation_batches_keep_every_image_in_order_normalised():
    images = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8)
    test = DeviceLoader(images, torch.arange(100), 32, (0.5,) * 3, (0.25,) * 3)
    batches = list(test)
    assert [len(y) for _, y in batches] == [32, 32, 32, 4] and torch.cat(
        [y for _, y in batches]
    ).tolist() == list(range(100))
    assert torch.allclose(batches[0][0], (images[:32].float() / 255 - 0.5) / 0.25, atol=1e-5)
