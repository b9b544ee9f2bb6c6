"""The `distilled-datasets` command line: preview, export, info, errors, entry point (tiny generators)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from torchvision.datasets import ImageFolder

from distilled_datasets import DistilledCIFAR10, DistilledFashionMNIST, DistilledMNIST, Generator, GeneratorConfig, cli
from distilled_datasets.cli import class_folder_names, main

DATASETS = {"mnist": (DistilledMNIST, 1, 28), "fashion_mnist": (DistilledFashionMNIST, 1, 28),
            "cifar10": (DistilledCIFAR10, 3, 32)}


def save_tiny_generator(folder: Path, dataset: str = "mnist", **metadata) -> Path:
    """A few-thousand-parameter generator for ``dataset``, saved like a training run would."""
    _, channels, size = DATASETS[dataset]
    config = GeneratorConfig(architecture="small", channels=channels, image_size=size,
                             arch_kwargs={"width": 4, "embed_dim": 4})
    torch.manual_seed(0)
    Generator(config, metadata={"dataset": dataset, **metadata}).save_pretrained(folder)
    return folder


@pytest.fixture
def mnist_gen(tmp_path):
    return str(save_tiny_generator(tmp_path / "gen_mnist"))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- preview -------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_preview_writes_grid_of_the_dataset_images(tmp_path, capsys, dataset):
    cls, channels, size = DATASETS[dataset]
    gen = save_tiny_generator(tmp_path / "gen", dataset)
    out = tmp_path / "sub" / "grid.png"
    code, stdout, _ = run(capsys, "preview", dataset, "--repo-id", gen, "--ipc", 3, "--seed", 5, "--out", out)
    assert code == 0 and str(out) in stdout
    grid = Image.open(out)
    assert grid.mode == ("RGB" if channels == 3 else "L")
    pad = 2  # preview's padding between cells
    assert grid.size == (3 * (size + pad) + pad, 10 * (size + pad) + pad)  # (width, height): 3 columns, 10 rows
    pixels = np.asarray(grid)
    ds = cls(ipc=3, seed=5, repo_id=gen)
    for c in range(10):
        for k in range(3):
            top, left = pad + c * (size + pad), pad + k * (size + pad)
            expected = np.asarray(ds[k * 10 + c][0])  # sample k of class c
            assert np.array_equal(pixels[top:top + size, left:left + size], expected)


# ---- export --------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["fashion_mnist", "cifar10"])
def test_export_imagefolder_round_trip(tmp_path, capsys, dataset):
    cls, channels, _ = DATASETS[dataset]
    gen = save_tiny_generator(tmp_path / "gen", dataset)
    out = tmp_path / "export"
    code, stdout, _ = run(capsys, "export", dataset.replace("_", "-"), "--repo-id", gen, "--ipc", 2, "--seed", 3,
                          "--out", out)
    assert code == 0 and "20 images" in stdout
    ds = cls(ipc=2, seed=3, repo_id=gen)
    data = np.asarray(ds.data)
    # torchvision's ImageFolder sorts folders by name: labels must still be the dataset's.
    folder = ImageFolder(str(out))
    assert len(folder) == len(ds) == 20
    assert folder.classes == class_folder_names(ds.classes)
    seen = set()
    for path, label in folder.samples:
        index = int(Path(path).stem)
        seen.add(index)
        assert label == ds.targets[index] == index % 10
        image = Image.open(path)
        assert image.mode == ("RGB" if channels == 3 else "L")
        assert np.array_equal(np.asarray(image), data[index])
    assert seen == set(range(20))
    meta = json.loads((out / "export.json").read_text())
    assert (meta["dataset"], meta["ipc"], meta["seed"], meta["num_images"]) == (dataset, 2, 3, 20)
    assert meta["source"] == ds.files.describe() and meta["classes"] == ds.classes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_class_folder_names_are_safe_and_sorted():
    for cls in (DistilledMNIST, DistilledFashionMNIST, DistilledCIFAR10):
        names = class_folder_names(cls.classes)
        assert sorted(names) == names and len(set(names)) == 10
        assert all("/" not in n and " " not in n for n in names)
    assert class_folder_names(DistilledMNIST.classes)[0] == "0_zero"
    assert class_folder_names(DistilledFashionMNIST.classes)[0] == "0_T_shirt_top"
    assert class_folder_names([f"c{i}" for i in range(12)])[:2] == ["00_c0", "01_c1"]


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_export_safetensors_round_trip(tmp_path, capsys, dataset):
    cls, _, _ = DATASETS[dataset]
    gen = save_tiny_generator(tmp_path / "gen", dataset)
    out = tmp_path / "set.safetensors"
    code, _, _ = run(capsys, "export", dataset, "--repo-id", gen, "--ipc", 3, "--seed", 1, "--format", "safetensors",
                     "--out", out)
    assert code == 0
    ds = cls(ipc=3, seed=1, repo_id=gen)
    tensors = load_file(str(out))
    assert set(tensors) == {"images", "labels"}
    assert tensors["images"].dtype == torch.uint8 and tensors["labels"].dtype == torch.int64
    assert torch.equal(tensors["images"], torch.as_tensor(ds.data))  # [N, H, W] or [N, H, W, C] like torchvision
    assert torch.equal(tensors["labels"], torch.as_tensor(ds.targets))
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
    assert (meta["dataset"], meta["ipc"], meta["seed"]) == (dataset, "3", "1")
    assert meta["source"] == ds.files.describe() and json.loads(meta["classes"]) == ds.classes


def test_export_refuses_to_overwrite(tmp_path, capsys, mnist_gen):
    out = tmp_path / "export"
    out.mkdir()  # an empty folder is fine
    assert run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--ipc", 1, "--out", out)[0] == 0
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--ipc", 2, "--out", out)
    assert code == 2 and "--overwrite" in err and err.count("\n") == 1 and len(ImageFolder(str(out))) == 10
    (out / "mine.txt").write_text("keep me")  # not an export any more: --overwrite never replaces it
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--ipc", 2, "--out", out, "--overwrite")
    assert code == 2 and "is not a distilled-datasets export" in err and (out / "mine.txt").read_text() == "keep me"
    (out / "mine.txt").unlink()
    code, _, _ = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--ipc", 2, "--out", out, "--overwrite")
    assert code == 0 and len(ImageFolder(str(out))) == 20
    # A file path for the folder layout, and an existing file for safetensors.
    (tmp_path / "data").write_bytes(b"x")
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--out", tmp_path / "data")
    assert code == 2 and "is a file, not a folder" in err
    target = tmp_path / "data.safetensors"
    target.write_bytes(b"x")
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--format", "safetensors", "--out", target)
    assert code == 2 and "--overwrite" in err and target.read_bytes() == b"x"
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--format", "safetensors", "--out", target,
                       "--overwrite")
    assert code == 2 and "is not a distilled-datasets export" in err and target.read_bytes() == b"x"
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--format", "safetensors", "--out",
                       out.with_suffix(".safetensors"))
    assert code == 0 and (out / "export.json").is_file()  # the folder beside it untouched
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--format", "safetensors", "--out",
                       out.with_suffix(".safetensors"))
    assert code == 2 and "--overwrite" in err
    target.unlink()
    assert run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--format", "safetensors", "--out", target)[0] == 0
    code, _, _ = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--ipc", 1, "--format", "safetensors",
                     "--out", target, "--overwrite")
    assert code == 0 and load_file(str(target))["images"].shape == (10, 28, 28)


def test_overwrite_never_replaces_the_users_own_images(tmp_path, capsys, mnist_gen):
    """Regression: export --out PHOTOS --overwrite deleted an ImageFolder dataset of the user's own PNGs
    (class folders of PNGs looked like an earlier export), and preview --overwrite replaced any PNG."""
    from PIL import Image

    photos = tmp_path / "photos"
    (photos / "cats").mkdir(parents=True)
    Image.new("L", (4, 4)).save(photos / "cats" / "tom.png")
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--ipc", 1, "--out", photos, "--overwrite")
    assert code == 2 and "is not a distilled-datasets export" in err and (photos / "cats" / "tom.png").is_file()
    (photos / "export.json").write_text('{"format": "something else"}')
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--ipc", 1, "--out", photos, "--overwrite")
    assert code == 2 and (photos / "cats" / "tom.png").is_file()
    mine = tmp_path / "mine.png"
    Image.new("L", (4, 4)).save(mine)
    code, _, err = run(capsys, "preview", "mnist", "--repo-id", mnist_gen, "--ipc", 1, "--out", mine, "--overwrite")
    assert code == 2 and "is not a distilled-datasets export or preview" in err and Image.open(mine).size == (4, 4)
    grid = tmp_path / "grid.png"
    assert run(capsys, "preview", "mnist", "--repo-id", mnist_gen, "--ipc", 1, "--out", grid)[0] == 0
    code, _, _ = run(capsys, "preview", "mnist", "--repo-id", mnist_gen, "--ipc", 2, "--out", grid, "--overwrite")
    assert code == 0 and Image.open(grid).size != Image.open(mine).size  # its own preview is replaced


@pytest.mark.parametrize("command", ["preview", "export"])
def test_an_output_name_the_system_refuses_is_one_error(tmp_path, capsys, mnist_gen, command):
    """Regression: a --out name longer than the file system allows gave an OSError traceback."""
    out = tmp_path / ("a" * 300 + (".png" if command == "preview" else ""))
    code, _, err = run(capsys, command, "mnist", "--repo-id", mnist_gen, "--ipc", 1, "--out", out)
    assert code == 2 and err.startswith("error: could not write") and err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["--format", "safetensors", "--out", "newdir/"], "--format safetensors writes one file"),
    (["--format", "safetensors", "--out", "set.png"], "give a file name ending in .safetensors"),
    (["--out", "set.safetensors"], "--format imagefolder writes a folder"),
])
def test_export_refuses_a_name_of_the_other_layout(tmp_path, capsys, mnist_gen, argv, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, *argv)
    assert code == 2 and message in err and [p.name for p in tmp_path.iterdir()] == ["gen_mnist"]


@pytest.mark.parametrize("fmt", ["imagefolder", "safetensors"])
def test_failed_export_leaves_nothing(tmp_path, capsys, monkeypatch, mnist_gen, fmt):
    out_parent = tmp_path / "outputs"
    out_parent.mkdir()
    old = out_parent / "old"
    old.mkdir()
    (old / "mine.txt").write_text("keep me")
    calls = {"n": 0}
    real_getitem = DistilledMNIST.__getitem__

    def failing_getitem(self, index):
        calls["n"] += 1
        if calls["n"] > 5:  # fail mid-way, after some files were written
            raise OSError("disk full (simulated)")
        return real_getitem(self, index)

    monkeypatch.setattr(DistilledMNIST, "__getitem__", failing_getitem)
    new = out_parent / ("new" if fmt == "imagefolder" else "new.safetensors")
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--format", fmt, "--out", new)
    assert code == 2 and "disk full" in err and "Traceback" not in err
    calls["n"] = 0
    target = old if fmt == "imagefolder" else new
    if fmt == "safetensors":
        target.write_bytes(b"previous")
    code, _, _ = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--format", fmt, "--out", target,
                     "--overwrite")
    assert code == 2
    assert (old / "mine.txt").read_text() == "keep me"  # the previous content is untouched
    expected = {"old"} | ({"new.safetensors"} if fmt == "safetensors" else set())
    assert {p.name for p in out_parent.iterdir()} == expected  # no half-written output, no temporaries
    if fmt == "safetensors":
        assert new.read_bytes() == b"previous"


# ---- info ----------------------------------------------------------------------------------

def test_info_text_and_json(tmp_path, capsys):
    training = {"stage1": {"epochs": 3, "lr": 0.0001}}
    metrics = [{"method": "global+local", "protocol": "fixed", "model": "convnet3", "ipc": 10, "mean": 97.25,
                "std": 0.5, "runs": 5}]
    gen = str(save_tiny_generator(tmp_path / "gen", training=training, metrics=metrics))
    num_parameters = Generator.from_pretrained(gen).num_parameters

    code, text, _ = run(capsys, "info", "mnist", "--repo-id", gen)
    assert code == 0
    assert "local folder" in text and gen in text and f"{num_parameters:,}" in text
    assert '"embed_dim": 4' in text and "chunk_size=16" in text and "stage1" in text and "97.25" in text

    code, out, _ = run(capsys, "info", "mnist", "--repo-id", gen, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["source"]["kind"] == "local" and info["source"]["location"] == gen
    assert info["source"]["revision"] is None
    assert info["generator"]["architecture"] == "small" and info["generator"]["arch_kwargs"]["width"] == 4
    assert info["num_parameters"] == num_parameters
    assert info["sampling"] == {"chunk_size": 16, "noise_scale": 1.0}
    assert info["training"] == training and info["metrics"] == metrics
    assert info["metadata"]["dataset"] == "mnist"


def test_info_without_training_record(capsys, mnist_gen):
    code, text, _ = run(capsys, "info", "mnist", "--repo-id", mnist_gen)
    assert code == 0 and "not recorded" in text and "not measured" in text
    info = json.loads(run(capsys, "info", "mnist", "--repo-id", mnist_gen, "--json")[1])
    assert info["training"] is None and info["metrics"] is None


# ---- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["info", "mnst"], "valid values: cifar10, fashion_mnist, mnist"),
    (["export", "mnist", "--ipc", "1.5", "--out", "x"], "--ipc: expected images per class, an integer from 1"),
    (["export", "mnist", "--ipc", "0", "--out", "x"], "--ipc: expected images per class, an integer from 1"),
    (["preview", "mnist", "--seed", str(2**63), "--out", "x.png"], f"expected an integer from 0 to {2**63 - 1},"),
    (["preview", "mnist", "--seed", "-1", "--out", "x.png"], f"expected an integer from 0 to {2**63 - 1},"),
    (["export", "mnist"], "--out"),
    (["export", "mnist", "--out", "x", "--format", "zip"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2(capsys, argv, fragment):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err


def test_library_errors_are_one_line(tmp_path, capsys, mnist_gen):
    cases = [
        (["preview", "mnist", "--repo-id", tmp_path / "gone", "--out", tmp_path / "a.png"], 2, "does not exist"),
        (["info", "mnist", "--repo-id", mnist_gen, "--revision", "v1"], 2, "revision"),
        (["info", "fashion_mnist", "--repo-id", mnist_gen], 2, "trained on 'mnist'"),
        (["info", "cifar10", "--repo-id", mnist_gen], 2, "needs"),
        (["info", "mnist", "--repo-id", tmp_path / "missing"], 2, "does not exist"),
        (["info", "mnist", "--revision", "main"], 2, "not to the generator shipped with the package"),
        (["preview", "mnist", "--out", tmp_path / "a.jpg"], 2, "give a file name ending in .png"),
        (["preview", "mnist", "--out", f"{tmp_path / 'a'}/"], 2, "preview writes one PNG file"),
    ]
    for argv, code, fragment in cases:
        result, out, err = run(capsys, *argv)
        assert (result, out) == (code, ""), argv
        assert err.startswith("error: ") and fragment in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.png").exists()


def test_verbose_logs_to_stderr(tmp_path, capsys, mnist_gen):
    code, _, err = run(capsys, "info", "mnist", "--repo-id", mnist_gen, "-v")
    assert code == 0 and "INFO" in err and "DistilledMNIST" in err


# ---- training commands hook, entry point ---------------------------------------------------

def test_training_commands_are_registered_lazily(monkeypatch, capsys, mnist_gen):
    calls = []
    module = types.ModuleType(cli.TRAINING_COMMANDS_MODULE)

    def register(subparsers, command):
        calls.append(command)  # the command asked for: registered in full, the others as stubs
        p = subparsers.add_parser("train", help="train a generator")
        p.add_argument("--steps", type=int, default=1)
        p.set_defaults(func=lambda args: calls.append(args.steps) or 0)

    module.register = register
    monkeypatch.setitem(sys.modules, cli.TRAINING_COMMANDS_MODULE, module)
    assert main(["train", "--steps", "7"]) == 0 and calls == ["train", 7]
    assert "train" in cli.build_parser().format_help()
    # A runtime command does not build the training parsers at all.
    module.register = lambda subparsers, command: pytest.fail("runtime commands must not import training commands")
    assert run(capsys, "info", "mnist", "--repo-id", mnist_gen)[0] == 0


def test_runtime_cli_works_without_training_commands(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, cli.TRAINING_COMMANDS_MODULE, None)  # import -> ModuleNotFoundError
    text = cli.build_parser().format_help()
    assert all(name in text for name in ("preview", "export", "info"))
    with pytest.raises(SystemExit) as exc:
        main(["train"])
    assert exc.value.code == 2


def test_module_entry_point_and_no_training_import(tmp_path, mnist_gen):
    # One fresh process (torch imports are slow): `python -m` works, and -X importtime lists every
    # module imported, to show that the runtime command never imports training code.
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "distilled_datasets.cli", "export", "mnist",
                           "--repo-id", mnist_gen, "--ipc", "1", "--out", str(tmp_path / "exp")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote 10 images" in done.stdout and len(ImageFolder(str(tmp_path / "exp"))) == 10
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "distilled_datasets.datasets" in imported  # the listing is real
    assert not [m for m in imported if m.startswith("distilled_datasets.training")]


def test_runtime_command_does_not_import_training(monkeypatch, capsys, mnist_gen):
    for name in [m for m in sys.modules if m.startswith("distilled_datasets.training")]:
        monkeypatch.delitem(sys.modules, name)
    assert run(capsys, "info", "mnist", "--repo-id", mnist_gen)[0] == 0
    assert not [m for m in sys.modules if m.startswith("distilled_datasets.training")]


def test_console_script_is_declared():
    scripts = {ep.name: ep for ep in metadata.entry_points(group="console_scripts")}
    assert scripts["distilled-datasets"].value == "distilled_datasets.cli:main"
    assert scripts["distilled-datasets"].load() is main


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "1", "--epochs", "1000000000000"],
     "at most 100000"),
    (["train", "--dataset", "mnist", "--stage1-steps", "99999999999"], "at most 1e\\+06"),
    (["distill-latents", "--generator", "x", "--iterations", "10000000000"], "at most 1e\\+06"),
    (["train", "--dataset", "mnist", "--stage2-lr-g", "1e300"], "at most 1e\\+09"),
    # The library's own bound on ipc, before any synthesis (it was 1000000 here, 100000 in the library).
    (["preview", "mnist", "--ipc", "200000"], "--ipc: expected images per class, an integer from 1 to 100000"),
    (["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "100001"], "from 1 to 100000"),
])
def test_numeric_flags_are_bounded(argv, message, capsys):
    """Regression: evaluate --epochs 1000000000000 ran until killed."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and re.search(message, capsys.readouterr().err)


