"""Distilled MNIST, Fashion-MNIST and CIFAR-10 as drop-in torchvision datasets.

Item i is sample k = i // num_classes of class c = i % num_classes: classes interleave, so the
first n * num_classes items of a set are the set with ``ipc=n`` (same images, same order), and
the image at index i depends only on (weights, seed, i). The images come from an ``ImageSource``
(sources.py): a generator, or stored images such as Wang et al. 2018's.
"""

from __future__ import annotations

import logging
import operator
import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import VisionDataset

from .dataset_info import IMAGE_FOLDER, DatasetInfo, get_dataset_info, info_from_metadata
from .errors import GeneratorNotFoundError, UsageError, UsageTypeError
from .generator import Generator
from .hub import ResolvedFiles, resolve
from .image_cache import default_cache_dir
from .learned_images import LearnedImages
from .sources import ImageSource, StoredImagesSource, open_source
from .validation import MAX_IPC, check_int

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

_MAX_SEED = 2**63 - 1


def _check_callable(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise UsageTypeError(f"{name} must be callable or None, got {type(value).__name__}")


class DistilledDataset(VisionDataset):
    """A distilled dataset: ``ipc`` images per class from a trained generator (or stored images).

    Args:
        root: where Hub files are cached (huggingface_hub's cache layout) and where synthesized
            images are cached (``root/distilled_datasets_cache``; ``~`` is the home folder); None uses
            the Hub's default cache and the user cache directory (``$DISTILLED_DATASETS_CACHE``, else
            ``$XDG_CACHE_HOME/distilled-datasets``, else ~/.cache/distilled-datasets).
        train: must be True; a distilled set only replaces a training split.
        transform, target_transform: as in torchvision.
        download: accepted for torchvision compatibility; Hub weights are fetched on first use
            either way (set HF_HUB_OFFLINE=1 to forbid the network).
        ipc: images per class (>= 1); None means 10 for a generator and every stored image for
            stored learned images (Wang et al. 2018), which refuse any other count.
        seed: which set (>= 0); the same (weights, seed) always gives the same images. A generator
            with learned codes holds ``generator.sampling.latent_sets`` learned sets: seed s below
            that number gives learned set s (its first ``sampling.latents`` images per class; later
            ones from noise seeded by s); a later seed gives seeded noise through the same
            generator, never another seed's images, and a warning naming the seeds with sets.
        repo_id: None for the generator shipped with the package, a Hub id "org/name", or a local
            folder holding config.json + model.safetensors.
        revision: Hub branch, tag or commit (Hub ids only: refused for a local folder or the shipped default).
        local_files_only: never touch the network; use the Hub cache only.
        cache: keep synthesized images on disk (image_cache.py), so that a set is synthesized once
            per machine; False synthesizes in every process. The bytes are the same either way.
    """

    # Subclasses set ``info`` (dataset_info.py); ``classes`` and ``dataset_name`` follow from it,
    # as class attributes like torchvision's.
    info: DatasetInfo
    classes: List[str] = []
    dataset_name: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "info" in cls.__dict__:
            cls.classes = list(cls.info.classes)
            cls.dataset_name = cls.info.name

    def __init__(self, root: Optional[PathLike] = None, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False, *,
                 ipc: Optional[int] = None, seed: int = 0, repo_id: Optional[PathLike] = None,
                 revision: Optional[str] = None, local_files_only: bool = False, cache: bool = True) -> None:
        if type(self) is DistilledDataset:  # exported for isinstance checks and subclassing; it knows no dataset
            raise UsageTypeError("DistilledDataset is the base class and knows no dataset; use DistilledMNIST, "
                                 "DistilledFashionMNIST, DistilledCIFAR10, or DistilledImageFolder(repo_id=...) for a "
                                 "generator of your own classes")
        if not isinstance(train, bool):
            raise UsageTypeError(f"train must be a bool, got {type(train).__name__}")
        if not train:
            raise UsageError(
                f"{type(self).__name__} is a distilled training set; there is no distilled test split. "
                f"Evaluate on the real one: {self._real_test_split()}")
        _check_callable("transform", transform)
        _check_callable("target_transform", target_transform)
        if not isinstance(download, bool):
            raise UsageTypeError(f"download must be a bool, got {type(download).__name__}")
        if root is not None and not isinstance(root, (str, os.PathLike)):
            raise UsageTypeError(f"root must be a str, a path or None, got {type(root).__name__}")
        root = None if root is None else os.path.expanduser(os.fspath(root))  # '~/data' as torchvision reads it
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = True
        if ipc is not None:
            ipc = check_int("ipc", ipc, 1, MAX_IPC)
        self.seed = check_int("seed", seed, 0, _MAX_SEED)
        if repo_id is None and self.info.default_generator is None:
            raise GeneratorNotFoundError(
                f"no generator for {self.info.title} ships with the package; pass repo_id='org/name' for a Hub "
                "repository or repo_id='path/to/folder' for a local one")
        self.files: ResolvedFiles = resolve(
            repo_id, default_name=self.info.default_generator if repo_id is None else None, revision=revision,
            cache_dir=root, local_files_only=local_files_only)
        if not isinstance(cache, bool):
            raise UsageTypeError(f"cache must be a bool, got {type(cache).__name__}")
        cache_dir = str(default_cache_dir(root)) if cache else None
        self.source: ImageSource = open_source(self.files, self.seed, cache_dir)
        self._adopt(self.source)
        self.source.check_fits(self.info, type(self).__name__)
        self.ipc = self.source.resolve_ipc(ipc, type(self).__name__)

    def _real_test_split(self) -> str:
        return f"torchvision.datasets.{self.info.torchvision_name}(root, train=False, download=True)"

    def _adopt(self, source: ImageSource) -> None:
        """Take what the dataset's facts need from the opened source (DistilledImageFolder: all of them)."""

    # ---- images ------------------------------------------------------------------------------

    @property
    def generator(self) -> Generator:
        """The loaded generator (InvalidGeneratorError for stored images, which have none)."""
        return self.source.generator

    def materialize(self, threads: Optional[int] = None) -> None:
        """Synthesize every missing image now, ``threads`` chunks at a time (default: every core this
        process may use; 1 inside a DataLoader worker).

        Useful before a DataLoader with workers: forked workers inherit the images and spawned
        workers receive them with the dataset (a few hundred kB), instead of synthesizing.
        """
        if threads is not None:
            threads = check_int("threads", threads, 1, 1024)
        self.source.materialize(self.ipc, len(self.classes), threads)

    def _image_array(self, index: int) -> np.ndarray:
        num_classes = len(self.classes)
        return self.source.image(index % num_classes, index // num_classes)

    # ---- torchvision interface -------------------------------------------------------------

    def __len__(self) -> int:
        return self.ipc * len(self.classes)

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        try:
            index = operator.index(index)
        except TypeError:
            raise UsageTypeError(f"{type(self).__name__} indices must be integers, "
                                 f"got {type(index).__name__}") from None
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

    # ``targets`` and ``data`` have torchvision's types and are built from the set on each access:
    # the items come from the generator, so an edited copy could never change them. Assigning one
    # is refused with the way to keep a subset.

    def _targets(self) -> Any:
        """Labels as torchvision's MNIST has them: int64 tensor [N]."""
        return torch.arange(len(self)) % len(self.classes)

    def _data(self) -> Any:
        """All images as torchvision's MNIST has them: uint8 tensor [N, H, W] (synthesized now)."""
        return torch.from_numpy(self._all_images())

    def _refuse_assignment(self, name: str) -> None:
        raise AttributeError(
            f"{type(self).__name__}.{name} is built from the set on each access (item i is sample i // "
            f"{len(self.classes)} of class i % {len(self.classes)}) and cannot be assigned; to keep some items use "
            "torch.utils.data.Subset(dataset, indices), or copy data and targets into a TensorDataset")

    @property
    def targets(self) -> Any:
        """The labels in torchvision's type for the dataset (MNIST-likes: int64 tensor [N]; CIFAR-10:
        a list), a new object on each access."""
        return self._targets()

    @targets.setter
    def targets(self, value: Any) -> None:
        self._refuse_assignment("targets")

    @property
    def data(self) -> Any:
        """Every image in torchvision's type for the dataset (MNIST-likes: uint8 tensor [N, H, W];
        CIFAR-10: uint8 array [N, H, W, C]), synthesized now, a new object on each access."""
        return self._data()

    @data.setter
    def data(self, value: Any) -> None:
        self._refuse_assignment("data")

    def extra_repr(self) -> str:
        return "\n".join(["Split: Train (distilled)", f"Images per class: {self.ipc}", *self.source.describe()])

    # ---- stored learned images (Wang et al. 2018) ------------------------------------------------

    @property
    def learned(self) -> Optional[LearnedImages]:
        """Stored learned images with the schedule they were learned for (raw ``images``,
        ``lr_schedule``, ``step_indices``, ``steps``, ``epochs``, ``schedule()``,
        ``init_state_dict()``: learned_images.py), or None for a generator's set."""
        return self.source.learned if isinstance(self.source, StoredImagesSource) else None


class DistilledMNIST(DistilledDataset):
    """Distilled MNIST: items are (PIL image mode "L" 28x28, int) like torchvision.datasets.MNIST."""

    info = get_dataset_info("mnist")


class DistilledFashionMNIST(DistilledMNIST):
    """Distilled Fashion-MNIST: items like torchvision.datasets.FashionMNIST."""

    info = get_dataset_info("fashion_mnist")


class DistilledCIFAR10(DistilledDataset):
    """Distilled CIFAR-10: items are (PIL image mode "RGB" 32x32, int) like torchvision.datasets.CIFAR10.

    As in torchvision, ``data`` is a uint8 numpy array [N, 32, 32, 3] and ``targets`` a list.
    """

    info = get_dataset_info("cifar10")

    def _targets(self) -> List[int]:
        return [i % len(self.classes) for i in range(len(self))]

    def _data(self) -> np.ndarray:
        return self._all_images()


class DistilledImageFolder(DistilledDataset):
    """A distilled set of your own classes: a generator trained on an image folder
    (``distilled-datasets train --dataset imagefolder``). Its classes, image size, channels and
    normalisation come from the generator's config.json, so ``repo_id`` is required. Items are
    (PIL image, int) like torchvision.datasets.ImageFolder's ("L" or "RGB").
    """

    def __init__(self, root: Optional[PathLike] = None, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False, *,
                 ipc: Optional[int] = None, seed: int = 0, repo_id: Optional[PathLike] = None,
                 revision: Optional[str] = None, local_files_only: bool = False, cache: bool = True) -> None:
        if repo_id is None:
            raise GeneratorNotFoundError("DistilledImageFolder needs repo_id: the folder or Hub id of a generator "
                                         "trained with `distilled-datasets train --dataset imagefolder`")
        super().__init__(root, train, transform, target_transform, download, ipc=ipc, seed=seed, repo_id=repo_id,
                         revision=revision, local_files_only=local_files_only, cache=cache)

    def _real_test_split(self) -> str:
        return "torchvision.datasets.ImageFolder(ROOT / 'test') of the folder the generator was trained on"

    def _adopt(self, source: ImageSource) -> None:
        # The facts come from the generator's config.json, loaded once with the source.
        generator = source.generator
        cfg = generator.config
        self.info = info_from_metadata(generator.metadata, cfg.channels, cfg.image_size, cfg.num_classes)
        self.classes = list(self.info.classes)
        self.dataset_name = self.info.name

    def _targets(self) -> List[int]:
        return [i % len(self.classes) for i in range(len(self))]


DATASET_CLASSES: Dict[str, type] = {cls.dataset_name: cls for cls in (DistilledMNIST, DistilledFashionMNIST,
                                                                      DistilledCIFAR10)}


def dataset_class(name: str) -> type:
    """The distilled dataset class of dataset ``name`` ("mnist" -> DistilledMNIST, "imagefolder" ->
    DistilledImageFolder)."""
    if name == IMAGE_FOLDER:
        return DistilledImageFolder
    if name not in DATASET_CLASSES:
        raise UsageError(f"no distilled dataset class for {name!r}; valid values: {sorted(DATASET_CLASSES)}")
    return DATASET_CLASSES[name]
