"""The wheel installs what DESIGN.md's layout promises, and stays small."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 30 * 1024 * 1024


def test_wheel_maps_training_and_cards_into_the_package_and_stays_small(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("distilled_datasets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("distilled_datasets/__init__.py", "distilled_datasets/training/__init__.py",
                     "distilled_datasets/training/generative.py", "distilled_datasets/hub_cards/generator.md"):
        assert required in names, required
    # Nothing called `training` (or tests, benchmarks) lands at the top of site-packages.
    tops = {name.split("/")[0] for name in names}
    assert all(t == "distilled_datasets" or t.endswith(".dist-info") for t in tops), tops
    # Every default generator that ships in the tree ships in the wheel, complete.
    defaults = REPO / "distilled_datasets" / "defaults"
    for folder in defaults.iterdir() if defaults.is_dir() else []:
        if folder.is_dir():
            for name in ("config.json", "model.safetensors", "README.md"):
                assert f"distilled_datasets/defaults/{folder.name}/{name}" in names
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, wheel.stat().st_size
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "distilled-datasets = distilled_datasets.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
