"""model.safetensors read as untrusted data: header checked before allocation, dtypes the package
cannot compute with refused by name, values that overflow the compute dtype refused."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from distilled_datasets import DistilledMNIST, Generator, InvalidGeneratorError


def _rewrite(folder, edit):
    path = folder / "model.safetensors"
    state = load_file(path)
    edit(state)
    save_file(state, path)


@pytest.mark.parametrize("value, message", [
    (1e39, "beyond torch.float32's range"),  # the cast itself overflows
    (1e30, "overflow float32 arithmetic"),  # the cast holds, the arithmetic overflows
])
def test_finite_float64_weights_that_overflow_float32_are_refused(mnist_generator_dir, value, message):
    """Regression: 1e30 in float64 passed the finiteness check, overflowed in float32 arithmetic,
    and every image came out black."""
    def edit(state):
        for key in [k for k, v in state.items() if k.endswith(".weight") and v.dim() > 1]:
            state[key] = torch.full_like(state[key], value, dtype=torch.float64)  # products of 1e30 overflow

    _rewrite(mnist_generator_dir, edit)
    with pytest.raises(InvalidGeneratorError, match=message):
        Generator.from_pretrained(mnist_generator_dir)


def test_float64_within_range_loads_and_float8_is_refused_by_name(mnist_generator_dir):
    key = {}

    def to_double(state):
        key["name"] = next(k for k in state if k.endswith("weight") and state[k].dim() > 1)
        state[key["name"]] = state[key["name"]].double()

    _rewrite(mnist_generator_dir, to_double)
    assert Generator.from_pretrained(mnist_generator_dir).net.state_dict()[key["name"]].dtype == torch.float32
    _rewrite(mnist_generator_dir, lambda state: state.__setitem__(key["name"],
                                                                  state[key["name"]].to(torch.float8_e4m3fn)))
    with pytest.raises(InvalidGeneratorError, match="stored as 'F8_E4M3'"):
        Generator.from_pretrained(mnist_generator_dir)


def test_header_shapes_are_checked_before_anything_is_loaded(mnist_generator_dir, monkeypatch):
    import distilled_datasets.weights_file as weights_file

    def edit(state):
        key = next(k for k in state if k.endswith("weight") and state[k].dim() > 1)
        state[key] = torch.zeros(3, 3)

    _rewrite(mnist_generator_dir, edit)
    loaded = []
    monkeypatch.setattr(weights_file, "load_bytes", lambda data: loaded.append(1))
    with pytest.raises(InvalidGeneratorError, match="has shape \\[3, 3\\], the architecture needs"):
        Generator.from_pretrained(mnist_generator_dir)
    assert loaded == []


def test_a_config_that_would_allocate_gigabytes_is_refused_before_allocation(mnist_generator_dir):
    path = mnist_generator_dir / "config.json"
    config = json.loads(path.read_text())
    config["generator"]["noise_dim"] = 4096
    config["generator"]["arch_kwargs"] = {"width": 4096, "embed_dim": 4096}
    path.write_text(json.dumps(config))
    with pytest.raises(InvalidGeneratorError, match="more than this package loads"):
        Generator.from_pretrained(mnist_generator_dir)


@pytest.mark.parametrize("content, message", [
    (b"", "too short"),
    (struct.pack("<Q", 1 << 40) + b"{}", "declares a"),
    (struct.pack("<Q", 4) + b"\xff\xfe{}", "unreadable safetensors header"),
    (struct.pack("<Q", 2) + b"[]", "header is not an object"),
])
def test_damaged_files_say_so(mnist_generator_dir, content, message):
    (mnist_generator_dir / "model.safetensors").write_bytes(content)
    with pytest.raises(InvalidGeneratorError, match=message):
        Generator.from_pretrained(mnist_generator_dir)


@pytest.mark.parametrize("extra", [16, 100 * 2**30])  # a few bytes of padding; a 100 GB (sparse) file
def test_a_file_longer_than_its_header_declares_is_refused_before_it_is_read(mnist_generator_dir, extra):
    from distilled_datasets.errors import UnreadableWeightsError

    path = mnist_generator_dir / "model.safetensors"
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size + extra)  # sparse: no disk, and never read if the size is checked first
    with pytest.raises(UnreadableWeightsError, match=f"is {size + extra:,} bytes; its header declares {size:,}"):
        Generator.from_pretrained(mnist_generator_dir)


def test_a_git_lfs_pointer_says_to_pull_the_lfs_files(mnist_generator_dir):
    """Regression: a Hub repository cloned without `git lfs pull` was reported as a damaged safetensors file."""
    (mnist_generator_dir / "model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 2723344\n")
    with pytest.raises(InvalidGeneratorError, match="is a Git LFS pointer, not the weights.*git lfs pull"):
        DistilledMNIST(ipc=1, repo_id=mnist_generator_dir)


def test_an_unreadable_config_is_one_error_naming_it(mnist_generator_dir, capsys, monkeypatch):
    """Regression: a config.json that could not be read (permissions, I/O) gave an OSError traceback."""
    import errno

    import distilled_datasets.config as config_module
    from distilled_datasets.cli import main as cli_main

    def failing_open(path, *args, **kwargs):  # what a permission or disk error gives (root ignores permissions)
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(config_module, "open", failing_open, raising=False)
    with pytest.raises(InvalidGeneratorError, match="config.json cannot be read .Input/output error"):
        DistilledMNIST(ipc=1, repo_id=mnist_generator_dir)
    assert cli_main(["info", "mnist", "--repo-id", str(mnist_generator_dir)]) == 2
    err = capsys.readouterr().err
    assert "config.json cannot be read" in err and err.count("\n") == 1
