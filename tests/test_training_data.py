"""Real data loading: specs, conversions, subsets, the real MNIST / Fashion-MNIST files, and the
CIFAR-10 path on tiny files in the CIFAR-10 python format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from distilled_datasets.dataset_info import register_dataset
from distilled_datasets.training.common import real_data as data


@pytest.fixture(scope="module")
def real_root(real_data_root):
    return real_data_root


@pytest.fixture(scope="module")
def mnist_train(real_root):
    return data.load_tensors("mnist", real_root, train=True)


# --- specs -------------------------------------------------------------------------------------


def test_specs_are_consistent():
    assert data.list_datasets() == ["cifar10", "fashion_mnist", "mnist"]
    for name in data.list_datasets():
        spec = data.get_dataset_info(name)
        assert spec.name == name
        assert len(spec.mean) == len(spec.std) == spec.channels
        assert all(s > 0 for s in spec.std)
    assert data.get_dataset_info("cifar10").flip and not data.get_dataset_info("mnist").flip
    assert not data.get_dataset_info("fashion_mnist").flip  # measured: test_fashion_mnist_flip_decision_still_holds


def test_get_spec_refuses_near_misses_with_a_hint():
    for alias in ("FashionMNIST", "fashion-mnist", "Fashion_MNIST"):
        with pytest.raises(ValueError, match="did you mean 'fashion_mnist'"):
            data.get_dataset_info(alias)
    with pytest.raises(ValueError, match=r"valid values: \['cifar10', 'fashion_mnist', 'mnist'\]"):
        data.get_dataset_info("svhn")
    with pytest.raises(TypeError, match="must be a str"):
        data.get_dataset_info(10)


def test_register_dataset_refuses_other_facts_under_a_taken_name():
    import dataclasses

    assert register_dataset(data.get_dataset_info("mnist")) is data.get_dataset_info("mnist")  # the same facts: a no-op
    with pytest.raises(ValueError, match="already registered with other facts"):
        register_dataset(dataclasses.replace(data.get_dataset_info("mnist"), flip=True))


def test_missing_data_says_where_and_how(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_real("mnist", tmp_path)
    message = str(info.value)
    assert "download=True" in message and str(tmp_path / "MNIST" / "raw") in message
    assert isinstance(info.value, RuntimeError)  # torchvision callers catch RuntimeError
    with pytest.raises(data.DatasetNotFoundError, match="cifar-10-batches-py"):
        data.load_tensors("cifar10", tmp_path, train=False)


# --- conversions -------------------------------------------------------------------------------


def test_uint8_to_normalized_layouts_and_round_trip():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    x = data.uint8_to_normalized(gray, "mnist")
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.float32
    back = data.normalized_to_unit(x, "mnist") * 255
    assert torch.equal(back.round().to(torch.uint8)[:, 0], torch.from_numpy(gray))

    rgb = torch.from_numpy(rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8))  # [N, H, W, C]
    y = data.uint8_to_normalized(rgb, "cifar10")
    assert y.shape == (3, 3, 32, 32)
    back = (data.normalized_to_unit(y, "cifar10") * 255).round().to(torch.uint8)
    assert torch.equal(back, rgb.permute(0, 3, 1, 2))
    # Channel 1 normalised with channel 1's constants.
    spec = data.get_dataset_info("cifar10")
    expected = (rgb[1, 5, 7, 1].item() / 255 - spec.mean[1]) / spec.std[1]
    assert y[1, 1, 5, 7].item() == pytest.approx(expected, abs=1e-5)


def test_uint8_to_normalized_refuses_bad_input():
    with pytest.raises(ValueError, match="channels"):
        data.uint8_to_normalized(np.zeros((2, 28, 28, 3), np.uint8), "mnist")
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        data.uint8_to_normalized(np.zeros((28, 28), np.uint8), "mnist")
    with pytest.raises(TypeError, match="uint8"):
        data.uint8_to_normalized(np.zeros((2, 28, 28), np.float32), "mnist")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_generator_space_matches_pixel_space_and_is_differentiable(name):
    spec = data.get_dataset_info(name)
    pixels = torch.arange(256, dtype=torch.uint8).repeat(spec.channels, 1).T.reshape(256, 1, 1, spec.channels)
    from_pixels = data.uint8_to_normalized(pixels, name)  # [256, C, 1, 1]
    g = (pixels.permute(0, 3, 1, 2).float() / 127.5 - 1.0).requires_grad_(True)  # tanh space
    from_generator = data.generator_to_normalized(g, name)
    assert torch.allclose(from_generator, from_pixels, atol=1e-5)
    assert torch.allclose(data.normalized_to_unit(from_generator, name) * 2 - 1, g, atol=1e-6)
    from_generator.sum().backward()
    expected = 0.5 / torch.tensor(spec.std).view(1, -1, 1, 1)
    assert torch.allclose(g.grad, expected.expand_as(g))


def test_normalized_to_unit_clamps_only_when_asked():
    x = torch.tensor([-10.0, 0.0, 10.0]).view(3, 1, 1, 1)
    unit = data.normalized_to_unit(x, "mnist")
    assert unit.min() < 0 and unit.max() > 1
    clamped = data.normalized_to_unit(x, "mnist", clamp=True)
    assert clamped.min() == 0 and clamped.max() == 1


# --- class indices and random real subsets ---------------------------------------------------


def test_channel_stats_match_a_direct_computation():
    images = torch.from_numpy(np.random.default_rng(3).integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8))
    mean, std = data.channel_stats(images, 3)
    unit = images.permute(3, 0, 1, 2).reshape(3, -1).double() / 255
    assert mean == pytest.approx(unit.mean(1).tolist(), abs=1e-12)
    assert std == pytest.approx(unit.std(1).tolist(), abs=1e-12)


def test_class_indices_match_a_scan():
    labels = torch.tensor([3, 0, 3, 1, 0, 3, 2])
    got = data.class_indices(labels, 5)
    assert [g.tolist() for g in got] == [[1, 4], [3], [6], [0, 2, 5], []]
    with pytest.raises(ValueError, match="num_classes"):
        data.class_indices(labels, 3)


def test_random_real_subset_is_balanced_deterministic_and_nested():
    labels = torch.randint(0, 10, (2000,), generator=torch.Generator().manual_seed(1))
    a = data.random_real_subset(labels, ipc=10, seed=0, num_classes=10)
    assert a.dtype == torch.int64 and a.shape == (100,)
    assert len(set(a.tolist())) == 100
    assert torch.equal(labels[a], torch.arange(100) % 10)  # balanced and interleaved
    assert torch.equal(a, data.random_real_subset(labels, ipc=10, seed=0, num_classes=10))
    assert not torch.equal(a, data.random_real_subset(labels, ipc=10, seed=1, num_classes=10))
    assert torch.equal(data.random_real_subset(labels, ipc=3, seed=0, num_classes=10), a[:30])
    with pytest.raises(ValueError, match="ipc=1000"):
        data.random_real_subset(labels, ipc=1000, seed=0, num_classes=10)
    with pytest.raises(ValueError, match="ipc must be"):
        data.random_real_subset(labels, ipc=0, seed=0, num_classes=10)


# --- the real MNIST / Fashion-MNIST ----------------------------------------------------------


def test_load_tensors_on_real_mnist(mnist_train):
    images, labels = mnist_train
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert torch.equal(torch.unique(labels), torch.arange(10))
    part = images[:6000]
    assert abs(part.mean().item()) < 0.05 and abs(part.std().item() - 1) < 0.05
    subset = data.random_real_subset(labels, ipc=5, seed=0, num_classes=10)
    assert torch.equal(labels[subset], torch.arange(50) % 10)


def test_load_tensors_matches_torchvision_items(real_root):
    images, labels = data.load_tensors("fashion_mnist", real_root, train=False)
    assert images.shape == (10000, 1, 28, 28)
    dataset = data.load_real("fashion_mnist", real_root, train=False)
    for i in (0, 1234, 9999):
        pil, label = dataset[i]
        expected = data.uint8_to_normalized(np.asarray(pil)[None], "fashion_mnist")[0]
        assert torch.equal(images[i], expected) and labels[i].item() == label


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_committed_constants_match_the_real_training_split(real_root, name):
    spec = data.get_dataset_info(name)
    dataset = data.load_real(name, real_root, train=True)
    mean, std = data.channel_stats(dataset.data, spec.channels)
    assert mean == pytest.approx(spec.mean, abs=1e-4)
    assert std == pytest.approx(spec.std, abs=1e-4)


def test_fashion_mnist_flip_decision_still_holds(real_root):
    """The measurements behind fashion_mnist's flip=False (see its spec's comment)."""
    dataset = data.load_real("fashion_mnist", real_root, train=True)
    x, y = dataset.data[:20000].float() / 255, dataset.targets[:20000]  # 2,000 per class is plenty
    for c in range(10):
        xc = x[y == c]
        mean = xc.mean(0)
        mirrored = mean.flip(1)
        closer = (((xc - mean) ** 2).sum((1, 2)) < ((xc - mirrored) ** 2).sum((1, 2))).float().mean().item()
        cosine = torch.nn.functional.cosine_similarity(mean.flatten(), mirrored.flatten(), 0).item()
        if c in (5, 7, 9):  # sandal, sneaker, ankle boot: one orientation
            assert closer > 0.9
        else:  # garments and bags: nearly mirror-symmetric
            assert cosine > 0.95
    assert not data.get_dataset_info("fashion_mnist").flip  # the shoes decide it: a mirrored boot is not one


# --- CIFAR-10 on tiny files in its python format ---------------------------------------------


def _write_tiny_cifar10(root: Path, per_file: int = 4):
    """The 7 files of cifar-10-batches-py, with ``per_file`` random images each. Returns the
    arrays written: {file name: (uint8 [n, 3, 32, 32], labels list)}."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for i, fname in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        images = rng.integers(0, 256, size=(per_file, 3, 32, 32), dtype=np.uint8)
        labels = [int(v) for v in (np.arange(per_file) + i) % 10]
        # The format: rows of 3072 bytes, the red plane then green then blue, row-major.
        with open(folder / fname, "wb") as f:
            pickle.dump({"data": images.reshape(per_file, 3072), "labels": labels, "batch_label": fname}, f)
        written[fname] = (images, labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_file, "num_vis": 3072}, f)
    return written