def test_overwrite_never_replaces_the_input_or_a_run_folder(tmp_path, capsys, mnist_gen):
    """Regressions: export --out RUN --overwrite and select RUN --out RUN --overwrite replaced a training
    run folder; distill-latents --generator X --out X --overwrite deleted X and then failed."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(mnist_gen, run_dir)
    (run_dir / "train_config.json").write_text("{}")
    before = sorted(p.name for p in run_dir.iterdir())
    code, _, err = run(capsys, "export", "mnist", "--repo-id", run_dir, "--out", run_dir, "--overwrite")
    assert code == 2 and "this command's input" in err
    code, _, err = run(capsys, "export", "mnist", "--repo-id", mnist_gen, "--out", run_dir, "--overwrite")
    assert code == 2 and "training run folder" in err
    code, _, err = run(capsys, "select", run_dir, "--out", run_dir, "--dataset", "mnist", "--candidates", "1",
                       "--noise-scale", "0.5", "--overwrite")
    assert code == 2 and "this command's input" in err
    generator = tmp_path / "generator"
    shutil.copytree(mnist_gen, generator)
    inputs = sorted(p.name for p in generator.iterdir())
    code, _, err = run(capsys, "distill-latents", "--generator", generator, "--out", generator, "--dataset", "mnist",
                       "--overwrite", "--data-root", tmp_path / "nowhere")
    assert code == 2 and "this command's input" in err
    assert sorted(p.name for p in run_dir.iterdir()) == before and (generator / "model.safetensors").is_file()
    assert sorted(p.name for p in generator.iterdir()) == inputs  # not even the run lock's file


def test_a_bug_keeps_its_traceback(monkeypatch, capsys):
    # README: a user's mistake is one line and exit code 2; anything else is a bug and is not hidden.
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_info", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["info", "mnist"])
    assert "error:" not in capsys.readouterr().err


def test_a_commands_warning_is_one_line_naming_no_source(tmp_path, capsys):
    code, _, err = run(capsys, "preview", "mnist", "--ipc", 1, "--seed", 9, "--out", tmp_path / "past.png")
    assert code == 0
    assert err.startswith("warning: DistilledMNIST(seed=9): ") and "seed 9 gives seeded noise" in err
    assert "as every seed from 5 on" in err
    assert err.count("\n") == 1 and ".py" not in err


def test_the_repo_id_hint_only_where_the_command_has_the_flag(tmp_path, capsys):
    """Regression: distill-latents, select and publish, which name their generator otherwise, were told
    to pass --repo-id."""
    code, _, err = run(capsys, "preview", "imagefolder", "--out", tmp_path / "g.png")
    assert code == 2 and err.rstrip().endswith("(on the command line: --repo-id ORG/NAME or --repo-id PATH)")
    missing = tmp_path / "no-such-generator"
    for argv in (["distill-latents", "--generator", missing, "--out", tmp_path / "out"],
                 ["publish", missing, "--out", tmp_path / "pub"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "does not exist" in err and "--repo-id" not in err
