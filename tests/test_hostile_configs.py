"""config.json and model.safetensors from a user or the Hub are data: every hostile or damaged file
ends in the package's own error (naming the file), never a crash, a hang or a huge allocation.
Property-based: random and adversarial inputs either load correctly or raise
DistilledDatasetsError."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from distilled_datasets import DistilledMNIST, Generator
from distilled_datasets.errors import DistilledDatasetsError, InvalidGeneratorError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _config(folder):
    """The folder's original config (kept aside on the first call: hypothesis examples share the folder)."""
    original = folder / "config.original.json"
    if not original.exists():
        original.write_bytes((folder / "config.json").read_bytes())
    return json.loads(original.read_text())


def _pristine_weights(folder):
    original = folder / "model.original.safetensors"
    if not original.exists():
        original.write_bytes((folder / "model.safetensors").read_bytes())
    (folder / "model.safetensors").write_bytes(original.read_bytes())


@pytest.mark.parametrize("text, message", [
    ('{"generator": {"noise_dim": ' + "9" * 5000 + "}}", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply|not valid JSON"),
    ('{"generator": {}, "x": NaN}', "not valid JSON"),
])
def test_hostile_json_is_refused_with_the_file_named(mnist_generator_dir, text, message):
    (mnist_generator_dir / "config.json").write_text(text)
    with pytest.raises(InvalidGeneratorError, match=message) as err:
        Generator.from_pretrained(mnist_generator_dir)
    assert "config.json" in str(err.value)


def test_non_utf8_and_oversized_configs_are_refused(mnist_generator_dir):
    path = mnist_generator_dir / "config.json"
    path.write_bytes(json.dumps(_config(mnist_generator_dir)).encode("utf-16"))
    with pytest.raises(InvalidGeneratorError, match="not UTF-8"):
        Generator.from_pretrained(mnist_generator_dir)
    path.write_text(json.dumps({"generator": {}, "padding": "x" * (2 << 20)}))
    with pytest.raises(InvalidGeneratorError, match="more than a config"):
        Generator.from_pretrained(mnist_generator_dir)


@pytest.mark.parametrize("key, value", [
    ("classes", 5), ("classes", [1, 2]), ("normalization", {"mean": None, "std": [0.3]}),
    ("normalization", {"mean": [0.1], "std": [0.0]}), ("dataset", ["mnist"]), ("metrics", {"a": 1}),
    ("training", "yes"), ("package_default", "true"), ("sampling", [1]),
    ("metrics", [{"a": 1}]), ("metrics", [{"mean": "x", "std": 1}]), ("metrics", [{"mean": 90.0, "std": "x"}]),
])
def test_wrong_types_are_refused_field_by_field(mnist_generator_dir, key, value):
    config = _config(mnist_generator_dir)
    config[key] = value
    (mnist_generator_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match=key):
        DistilledMNIST(repo_id=mnist_generator_dir)


# Any JSON value in any field of a valid config: loads (if it happens to be valid) or is refused.
json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                           | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=4), max_leaves=12)
FIELDS = [("generator", "noise_dim"), ("generator", "image_size"), ("generator", "architecture"),
          ("generator", "arch_kwargs"), ("sampling", "chunk_size"), ("sampling", "latents"), ("sampling", "layout"),
          ("sampling", "noise_scale"), ("sampling", "candidates"), ("sampling", "latent_sets"),
          ("sampling", "latent_layer"), (None, "classes"), (None, "normalization"),
          (None, "dataset"), (None, "sampling"), (None, "generator"), (None, "format_version")]


@FAST
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_random_config_values_load_or_raise_the_package_error(mnist_generator_dir, field, value):
    config = _config(mnist_generator_dir)
    section, key = field
    (config[section] if section else config)[key] = value
    (mnist_generator_dir / "config.json").write_text(json.dumps(config))
    try:
        DistilledMNIST(ipc=1, repo_id=mnist_generator_dir, cache=False)[0]
    except DistilledDatasetsError:
        pass


@FAST
@given(header=json_values, extra=st.binary(max_size=64))
def test_random_safetensors_headers_load_or_raise_the_package_error(mnist_generator_dir, header, extra):
    raw = json.dumps(header).encode()
    (mnist_generator_dir / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + extra)
    with pytest.raises(DistilledDatasetsError):
        Generator.from_pretrained(mnist_generator_dir)


@FAST
@given(data=st.data())
def test_headers_with_the_right_names_and_wrong_shapes_or_dtypes_are_refused(mnist_generator_dir, data):
    _pristine_weights(mnist_generator_dir)
    generator = Generator.from_pretrained(mnist_generator_dir)
    state = {k: v.clone() for k, v in generator.weights_state().items()}
    key = data.draw(st.sampled_from(sorted(state)))
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    dtype = data.draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]))
    state[key] = torch.zeros(shape, dtype=dtype)
    save_file(state, mnist_generator_dir / "model.safetensors")
    try:
        loaded = Generator.from_pretrained(mnist_generator_dir)
    except DistilledDatasetsError:
        return
    assert tuple(loaded.weights_state()[key].shape) == tuple(shape)  # only a shape that happens to be right loads


def test_learned_sets_too_large_to_count_in_64_bits_are_refused(mnist_generator_dir):
    # Each size is within its own limit; their product overflows int64 (torch cannot even size it).
    config = _config(mnist_generator_dir)
    config["generator"].update(num_classes=10000, image_size=1024, arch_kwargs={"width": 4096})
    config["sampling"].update(latents=100000, latent_sets=1000, latent_layer="stem")
    (mnist_generator_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match="more weights than this package loads"):
        Generator.from_pretrained(mnist_generator_dir)


@pytest.mark.parametrize("generator, sampling, message", [
    # 836k weights, every size within its limit: one image of each class to check, 10,000 of 1024 x 1024.
    ({"num_classes": 10000, "image_size": 1024, "channels": 4, "noise_dim": 1,
      "arch_kwargs": {"width": 1, "embed_dim": 1}}, {}, "to check one image of each"),
    # One synthesis chunk of 4096 images of every one of 1000 classes at once.
    ({"num_classes": 1000}, {"chunk_size": 4096, "layout": "class_rows"}, "more than this package computes at once"),
])
def test_a_config_asking_for_a_huge_forward_pass_is_refused_before_it_runs(mnist_generator_dir, generator,
                                                                          sampling, message):
    config = _config(mnist_generator_dir)
    config["generator"].update(generator)
    config["sampling"].update(sampling)
    (mnist_generator_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match=message) as err:
        Generator.from_pretrained(mnist_generator_dir)
    assert "config.json" in str(err.value)


def test_each_format_is_read_up_to_its_own_newest_version(mnist_generator_dir):
    from distilled_datasets.config import NEWEST_READABLE, read_config_file
    from distilled_datasets.learned_images import IMAGES_FORMAT_NAME, IMAGES_FORMAT_VERSION

    assert NEWEST_READABLE[IMAGES_FORMAT_NAME] == IMAGES_FORMAT_VERSION
    path = mnist_generator_dir / "config.json"
    path.write_text(json.dumps({"format": IMAGES_FORMAT_NAME, "format_version": IMAGES_FORMAT_VERSION + 1}))
    with pytest.raises(InvalidGeneratorError, match="newer than this library reads"):
        read_config_file(str(path), formats=(IMAGES_FORMAT_NAME,))