def test_cifar10_tiny_copy_loads_without_checksums(tmp_path):
    written = _write_tiny_cifar10(tmp_path)
    # The md5 check (on by default) refuses the tiny copy, and says how to load it.
    with pytest.raises(data.DatasetNotFoundError, match="verify_checksums=False"):
        data.load_tensors("cifar10", tmp_path)

    images, labels = data.load_tensors("cifar10", tmp_path, train=True, verify_checksums=False)
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.float32
    expected = np.concatenate([written[f"data_batch_{k}"][0] for k in range(1, 6)])
    pixels = (data.normalized_to_unit(images, "cifar10") * 255).round().to(torch.uint8)
    assert torch.equal(pixels, torch.from_numpy(expected))
    assert labels.tolist() == sum((written[f"data_batch_{k}"][1] for k in range(1, 6)), [])

    test_images, test_labels = data.load_tensors("cifar10", tmp_path, train=False, verify_checksums=False)
    assert test_images.shape == (4, 3, 32, 32) and test_labels.tolist() == written["test_batch"][1]
    pixels, labels = data.cifar_arrays("cifar10", tmp_path, train=False, verify_checksums=False)
    assert pixels.shape == (4, 32, 32, 3) and labels == written["test_batch"][1]


def test_cifar10_reads_like_torchvision(tmp_path, make_cifar10_root):
    import torchvision

    make_cifar10_root(tmp_path, per_batch=3)  # md5 sums patched: torchvision checks and reads them
    for train in (True, False):
        theirs = torchvision.datasets.CIFAR10(str(tmp_path), train=train)
        pixels, labels = data.cifar_arrays("cifar10", tmp_path, train=train)
        assert np.array_equal(pixels, theirs.data) and labels == theirs.targets


