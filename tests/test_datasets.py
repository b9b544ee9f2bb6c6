"""The dataset contract (DESIGN.md "Runtime API"), item by item, against torchvision itself.

torchvision's own classes read tiny files written in their formats (conftest), so every
comparison (item mode and size, types of ``data`` and ``targets``, class names, repr) is against
what torchvision actually returns, not against values typed here.
"""

import inspect
import pickle

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from distilled_datasets import DistilledCIFAR10, DistilledDataset, DistilledFashionMNIST, DistilledMNIST, Generator

# (distilled class, torchvision class, dataset name in configs)
CASES = [
    (DistilledMNIST, torchvision.datasets.MNIST, "mnist"),
    (DistilledFashionMNIST, torchvision.datasets.FashionMNIST, "fashion_mnist"),
    (DistilledCIFAR10, torchvision.datasets.CIFAR10, "cifar10"),
]
IDS = [c[2] for c in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def case(request, tmp_path, make_generator_dir, make_mnist_root, make_cifar10_root):
    """(distilled class, generator folder, the real torchvision dataset read from tiny files)."""
    cls, tv_cls, name = request.param
    if tv_cls is torchvision.datasets.CIFAR10:
        real = tv_cls(make_cifar10_root(tmp_path / "real"), train=True, download=False)
    else:
        real = tv_cls(make_mnist_root(tmp_path / "real", name=tv_cls.__name__), train=True, download=False)
    return cls, make_generator_dir(name), real


def test_is_a_torchvision_dataset_with_torchvision_signature():
    for cls, tv_cls, _ in CASES:
        assert issubclass(cls, DistilledDataset)
        assert issubclass(cls, torchvision.datasets.VisionDataset)
        ours = list(inspect.signature(cls.__init__).parameters.values())[1:6]
        theirs = list(inspect.signature(tv_cls.__init__).parameters.values())[1:6]
        assert [p.name for p in ours] == [p.name for p in theirs]
        assert [p.kind for p in ours] == [p.kind for p in theirs]  # positional like torchvision
        assert [p.default for p in ours][1:] == [p.default for p in theirs][1:]


def test_positional_arguments_like_torchvision(case, tmp_path):
    cls, folder, _ = case
    to_tensor = transforms.ToTensor()
    ds = cls(str(tmp_path / "data"), True, to_tensor, int, False, ipc=2, repo_id=folder)
    assert ds.root == str(tmp_path / "data")
    assert ds.transform is to_tensor and ds.target_transform is int
    assert ds.train is True
    image, label = ds[3]
    assert isinstance(image, torch.Tensor) and isinstance(label, int)


def test_items_match_torchvision_mode_size_and_types(case):
    cls, folder, real = case
    ds = cls(ipc=3, repo_id=folder)
    real_image, real_label = real[0]
    for i in (0, 1, len(ds) - 1):
        image, label = ds[i]
        assert type(image) is type(real_image) and isinstance(image, Image.Image)
        assert (image.mode, image.size) == (real_image.mode, real_image.size)
        assert type(label) is type(real_label) is int
        assert label == i % 10


def test_classes_class_to_idx_and_targets_match_torchvision(case):
    cls, folder, real = case
    ds = cls(ipc=4, repo_id=folder)
    assert ds.classes == real.classes
    assert ds.class_to_idx == real.class_to_idx
    assert len(ds) == 4 * len(real.classes)
    assert type(ds.targets) is type(real.targets)
    if isinstance(real.targets, torch.Tensor):
        assert ds.targets.dtype == real.targets.dtype
    assert list(map(int, ds.targets)) == [ds[i][1] for i in range(len(ds))]
    assert [int(t) for t in ds.targets].count(7) == 4


def test_classes_are_the_real_class_names():
    assert DistilledMNIST.classes == torchvision.datasets.MNIST.classes
    assert DistilledFashionMNIST.classes == torchvision.datasets.FashionMNIST.classes
    assert DistilledCIFAR10.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                        "ship", "truck"]


def test_data_matches_torchvision_type_dtype_and_layout(case):
    cls, folder, real = case
    ds = cls(ipc=5, repo_id=folder)
    data = ds.data
    assert type(data) is type(real.data)
    assert data.dtype == real.data.dtype
    assert tuple(data.shape) == (len(ds),) + tuple(real.data.shape[1:])
    for i in (0, 7, len(ds) - 1):  # data[i] is the pixels of item i, as in torchvision
        assert np.array_equal(np.asarray(data[i]), np.asarray(ds[i][0]))


