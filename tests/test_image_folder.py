"""Your own classes: an ImageFolder of images trains a generator that loads as DistilledImageFolder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torchvision
from PIL import Image

from distilled_datasets import DistilledImageFolder, GeneratorNotFoundError
from distilled_datasets.cli import main as cli_main
from distilled_datasets.training.common.image_folder import register_image_folder

CLASSES = ["circle", "cross", "square"]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("test", 3)):
        for c, name in enumerate(CLASSES):
            (tmp_path / "shapes" / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 60, size=(20, 24, 3), dtype=np.uint8)
                pixels[:, :, c] += 150  # each class its own colour; not square, to be cropped
                Image.fromarray(pixels).save(tmp_path / "shapes" / split / name / f"{i}.png")
    return tmp_path / "shapes"


def test_facts_are_measured_from_the_folder(folder):
    info = register_image_folder(folder, image_size=16)
    assert info.name == "imagefolder:shapes" and info.classes == tuple(CLASSES)
    assert (info.channels, info.image_size) == (3, 16) and len(info.mean) == 3
    assert info.mean[0] > 0.2 and info.mean[2] > 0.2  # the red and blue classes' colour shows
    assert register_image_folder(folder, image_size=16) == info  # the same facts again: fine
    with pytest.raises(ValueError, match="multiple of 4") as given:
        register_image_folder(folder, image_size=18)
    assert "--image-size" not in str(given.value)  # the user chose it
    odd = folder.parent / "odd"
    for name in CLASSES:
        (odd / "train" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((18, 22, 3), np.uint8)).save(odd / "train" / name / "0.png")
    with pytest.raises(ValueError, match="got 18 \\(the shorter side of the first image; pass --image-size"):
        register_image_folder(odd)


def test_train_publish_and_load_your_own_classes(folder, tmp_path, capsys, front_matter):
    out = tmp_path / "run"
    code = cli_main(["train", "--dataset", "imagefolder", "--data-root", str(folder), "--image-size", "16",
                     "--out", str(out), "--stage", "both", "--architecture", "small", "--width", "4", "--noise-dim",
                     "8", "--stage1-steps", "2", "--stage2-steps", "1", "--stage1-batch-size", "6",
                     "--stage2-batch-size", "6", "--stage1-d-width", "4", "--stage2-pool", "convnet3", "--device",
                     "cpu", "--checkpoint-every", "1", "--sample-every", "1000"])
    assert code == 0, capsys.readouterr().err
    ds = DistilledImageFolder(repo_id=out, ipc=2)
    assert ds.classes == CLASSES and len(ds) == 6 and ds.class_to_idx == {"circle": 0, "cross": 1, "square": 2}
    image, label = ds[4]
    assert image.mode == "RGB" and image.size == (16, 16) and label == 1
    assert ds.targets == [0, 1, 2, 0, 1, 2]
    assert cli_main(["publish", str(out), "--out", str(tmp_path / "published")]) == 0
    card = (tmp_path / "published" / "README.md").read_text()
    assert "DistilledImageFolder" in card and "shapes" in card
    for written in (card, (out / "README.md").read_text()):  # no Hub dataset to name, no ':' in a tag
        assert "datasets" not in front_matter(written) and "imagefolder" in front_matter(written)["tags"]
    assert DistilledImageFolder(repo_id=tmp_path / "published", ipc=1)[2][1] == 2
    with pytest.raises(GeneratorNotFoundError, match="needs repo_id"):
        DistilledImageFolder()
    # The runtime commands take it as DATASET imagefolder, with the generator given by --repo-id.
    capsys.readouterr()
    assert cli_main(["info", "imagefolder", "--repo-id", str(out)]) == 0
    assert "circle" in capsys.readouterr().out
    assert cli_main(["preview", "imagefolder", "--repo-id", str(out), "--ipc", "2", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size == (2 * 18 + 2, 3 * 18 + 2)  # 2 columns, 3 rows of 16 + padding
    assert cli_main(["export", "imagefolder", "--repo-id", str(out), "--ipc", "2", "--out", str(tmp_path / "x")]) == 0
    exported = torchvision.datasets.ImageFolder(str(tmp_path / "x"))
    assert [label for _, label in exported.samples] == [0, 0, 1, 1, 2, 2]
    assert np.array_equal(np.asarray(exported[2][0]), np.asarray(ds[1][0]))  # class 1's first image
    capsys.readouterr()
    assert cli_main(["preview", "imagefolder", "--out", str(tmp_path / "h.png")]) == 2
    assert "--repo-id" in capsys.readouterr().err


def test_size_and_channels_belong_to_image_folders(tmp_path, capsys):
    code = cli_main(["train", "--dataset", "mnist", "--image-size", "16", "--out", str(tmp_path / "x"),
                     "--device", "cpu", "--data-root", str(tmp_path)])
    assert code == 2 and "--dataset imagefolder only" in capsys.readouterr().err


def test_a_dataset_reads_its_config_once_and_loads_its_generator_once(folder, tmp_path, monkeypatch, capsys):
    import distilled_datasets.config as config_module
    import distilled_datasets.generator as generator_module

    out = tmp_path / "run"
    assert cli_main(["train", "--dataset", "imagefolder", "--data-root", str(folder), "--image-size", "16",
                     "--out", str(out), "--stage", "1", "--architecture", "small", "--width", "4", "--noise-dim",
                     "8", "--stage1-steps", "1", "--stage1-batch-size", "6", "--stage1-d-width", "4", "--device",
                     "cpu", "--sample-every", "1000"]) == 0, capsys.readouterr().err
    parsed, loaded = [], []
    real_parse, real_load = config_module.parse_bounded_json, generator_module.read_weights
    monkeypatch.setattr(config_module, "parse_bounded_json", lambda path: parsed.append(path) or real_parse(path))
    monkeypatch.setattr(generator_module, "read_weights", lambda *a, **k: loaded.append(a[0]) or real_load(*a, **k))
    ds = DistilledImageFolder(repo_id=out, ipc=1, cache=False)
    assert len(parsed) == 1 and len(loaded) == 1 and ds.classes == CLASSES


def test_a_resume_on_another_image_folder_is_refused(folder, tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--dataset", "imagefolder", "--image-size", "16", "--out", str(out), "--architecture", "small",
             "--width", "4", "--noise-dim", "8", "--stage", "1", "--stage1-batch-size", "6", "--stage1-d-width", "4",
             "--device", "cpu", "--checkpoint-every", "1", "--sample-every", "1000"]
    assert cli_main(["train", *flags, "--data-root", str(folder), "--stage1-steps", "1"]) == 0
    other = tmp_path / "other"  # the same images under other class names: nothing else would notice
    for name, source in zip(("car", "plane", "ship"), CLASSES):
        shutil.copytree(folder / "train" / source, other / "train" / name)
    capsys.readouterr()
    code = cli_main(["train", "--resume", "--out", str(out), "--data-root", str(other), "--stage1-steps", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "holds other data than that run was trained on" in err and "'car'" in err
    assert json.loads((out / "train_config.json").read_text())["stage1"]["steps"] == 1  # nothing rewritten


def test_your_own_classes_through_latents_evaluation_and_a_card(folder, tmp_path, capsys):
    run, latents = tmp_path / "run", tmp_path / "latents"
    assert cli_main(["train", "--dataset", "imagefolder", "--data-root", str(folder), "--image-size", "16",
                     "--out", str(run), "--stage", "1", "--architecture", "small", "--width", "4", "--noise-dim", "8",
                     "--stage1-steps", "2", "--stage1-batch-size", "6", "--stage1-d-width", "4", "--device", "cpu",
                     "--sample-every", "1000"]) == 0
    assert cli_main(["distill-latents", "--generator", str(run), "--dataset", "imagefolder", "--data-root",
                     str(folder), "--out", str(latents), "--latents", "2", "--prefixes", "1", "2", "--iterations", "2",
                     "--real-per-class", "4", "--device", "cpu"]) == 0
    ds = DistilledImageFolder(repo_id=latents, ipc=2)
    assert ds.classes == CLASSES and ds.generator.sampling.latents == 2
    record_path = tmp_path / "r.json"
    assert cli_main(["evaluate", "--dataset", "imagefolder", "--source", str(latents), "--data-root", str(folder),
                     "--ipc", "2", "--epochs", "1", "--runs", "1", "--device", "cpu", "--no-progress",
                     "--out", str(record_path)]) == 0
    record = json.loads(record_path.read_text())
    assert record["dataset"] == "imagefolder:shapes" and record["test_split"]["images"] == 3 * len(CLASSES)
    # Real images alone read the folder at its first image's size (20 here, not the generator's 16), in the
    # same process as the generator's evaluation.
    assert cli_main(["evaluate", "--dataset", "imagefolder", "--source", "random-real", "--data-root", str(folder),
                     "--ipc", "1", "--epochs", "1", "--runs", "1", "--device", "cpu", "--no-progress",
                     "--out", str(tmp_path / "real.json")]) == 0
    assert json.loads((tmp_path / "real.json").read_text())["dataset"] == "imagefolder:shapes"
    assert cli_main(["publish", str(latents), "--out", str(tmp_path / "pub"), "--results", str(record_path)]) == 0
    assert "imagefolder:shapes" not in (tmp_path / "pub" / "README.md").read_text().split("---")[1]
    # Another folder's classes are refused by name, before any work.
    other = tmp_path / "other"
    for name, source in zip(("car", "plane", "ship"), CLASSES):
        shutil.copytree(folder / "train" / source, other / "train" / name)
    capsys.readouterr()
    assert cli_main(["distill-latents", "--generator", str(run), "--dataset", "imagefolder", "--data-root", str(other),
                     "--out", str(tmp_path / "x"), "--device", "cpu"]) == 2
    assert "holds the classes ['car', 'plane', 'ship']" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert cli_main(["evaluate", "--dataset", "imagefolder", "--data-root", str(folder), "--ipc", "1"]) == 2
    assert "pass the run folder or Hub id" in capsys.readouterr().err