def test_cifar10_missing_file_is_still_refused_without_checksums(tmp_path):
    _write_tiny_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(data.DatasetNotFoundError, match=r"download=True.*data_batch_3"):
        data.cifar_arrays("cifar10", tmp_path, verify_checksums=False)


class _Planted:
    """Pickles as a call of os.system: what a hostile batch file would hold."""

    def __reduce__(self):
        import os

        return os.system, ("touch planted-by-a-batch-file",)


@pytest.mark.parametrize("payload, message", [
    ({"data": _Planted(), "labels": [0]}, "system is not allowed in a CIFAR batch file"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, "2 ints in 0..9"),
    ({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, "uint8 rows of 3072 bytes"),
    ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "uint8 rows of 3072 bytes"),
    ([1, 2, 3], "a dict"),
])
def test_cifar10_batches_are_unpickled_restricted_and_checked(tmp_path, monkeypatch, payload, message):
    from distilled_datasets.errors import DamagedFileError

    _write_tiny_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(payload))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DamagedFileError, match=message):
        data.load_tensors("cifar10", tmp_path, train=False, verify_checksums=False)
    assert not (tmp_path / "planted-by-a-batch-file").exists()  # nothing ran


@pytest.mark.slow
def test_the_cifar10_copy_is_within_0_002_of_the_registered_statistics(real_root):
    """The JPEG copy is read with the original CIFAR-10's normalisation (dataset_info.py says its own
    statistics differ by at most 0.002): measured on its 50,000 training images."""
    import io
    import tarfile

    from PIL import Image

    archive = real_root / "CIFAR10-jpeg" / "cifar10_jpeg.tar.gz"
    images = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.lstrip("./").startswith("train/"):
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as image:
                    images.append(np.asarray(image.convert("RGB")))
    assert len(images) == 50_000
    mean, std = data.channel_stats(np.stack(images), 3)
    spec = data.get_dataset_info("cifar10")
    assert max(abs(a - b) for a, b in zip(mean + std, spec.mean + spec.std)) <= 0.002


def test_legacy_processed_pickles_are_never_loaded(make_mnist_root, tmp_path):
    # torchvision reads processed/{training,test}.pt (pickles) in preference to the raw idx files.
    root = make_mnist_root(tmp_path / "data", n=8)
    assert len(data.load_real("mnist", root, train=True).data) == 8
    processed = root / "MNIST" / "processed"
    processed.mkdir()
    for name in ("training.pt", "test.pt"):
        torch.save((torch.zeros(3, 28, 28, dtype=torch.uint8), torch.zeros(3, dtype=torch.long)), processed / name)
    with pytest.raises(ValueError, match="legacy processed files \\(pickles\\), which this package never loads"):
        data.load_real("mnist", root, train=True)
