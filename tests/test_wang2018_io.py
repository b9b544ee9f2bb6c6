"""Wang et al. 2018 results: saved as a "distilled-datasets/images" folder, loaded by the runtime."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from distilled_datasets import DistilledCIFAR10, DistilledFashionMNIST, DistilledMNIST, Generator
from distilled_datasets.errors import InvalidGeneratorError
from distilled_datasets.training.common.model_zoo import build_model
from distilled_datasets.training.common.real_data import get_dataset_info
from distilled_datasets.training.wang2018.distill import DistillResult
from distilled_datasets.training.wang2018.distill_config import WangConfig
from distilled_datasets.training.wang2018.result_files import load_result, load_weights, save_result, save_weights
from distilled_datasets.training.wang2018.unroll import apply_schedule, balanced_labels, sample_init


def _result(dataset="mnist", model="lenet", mode="fixed", ipc=2, steps=2, epochs=3, seed=0) -> DistillResult:
    spec = get_dataset_info(dataset)
    cfg = WangConfig(dataset=dataset, model=model, mode=mode, images_per_class=ipc, steps=steps, epochs=epochs,
                     iterations=1)
    g = torch.Generator().manual_seed(seed)
    m = ipc * spec.num_classes
    images = torch.randn(m, spec.channels, spec.image_size, spec.image_size, generator=g) * 2  # some out of range
    init = None
    if mode == "fixed":
        init = sample_init(build_model(model, spec.channels, spec.num_classes, spec.image_size), 3)
    lrs = torch.rand(steps * epochs, generator=g) * 0.1 + 0.01
    labels = balanced_labels(m, spec.num_classes)
    return DistillResult(cfg, images, labels, lrs, init, [{"iteration": 1, "loss": 2.0}], 1.5)


def test_round_trip_through_the_runtime_dataset(tmp_path):
    result = _result()
    folder = save_result(result, tmp_path / "run", list(DistilledMNIST.classes), metrics={"test_accuracy": 12.5},
                         command="distilled-datasets distill-wang ...")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "samples.png"}
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "distilled-datasets/images" and config["steps"] == 2 and config["epochs"] == 3
    assert config["learning_rates"] == pytest.approx(result.lrs.tolist())

    ds = DistilledMNIST(repo_id=folder)
    assert len(ds) == 20 and ds.ipc == 2
    img, target = ds[13]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28) and target == 3
    assert ds.targets.tolist() == [i % 10 for i in range(20)]
    # Raw floats and the schedule come back exactly.
    assert torch.equal(ds.learned.images, result.images)
    learned = ds.learned  # the schedule: one attribute of the dataset
    assert learned.lr_schedule == pytest.approx(result.lrs.tolist()) and learned.epochs == 3 and learned.steps == 2
    assert learned.step_indices == [list(range(10)), list(range(10, 20))]
    init = learned.init_state_dict()
    assert set(init) == set(result.init) and all(torch.equal(init[k], result.init[k]) for k in init)
    # The PIL view: denormalise, clamp to [0, 1], quantise.
    expected = ((result.images[:, 0] * 0.3081 + 0.1307).clamp(0, 1) * 255).round().to(torch.uint8)
    assert torch.equal(ds.data, expected) and ds.data.shape == (20, 28, 28)
    assert np.array_equal(np.asarray(ds[5][0]), expected[5].numpy())
    # The schedule reproduces training with the stored init.
    steps = list(learned.schedule())
    assert len(steps) == 6 and steps[3][2] == pytest.approx(learned.lr_schedule[3])
    assert torch.equal(steps[1][0], result.images[10:20]) and steps[1][1].tolist() == list(range(10))
    model = build_model("lenet", 1, 10, 28)
    a = apply_schedule(model, init, learned.images, ds.targets, torch.tensor(learned.lr_schedule), learned.steps,
                       learned.epochs)
    b = apply_schedule(model, result.init, result.images, result.labels, result.lrs, 2, 3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "Learned images: 20" in repr(ds) and "2 step(s) x 3 epoch(s)" in repr(ds)
    clone = pickle.loads(pickle.dumps(ds))
    assert np.array_equal(np.asarray(clone[7][0]), np.asarray(ds[7][0]))
    assert load_result(folder).images_per_class == 2


def test_ipc_and_seed_rules(tmp_path):
    folder = save_result(_result(mode="random"), tmp_path / "run", list(DistilledMNIST.classes))
    assert len(DistilledMNIST(repo_id=folder, ipc=2)) == 20
    with pytest.raises(ValueError, match="exactly 2 image"):
        DistilledMNIST(repo_id=folder, ipc=1)
    with pytest.raises(ValueError, match="ipc=None"):
        DistilledMNIST(repo_id=folder, ipc=10)
    with pytest.raises(TypeError, match="ipc"):
        DistilledMNIST(repo_id=folder, ipc="2")
    a = DistilledMNIST(repo_id=folder, seed=0)
    with pytest.warns(UserWarning, match=r"seed=7\): .* holds one stored set .* every seed gives the same images"):
        b = DistilledMNIST(repo_id=folder, seed=7)
    assert torch.equal(a.data, b.data)  # one stored set: the seed has no effect, and it is said
    assert a.learned.init_state_dict() == {}  # random init: nothing stored
    a.materialize()  # nothing to synthesize; must not need a generator


def test_wrong_class_wrong_loader_and_tampering_are_refused(tmp_path, make_generator_dir):
    folder = save_result(_result(), tmp_path / "run", list(DistilledMNIST.classes))
    with pytest.raises(InvalidGeneratorError, match="mnist"):
        DistilledCIFAR10(repo_id=folder)
    with pytest.raises(InvalidGeneratorError, match="mnist"):
        DistilledFashionMNIST(repo_id=folder)
    with pytest.raises(InvalidGeneratorError, match="learned images"):
        Generator.from_pretrained(folder)
    with pytest.raises(InvalidGeneratorError, match="learned images"):
        DistilledMNIST(repo_id=folder).generator
    assert DistilledMNIST(repo_id=make_generator_dir("mnist"), ipc=1).learned is None  # a generator's set
    config = json.loads((folder / "config.json").read_text())
    config["steps"] = 3  # 20 images cannot form 3 balanced steps
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match="balanced steps"):
        DistilledMNIST(repo_id=folder)


@pytest.mark.parametrize("key, value, message", [
    ("normalization", {"mean": [0.1307], "std": ["a"]}, "normalization"),
    ("classes", 5, "classes"),
    ("training", "x", "training"),
    ("metrics", 5, "metrics must be an object"),
    ("metrics", {"test_accuracy": {"mean": 90.0, "std": "x"}}, "metrics must be an object"),
])
def test_a_hostile_images_config_is_refused_by_its_key(tmp_path, capsys, key, value, message):
    # Regressions: each of these ended in a traceback (info, preview, or the dataset's repr).
    from distilled_datasets.cli import main as cli_main

    folder = save_result(_result(), tmp_path / "run", list(DistilledMNIST.classes))
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match=message):
        DistilledMNIST(repo_id=folder)
    assert cli_main(["info", "mnist", "--repo-id", str(folder)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_complex_images_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = save_result(_result(), tmp_path / "run", list(DistilledMNIST.classes))
    tensors = load_file(folder / "model.safetensors")
    tensors["images"] = tensors["images"].to(torch.complex64)
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(InvalidGeneratorError, match="real floating-point"):
        DistilledMNIST(repo_id=folder)


def test_cifar10_round_trip_gives_rgb_items(tmp_path):
    result = _result("cifar10", "alexcifarnet", mode="random", ipc=1, steps=1, epochs=2)
    folder = save_result(result, tmp_path / "cifar", list(DistilledCIFAR10.classes))
    ds = DistilledCIFAR10(repo_id=folder)
    img, target = ds[4]
    assert img.mode == "RGB" and img.size == (32, 32) and target == 4
    assert ds.data.shape == (10, 32, 32, 3) and ds.data.dtype == np.uint8 and ds.targets == list(range(10))
    mean = torch.tensor(get_dataset_info("cifar10").mean).view(3, 1, 1)
    std = torch.tensor(get_dataset_info("cifar10").std).view(3, 1, 1)
    expected = ((result.images[4] * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    assert np.array_equal(np.asarray(img), expected.numpy())


def test_weights_files_and_init_from_a_result(tmp_path):
    model = build_model("lenet", 1, 10, 28)
    params = sample_init(model, 9)
    save_weights(params, tmp_path / "w.safetensors")
    loaded = load_weights(tmp_path / "w.safetensors")
    assert all(torch.equal(loaded[k], params[k]) for k in params)
    fixed = save_result(_result(), tmp_path / "fixed", list(DistilledMNIST.classes))
    assert set(load_weights(fixed)) == set(params)
    random = save_result(_result(mode="random"), tmp_path / "random", list(DistilledMNIST.classes))
    with pytest.raises(ValueError, match="stores no init"):
        load_weights(random)


def test_learned_images_run_through_the_evaluation_harness(tmp_path):
    from distilled_datasets.training.evaluation.harness import EvalConfig, evaluate

    result = _result(mode="random", ipc=1, steps=1, epochs=1)
    folder = save_result(result, tmp_path / "run", list(DistilledMNIST.classes))
    test = (torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8), torch.arange(20) % 10)
    cfg = EvalConfig(epochs=1, runs=2, threads=1, device="cpu", progress=False, augment=False)
    with pytest.warns(UserWarning, match="every seed gives the same images"):  # run 1 asks for seed 1
        record = evaluate(DistilledMNIST, ipc=1, config=cfg, dataset_kwargs={"repo_id": str(folder)}, test_data=test)
    assert record["complete"] and len(record["runs"]) == 2 and record["runs"][0]["training_images"] == 10
    assert record["source"]["learned_images"]["method"] == "wang2018" and len(record["source"]["weights_sha256"]) == 64


def test_a_failed_save_leaves_the_earlier_result_whole(tmp_path, monkeypatch):
    from distilled_datasets.training.wang2018 import result_files

    folder = save_result(_result(seed=0), tmp_path / "run", list(DistilledMNIST.classes))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(result):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result_files, "sample_grid", broken)  # after the weights, before the config
    with pytest.raises(OSError, match="could not write .*No space left on device"):
        save_result(_result(seed=1), folder, list(DistilledMNIST.classes))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left behind
