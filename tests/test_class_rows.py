"""The "class_rows" synthesis layout: chunk j of every class in one channels-last pass.

Faster than one pass per class chunk, and still deterministic: an image's bytes depend only on
(weights, seed, index), never on ipc, access order, threads, workers or the cache.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import transforms

from distilled_datasets import DistilledCIFAR10, DistilledMNIST, SamplingConfig
from distilled_datasets.errors import InvalidGeneratorError
from distilled_datasets.preview import dataset_grid, generator_grid

ROWS = SamplingConfig(chunk_size=4, layout="class_rows")


@pytest.fixture
def rows_dir(make_generator_dir):
    return make_generator_dir("mnist", sampling=ROWS)


def _bytes(ds, order):
    return {i: np.asarray(ds[i][0]).tobytes() for i in order}


def test_layout_travels_in_config_json_and_old_configs_keep_theirs(rows_dir, mnist_generator_dir):
    assert json.loads((rows_dir / "config.json").read_text())["sampling"]["layout"] == "class_rows"
    # The original layout is written as it always was (no key), so published files do not change.
    assert "layout" not in json.loads((mnist_generator_dir / "config.json").read_text())["sampling"]
    with pytest.raises(InvalidGeneratorError, match="layout must be one of"):
        SamplingConfig(layout="rows")


def test_bytes_do_not_depend_on_ipc_order_threads_or_cache(rows_dir, tmp_path):
    n = 9 * 10  # three chunks per class (4 + 4 + 1)
    forward = _bytes(DistilledMNIST(ipc=9, seed=1, repo_id=rows_dir, cache=False), range(n))
    order = np.random.default_rng(0).permutation(n).tolist()
    shuffled = _bytes(DistilledMNIST(ipc=9, seed=1, repo_id=rows_dir, cache=False), order)
    threaded = DistilledMNIST(ipc=9, seed=1, repo_id=rows_dir, cache=False)
    threaded.materialize(threads=3)
    cached = DistilledMNIST(tmp_path / "root", ipc=9, seed=1, repo_id=rows_dir)
    cached.materialize()
    again = DistilledMNIST(tmp_path / "root", ipc=9, seed=1, repo_id=rows_dir)  # read back from the cache
    assert forward == shuffled == _bytes(threaded, range(n)) == _bytes(cached, range(n)) == _bytes(again, range(n))
    larger = DistilledMNIST(ipc=30, seed=1, repo_id=rows_dir, cache=False)
    assert torch.equal(larger.data[:n], DistilledMNIST(ipc=9, seed=1, repo_id=rows_dir, cache=False).data)
    assert len(set(forward.values())) == n


def test_same_images_as_the_per_class_layout_up_to_rounding(make_generator_dir):
    per_class = DistilledMNIST(ipc=8, repo_id=make_generator_dir("mnist", sampling=SamplingConfig(chunk_size=1)))
    rows = DistilledMNIST(ipc=8, repo_id=make_generator_dir("mnist", sampling=ROWS))
    diff = (per_class.data.int() - rows.data.int()).abs()
    # Chunks of one image draw each sample's noise as class_rows does: only float rounding differs.
    assert int(diff.max()) <= 1 and int((diff > 0).sum()) < diff.numel() // 100


def test_one_pass_per_row(rows_dir, monkeypatch):
    import distilled_datasets.synthesis as synthesis

    batches = []
    real_forward = synthesis.Generator.forward

    def counting(self, noise, labels, channels_last=False):
        batches.append((noise.shape[0], channels_last))
        return real_forward(self, noise, labels, channels_last=channels_last)

    monkeypatch.setattr(synthesis.Generator, "forward", counting)
    ds = DistilledMNIST(ipc=9, repo_id=rows_dir, cache=False)
    ds[3]  # row 0
    assert batches == [(40, True)]
    ds.materialize()
    assert batches == [(40, True)] * 3  # rows 1 and 2, once each


def test_workers_and_grids_agree(rows_dir):
    ds = DistilledMNIST(ipc=5, seed=2, repo_id=rows_dir, transform=transforms.PILToTensor(), cache=False)
    alone = torch.cat([x for x, _ in DataLoader(ds, batch_size=7)])
    fresh = DistilledMNIST(ipc=5, seed=2, repo_id=rows_dir, transform=transforms.PILToTensor(), cache=False)
    workers = torch.cat([x for x, _ in DataLoader(fresh, batch_size=7, num_workers=2)])
    assert torch.equal(alone, workers)
    grid = DistilledMNIST(ipc=5, seed=2, repo_id=rows_dir, cache=False)
    assert np.array_equal(np.asarray(generator_grid(grid.generator, per_class=5, seed=2)),
                          np.asarray(dataset_grid(grid)))


def test_rgb_rows(make_generator_dir):
    ds = DistilledCIFAR10(ipc=6, repo_id=make_generator_dir("cifar10", sampling=ROWS), cache=False)
    assert ds.data.shape == (60, 32, 32, 3) and ds.data.dtype == np.uint8
    image, label = ds[17]
    assert image.mode == "RGB" and label == 7
