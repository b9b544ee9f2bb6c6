"""Shared test fixtures: tiny generators, an isolated Hugging Face cache, a fake Hub, tiny CIFAR-10.

Fixtures other test files can reuse:

- ``make_generator(dataset="mnist", weights_seed=0, **config_overrides) -> Generator``: a tiny,
  deterministic, untrained generator that fits ``dataset`` ("mnist", "fashion_mnist", "cifar10").
  ``config_overrides`` replace GeneratorConfig fields (e.g. ``channels=3``); ``metadata=`` and
  ``sampling=`` are passed to Generator.
- ``make_generator_dir(dataset="mnist", name=None, half=False, samples=True, **same)
  -> pathlib.Path``: the same generator written with ``save_repository`` into a fresh
  folder under ``tmp_path`` (config.json, model.safetensors, README.md, samples.png).
- ``mnist_generator_dir``: ``make_generator_dir("mnist")``, for tests that need just one.
- ``hub``: a running ``FakeHub`` (tests/hub_server.py) that the real huggingface_hub client
  talks to; see its docstring for what is patched.
- ``make_cifar10_root(root, per_batch=2) -> root``: tiny files in CIFAR-10's python format that
  ``torchvision.datasets.CIFAR10(root, download=False)`` reads (its md5 list is patched to match).

Every test runs with an isolated Hugging Face home (autouse ``hf_home``): nothing reads or writes
~/.cache/huggingface, no token from the machine is used, and the endpoint points at a closed local
port, so a test that would reach the real Hub fails at once instead of hanging.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))  # so test files can `from hub_server import FakeHub`

from hub_server import FakeHub  # noqa: E402

from distilled_datasets import Generator, GeneratorConfig, SamplingConfig, save_repository  # noqa: E402

# (channels, image size) of each dataset's images.
DATASET_SHAPES = {"mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32)}
# A tiny "small" generator: about 10k parameters (mostly the 16 -> 4*4*7*7 projection).
TINY_CONFIG = {"architecture": "small", "noise_dim": 16, "arch_kwargs": {"width": 4, "embed_dim": 4}}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# A local port nothing listens on (TCP "discard"): connections are refused at once.
UNREACHABLE_ENDPOINT = "http://127.0.0.1:9"


def build_generator(dataset: str = "mnist", *, weights_seed: int = 0, metadata: Optional[Dict[str, Any]] = None,
                    sampling: Optional[SamplingConfig] = None, **config_overrides) -> Generator:
    """A tiny untrained generator whose config fits ``dataset`` (weights drawn from ``weights_seed``)."""
    channels, size = DATASET_SHAPES[dataset]
    config = {**TINY_CONFIG, "num_classes": 10, "channels": channels, "image_size": size, **config_overrides}
    meta = {"dataset": dataset, **(metadata or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(weights_seed)
        generator = Generator(GeneratorConfig(**config), metadata=meta, sampling=sampling)
        # Untrained BatchNorm is the identity; random statistics make images depend on every
        # buffer, and gains > 1 spread the pixels over [0, 255] with visible class differences
        # (an untouched tiny generator makes grey images a classifier can hardly tell apart).
        with torch.no_grad():
            for module in generator.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.normal_(0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
                    module.weight.uniform_(2.0, 4.0)
    return generator.eval()


@pytest.fixture
def make_generator():
    """Factory: ``make_generator(dataset="mnist", weights_seed=0, **config_overrides)``."""
    return build_generator


@pytest.fixture
def make_generator_dir(tmp_path):
    """Factory: save a tiny generator under tmp_path and return its folder."""
    counter = {"n": 0}

    def make(dataset: str = "mnist", *, name: Optional[str] = None, half: bool = False, samples: bool = True,
             **kwargs) -> Path:
        counter["n"] += 1
        folder = tmp_path / (name or f"generator-{dataset}-{counter['n']}")
        save_repository(build_generator(dataset, **kwargs), folder, half=half, samples=samples)
        return folder

    return make


@pytest.fixture
def mnist_generator_dir(make_generator_dir):
    return make_generator_dir("mnist")


# ---- Hugging Face Hub isolation ------------------------------------------------------------------


# huggingface_hub modules that copy constants at import time (``from .constants import X``).
_HF_MODULES = ("huggingface_hub.file_download", "huggingface_hub.hf_api", "huggingface_hub._commit_api",
               "huggingface_hub.utils._cache_manager", "huggingface_hub.utils._git_credential")


def set_hf_constants(monkeypatch, **values) -> None:
    """Patch ``huggingface_hub.constants`` and every huggingface_hub module that copied a value.

    huggingface_hub reads HF_ENDPOINT, HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE into module
    constants when it is imported, so setting the environment during a test is not enough; some
    versions also copy a constant into another module (v0.x: file_download's URL template). The
    modules that copy are imported first, so that no later import copies a patched value beyond
    the test. Only names the installed version has are patched.
    """
    import importlib

    from huggingface_hub import constants

    for module_name in _HF_MODULES:
        try:
            importlib.import_module(module_name)
        except ImportError:  # not in this version
            pass
    if "ENDPOINT" in values and hasattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE"):
        template = values["ENDPOINT"] + "/{repo_id}/resolve/{revision}/{filename}"
        values = {**values, "HUGGINGFACE_CO_URL_TEMPLATE": template}
    modules = [m for name, m in list(sys.modules.items())
               if m is not None and (name == "huggingface_hub" or name.startswith("huggingface_hub."))]
    for name, value in values.items():
        if not hasattr(constants, name):
            continue
        original = getattr(constants, name)
        for module in modules:
            if module is constants or getattr(module, name, object()) == original and name in vars(module):
                monkeypatch.setattr(module, name, value)


def reset_hf_sessions() -> None:
    """Drop huggingface_hub's cached HTTP sessions (v0.x builds its offline mode into them)."""
    from huggingface_hub.utils import _http

    if hasattr(_http, "reset_sessions"):
        _http.reset_sessions()


def set_hf_offline(monkeypatch, offline: bool = True) -> None:
    """What HF_HUB_OFFLINE=1 does, for an already imported huggingface_hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    set_hf_constants(monkeypatch, HF_HUB_OFFLINE=offline)
    reset_hf_sessions()


@pytest.fixture
def synthesis_calls(monkeypatch):
    """Records (seed, label, chunk) of every chunk the dataset classes synthesize (in call order)."""
    import distilled_datasets.sources as sources_module

    calls = []
    real = sources_module.synthesize_chunks

    def counting(generator, seed, keys):
        calls.extend((seed, label, chunk) for label, chunk in keys)
        return real(generator, seed, keys)

    monkeypatch.setattr(sources_module, "synthesize_chunks", counting)
    return calls


@pytest.fixture(scope="session", autouse=True)
def outside_the_source_tree(tmp_path_factory) -> Iterator[None]:
    """The tests (and every subprocess they start, module fixtures' included) run in an empty
    folder: `python -m` and `python -c` put the working directory first on sys.path, and the
    repository root would shadow the installed wheel with the source tree (where training/ is not
    inside the package)."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)


@pytest.fixture(autouse=True)
def dataset_registry() -> Iterator[None]:
    """Datasets a test registers (image folders) are forgotten after it."""
    from distilled_datasets import dataset_info

    saved = dict(dataset_info._DATASETS)
    yield
    dataset_info._DATASETS.clear()
    dataset_info._DATASETS.update(saved)


@pytest.fixture(autouse=True)
def image_cache_dir(tmp_path_factory, monkeypatch) -> Path:
    """Each test's synthesized-image cache is its own empty folder (never ~/.cache)."""
    folder = tmp_path_factory.mktemp("image_cache")
    monkeypatch.setenv("DISTILLED_DATASETS_CACHE", str(folder))
    return folder


@pytest.fixture(autouse=True)
def hf_home(tmp_path_factory, monkeypatch) -> Path:
    """An empty Hugging Face home for each test; returns its hub cache folder."""
    home = tmp_path_factory.mktemp("hf_home")
    cache = home / "hub"
    env = {"HF_HOME": home, "HF_HUB_CACHE": cache, "HF_XET_CACHE": home / "xet", "HF_ASSETS_CACHE": home / "assets",
           "HF_ENDPOINT": UNREACHABLE_ENDPOINT, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    for key in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    set_hf_constants(
        monkeypatch, HF_HOME=str(home), HF_HUB_CACHE=str(cache), HUGGINGFACE_HUB_CACHE=str(cache),
        HF_XET_CACHE=str(home / "xet"), HF_ASSETS_CACHE=str(home / "assets"),
        HF_TOKEN_PATH=str(home / "token"), HF_STORED_TOKENS_PATH=str(home / "stored_tokens"),
        ENDPOINT=UNREACHABLE_ENDPOINT, HF_HUB_OFFLINE=False, HF_HUB_DISABLE_TELEMETRY=True,
        HF_HUB_DISABLE_IMPLICIT_TOKEN=True,
    )
    reset_hf_sessions()  # a session cached by an earlier (offline) test must not carry over
    return cache


@pytest.fixture
def hub(monkeypatch, hf_home):
    """A running FakeHub; huggingface_hub's endpoint points at it and a dummy token is set.

    ``hub.requests`` lists (method, path) of every request it answered.
    """
    with FakeHub() as server:
        set_hf_constants(monkeypatch, ENDPOINT=server.url)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")
        monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "0")
        set_hf_constants(monkeypatch, HF_HUB_DISABLE_IMPLICIT_TOKEN=False)
        yield server


# ---- tiny CIFAR-10 files --------------------------------------------------------------------------


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def make_cifar10_root(monkeypatch):
    """Factory: write tiny CIFAR-10 python batches under ``root`` so torchvision reads them.

    Each of the 5 train batches and the test batch holds ``per_batch`` random 32x32 RGB images.
    torchvision checks each file's md5 against its hard-coded list; the list is patched to the
    md5 of the files written here, so torchvision's own loading code runs unchanged.
    """
    import torchvision

    def make(root, per_batch: int = 2, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        folder = Path(root) / torchvision.datasets.CIFAR10.base_folder
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            batch = {"data": rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8),
                     "labels": [int(x) for x in rng.integers(0, 10, size=per_batch)]}
            (folder / name).write_bytes(pickle.dumps(batch))  # local test data, read by torchvision
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR10_CLASSES}))
        cls = torchvision.datasets.CIFAR10
        monkeypatch.setattr(cls, "train_list", [[n, _md5(folder / n)] for n in names[:5]])
        monkeypatch.setattr(cls, "test_list", [["test_batch", _md5(folder / "test_batch")]])
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / "batches.meta")})
        return Path(root)

    return make


