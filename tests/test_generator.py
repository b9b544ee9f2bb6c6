"""Generator: save_pretrained / from_pretrained, strict loading, fp16, config validation, model card."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from distilled_datasets import (
    Generator,
    GeneratorConfig,
    InvalidGeneratorError,
    SamplingConfig,
    list_architectures,
    save_repository,
)
from distilled_datasets.synthesis import synthesize_chunk


def _outputs(generator, seed=0):
    noise = torch.randn(8, generator.config.noise_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return generator(noise, torch.arange(8) % generator.config.num_classes)


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_round_trip_gives_identical_outputs(tmp_path, make_generator, dataset):
    generator = make_generator(dataset, metadata={"training": {"epochs": 3}, "license": "mit"})
    folder = save_repository(generator, tmp_path / "gen")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "samples.png"]
    bare = generator.save_pretrained(tmp_path / "bare")  # the weights alone
    assert sorted(p.name for p in bare.iterdir()) == ["config.json", "model.safetensors"]
    loaded = Generator.from_pretrained(folder)
    assert not loaded.training and loaded.files.origin == "local"
    assert loaded.config == generator.config and loaded.sampling == generator.sampling
    assert loaded.metadata == generator.metadata
    assert loaded.config_dict() == generator.config_dict()
    reference, state = generator.net.state_dict(), loaded.net.state_dict()
    assert reference.keys() == state.keys()
    assert all(torch.equal(reference[k], state[k]) for k in reference)
    assert torch.equal(_outputs(loaded), _outputs(generator))
    assert np.array_equal(synthesize_chunk(loaded, 7, 3, 1), synthesize_chunk(generator, 7, 3, 1))
    config = json.loads((folder / "config.json").read_text())
    assert config["generator"]["architecture"] == "small" and config["dataset"] == dataset
    assert config["num_parameters"] == generator.num_parameters


def test_weights_are_safetensors_only(tmp_path, make_generator):
    folder = make_generator().save_pretrained(tmp_path / "gen")
    with open(folder / "model.safetensors", "rb") as f:
        header_size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_size))  # a safetensors file starts with its JSON header
    assert header["__metadata__"]["format"] == "distilled-datasets/generator"
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt")) and not list(folder.glob("*.pkl"))


def test_samples_png_is_one_row_per_class(tmp_path, make_generator):
    folder = save_repository(make_generator("cifar10"), tmp_path / "gen")
    grid = Image.open(folder / "samples.png")
    assert grid.mode == "RGB"
    assert grid.size == (10 * 34 + 2, 10 * 34 + 2)  # 10 samples x 10 classes of 32 px + 2 px padding
    no_samples = save_repository(make_generator("cifar10"), tmp_path / "bare", samples=False)
    assert not (no_samples / "samples.png").exists()
    assert "samples.png" not in (no_samples / "README.md").read_text()


def test_saving_does_not_switch_a_training_generator(tmp_path, make_generator):
    generator = make_generator().train()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    save_repository(generator, tmp_path / "gen")  # renders samples.png on the way
    assert generator.training and all(m.training for m in generator.modules())
    after = generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics untouched
    # The saved samples use the running statistics, like every later load.
    loaded = Generator.from_pretrained(tmp_path / "gen")
    assert np.array_equal(synthesize_chunk(loaded, 0, 0, 0), synthesize_chunk(generator, 0, 0, 0))


# ---- strict loading ---------------------------------------------------------------------------------


def _edit_weights(folder, edit):
    state = load_file(folder / "model.safetensors")
    edit(state)
    save_file(state, str(folder / "model.safetensors"))


@pytest.mark.parametrize("edit,expected", [
    (lambda s: s.update(extra=torch.zeros(3)), "unexpected keys ['extra']"),
    (lambda s: s.pop("to_image.bias"), "missing keys ['to_image.bias']"),
    (lambda s: s.update({"to_image.bias": torch.zeros(5)}), "to_image.bias has shape [5]"),
])
def test_keys_and_shapes_load_strictly(mnist_generator_dir, edit, expected):
    _edit_weights(mnist_generator_dir, edit)
    with pytest.raises(InvalidGeneratorError) as err:
        Generator.from_pretrained(mnist_generator_dir)
    message = str(err.value)
    assert expected in message and str(mnist_generator_dir / "model.safetensors") in message
    assert "config.json" in message


def test_truncated_weights_are_refused(mnist_generator_dir):
    path = mnist_generator_dir / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InvalidGeneratorError) as err:
        Generator.from_pretrained(mnist_generator_dir)
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    assert "save_pretrained" in str(err.value)  # the fix for a local folder


def test_half_precision_save_loads_as_float32(tmp_path, make_generator):
    generator = make_generator("cifar10")
    full = generator.save_pretrained(tmp_path / "full")
    half = generator.save_pretrained(tmp_path / "half", half=True)
    with safe_open(str(half / "model.safetensors"), "pt") as f:
        dtypes = {k: f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes["to_image.weight"] == torch.float16
    assert any(d == torch.int64 for d in dtypes.values())  # BatchNorm counters stay integers
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    loaded = Generator.from_pretrained(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert torch.allclose(_outputs(loaded), _outputs(generator), atol=2e-2)


# ---- config validation ------------------------------------------------------------------------------


def test_unknown_architecture_lists_the_valid_ones():
    with pytest.raises(InvalidGeneratorError) as err:
        GeneratorConfig(architecture="nope")
    assert "'nope'" in str(err.value) and all(name in str(err.value) for name in list_architectures())
    assert {"dim", "small"} <= set(list_architectures())


@pytest.mark.parametrize("field", ["noise_dim", "num_classes", "channels", "image_size"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "28", None])
def test_bad_ints_are_refused(field, value):
    with pytest.raises(InvalidGeneratorError, match=field):
        GeneratorConfig(**{field: value})


@pytest.mark.parametrize("arch_kwargs,expected", [
    ({"depth": 3}, "unknown keys ['depth']"),
    ({"width": 0}, "arch_kwargs['width'] must be an int in 1..4096"),
    ({"width": "4"}, "arch_kwargs['width'] must be an int in 1..4096"),
    ({"embed_dim": 2.5}, "arch_kwargs['embed_dim'] must be an int in 1..4096"),
    ({"width": 10**9}, "arch_kwargs['width'] must be an int in 1..4096"),  # bounded: never allocated
    ([4], "must be an object"),
])
def test_bad_arch_kwargs_are_refused(arch_kwargs, expected):
    with pytest.raises(InvalidGeneratorError) as err:
        GeneratorConfig(arch_kwargs=arch_kwargs)
    assert expected in str(err.value)


def test_arch_kwargs_take_registered_defaults():
    config = GeneratorConfig(architecture="small", arch_kwargs={"width": 8})
    assert config.arch_kwargs == {"width": 8, "embed_dim": 32}


def test_image_size_the_architecture_cannot_make():
    with pytest.raises(InvalidGeneratorError, match="multiple of 4"):
        Generator(GeneratorConfig(image_size=30, arch_kwargs={"width": 4, "embed_dim": 4}))


@pytest.mark.parametrize("kwargs", [{"chunk_size": 0}, {"chunk_size": 2.0}, {"noise_scale": 0},
                                    {"noise_scale": True}, {"noise_scale": "1"}])
def test_bad_sampling_is_refused(kwargs):
    with pytest.raises(InvalidGeneratorError, match=next(iter(kwargs))):
        SamplingConfig(**kwargs)


def _rewrite_config(folder, edit):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("edit,expected", [
    (lambda c: c["generator"].update(colour="red"), "unknown keys ['colour']"),
    (lambda c: c["generator"].update(architecture="gpt"), "unknown generator architecture 'gpt'"),
    (lambda c: c["generator"].update(noise_dim=0), "noise_dim must be an int in 1..4096"),
    (lambda c: c["generator"].update(image_size=10**6), "image_size must be an int in 1..1024"),
    (lambda c: c["sampling"].update(chunk_size=10**9), "chunk_size must be an int in 1..4096"),
    (lambda c: c["generator"]["arch_kwargs"].update(width=-4), "arch_kwargs['width']"),
    (lambda c: c.pop("generator"), "no 'generator' section"),
    (lambda c: c.update(generator=[1]), "'generator' section must be an object"),
    (lambda c: c.update(format="pytorch"), "has format 'pytorch'"),
    (lambda c: c.update(format_version=99), "upgrade distilled-datasets"),
    (lambda c: c.update(sampling={"chunk_size": 0}), "chunk_size"),
    (lambda c: c.update(sampling={"seed": 1}), "'sampling' section is invalid"),
])
def test_bad_config_json_is_refused_naming_the_file(mnist_generator_dir, edit, expected):
    _rewrite_config(mnist_generator_dir, edit)
    with pytest.raises(InvalidGeneratorError) as err:
        Generator.from_pretrained(mnist_generator_dir)
    assert expected in str(err.value) and str(mnist_generator_dir / "config.json") in str(err.value)


def test_config_that_is_not_json(mnist_generator_dir):
    (mnist_generator_dir / "config.json").write_text("{not json")
    with pytest.raises(InvalidGeneratorError, match="not valid JSON"):
        Generator.from_pretrained(mnist_generator_dir)


# ---- model card ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset,hub_dataset,cls", [
    ("mnist", "ylecun/mnist", "DistilledMNIST"),
    ("fashion_mnist", "zalando-datasets/fashion_mnist", "DistilledFashionMNIST"),
    ("cifar10", "uoft-cs/cifar10", "DistilledCIFAR10"),
])
def test_model_card_has_yaml_metadata(tmp_path, make_generator, front_matter, dataset, hub_dataset, cls):
    metrics = [{"method": "global+local", "protocol": "fixed", "model": "convnet3", "ipc": 10, "mean": 97.5,
                "std": 0.2, "runs": 5, "result": "benchmarks/results/x.json"}]
    generator = make_generator(dataset, metadata={"metrics": metrics, "training": {"epochs": 3}})
    folder = save_repository(generator, tmp_path / "gen", repo_id="org/distilled")
    card = (folder / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "distilled-datasets"
    assert meta["license"] == "mit"
    assert "dataset-distillation" in meta["tags"] and dataset in meta["tags"]
    assert meta["datasets"] == [hub_dataset]
    assert meta["metrics"] == ["accuracy"]
    assert f"from distilled_datasets import {cls}" in card and 'repo_id="org/distilled"' in card
    assert "97.50 +- 0.20" in card and "- `epochs`: 3\n" in card
    assert "![samples](samples.png)" in card


def test_the_smallest_image_size_loads(tmp_path):
    # Regression: the pass-size check ran the meta network in train mode; BatchNorm refused a 1 x 1 map.
    from distilled_datasets import Generator, GeneratorConfig

    Generator(GeneratorConfig("small", num_classes=3, channels=1, image_size=4, noise_dim=8)).save_pretrained(
        tmp_path / "g")
    assert Generator.from_pretrained(tmp_path / "g").config.image_size == 4


def test_a_generator_whose_passes_could_not_be_loaded_is_never_written(tmp_path, make_generator, monkeypatch):
    import dataclasses

    import distilled_datasets.generator as generator_module
    from distilled_datasets.errors import InvalidGeneratorError

    generator = make_generator()
    wide = generator.derive(dataclasses.replace(generator.sampling, chunk_size=64, layout="class_rows"))
    monkeypatch.setattr(generator_module, "MAX_PASS_ELEMENTS", 200_000)
    generator.save_pretrained(tmp_path / "fits")
    with pytest.raises(InvalidGeneratorError, match="more than this package computes at once"):
        wide.save_pretrained(tmp_path / "wide")
    assert not (tmp_path / "wide").exists()
