"""The cache of synthesized images: identical bytes, shared by processes, safe against damage."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from distilled_datasets import DistilledMNIST


def entries(folder):
    return sorted(p for p in folder.rglob("*.bin"))


def test_cached_images_are_byte_identical_and_synthesized_once(mnist_generator_dir, image_cache_dir,
                                                               synthesis_calls):
    uncached = DistilledMNIST(ipc=20, seed=3, repo_id=mnist_generator_dir, cache=False).data
    assert entries(image_cache_dir) == []  # cache=False writes nothing
    calls = synthesis_calls
    calls.clear()
    first = DistilledMNIST(ipc=20, seed=3, repo_id=mnist_generator_dir).data
    assert len(calls) == 20 and len(entries(image_cache_dir)) == 20  # 10 classes x 2 chunks of 16
    second = DistilledMNIST(ipc=20, seed=3, repo_id=mnist_generator_dir).data
    assert len(calls) == 20  # read back, not synthesized
    assert np.array_equal(uncached, first) and np.array_equal(first, second)
    # Another seed is another entry; a smaller ipc reads the same chunks.
    DistilledMNIST(ipc=1, seed=4, repo_id=mnist_generator_dir)[0]
    assert len(calls) == 30  # chunk 0 of every class of seed 4
    assert np.array_equal(DistilledMNIST(ipc=5, seed=3, repo_id=mnist_generator_dir).data, first[:50])
    assert len(calls) == 30


def test_root_holds_the_cache(mnist_generator_dir, tmp_path, image_cache_dir):
    DistilledMNIST(tmp_path / "root", ipc=1, repo_id=mnist_generator_dir)[0]
    assert len(entries(tmp_path / "root" / "distilled_datasets_cache")) == 10 and entries(image_cache_dir) == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_damaged_entries_are_never_returned(mnist_generator_dir, image_cache_dir, synthesis_calls, damage):
    good = DistilledMNIST(ipc=1, repo_id=mnist_generator_dir).data
    (entry,) = [e for e in entries(image_cache_dir) if "class0_" in e.name]
    data = bytearray(entry.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[100] ^= 0xFF
    else:
        data = bytearray()
    entry.write_bytes(bytes(data))
    calls = synthesis_calls
    calls.clear()
    again = DistilledMNIST(ipc=1, repo_id=mnist_generator_dir).data
    assert np.array_equal(again, good) and calls == [(0, 0, 0)]  # class 0 synthesized again...
    assert DistilledMNIST(ipc=1, repo_id=mnist_generator_dir).data.equal(good) and len(calls) == 1  # ...and rewritten


def test_unwritable_cache_warns_once_and_still_synthesizes(mnist_generator_dir, tmp_path, monkeypatch):
    if os.geteuid() == 0:
        # root ignores permissions: make the cache path a file instead, which no one can write under.
        blocked = tmp_path / "not_a_folder"
        blocked.write_text("x")
    else:
        blocked = tmp_path / "readonly"
        blocked.mkdir(mode=0o500)
    monkeypatch.setenv("DISTILLED_DATASETS_CACHE", str(blocked / "cache"))
    expected = DistilledMNIST(ipc=20, repo_id=mnist_generator_dir, cache=False).data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = DistilledMNIST(ipc=20, repo_id=mnist_generator_dir).data
    assert np.array_equal(got, expected)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "cannot write its image cache" in messages[0]


def test_processes_writing_the_same_entries_at_once(mnist_generator_dir, image_cache_dir):
    script = ("import sys, numpy as np; from distilled_datasets import DistilledMNIST;"
              "ds = DistilledMNIST(ipc=32, seed=1, repo_id=sys.argv[1]); ds.materialize(threads=1);"
              "np.save(sys.argv[2], ds.data.numpy())")
    env = {**os.environ, "DISTILLED_DATASETS_CACHE": str(image_cache_dir), "OMP_NUM_THREADS": "1"}
    outs = [image_cache_dir.parent / f"out{i}.npy" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", script, str(mnist_generator_dir), str(out)], env=env)
             for out in outs]
    assert all(p.wait() == 0 for p in procs)
    arrays = [np.load(out) for out in outs]
    assert all(np.array_equal(arrays[0], a) for a in arrays[1:])
    assert len(entries(image_cache_dir)) == 20 and not list(image_cache_dir.rglob(".*tmp*"))
    assert np.array_equal(DistilledMNIST(ipc=32, seed=1, repo_id=mnist_generator_dir, cache=False).data, arrays[0])


def test_cache_keys_on_the_weights_that_were_loaded_not_on_a_later_read(make_generator_dir, tmp_path):
    """Regression: the key was hashed from the weights file at the first item; weights replaced in
    between filed images of the old weights under the new weights' key, served to later processes."""
    import shutil

    first, second = make_generator_dir("mnist", weights_seed=0), make_generator_dir("mnist", weights_seed=1)
    ds = DistilledMNIST(tmp_path / "root", ipc=2, repo_id=first)
    shutil.copyfile(second / "model.safetensors", first / "model.safetensors")  # replaced after loading
    old_images = ds.data  # synthesized by the weights that were loaded, cached under their key
    fresh = DistilledMNIST(tmp_path / "root", ipc=2, repo_id=first)  # loads the new weights
    assert torch.equal(fresh.data, DistilledMNIST(ipc=2, repo_id=second, cache=False).data)
    assert not torch.equal(fresh.data, old_images)


def test_cache_keys_on_the_sampling_config_too(make_generator_dir, tmp_path):
    # Same weights, other sampling: the weights' hash alone cannot tell the two folders apart.
    from distilled_datasets import SamplingConfig

    plain = make_generator_dir("mnist", sampling=SamplingConfig(chunk_size=4))
    truncated = make_generator_dir("mnist", sampling=SamplingConfig(chunk_size=4, noise_scale=0.5))
    regrouped = make_generator_dir("mnist", sampling=SamplingConfig(chunk_size=2))
    assert (plain / "model.safetensors").read_bytes() == (truncated / "model.safetensors").read_bytes()
    first = DistilledMNIST(tmp_path / "root", ipc=4, repo_id=plain).data
    for other in (truncated, regrouped):
        cached = DistilledMNIST(tmp_path / "root", ipc=4, repo_id=other).data
        assert torch.equal(cached, DistilledMNIST(ipc=4, repo_id=other, cache=False).data)
        assert not torch.equal(cached, first)


def test_a_worker_refuses_weights_that_changed_after_the_dataset_was_made(make_generator_dir, tmp_path):
    import pickle
    import shutil

    from distilled_datasets import InvalidGeneratorError

    first, second = make_generator_dir("mnist", weights_seed=0), make_generator_dir("mnist", weights_seed=1)
    ds = DistilledMNIST(ipc=2, repo_id=first, cache=False)
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned worker gets: no weights, only their digest
    shutil.copyfile(second / "model.safetensors", first / "model.safetensors")
    with pytest.raises(InvalidGeneratorError, match="changed after this dataset was created"):
        clone[0]