@pytest.mark.parametrize("ipc", [1, 3, 16, 17])
def test_len_is_ipc_times_classes(mnist_generator_dir, ipc):
    ds = DistilledMNIST(ipc=ipc, repo_id=mnist_generator_dir)
    assert len(ds) == ipc * 10
    assert len(ds.data) == len(ds.targets) == len(ds)
    ds[len(ds) - 1]
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_repr_is_torchvision_style(case, tmp_path):
    cls, folder, real = case
    ds = cls(tmp_path / "data", ipc=2, seed=3, repo_id=folder, transform=transforms.ToTensor())
    lines = repr(ds).splitlines()
    real_lines = repr(real).splitlines()
    assert lines[0] == f"Dataset {cls.__name__}" and real_lines[0] == f"Dataset {type(real).__name__}"
    assert lines[1] == f"    Number of datapoints: {len(ds)}" and real_lines[1].startswith("    Number of datapoints: ")
    assert lines[2] == f"    Root location: {tmp_path / 'data'}"
    assert "    Images per class: 2" in lines and "    Seed: 3" in lines
    assert any(line.startswith("    Split: Train") for line in lines)
    assert any(str(folder) in line for line in lines)
    assert "StandardTransform" in repr(ds) and "ToTensor()" in repr(ds)


def test_generator_attribute_is_the_loaded_generator(mnist_generator_dir):
    ds = DistilledMNIST(ipc=2, repo_id=mnist_generator_dir)
    assert isinstance(ds.generator, Generator)
    assert not ds.generator.training
    assert (ds.generator.config.channels, ds.generator.config.image_size) == (1, 28)
    assert ds.generator.metadata["dataset"] == "mnist"
    assert ds.files.origin == "local" and ds.files.location == str(mnist_generator_dir)


def test_lazy_nothing_synthesized_at_construction(mnist_generator_dir, synthesis_calls):
    calls = synthesis_calls
    ds = DistilledMNIST(ipc=40, seed=5, repo_id=mnist_generator_dir)
    len(ds), repr(ds), ds.targets, ds.classes, ds.class_to_idx
    assert calls == [] and ds.source._chunks == {}
    ds[13]  # class 3, sample 1: chunk 0 -- made with chunk 0 of every class (a pass needs them together)
    assert sorted(calls) == [(5, c, 0) for c in range(10)]
    ds[3], ds[23], ds[9]  # the same chunks: served from memory
    assert len(calls) == 10
    ds[3 + 10 * 16]  # sample 16 of class 3: the next chunk of every class, and nothing more
    assert sorted(calls[10:]) == [(5, c, 1) for c in range(10)] and len(ds.source._chunks) == 20


def _pixels(ds, order):
    return {i: np.asarray(ds[i][0]).tobytes() for i in order}


def test_same_bytes_for_any_access_order(mnist_generator_dir):
    n = 34 * 10  # three chunks per class (16 + 16 + 2)
    forward = _pixels(DistilledMNIST(ipc=34, seed=1, repo_id=mnist_generator_dir), range(n))
    order = np.random.default_rng(0).permutation(n).tolist()
    shuffled = _pixels(DistilledMNIST(ipc=34, seed=1, repo_id=mnist_generator_dir), order)
    backward = _pixels(DistilledMNIST(ipc=34, seed=1, repo_id=mnist_generator_dir), range(n - 1, -1, -1))
    materialized = DistilledMNIST(ipc=34, seed=1, repo_id=mnist_generator_dir)
    materialized.materialize(threads=3)
    assert forward == shuffled == backward == _pixels(materialized, range(n))
    assert len(set(forward.values())) == n  # every image differs from every other


def test_materialize_leaves_torch_threads_unchanged(mnist_generator_dir):
    before = torch.get_num_threads()
    DistilledMNIST(ipc=64, repo_id=mnist_generator_dir).materialize(threads=4)
    assert torch.get_num_threads() == before


def test_nested_sets_and_seeds(mnist_generator_dir):
    small = DistilledMNIST(ipc=10, seed=0, repo_id=mnist_generator_dir)
    large = DistilledMNIST(ipc=50, seed=0, repo_id=mnist_generator_dir)
    assert torch.equal(large.data[: len(small)], small.data)
    assert torch.equal(large.targets[: len(small)], small.targets)
    other = DistilledMNIST(ipc=10, seed=1, repo_id=mnist_generator_dir)
    assert not torch.equal(other.data, small.data)
    differs = [not torch.equal(a, b) for a, b in zip(other.data, small.data)]
    assert all(differs)  # a different seed is a different set, image by image


def test_different_weights_give_different_images(make_generator_dir):
    a = DistilledMNIST(ipc=2, repo_id=make_generator_dir(weights_seed=0))
    b = DistilledMNIST(ipc=2, repo_id=make_generator_dir(weights_seed=1))
    assert not torch.equal(a.data, b.data)


