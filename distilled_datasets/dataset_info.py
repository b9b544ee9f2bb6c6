"""The facts about each dataset, in one place: names, classes, image shape, normalisation, flip
policy, the real dataset's torchvision class and Hub id, and the generator that ships for it.

Everything else reads these: the runtime dataset classes, the training data loaders, model cards,
the command line and the benchmarks. The registry is a plain dict: a name is registered once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .errors import UsageError, UsageTypeError


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # the "dataset" value in config.json and on the command line: "fashion_mnist"
    title: str  # human name: "Fashion-MNIST"
    classes: Tuple[str, ...]  # torchvision's class names, in label order
    channels: int
    image_size: int
    # Per-channel mean and std of the training split's pixels scaled to [0, 1].
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    # Whether a horizontal mirror is a label-preserving, in-distribution augmentation.
    flip: bool
    torchvision_name: str  # class in torchvision.datasets that reads the real data: "FashionMNIST"
    hub_dataset: str  # the real dataset's Hub id, for model-card metadata
    # Folder under distilled_datasets/defaults/ of the generator that ships with the package, or
    # None when none ships (then repo_id must be given).
    default_generator: Optional[str] = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_mode(self) -> str:
        """PIL mode of the items: "L" (one channel) or "RGB"."""
        return "L" if self.channels == 1 else "RGB"


_DATASETS: Dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo, replace: bool = False) -> DatasetInfo:
    """Add ``info`` under its name; the same facts again are a no-op, other facts a refusal unless
    ``replace`` (an image folder read at another size: each command registers it before use)."""
    if info.name in _DATASETS and not replace:
        if _DATASETS[info.name] == info:
            return info
        raise UsageError(f"dataset {info.name!r} is already registered with other facts")
    if len(info.mean) != info.channels or len(info.std) != info.channels:
        raise UsageError(f"dataset {info.name!r}: mean and std need one value per channel ({info.channels})")
    _DATASETS[info.name] = info
    return info


def list_datasets() -> List[str]:
    return sorted(_DATASETS)


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_dataset_info(name: str) -> DatasetInfo:
    """The facts of a registered dataset. Names are exact ("fashion_mnist"); a near miss such as
    "FashionMNIST" or "fashion-mnist" is refused with the name to use."""
    if not isinstance(name, str):
        raise UsageTypeError(f"dataset name must be a str, got {type(name).__name__}; valid values: {list_datasets()}")
    if name in _DATASETS:
        return _DATASETS[name]
    close = [valid for valid in _DATASETS if _squash(valid) == _squash(name)]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown dataset {name!r}{hint}; valid values: {list_datasets()}")


IMAGE_FOLDER_PREFIX = "imagefolder:"  # datasets of the user's own classes (an ImageFolder of images)
IMAGE_FOLDER = "imagefolder"  # what commands take for them: the facts come from the data root or the generator


def info_from_metadata(metadata: dict, channels: int, image_size: int, num_classes: int) -> DatasetInfo:
    """The facts of a dataset that is not registered (a user's image folder), as a generator's
    config.json states them: its name, class names (or "class 0", ...) and normalisation."""
    name = metadata.get("dataset") or f"{IMAGE_FOLDER_PREFIX}unnamed"
    classes = metadata.get("classes")
    norm = metadata.get("normalization") or {}
    if not isinstance(classes, list) or len(classes) != num_classes:
        classes = [f"class {i}" for i in range(num_classes)]
    mean = tuple(norm.get("mean") or (0.5,) * channels)
    std = tuple(norm.get("std") or (0.5,) * channels)
    return DatasetInfo(name=name, title=name.split(":", 1)[-1], classes=tuple(classes), channels=channels,
                       image_size=image_size, mean=mean, std=std, flip=bool(metadata.get("flip", False)),
                       torchvision_name="ImageFolder", hub_dataset=name.split(":", 1)[-1], default_generator=None)


def canonical_name(value: str) -> str:
    """A dataset name as a user may type it ("Fashion-MNIST", "fashion_mnist") -> "fashion_mnist"."""
    for name in _DATASETS:
        if _squash(name) == _squash(value):
            return name
    raise UsageError(f"unknown dataset {value!r}; valid values: {', '.join(list_datasets())}")


# MNIST and Fashion-MNIST: measured on the training split in ../shared/data (see
# training.common.real_data.channel_stats; tests/test_training_data.py re-measures them).
register_dataset(DatasetInfo(
    name="mnist", title="MNIST",
    classes=("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
             "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"),
    channels=1, image_size=28, mean=(0.1307,), std=(0.3081,),
    flip=False,  # a mirrored 2, 3, 4, 5, 7 or 9 is not a digit (DESIGN.md: no flip for MNIST)
    torchvision_name="MNIST", hub_dataset="ylecun/mnist", default_generator="mnist",
))
register_dataset(DatasetInfo(
    name="fashion_mnist", title="Fashion-MNIST",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    channels=1, image_size=28, mean=(0.2860,), std=(0.3530,),
    # No flip. Measured on the training split (tests check it): the seven garment/bag classes are
    # nearly mirror-symmetric (class mean vs its mirror: cosine >= 0.96), so a flip adds almost
    # no new view; the three footwear classes all face one way (92.7% of sandals, 99.7% of
    # sneakers, 100% of ankle boots are closer to their class mean than to its mirror), so a
    # flipped shoe is an image the test split never contains. Little gain, some harm.
    flip=False,
    torchvision_name="FashionMNIST", hub_dataset="zalando-datasets/fashion_mnist",
    default_generator="fashion_mnist",
))
# CIFAR-10: the per-channel statistics of the 50,000 original training images (pixel-level mean
# and std, as channel_stats computes them), also used for the JPEG copy of these machines (whose
# own statistics differ by at most 0.002). DSA/DC code uses std (0.2023, 0.1994, 0.2010), which is
# the std of per-image means, not of pixels.
register_dataset(DatasetInfo(
    name="cifar10", title="CIFAR-10",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    channels=3, image_size=32, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
    flip=True,  # natural photos: a mirrored car is a car, and the test split has both directions
    torchvision_name="CIFAR10", hub_dataset="uoft-cs/cifar10",
    default_generator="cifar10",  # trained on the JPEG copy of CIFAR-10 (docs/results.md)
))
