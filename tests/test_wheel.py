"""What `pip install .` gives a user: the wheel is built, installed in a fresh virtual environment,
and used from there (every module imported, every command's --help, a tiny train, evaluate and
distill-wang). Nothing here runs against the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, cwd=out)
    (path,) = out.glob("distilled_datasets-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its bin folder.

    torch & co. are not downloaded again: a .pth file lets the new environment see this one's
    site-packages *after* its own, so ``distilled_datasets`` comes from the wheel."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    bin_dir = env / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "parent_site_packages.pth").write_text("\n".join(sorted(here)) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--ignore-installed", str(wheel)], check=True)  # the parent may hold the package too
    return bin_dir


def run(bin_dir: Path, *argv, cwd=None, env=None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    full_env.pop("PYTHONPATH", None)
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=full_env)
    assert result.returncode == 0, f"{argv}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_wheel_holds_the_package_only_and_stays_small(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    # Nothing called `training` (or tests, benchmarks) lands at the top of site-packages.
    tops = {name.split("/")[0] for name in names}
    assert all(t == "distilled_datasets" or t.endswith(".dist-info") for t in tops), tops
    # Every source file of the three installed folders ships, found rather than listed.
    for folder, prefix in (("distilled_datasets", "distilled_datasets"), ("training", "distilled_datasets/training"),
                           ("hub_cards", "distilled_datasets/hub_cards")):
        for path in (REPO / folder).rglob("*.py"):
            assert f"{prefix}/{path.relative_to(REPO / folder).as_posix()}" in names, path
    assert "distilled_datasets/hub_cards/generator.md" in names
    # Every default generator that ships in the tree ships in the wheel, complete.
    for folder in (REPO / "distilled_datasets" / "defaults").iterdir():
        for name in ("config.json", "model.safetensors", "README.md", "samples.png"):
            assert f"distilled_datasets/defaults/{folder.name}/{name}" in names
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, wheel.stat().st_size


def test_every_module_imports_from_the_installed_wheel(wheel, installed):
    modules = sorted(name[:-3].replace("/", ".").removesuffix(".__init__")
                     for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py"))
    script = ("import importlib, json, sys\n"
              f"modules = {modules!r}\n"
              "files = {m: importlib.import_module(m).__file__ for m in modules}\n"
              "print(json.dumps(files))\n")
    files = json.loads(run(installed, installed / "python", "-c", script, cwd=installed).stdout)
    assert len(files) == len(modules) > 40
    assert all(path.startswith(str(installed.parent)) for path in files.values()), files  # not the source tree


def test_every_command_answers_help(installed):
    script = ("from distilled_datasets.cli import build_parser\n"
              "parser = build_parser()\n"
              "print(' '.join(parser._subparsers._group_actions[0].choices))\n")
    commands = run(installed, installed / "python", "-c", script, cwd=installed).stdout.split()
    assert {"preview", "export", "info", "train", "evaluate", "select", "publish", "merge-evaluations",
            "distill-wang", "wang-pretrain"} <= set(commands)
    assert "usage: distilled-datasets" in run(installed, installed / "distilled-datasets", "--help").stdout
    for command in commands:
        assert f"usage: distilled-datasets {command}" in run(installed, installed / "distilled-datasets", command,
                                                              "--help").stdout


def test_the_readme_quick_start_command_draws_the_default_set(installed, tmp_path):
    # README's first command, after `pip install .`: the default MNIST generator's IPC-10 set, row c = class c.
    from PIL import Image

    from distilled_datasets import DistilledMNIST
    from distilled_datasets.preview import PADDING

    run(installed, installed / "distilled-datasets", "preview", "mnist", "--ipc", "10", "--out", "mnist_ipc10.png",
        cwd=tmp_path)
    grid = np.asarray(Image.open(tmp_path / "mnist_ipc10.png").convert("L"))
    side = 10 * 28 + 11 * PADDING
    assert grid.shape == (side, side)
    expected = DistilledMNIST(ipc=10, cache=False).data.numpy()  # item k * 10 + c: sample k of class c
    for c, k in ((0, 0), (3, 7), (9, 9)):
        top, left = PADDING + c * (28 + PADDING), PADDING + k * (28 + PADDING)
        np.testing.assert_array_equal(grid[top:top + 28, left:left + 28], expected[k * 10 + c])


def test_tiny_train_evaluate_and_distill_wang_from_the_install(installed, tmp_path, make_mnist_root):
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10), 4)
    splits = {split: (rng.integers(0, 256, size=(len(labels), 28, 28)), labels) for split in ("train", "t10k")}
    make_mnist_root(tmp_path / "data", splits=splits)
    env = {"DISTILLED_DATASETS_DATA": str(tmp_path / "data")}  # every command finds the data through it
    cli = installed / "distilled-datasets"
    run(installed, cli, "train", "--dataset", "mnist", "--out", tmp_path / "run", "--stage", "both",
        "--stage1-steps", "2", "--stage2-steps", "2", "--stage1-batch-size", "8", "--stage2-batch-size", "8",
        "--stage2-pool", "convnet3", "--stage1-d-width", "8", "--width", "4", "--device", "cpu",
        "--checkpoint-every", "2", "--sample-every", "2", "--log-every", "1", env=env, cwd=tmp_path)
    written = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "samples.png"} <= written
    run(installed, cli, "evaluate", "--dataset", "mnist", "--source", tmp_path / "run", "--ipc", "1", "--runs", "1",
        "--epochs", "1", "--device", "cpu", "--no-progress", "--out", tmp_path / "eval.json", env=env, cwd=tmp_path)
    record = json.loads((tmp_path / "eval.json").read_text())
    assert record["complete"] and record["test_split"]["root"] == str(tmp_path / "data")
    run(installed, cli, "distill-wang", "--dataset", "mnist", "--iterations", "2", "--batch-size", "8",
        "--out", tmp_path / "wang", "--device", "cpu", env=env, cwd=tmp_path)
    run(installed, cli, "preview", "mnist", "--repo-id", tmp_path / "wang", "--out", tmp_path / "wang.png",
        env=env, cwd=tmp_path)
    assert (tmp_path / "wang.png").is_file()
