"""CIFAR-10 from an image-folder root (the unpacked JPEG copy's layout), under its own name and facts.

The folders here are tiny PNGs written in tmp_path (lossless, so pixels can be compared exactly);
the shared JPEG copy is never needed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from distilled_datasets.cli import main as cli_main
from distilled_datasets.training.common import real_data as data

CLASSES = data.get_dataset_info("cifar10").classes


def write_cifar10_folder(root, train_per_class: int = 3, test_per_class: int = 2, seed: int = 0):
    """ROOT/{train,test}/<class>/NNNN.png, 32x32 RGB; returns {split: (uint8 [N, 32, 32, 3], labels)}
    in the order an ImageFolder lists them (class by class, file names sorted)."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        images, labels = [], []
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for k in range(count):
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{k:04d}.png")
                images.append(pixels)
                labels.append(c)
        written[split] = (np.stack(images), labels)
    return written


def test_image_folder_root_reads_as_cifar10_with_its_facts(tmp_path):
    written = write_cifar10_folder(tmp_path)
    assert data.is_image_folder_root("cifar10", tmp_path)
    for split, train in (("train", True), ("test", False)):
        images, labels = data.load_tensors("cifar10", tmp_path, train=train)
        expected, expected_labels = written[split]
        assert images.shape == (len(expected_labels), 3, 32, 32) and labels.tolist() == expected_labels
        # Normalised with the registered CIFAR-10 constants, not statistics of the folder.
        pixels = (data.normalized_to_unit(images, "cifar10") * 255).round().to(torch.uint8)
        assert torch.equal(pixels, torch.from_numpy(expected).permute(0, 3, 1, 2))


def test_torchvision_files_win_over_a_train_folder(tmp_path, make_cifar10_root):
    write_cifar10_folder(tmp_path)
    make_cifar10_root(tmp_path, per_batch=2)
    assert not data.is_image_folder_root("cifar10", tmp_path)
    images, _ = data.load_tensors("cifar10", tmp_path, train=False)
    assert images.shape[0] == 2  # the torchvision test batch, not the 20 test PNGs


def test_a_folder_missing_a_class_is_not_taken_for_cifar10(tmp_path):
    write_cifar10_folder(tmp_path)
    for image in (tmp_path / "train" / "truck").iterdir():
        image.unlink()
    (tmp_path / "train" / "truck").rmdir()
    assert not data.is_image_folder_root("cifar10", tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match=r"train/<class>/"):
        data.load_tensors("cifar10", tmp_path)


def test_random_real_evaluation_and_training_read_the_folder(tmp_path, capsys):
    root = tmp_path / "cifar10-folder"
    write_cifar10_folder(root)
    out = tmp_path / "rr.json"
    code = cli_main(["evaluate", "--dataset", "cifar10", "--data-root", str(root), "--source", "random-real",
                     "--ipc", "2", "--runs", "1", "--epochs", "1", "--device", "cpu", "--out", str(out),
                     "--no-progress"])
    assert code == 0, capsys.readouterr().err
    record = json.loads(out.read_text())
    assert record["dataset"] == "cifar10" and record["runs"][0]["test_images"] == 20
    assert record["runs"][0]["training_images"] == 20

    run = tmp_path / "run"
    code = cli_main(["train", "--dataset", "cifar10", "--data-root", str(root), "--out", str(run), "--stage", "1",
                     "--architecture", "small", "--width", "4", "--noise-dim", "8", "--stage1-steps", "1",
                     "--stage1-batch-size", "4", "--stage1-d-width", "4", "--device", "cpu",
                     "--sample-every", "1000"])
    assert code == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "cifar10" and config["normalization"]["mean"] == list(data.get_dataset_info("cifar10").mean)