def _loader_bytes(ds, **loader_kwargs):
    loader = DataLoader(ds, batch_size=7, shuffle=False, **loader_kwargs)
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_give_identical_bytes(mnist_generator_dir, context):
    ds = DistilledMNIST(ipc=20, seed=2, repo_id=mnist_generator_dir, transform=transforms.PILToTensor())
    images, labels = _loader_bytes(ds, num_workers=0)
    assert images.dtype == torch.uint8 and images.shape == (200, 1, 28, 28)
    assert ds.source._chunks, "the main process synthesized"
    fresh = DistilledMNIST(ipc=20, seed=2, repo_id=mnist_generator_dir, transform=transforms.PILToTensor())
    # One spawned worker is enough to cross a process boundary (each one imports torch afresh).
    workers = 2 if context == "fork" else 1
    w_images, w_labels = _loader_bytes(fresh, num_workers=workers, multiprocessing_context=context)
    assert fresh.source._chunks == {}, "the workers synthesized, not the main process"
    assert torch.equal(w_images, images) and torch.equal(w_labels, labels)


def test_pickles_cheaply_without_weights(mnist_generator_dir):
    ds = DistilledMNIST(ipc=10, repo_id=mnist_generator_dir)
    blob = pickle.dumps(ds)
    weights_size = (mnist_generator_dir / "model.safetensors").stat().st_size
    assert len(blob) < min(8_000, weights_size // 4), len(blob)
    clone = pickle.loads(blob)
    assert clone.source._generator is None  # reloaded from the files only when it must synthesize
    assert torch.equal(clone.data, ds.data)


def test_materialized_chunks_travel_and_spare_the_reload(mnist_generator_dir):
    ds = DistilledMNIST(ipc=10, repo_id=mnist_generator_dir)
    ds.materialize()
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone.data, ds.data)
    assert clone.source._generator is None  # every chunk came with the pickle


@pytest.mark.parametrize("cls", [c[0] for c in CASES], ids=IDS)
def test_train_false_points_to_the_real_test_split(cls, make_generator_dir):
    real_name = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}[cls.dataset_name]
    with pytest.raises(ValueError) as err:
        cls(None, False, repo_id=make_generator_dir(cls.dataset_name))
    assert f"torchvision.datasets.{real_name}(" in str(err.value)
    assert "train=False" in str(err.value)
    assert hasattr(torchvision.datasets, real_name)


def _train(ds, in_features, epochs=20):
    """A plain torchvision-style loop: DataLoader, MLP whose first Linear takes the flat image."""
    torch.manual_seed(0)
    loader = DataLoader(ds, batch_size=20, shuffle=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    full_x, full_y = next(iter(DataLoader(ds, batch_size=len(ds))))
    with torch.no_grad():
        before = loss_fn(model(full_x), full_y).item()
    for _ in range(epochs):
        for x, y in loader:
            assert x.dtype == torch.float32 and y.dtype == torch.int64
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    with torch.no_grad():
        logits = model(full_x)
    return before, loss_fn(logits, full_y).item(), (logits.argmax(1) == full_y).float().mean().item(), full_x


@pytest.mark.parametrize("cls,name,stats,in_features", [
    (DistilledMNIST, "mnist", ((0.1307,), (0.3081,)), 28 * 28),
    (DistilledCIFAR10, "cifar10", ((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)), 3 * 32 * 32),
])
def test_torchvision_training_loop_works(tmp_path, make_generator_dir, cls, name, stats, in_features):
    # Tiny steps on 2 shared cores: several intra-op threads only wait on each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_training_loop(tmp_path, make_generator_dir, cls, name, stats, in_features)
    finally:
        torch.set_num_threads(threads)


def _check_training_loop(tmp_path, make_generator_dir, cls, name, stats, in_features):
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(*stats)])
    ds = cls(str(tmp_path / "data"), train=True, download=True, transform=transform, ipc=10, seed=0,
             repo_id=make_generator_dir(name))
    before, after, accuracy, full_x = _train(ds, in_features)
    assert full_x.shape[1:].numel() == in_features
    assert after < 0.5 * before and accuracy >= 0.9, (before, after, accuracy)  # it learns the distilled set


def test_large_syntheses_show_a_progress_bar_and_keep_their_bytes(mnist_generator_dir, monkeypatch, capsys):
    from distilled_datasets import sources

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    small = DistilledMNIST(ipc=40, seed=2, repo_id=mnist_generator_dir, cache=False)
    small.materialize(threads=2)
    assert "synthesizing" not in capsys.readouterr().err  # 400 images: below the bar's threshold
    monkeypatch.setattr(sources, "PROGRESS_MIN_IMAGES", 100)
    monkeypatch.setattr(sources, "BATCH_IMAGES", 48)  # several batches per thread
    large = DistilledMNIST(ipc=40, seed=2, repo_id=mnist_generator_dir, cache=False)
    large.materialize(threads=2)
    assert "synthesizing" in capsys.readouterr().err
    assert torch.equal(large.data, small.data)
