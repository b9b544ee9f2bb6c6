"""The generators shipped inside the package: they load offline with repo_id=None and follow the
published format (quality is measured in benchmarks/, not here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import distilled_datasets
from distilled_datasets import DistilledCIFAR10, DistilledFashionMNIST, DistilledMNIST

DEFAULTS = Path(distilled_datasets.__file__).parent / "defaults"


@pytest.mark.parametrize("cls, mode, shape", [(DistilledMNIST, "L", (20, 28, 28)),
                                              (DistilledFashionMNIST, "L", (20, 28, 28)),
                                              (DistilledCIFAR10, "RGB", (20, 32, 32, 3))])
def test_default_generator_loads_offline_and_synthesizes(cls, mode, shape, go_offline, front_matter):
    go_offline()
    folder = DEFAULTS / cls.info.default_generator
    assert (folder / "config.json").is_file(), f"no default generator ships in {folder}"
    ds = cls(ipc=2, seed=0)
    assert ds.generator.metadata["dataset"] == cls.dataset_name
    image, label = ds[3]
    assert image.mode == mode and image.size == shape[1:3] and label == 3
    assert tuple(ds.data.shape) == shape
    if cls is DistilledCIFAR10:  # torchvision's CIFAR10 types: a numpy array and a list
        assert isinstance(ds.data, np.ndarray) and ds.data.dtype == np.uint8 and isinstance(ds.targets, list)
    card = (folder / "README.md").read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["library_name"] == "distilled-datasets"
    config = json.loads((folder / "config.json").read_text())
    assert config.get("package_default") is True
    assert (folder / "samples.png").is_file()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_hub_cards_are_the_shipped_generators_cards(name):
    # hub_cards/<name>.md is a copy of what `distilled-datasets publish` wrote for the default.
    card = Path(__file__).resolve().parents[1] / "hub_cards" / f"{name}.md"
    assert card.read_text(encoding="utf-8") == (DEFAULTS / name / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_each_defaults_notes_name_its_step_counts(name):
    # The notes read the step counts from the recipe, however deeply it nests ('?' marks one not found).
    notes = json.loads((DEFAULTS / name / "config.json").read_text())["notes"]
    assert "?" not in notes and re.search(r"\(\d+ stage-1 and \d+ stage-2 steps\)", notes)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_each_defaults_recipe_names_no_path_of_the_machine_that_built_it(name):
    def strings(value):
        if isinstance(value, dict):
            return [s for item in value.values() for s in strings(item)]
        if isinstance(value, list):
            return [s for item in value for s in strings(item)]
        return [value] if isinstance(value, str) else []

    training = json.loads((DEFAULTS / name / "config.json").read_text())["training"]
    found = strings(training)
    assert any(s.startswith("runs/") for s in found)  # the runs it came from, relative to the repository
    assert not [s for s in found if s.startswith(("/", "local:/")) or "/work/" in s]


def test_the_cifar10_default_says_it_was_trained_on_a_jpeg_copy():
    config = json.loads((DEFAULTS / "cifar10" / "config.json").read_text())
    data = config["training"]["latents"]["data"]
    assert data["read_as"] == "image folder" and data["lossy_copy"] and data["file_types"] == [".jpg"]
    assert "JPEG copy" in (DEFAULTS / "cifar10" / "README.md").read_text()
    assert config["sampling"]["layout"] == "class_rows"


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_seed_0_of_each_default_still_gives_the_images_of_its_samples_png(name):
    # samples.png was drawn when the default was made: a change to synthesis that moves any byte of
    # the shipped set shows here.
    from PIL import Image

    from distilled_datasets import Generator
    from distilled_datasets.preview import generator_grid

    grid = generator_grid(Generator.from_pretrained(DEFAULTS / name))
    stored = Image.open(DEFAULTS / name / "samples.png")
    assert np.array_equal(np.asarray(grid), np.asarray(stored.convert(grid.mode)))


@pytest.mark.parametrize("cls", [DistilledMNIST, DistilledFashionMNIST, DistilledCIFAR10])
def test_each_default_ships_five_learned_sets_that_differ(cls, go_offline):
    # The seeds issue's promise: seeds 0-4 are distinct learned sets on every shipped dataset.
    go_offline()
    sets = [cls(ipc=2, seed=seed, cache=False) for seed in range(5)]
    assert sets[0].generator.sampling.latent_sets >= 5
    data = [np.asarray(ds.data) for ds in sets]
    for a in range(5):
        for b in range(a + 1, 5):
            assert not np.array_equal(data[a], data[b]), f"seeds {a} and {b} give the same images"