def test_records_say_when_the_pixels_are_a_lossy_copy(tmp_path):
    write_cifar10_folder(tmp_path / "png")
    assert data.describe_real_data("cifar10", tmp_path / "png") == {
        "dataset": "cifar10", "read_as": "image folder", "file_types": [".png"], "lossy_copy": False}
    jpeg = tmp_path / "jpeg"
    for c in CLASSES:
        (jpeg / "train" / c).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(jpeg / "train" / c / "0000.jpg", quality=75)
    record = data.describe_real_data("cifar10", jpeg)
    assert record["lossy_copy"] and "lossy (.jpg) copy of CIFAR-10" in record["note"]
    assert data.describe_real_data("cifar10", tmp_path / "nothing") == {"dataset": "cifar10",
                                                                        "read_as": "torchvision files"}


def test_every_run_is_also_tested_on_the_original_pixels_of_the_copy(tmp_path, capsys):
    """--original-test: each trained model on the original pixels of some test images and on their
    copies in the data root; the record says how much the copy moves its accuracy."""
    root = tmp_path / "copy"
    written = write_cifar10_folder(root)
    originals, labels = written["test"]
    names = np.array([f"test/{CLASSES[c]}/{k % 2:04d}.png" for k, c in enumerate(labels)])
    canonical = tmp_path / "canonical.npz"
    np.savez(canonical, test_prefix_images=originals, test_prefix_jpeg_paths=names,
             test_batch_labels=np.asarray(labels, dtype=np.uint8))
    out = tmp_path / "rr.json"
    code = cli_main(["evaluate", "--dataset", "cifar10", "--data-root", str(root), "--source", "random-real",
                     "--ipc", "1", "--runs", "2", "--epochs", "1", "--device", "cpu", "--out", str(out),
                     "--no-progress", "--original-test", str(canonical)])
    assert code == 0, capsys.readouterr().err
    record = json.loads(out.read_text())
    for run in record["runs"]:
        cost = run["original_test"]
        assert cost["images"] == 20 and 0 <= cost["original_correct"] <= 20
        # The folder's PNGs are lossless copies of these originals: the same model, the same answers.
        assert cost["original_correct"] == cost["copy_correct"]
    summary = record["original_test"]["summary"]
    assert summary["n"] == 2 and summary["gap_mean"] == 0.0
    assert record["protocol"]["reduced"] and "original_test" not in record["protocol"]


def test_the_copy_cost_compares_each_original_with_its_own_copy(tmp_path):
    # Copies that differ from their originals, and a "model" that answers right exactly on bright images:
    # the cost must come out as the count the test can work out by hand.
    from distilled_datasets.training.common.real_data import uint8_to_normalized
    from distilled_datasets.training.evaluation.copy_cost import load_copy_cost_set, measure, summarize

    root = tmp_path / "copy"
    originals, labels = write_cifar10_folder(root, test_per_class=2)["test"]
    originals = originals // 4  # dark: the copies in the folder are the brighter ones
    originals[[0, 7, 12]] = 255  # three originals white
    names = np.array([f"test/{CLASSES[c]}/{k % 2:04d}.png" for k, c in enumerate(labels)])
    canonical = tmp_path / "canonical.npz"
    np.savez(canonical, test_prefix_images=originals, test_prefix_jpeg_paths=names,
             test_batch_labels=np.asarray(labels, dtype=np.uint8))
    cost_set = load_copy_cost_set(str(canonical), str(root), "cifar10", torch.device("cpu"))
    assert torch.equal(cost_set.original, uint8_to_normalized(originals, "cifar10"))
    assert torch.equal(cost_set.labels, torch.as_tensor(labels))

    def bright_is_right(images, labels):  # images [n, 3, 32, 32] normalised
        return int((images.mean((1, 2, 3)) > 1.5).sum()), len(labels)

    run = measure(cost_set, bright_is_right)
    assert (run["original_correct"], run["copy_correct"], run["images"]) == (3, 0, 20)
    assert run["original_accuracy"] == 15.0 and run["copy_accuracy"] == 0.0
    other = measure(cost_set, lambda images, labels: (int((images.mean((1, 2, 3)) < -1.0).sum()), len(labels)))
    assert (other["original_correct"], other["copy_correct"]) == (17, 0)  # the dark originals only
    summary = summarize([{"original_test": run}, {"original_test": other}, {}])
    assert summary["n"] == 2 and summary["gap_mean"] == (15.0 + 85.0) / 2 and summary["gap_std"] == 35.0


