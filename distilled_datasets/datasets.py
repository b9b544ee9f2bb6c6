"""Distilled MNIST, Fashion-MNIST and CIFAR-10 as drop-in torchvision datasets.

Item i is sample k = i // num_classes of class c = i % num_classes: classes interleave, so the
first n * num_classes items of a set are the set with ``ipc=n`` (same images, same order), and
the image at index i depends only on (weights, seed, i).
"""

from __future__ import annotations

import logging
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import VisionDataset

from .errors import InvalidGeneratorError
from .generator import Generator
from .hub import ResolvedFiles, resolve
from .learned_images import DEFAULT_IPC, IMAGES_FORMAT_NAME, LearnedImagesMixin, config_format
from .synthesis import synthesize_chunk

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

_MAX_SEED = 2**63 - 1


def _check_int(name: str, value: Any, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")
    return value


def _check_callable(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {type(value).__name__}")


class DistilledDataset(LearnedImagesMixin, VisionDataset):
    """A distilled dataset: ``ipc`` images per class synthesized by a conditional generator.

    Args:
        root: where Hub files are cached (huggingface_hub's cache layout); None uses the Hub's
            default cache. The package default generator never touches it.
        train: must be True; a distilled set only replaces a training split.
        transform, target_transform: as in torchvision.
        download: accepted for torchvision compatibility; Hub weights are fetched on first use
            either way (set HF_HUB_OFFLINE=1 to forbid the network).
        ipc: images per class (>= 1). For stored learned images (Wang et al. 2018, see
            learned_images.py) the default (or None) means all of them, another count is refused,
            and ``seed`` has no effect.
        seed: which set (>= 0); the same (weights, seed) always gives the same images.
        repo_id: None for the generator shipped with the package, a Hub id "org/name", or a local
            folder holding config.json + model.safetensors.
        revision: Hub branch, tag or commit (Hub ids only).
        local_files_only: never touch the network; use the Hub cache only.
    """

    # Subclasses fill these (torchvision keeps them as class attributes too).
    classes: List[str] = []
    dataset_name: str = ""  # the "dataset" value in a matching config.json
    default_name: str = ""  # folder of the package default under distilled_datasets/defaults/
    real_dataset: str = ""  # torchvision class to use for the test split
    title: str = ""  # human name, for model cards
    hub_dataset: str = ""  # the real dataset's Hub id, for model card metadata
    channels: int = 1
    image_size: int = 28

    def __init__(self, root: Optional[PathLike] = None, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False, *, ipc: int = DEFAULT_IPC,
                 seed: int = 0, repo_id: Optional[PathLike] = None, revision: Optional[str] = None,
                 local_files_only: bool = False) -> None:
        if not isinstance(train, bool):
            raise TypeError(f"train must be a bool, got {type(train).__name__}")
        if not train:
            raise ValueError(
                f"{type(self).__name__} is a distilled training set; there is no distilled test split. "
                f"Evaluate on the real one: {self.real_dataset}(root, train=False, download=True)"
            )
        _check_callable("transform", transform)
        _check_callable("target_transform", target_transform)
        if not isinstance(download, bool):
            raise TypeError(f"download must be a bool, got {type(download).__name__}")
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = True
        if ipc is not None:  # None is allowed for learned images only (checked below)
            _check_int("ipc", ipc, 1)
        self.seed = _check_int("seed", seed, 0, _MAX_SEED)
        self.files: ResolvedFiles = resolve(
            repo_id, default_name=self.default_name, revision=revision,
            cache_dir=None if root is None else os.fspath(root), local_files_only=local_files_only,
        )
        self._generator: Optional[Generator] = None
        if config_format(self.files.config_path) == IMAGES_FORMAT_NAME:
            self._init_learned(None if ipc is DEFAULT_IPC else ipc)  # stored images + schedule: no generator
            return
        self.ipc = _check_int("ipc", ipc, 1)
        self._check_fits(self.generator)
        # Kept apart from the module so that a worker holding materialized chunks never loads it.
        self._chunk_size = self.generator.sampling.chunk_size
        self._chunks: Dict[Tuple[int, int], np.ndarray] = {}

    # ---- weights ---------------------------------------------------------------------------

    @property
    def generator(self) -> Generator:
        """The loaded generator (reloaded from its files after unpickling in a worker)."""
        if self.learned is not None:
            raise InvalidGeneratorError(f"{self.files.describe()} holds learned images, not a generator")
        if self._generator is None:
            self._generator = Generator.from_files(self.files)
        return self._generator

    def _check_fits(self, generator: Generator) -> None:
        cfg, meta = generator.config, generator.metadata
        wanted = {"num_classes": len(self.classes), "channels": self.channels, "image_size": self.image_size}
        found = {k: getattr(cfg, k) for k in wanted}
        if found != wanted:
            raise InvalidGeneratorError(
                f"the generator from {self.files.describe()} makes {found} but {type(self).__name__} needs "
                f"{wanted}; load a generator trained for {self.dataset_name}"
            )
        dataset = meta.get("dataset")
        if dataset is not None and dataset != self.dataset_name:
            raise InvalidGeneratorError(
                f"the generator from {self.files.describe()} was trained on {dataset!r}, not "
                f"{self.dataset_name!r}; use the dataset class for {dataset!r} or another generator"
            )

    # ---- synthesis -------------------------------------------------------------------------

    def _locate(self, index: int) -> Tuple[int, int, int]:
        """index -> (label, chunk, position in chunk)."""
        num_classes = len(self.classes)
        label, k = index % num_classes, index // num_classes
        return label, k // self._chunk_size, k % self._chunk_size

    def _chunk(self, label: int, chunk: int) -> np.ndarray:
        key = (label, chunk)
        if key not in self._chunks:
            self._chunks[key] = synthesize_chunk(self.generator, self.seed, label, chunk)
        return self._chunks[key]

    def materialize(self, threads: Optional[int] = None) -> None:
        """Synthesize every missing chunk now, ``threads`` chunks at a time (default: torch's).

        Useful before a DataLoader with workers: forked workers inherit the images and spawned
        workers receive them with the dataset (a few hundred kB), instead of synthesizing.
        """
        if self.learned is not None:
            return  # stored images: nothing to synthesize
        chunks_per_class = -(-self.ipc // self._chunk_size)
        missing = [(c, j) for j in range(chunks_per_class) for c in range(len(self.classes))
                   if (c, j) not in self._chunks]
        if not missing:
            return
        threads = threads or torch.get_num_threads()
        generator = self.generator
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            images = pool.map(lambda key: synthesize_chunk(generator, self.seed, *key), missing)
            self._chunks.update(zip(missing, images))

    def _image_array(self, index: int) -> np.ndarray:
        if self.learned is not None:
            return self.learned.pixels()[index]
        label, chunk, position = self._locate(index)
        return self._chunk(label, chunk)[position]

    # ---- torchvision interface -------------------------------------------------------------

    def __len__(self) -> int:
        return self.ipc * len(self.classes)

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"{type(self).__name__} indices must be integers, got {type(index).__name__}") from None
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length {n} "
                             f"(valid: {-n} to {n - 1}, negative counting from the end)")
        if index < 0:
            index += n
        img = Image.fromarray(self._image_array(index))
        target = index % len(self.classes)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    @property
    def class_to_idx(self) -> Dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    def _all_images(self) -> np.ndarray:
        self.materialize()
        return np.stack([self._image_array(i) for i in range(len(self))])

    @property
    def targets(self) -> torch.Tensor:
        """Labels as torchvision's MNIST has them: int64 tensor [N]."""
        return torch.arange(len(self)) % len(self.classes)

    @property
    def data(self) -> torch.Tensor:
        """All images as torchvision's MNIST has them: uint8 tensor [N, H, W] (synthesized now)."""
        return torch.from_numpy(self._all_images())

    def extra_repr(self) -> str:
        if self.learned is not None:
            return "\n".join(["Split: Train (distilled)", f"Images per class: {self.ipc}",
                              f"Source: {self.files.describe()}", *self.learned.describe()])
        gen = self._generator
        arch = f"{gen.config.architecture} ({gen.num_parameters:,} parameters)" if gen is not None else "not loaded"
        return "\n".join([
            "Split: Train (distilled)",
            f"Images per class: {self.ipc}",
            f"Seed: {self.seed}",
            f"Generator: {self.files.describe()}",
            f"Architecture: {arch}",
        ])

    # ---- pickling (DataLoader workers under spawn) ------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        # The module is dropped (a worker reloads it from the same files only if it must
        # synthesize); already synthesized chunks travel, being small uint8 arrays.
        state = self.__dict__.copy()
        state["_generator"] = None
        return state


class DistilledMNIST(DistilledDataset):
    """Distilled MNIST: items are (PIL image mode "L" 28x28, int) like torchvision.datasets.MNIST."""

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    dataset_name = "mnist"
    default_name = "mnist"
    real_dataset = "torchvision.datasets.MNIST"
    title = "MNIST"
    hub_dataset = "ylecun/mnist"


class DistilledFashionMNIST(DistilledMNIST):
    """Distilled Fashion-MNIST: items like torchvision.datasets.FashionMNIST."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    dataset_name = "fashion_mnist"
    default_name = "fashion_mnist"
    real_dataset = "torchvision.datasets.FashionMNIST"
    title = "Fashion-MNIST"
    hub_dataset = "zalando-datasets/fashion_mnist"


class DistilledCIFAR10(DistilledDataset):
    """Distilled CIFAR-10: items are (PIL image mode "RGB" 32x32, int) like torchvision.datasets.CIFAR10.

    As in torchvision, ``data`` is a uint8 numpy array [N, 32, 32, 3] and ``targets`` a list.
    """

    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    dataset_name = "cifar10"
    default_name = "cifar10"
    real_dataset = "torchvision.datasets.CIFAR10"
    title = "CIFAR-10"
    hub_dataset = "uoft-cs/cifar10"
    channels = 3
    image_size = 32

    @property
    def targets(self) -> List[int]:  # type: ignore[override]
        return [i % len(self.classes) for i in range(len(self))]

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]
        return self._all_images()