# ---- the real MNIST / Fashion-MNIST (../shared/data on these machines) ------------------------------

DATA_ENV_VAR = "DISTILLED_DATASETS_DATA"


def find_real_data_root() -> Optional[Path]:
    """$DISTILLED_DATASETS_DATA, else the first ``shared/data`` above this file (a clone at
    /work/main finds /work/shared/data; CI clones with shared/ beside the clone, the same layout)."""
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents[1:]:
        candidate = parent / "shared" / "data"
        if (candidate / "MNIST" / "raw").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The folder holding the real MNIST and Fashion-MNIST. Under CI it must be there (the tests
    that need it fail, never skip); elsewhere they are skipped with the fix in the message."""
    root = find_real_data_root()
    if root is None or not (root / "MNIST" / "raw").is_dir():
        message = (f"real MNIST not found (looked at ${DATA_ENV_VAR} and shared/data above {Path(__file__).parent}); "
                   f"set {DATA_ENV_VAR} to the folder holding MNIST/raw")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


# ---- tiny MNIST / Fashion-MNIST files ---------------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray) -> None:
    # IDX format: magic (0, 0, type 0x08 = uint8, number of dims), big-endian int32 dims, data.
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist_root(root, name: str = "MNIST", n: int = 4, seed: int = 0, splits=None) -> Path:
    """Tiny raw IDX files under ``root/name/raw`` that ``torchvision.datasets.MNIST(root)`` (or
    FashionMNIST with ``name="FashionMNIST"``) reads unchanged: n random 28x28 images per split, or
    ``splits``: {"train": (images, labels), "t10k": ...} to write given arrays."""
    rng = np.random.default_rng(seed)
    raw = Path(root) / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split in ("train", "t10k"):
        images, labels = (splits or {}).get(split) or (rng.integers(0, 256, size=(n, 28, 28)),
                                                      rng.integers(0, 10, size=(n,)))
        _write_idx(raw / f"{split}-images-idx3-ubyte", np.asarray(images))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.asarray(labels))
    return Path(root)


@pytest.fixture
def make_mnist_root():
    """Factory: ``make_mnist_root(root, name="MNIST", n=4, seed=0, splits=None) -> root`` (write_mnist_root)."""
    return write_mnist_root


@pytest.fixture(scope="module")
def make_mnist_root_module():
    """The same factory, for module-scoped fixtures."""
    return write_mnist_root


@pytest.fixture
def tiny_mnist_root(tmp_path, make_mnist_root) -> Path:
    """torchvision's MNIST raw files of tiny_data's learnable splits (train 3, test 4 per class)."""
    from tiny_data import TEST, TRAIN

    splits = {"train": (TRAIN[0].numpy(), TRAIN[1].numpy()), "t10k": (TEST[0].numpy(), TEST[1].numpy())}
    return make_mnist_root(tmp_path / "data", splits=splits)


# ---- model card metadata ----------------------------------------------------------------------------


def parse_front_matter(text: str) -> Dict[str, Any]:
    """The YAML front matter of a model card, for the subset cards use: ``key: value`` and
    ``key:`` followed by ``- item`` lines. Raises AssertionError when the block is missing."""
    lines = text.splitlines()
    assert lines and lines[0] == "---", "a model card starts with '---' (YAML front matter)"
    end = lines.index("---", 1)
    data: Dict[str, Any] = {}
    key = None
    for line in lines[1:end]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith(("- ", "  - ")):
            assert key is not None and isinstance(data[key], list), f"list item outside a list: {line!r}"
            data[key].append(line.split("- ", 1)[1].strip())
        else:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            assert key and " " not in key, f"not a 'key: value' line: {line!r}"
            data[key] = value if value else []
    return data


@pytest.fixture
def front_matter():
    """The ``parse_front_matter(text) -> dict`` helper, as a fixture."""
    return parse_front_matter


@pytest.fixture
def go_offline(monkeypatch):
    """``go_offline()`` makes huggingface_hub behave as under HF_HUB_OFFLINE=1 for the rest of the test."""
    return lambda offline=True: set_hf_offline(monkeypatch, offline)
