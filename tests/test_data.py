import concurrent.futures
import functools
import hashlib
import http.server
import pickle
import tarfile
import threading

import numpy as np
import pytest
import torch

import resnet.data as data
from resnet.config import TrainConfig
from resnet.data import DatasetError, DeviceLoader, crop_flip_source, load_cifar, make_synthetic, random_crop_flip
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
    assert splits.notice.startswith("notice: ") and "differs from the official CIFAR-10 release" in splits.notice
    assert "\n" not in splits.notice


def test_cifar100_uses_fine_labels_and_its_own_statistics(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 8), ("test", 4)):
        entry = {"data": np.zeros((n, 3072), np.uint8), "fine_labels": list(range(90, 90 + n)), "coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(entry))
    splits = load_cifar("cifar100", tmp_path, download=False)
    assert splits.train_labels.tolist() == list(range(90, 98))
    assert splits.mean == (0.5071, 0.4865, 0.4409)


def test_missing_data_says_where_it_looked_and_how_to_fix_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_cifar("cifar10", tmp_path / "nowhere", download=False)
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    assert "--data-dir" in message and "--dataset synthetic" in message and "\n" not in message


def test_corrupt_batch_file_is_named(tmp_path):
    write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"corrupt CIFAR-10 file .*data_batch_3 .*fix: delete"):
        load_cifar("cifar10", tmp_path, download=False)


@pytest.fixture
def served_archive(tmp_path):
    """A tiny archive in the official layout, served over HTTP on localhost; yields (url, md5)."""
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

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{archive.name}", hashlib.md5(archive.read_bytes()).hexdigest(), downloads
    server.shutdown()


def test_missing_data_is_downloaded_md5_checked_and_extracted(tmp_path, monkeypatch, served_archive):
    url, md5, downloads = served_archive
    source = data.SOURCES["cifar10"]
    monkeypatch.setitem(data.SOURCES, "cifar10", data.CifarSource(**{**source.__dict__, "url": url, "archive_md5": md5}))
    # Two runs of a sweep starting at once: one downloads while the other waits, then both load.
    fetches = []
    real_fetch = data.fetch_archive
    monkeypatch.setattr(data, "fetch_archive", lambda *args: fetches.append(args) or real_fetch(*args))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: load_cifar("cifar10", tmp_path / "data"), range(2)))
    assert all(r.train_images.shape == (30, 3, 32, 32) for r in results)
    assert torch.equal(results[0].train_images, results[1].train_images)
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").exists() and len(fetches) == 1 and downloads

    monkeypatch.setitem(data.SOURCES, "cifar10", data.CifarSource(**{**source.__dict__, "url": url, "archive_md5": "0" * 32}))
    with pytest.raises(DatasetError, match=r"downloading .* failed .*fix: download it where there is internet"):
        load_cifar("cifar10", tmp_path / "other")


def test_official_md5_sums_match_torchvision():
    from torchvision.datasets import CIFAR10, CIFAR100

    for source, reference in ((data.SOURCES["cifar10"], CIFAR10), (data.SOURCES["cifar100"], CIFAR100)):
        assert list(source.train_files) == [tuple(x) for x in reference.train_list]
        assert list(source.test_files) == [tuple(x) for x in reference.test_list]
        assert (source.url, source.archive_md5, source.folder) == (reference.url, reference.tgz_md5, reference.base_folder)


def test_synthetic_is_deterministic_learnable_shaped_and_says_so():
    a, b = make_synthetic(), make_synthetic()
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    assert a.train_images.shape == (1024, 3, 32, 32) and a.train_images.dtype == torch.uint8
    assert set(a.train_labels.tolist()) == set(range(10))
    assert "synthetic" in a.notice and "say nothing about CIFAR" in a.notice
    # Class structure: the per-class mean images differ far more than the noise would explain.
    means = torch.stack([a.train_images[a.train_labels == k].float().mean(0) for k in range(10)])
    assert (means[:, None] - means[None]).abs().mean() > 10


def windows_of(image: torch.Tensor, pad: int):
    padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    return {(dy, dx): padded[:, dy:dy + 32, dx:dx + 32] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)}


def crops(images, pad, flip, seed=0):
    source = crop_flip_source(images, pad, flip)
    out = random_crop_flip(source, torch.arange(len(images)), 32, torch.Generator().manual_seed(seed))
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert out.is_contiguous(memory_format=torch.channels_last)
    return out


def test_random_crop_is_a_window_inside_the_padding():
    images = torch.randint(1, 256, (64, 3, 32, 32), dtype=torch.uint8)  # no zeros: padding is recognisable
    offsets = set()
    for image, crop in zip(images, crops(images, pad=4, flip=False)):
        found = [offset for offset, window in windows_of(image, 4).items() if torch.equal(crop, window)]
        assert found, "a crop is not a window of its zero-padded image"
        offsets.add(found[0])
    assert len(offsets) > 20  # offsets vary across the batch


def test_random_flip_is_a_horizontal_flip_of_about_half():
    images = torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8)
    out = crops(images, pad=0, flip=True, seed=1)
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 70 < sum(flipped) < 130


def test_crop_and_flip_together_are_a_window_of_the_image_or_of_its_mirror():
    images = torch.randint(1, 256, (100, 3, 32, 32), dtype=torch.uint8)
    mirrored = 0
    for image, crop in zip(images, crops(images, pad=4, flip=True, seed=2)):
        plain = any(torch.equal(crop, w) for w in windows_of(image, 4).values())
        mirror = any(torch.equal(crop, w) for w in windows_of(image.flip(-1), 4).values())
        assert plain or mirror
        mirrored += mirror
    assert 25 < mirrored < 75


def test_cutout_and_erasing_zero_rectangles():
    g = torch.Generator().manual_seed(2)
    mask = data.cutout_mask(100, 16, 32, g, "cpu")
    assert mask.shape == (100, 32, 32)
    assert int(mask.sum(dim=(1, 2)).max()) == 256 and int(mask.sum(dim=(1, 2)).min()) >= 64  # clipped at borders
    assert not data.erasing_mask(50, 0.0, 32, g, "cpu").any()
    areas = data.erasing_mask(200, 1.0, 32, g, "cpu").sum(dim=(1, 2)).float()
    assert (areas > 0).all() and areas.max() <= 0.4 * 1024


def test_loader_shuffles_with_its_generator_normalises_and_drops_the_last_partial_batch():
    images = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(100)
    config = TrainConfig(dataset="synthetic")

    def epoch(seed):
        loader = DeviceLoader(images, labels, 32, (0.5,) * 3, (0.25,) * 3, train=True, config=config,
                              generator=torch.Generator().manual_seed(seed))
        return list(loader)

    batches = epoch(0)
    assert len(batches) == 3 and all(x.shape == (32, 3, 32, 32) and x.dtype == torch.float32 for x, _ in batches)
    seen = torch.cat([y for _, y in batches])
    assert len(set(seen.tolist())) == 96  # a permutation, minus the partial batch
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(batches, epoch(0)))
    assert not torch.equal(seen, torch.cat([y for _, y in epoch(1)]))

    test = DeviceLoader(images, labels, 32, (0.5,) * 3, (0.25,) * 3, train=False)
    assert [len(y) for _, y in test] == [32, 32, 32, 4]
    x, _ = next(iter(test))
    assert torch.allclose(x, (images[:32].float() / 255 - 0.5) / 0.25, atol=1e-5)