def test_original_test_archives_are_arrays_only(tmp_path):
    from distilled_datasets.errors import DamagedFileError, UsageError
    from distilled_datasets.training.evaluation.copy_cost import load_copy_cost_set

    write_cifar10_folder(tmp_path / "copy")
    np.savez(tmp_path / "objects.npz", test_prefix_images=np.array([{"a": 1}], dtype=object),
             test_prefix_jpeg_paths=np.array(["x"]), test_batch_labels=np.zeros(1, np.uint8))
    with pytest.raises(DamagedFileError, match="not a readable array archive"):
        load_copy_cost_set(str(tmp_path / "objects.npz"), str(tmp_path / "copy"), "cifar10", torch.device("cpu"))
    np.savez(tmp_path / "escape.npz", test_prefix_images=np.zeros((1, 32, 32, 3), np.uint8),
             test_prefix_jpeg_paths=np.array(["../../etc/passwd"]), test_batch_labels=np.zeros(1, np.uint8))
    with pytest.raises(UsageError, match="inside the data root"):
        load_copy_cost_set(str(tmp_path / "escape.npz"), str(tmp_path / "copy"), "cifar10", torch.device("cpu"))


@pytest.mark.parametrize("damage, message", [
    ("labels out of range", "test_batch_labels must hold an integer class in 0..9"),
    ("labels as text", "test_batch_labels must hold an integer class"),
    ("labels too short", "test_batch_labels must hold an integer class"),
    ("a damaged copy", "is not a readable image"),
    ("a copy of another size", "is \\(16, 16, 3\\), its original \\(32, 32, 3\\)"),
])
def test_a_damaged_copy_cost_set_is_refused_naming_the_fault(tmp_path, damage, message):
    from distilled_datasets.errors import DistilledDatasetsError
    from distilled_datasets.training.evaluation.copy_cost import load_copy_cost_set

    root = tmp_path / "copy"
    originals, labels = write_cifar10_folder(root, test_per_class=2)["test"]
    names = np.array([f"test/{CLASSES[c]}/{k % 2:04d}.png" for k, c in enumerate(labels)])
    labels = np.asarray(labels, dtype=np.uint8)
    if damage == "labels out of range":
        labels[3] = 99
    elif damage == "labels as text":
        labels = np.array([str(v) for v in labels])
    elif damage == "labels too short":
        labels = labels[:5]
    elif damage == "a damaged copy":
        (root / names[4]).write_bytes(b"not a png")
    else:
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / names[4])
    canonical = tmp_path / "canonical.npz"
    np.savez(canonical, test_prefix_images=originals, test_prefix_jpeg_paths=names, test_batch_labels=labels)
    with pytest.raises(DistilledDatasetsError, match=message):
        load_copy_cost_set(str(canonical), str(root), "cifar10", torch.device("cpu"))


@pytest.mark.parametrize("damage, message", [
    ("a damaged image", "is not a readable image"),
    ("an empty class folder", "is not an image folder"),
    ("no class folders", "An image folder works too: ROOT/train/<class>/<image>"),  # not read as one at all
])
def test_a_damaged_image_folder_is_one_line_naming_it(tmp_path, capsys, damage, message):
    root = tmp_path / "copy"
    write_cifar10_folder(root)
    if damage == "a damaged image":
        (root / "train" / CLASSES[2] / "0001.png").write_bytes(b"\x89PNG truncated")
    elif damage == "an empty class folder":
        for image in (root / "train" / CLASSES[5]).iterdir():
            image.unlink()
    else:
        import shutil
        shutil.rmtree(root / "train")
        (root / "train").mkdir()
    code = cli_main(["evaluate", "--dataset", "cifar10", "--data-root", str(root), "--source", "random-real",
                     "--ipc", "1", "--runs", "1", "--epochs", "1", "--device", "cpu", "--no-progress",
                     "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
