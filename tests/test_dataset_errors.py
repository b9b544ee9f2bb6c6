"""Bad input to the dataset classes: each mistake raises the right type, naming the argument."""

import os

import numpy as np
import pytest
import torch

import distilled_datasets.hub as hub_module
from distilled_datasets import (
    DistilledCIFAR10,
    DistilledFashionMNIST,
    DistilledMNIST,
    GeneratorNotFoundError,
    InvalidGeneratorError,
)


@pytest.fixture
def ds(mnist_generator_dir):
    return DistilledMNIST(ipc=3, repo_id=mnist_generator_dir)


@pytest.mark.parametrize("ipc,error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
                                       ("10", TypeError)])
def test_bad_ipc(mnist_generator_dir, ipc, error):
    with pytest.raises(error, match="ipc") as err:
        DistilledMNIST(ipc=ipc, repo_id=mnist_generator_dir)
    assert repr(ipc) in str(err.value) or str(ipc) in str(err.value)


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (2**63, ValueError), (1.5, TypeError), ("0", TypeError),
                                        (True, TypeError), (None, TypeError)])
def test_bad_seed(mnist_generator_dir, seed, error):
    with pytest.raises(error, match="seed"):
        DistilledMNIST(ipc=1, seed=seed, repo_id=mnist_generator_dir)


def test_numpy_integers_are_ints(mnist_generator_dir):
    ds = DistilledMNIST(ipc=np.int64(2), seed=np.int32(4), repo_id=mnist_generator_dir)
    assert (ds.ipc, ds.seed, len(ds)) == (2, 4, 20)
    assert type(ds.ipc) is int and type(ds.seed) is int
    assert ds[np.int64(3)][1] == 3


def test_negative_indices_like_a_list(ds):
    n = len(ds)
    items = [np.asarray(ds[i][0]) for i in range(n)]
    for i in range(1, n + 1):
        image, label = ds[-i]
        assert np.array_equal(np.asarray(image), items[n - i]) and label == (n - i) % 10
    for bad in (n, n + 5, -n - 1, -10**9):
        with pytest.raises(IndexError) as err:
            ds[bad]
        assert str(bad) in str(err.value) and str(n) in str(err.value)


@pytest.mark.parametrize("index", [1.0, "0", None, slice(0, 2), [0]])
def test_non_integer_index(ds, index):
    with pytest.raises(TypeError, match="indices must be integers"):
        ds[index]


def test_tensor_index_works_like_torchvision(ds):
    assert np.array_equal(np.asarray(ds[torch.tensor(4)][0]), np.asarray(ds[4][0]))


@pytest.mark.parametrize("name", ["transform", "target_transform"])
@pytest.mark.parametrize("value", [1, "to_tensor", [lambda x: x]])
def test_non_callable_transforms(mnist_generator_dir, name, value):
    with pytest.raises(TypeError, match=f"^{name} must be callable"):
        DistilledMNIST(ipc=1, repo_id=mnist_generator_dir, **{name: value})


def test_transforms_are_applied(mnist_generator_dir):
    ds = DistilledMNIST(ipc=1, repo_id=mnist_generator_dir, transform=lambda im: im.size,
                        target_transform=lambda t: -t)
    assert ds[3] == ((28, 28), -3)


@pytest.mark.parametrize("download", [None, 1, "yes"])
def test_download_must_be_bool(mnist_generator_dir, download):
    with pytest.raises(TypeError, match="download"):
        DistilledMNIST(None, True, None, None, download, repo_id=mnist_generator_dir)


def test_repo_id_and_revision_types(mnist_generator_dir):
    with pytest.raises(TypeError, match="repo_id"):
        DistilledMNIST(repo_id=123)
    with pytest.raises(TypeError, match="revision"):
        DistilledMNIST(repo_id="org/name", revision=1)
    with pytest.raises(ValueError, match="revision"):  # a local folder has no revisions
        DistilledMNIST(repo_id=mnist_generator_dir, revision="main")
    with pytest.raises(ValueError, match="repo_id"):
        DistilledMNIST(repo_id="not a valid id!")
    # The shipped default has no revisions either, and each argument's type is checked on every path.
    with pytest.raises(ValueError, match="revision='v1' applies to Hub repositories"):
        DistilledMNIST(revision="v1")
    with pytest.raises(TypeError, match="revision must be a str"):
        DistilledMNIST(revision=1)
    with pytest.raises(TypeError, match="local_files_only must be a bool"):
        DistilledMNIST(local_files_only="x")
    with pytest.raises(TypeError, match="root must be a str, a path or None, got int"):
        DistilledMNIST(123, repo_id=mnist_generator_dir)


