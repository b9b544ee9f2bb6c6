"""The generators shipped inside the package: they load offline with repo_id=None and follow the
published format (quality is measured in benchmarks/, not here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import distilled_datasets
from distilled_datasets import DistilledFashionMNIST, DistilledMNIST

DEFAULTS = Path(distilled_datasets.__file__).parent / "defaults"


@pytest.mark.parametrize("cls", [DistilledMNIST, DistilledFashionMNIST])
def test_default_generator_loads_offline_and_synthesizes(cls, go_offline, front_matter):
    go_offline()
    folder = DEFAULTS / cls.info.default_generator
    assert (folder / "config.json").is_file(), f"no default generator ships in {folder}"
    ds = cls(ipc=2, seed=0)
    assert ds.generator.metadata["dataset"] == cls.dataset_name
    image, label = ds[3]
    assert image.mode == "L" and image.size == (28, 28) and label == 3
    assert ds.data.shape == (20, 28, 28)
    card = (folder / "README.md").read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["library_name"] == "distilled-datasets"
    config = json.loads((folder / "config.json").read_text())
    assert config.get("package_default") is True
    assert (folder / "samples.png").is_file()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_hub_cards_are_the_shipped_generators_cards(name):
    # hub_cards/<name>.md is a copy of what `distilled-datasets publish` wrote for the default.
    card = Path(__file__).resolve().parents[1] / "hub_cards" / f"{name}.md"
    assert card.read_text(encoding="utf-8") == (DEFAULTS / name / "README.md").read_text(encoding="utf-8")
