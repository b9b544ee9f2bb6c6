"""Every file path and module named in the README, the docs and the code's docstrings and comments
exists: a rename cannot leave a dangling name behind."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOP = ("distilled_datasets", "training", "benchmarks", "tests", "hub_cards", "docs")
# training/x.py is installed as distilled_datasets.training.x; both spellings name one file.
FILE = re.compile(r"(?<![\w./-])((?:%s)/[\w./-]*\w\.(?:py|md|json|png))" % "|".join(TOP))
MODULE = re.compile(r"(?<![\w.])(distilled_datasets(?:\.\w+)+)")


# Names a test makes up as data, not references to files.
EXAMPLES = {"benchmarks/results/x.json"}
# Where the wheel puts the folders that setup.py maps into the package.
INSTALLED = {"distilled_datasets/hub_cards/": "hub_cards/", "distilled_datasets/training/": "training/"}


def _texts():
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        yield path, path.read_text(encoding="utf-8")
    for top in ("distilled_datasets", "training", "benchmarks", "tests"):
        for path in sorted((REPO / top).rglob("*.py")):
            if path != Path(__file__).resolve():
                yield path, path.read_text(encoding="utf-8")


def _module_exists(name: str) -> bool:
    """A module, or an attribute of one (distilled_datasets.training.evaluation.harness.evaluate)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(found, attr):
                return False
            found = getattr(found, attr)
        return True
    return False


def test_named_files_and_modules_exist():
    missing = []
    for path, text in _texts():
        for match in FILE.findall(text):
            target = match.rstrip(".")
            if "*" in target or "{" in target or "<" in target or target in EXAMPLES:
                continue
            for installed, source in INSTALLED.items():
                target = target.replace(installed, source)
            if not (REPO / target).exists():
                missing.append(f"{path.relative_to(REPO)}: {target}")
        for match in MODULE.findall(text):
            if not _module_exists(match):
                missing.append(f"{path.relative_to(REPO)}: {match}")
    assert not missing, "\n".join(sorted(set(missing)))


@pytest.mark.parametrize("name, exists", [("distilled_datasets.training.evaluation.harness", True),
                                          ("distilled_datasets.training.evaluate", False),
                                          ("distilled_datasets.synthesis.chunk_noise", True)])
def test_the_check_itself(name, exists):
    assert _module_exists(name) == exists