def test_a_root_under_home_is_read_as_torchvision_reads_it(mnist_generator_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    ds = DistilledMNIST("~/data", ipc=1, repo_id=mnist_generator_dir)
    ds.materialize()
    assert ds.root == str(tmp_path / "home" / "data")
    assert (tmp_path / "home" / "data" / "distilled_datasets_cache").is_dir() and not (tmp_path / "~").exists()


@pytest.mark.parametrize("name", ["data", "targets"])
def test_data_and_targets_cannot_be_assigned_and_say_how_to_subset(mnist_generator_dir, name):
    ds = DistilledMNIST(ipc=2, repo_id=mnist_generator_dir)
    refusal = rf"DistilledMNIST\.{name} is built from the set on each access.*utils\.data\.Subset"
    with pytest.raises(AttributeError, match=refusal):
        setattr(ds, name, getattr(ds, name)[:3])
    assert len(getattr(ds, name)) == len(ds) == 20


# ---- generators that do not fit -----------------------------------------------------------------


def test_wrong_channels_and_size_are_refused(make_generator_dir):
    folder = make_generator_dir("cifar10")
    with pytest.raises(InvalidGeneratorError) as err:
        DistilledMNIST(repo_id=folder)
    message = str(err.value)
    assert "'channels': 3" in message and "'image_size': 32" in message  # what was found
    assert "'channels': 1" in message and "'image_size': 28" in message  # what is needed
    assert str(folder) in message and "DistilledMNIST" in message


def test_wrong_number_of_classes_is_refused(make_generator_dir):
    folder = make_generator_dir("mnist", num_classes=5)
    with pytest.raises(InvalidGeneratorError) as err:
        DistilledMNIST(repo_id=folder)
    assert "'num_classes': 5" in str(err.value) and "'num_classes': 10" in str(err.value)


def test_wrong_shape_for_cifar_is_refused(make_generator_dir):
    with pytest.raises(InvalidGeneratorError, match="'channels': 1"):
        DistilledCIFAR10(repo_id=make_generator_dir("mnist", metadata={"dataset": "cifar10"}))


def test_other_dataset_is_refused(make_generator_dir):
    folder = make_generator_dir("fashion_mnist")
    with pytest.raises(InvalidGeneratorError) as err:
        DistilledMNIST(repo_id=folder)
    assert "'fashion_mnist'" in str(err.value) and "'mnist'" in str(err.value)
    assert len(DistilledFashionMNIST(ipc=1, repo_id=folder)) == 10  # the right class takes it


# ---- weights that are not there -----------------------------------------------------------------


@pytest.mark.parametrize("cls", [DistilledMNIST, DistilledFashionMNIST])
def test_missing_default_says_how_to_fix(cls, tmp_path, monkeypatch):
    # Whatever defaults ship with this checkout, point the lookup at an empty folder.
    monkeypatch.setattr(hub_module, "default_dir", lambda name: tmp_path / "defaults" / name)
    with pytest.raises(GeneratorNotFoundError) as err:
        cls(ipc=1)
    message = str(err.value)
    name = cls.info.default_generator
    assert repr(name) in message and str(tmp_path / "defaults" / name) in message
    assert "repo_id=" in message  # the fix
    assert isinstance(err.value, FileNotFoundError)


def test_default_generator_is_used_without_repo_id(mnist_generator_dir, monkeypatch):
    monkeypatch.setattr(hub_module, "default_dir", lambda name: mnist_generator_dir)
    ds = DistilledMNIST(ipc=2)
    assert ds.files.origin == "default" and ds.files.location == "mnist"
    local = DistilledMNIST(ipc=2, repo_id=mnist_generator_dir)
    assert torch.equal(ds.data, local.data)


def test_local_folder_without_weights(mnist_generator_dir):
    os.remove(mnist_generator_dir / "model.safetensors")
    with pytest.raises(GeneratorNotFoundError) as err:
        DistilledMNIST(repo_id=mnist_generator_dir)
    assert "model.safetensors" in str(err.value) and str(mnist_generator_dir) in str(err.value)
    assert "save_pretrained" in str(err.value)


@pytest.mark.parametrize("path", ["./no/such/folder", "/no/such/folder", "a/b/c"])
def test_missing_local_folder(path):
    with pytest.raises(GeneratorNotFoundError, match="does not exist"):
        DistilledMNIST(repo_id=path)


def test_a_home_relative_folder_is_expanded(mnist_generator_dir, monkeypatch):
    """Regression: repo_id="~/gen" was reported missing while the folder existed (root expands '~')."""
    from distilled_datasets import Generator

    monkeypatch.setenv("HOME", str(mnist_generator_dir.parent))
    home_relative = "~/" + mnist_generator_dir.name
    assert len(DistilledMNIST(ipc=1, repo_id=home_relative)) == 10
    assert Generator.from_pretrained(home_relative).config.num_classes == 10
    with pytest.raises(GeneratorNotFoundError, match="does not exist"):
        DistilledMNIST(repo_id="~/no-such-generator")


def test_the_base_class_says_which_class_to_use(mnist_generator_dir):
    """Regression: DistilledDataset(...) (exported) failed with AttributeError: no attribute 'info'."""
    from distilled_datasets import DistilledDataset

    for kwargs in ({}, {"repo_id": mnist_generator_dir}):
        with pytest.raises(TypeError, match="DistilledDataset is the base class .* use DistilledMNIST"):
            DistilledDataset(**kwargs)
    assert isinstance(DistilledMNIST(ipc=1, repo_id=mnist_generator_dir), DistilledDataset)


@pytest.mark.parametrize("threads, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError),
                                            (True, TypeError)])
def test_materialize_threads_are_checked(mnist_generator_dir, threads, error):
    ds = DistilledMNIST(ipc=1, repo_id=mnist_generator_dir, cache=False)
    with pytest.raises(error, match="threads"):
        ds.materialize(threads=threads)
    ds.materialize(threads=2)
