"""Real data: MNIST, Fashion-MNIST and CIFAR-10 through torchvision, as whole normalised tensors.

The normalisation constants live here and nowhere else in the training package. Every tensor the
training code passes between the real data, the generator and the networks is in the
*normalised* space ``(pixel / 255 - mean) / std``; ``generator_to_normalized`` maps the
generator's tanh output ([-1, 1]) into that same space so real and synthetic batches are
compared like with like.

Loading reads torchvision's ``.data`` / ``.targets`` arrays directly (uint8, one copy) instead of
going through ``__getitem__`` and PIL, item by item: 60,000 MNIST images take well under a
second this way.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch
import torchvision

from distilled_datasets.dataset_info import DatasetInfo, get_dataset_info, list_datasets
from distilled_datasets.errors import DamagedFileError, MissingFileError, UsageError, UsageTypeError

logger = logging.getLogger(__name__)

# Environment variable naming the folder that holds the real data (torchvision layout); the CLI
# and the tests use it before their own defaults.
DATA_ENV_VAR = "DISTILLED_DATASETS_DATA"


class DatasetNotFoundError(MissingFileError, RuntimeError):
    """The real data is not where torchvision looks. Also a ``RuntimeError``, like torchvision's
    own "Dataset not found" error, so code written against torchvision still catches it."""


# The dataset facts (classes, shape, normalisation, flip policy) live in
# distilled_datasets/dataset_info.py; this module adds how the real data is read.


def torchvision_class(info: DatasetInfo) -> type:
    """The torchvision.datasets class that reads ``info``'s real data."""
    return getattr(torchvision.datasets, info.torchvision_name)


def data_folder(info: DatasetInfo, root: Union[str, Path]) -> str:
    """Where torchvision looks for this dataset's files under ``root``."""
    cls = torchvision_class(info)
    base = getattr(cls, "base_folder", None)  # CIFAR family
    if base is not None:
        return os.path.join(str(root), base)
    return os.path.join(str(root), cls.__name__, "raw")  # MNIST family


def _not_found(spec: DatasetInfo, root, train: bool, detail: str, cifar: bool, verify_checksums: bool):
    """The error for real data that is not where torchvision keeps it, with every way to fix it."""
    checked = ""
    if cifar and verify_checksums:
        checked = (" If the files are there but are not the original release (a local subset), "
                   "verify_checksums=False (in Python) loads them without the md5 check.")
    return DatasetNotFoundError(
        f"{torchvision_class(spec).__name__} ({'train' if train else 'test'} split) was not found or is incomplete: "
        f"torchvision expects its files in {data_folder(spec, root)}. Pass download=True (on the command line: --download) to "
        f"fetch it, or pass as root (--data-root) the folder under which {os.path.relpath(data_folder(spec, root), str(root))} lies (or set {DATA_ENV_VAR})."
        f"{checked} An image folder works too: ROOT/train/<class>/<image> and ROOT/test/<class>/<image> with a "
        f"folder for each of the classes {list(spec.classes)}. {detail}")


def load_real(name: str, root: Union[str, Path], train: bool = True, download: bool = False):
    """The torchvision dataset (no transform) of an MNIST-family ``name`` under ``root`` (these read
    raw idx files; CIFAR's pickled batches are read by ``cifar_arrays``, never by torchvision)."""
    spec = get_dataset_info(name)
    cls = torchvision_class(spec)
    if hasattr(cls, "train_list"):
        raise UsageError(f"{name} is read by real_arrays (its batches are pickles, read with a restricted unpickler)")
    # torchvision prefers the legacy processed/{training,test}.pt (pickles) to the raw idx files when both
    # are there: a pickle planted in a data root would be what the package trains on. Refused instead.
    legacy = [Path(root) / cls.__name__ / "processed" / f for f in (cls.training_file, cls.test_file)]
    if all(p.is_file() for p in legacy):
        raise UsageError(f"{legacy[0].parent} holds torchvision's legacy processed files (pickles), which this "
                         f"package never loads; remove that folder (the raw idx files in "
                         f"{Path(root) / cls.__name__ / 'raw'} are what it reads, download=True fetches them)")
    try:
        return cls(str(root), train=train, download=download)
    except RuntimeError as exc:
        if download or "not found" not in str(exc).lower():
            raise
        raise _not_found(spec, root, train, f"torchvision said: {exc}", False, False) from exc


def cifar_arrays(name: str, root: Union[str, Path], train: bool = True, download: bool = False,
                 verify_checksums: bool = True) -> Tuple[np.ndarray, List[int]]:
    """(uint8 [N, 32, 32, 3], labels) of a CIFAR-style dataset's python batches (cifar_files.py):
    torchvision's file names and md5 sums, its downloader, our restricted reading.
    ``verify_checksums=False`` accepts files that are not the official release (a local subset)."""
    from torchvision.datasets.utils import check_integrity, download_and_extract_archive

    from .cifar_files import batch_arrays, class_names

    spec = get_dataset_info(name)
    cls = torchvision_class(spec)
    folder = Path(root) / cls.base_folder
    files = [*(cls.train_list if train else cls.test_list), [cls.meta["filename"], cls.meta["md5"]]]

    def complete() -> List[str]:
        return [f for f, md5 in files if not check_integrity(str(folder / f), md5 if verify_checksums else None)]

    if complete() and download:
        download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)
    bad = complete()
    if bad:
        raise _not_found(spec, root, train, f"Missing or failing its md5 check: {bad}.", True, verify_checksums)
    names = class_names(folder, cls.meta)
    if names != list(spec.classes):
        raise DamagedFileError(f"{folder / cls.meta['filename']} names the classes {names}, not {list(spec.classes)}")
    parts = [batch_arrays(folder / f, spec.num_classes) for f, _ in files[:-1]]
    return np.concatenate([images for images, _ in parts]), [label for _, labels in parts for label in labels]


def _as_tensor(array) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # e.g. np.asarray(PIL image); torch wants writable memory
        array = array.copy()
    return torch.from_numpy(array)


def _stats_view(name: str, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The spec's mean and std as [1, C, 1, 1] tensors on ``like``'s device and dtype."""
    spec = get_dataset_info(name)
    mean = torch.tensor(spec.mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    return mean, std


def uint8_to_nchw(images_uint8, channels: int) -> torch.Tensor:
    """uint8 [N, H, W] or [N, H, W, C] (numpy or torch) -> uint8 tensor [N, C, H, W]."""
    images = _as_tensor(images_uint8)
    if images.dtype != torch.uint8:
        raise UsageTypeError(f"images must be uint8, got {images.dtype}")
    if images.dim() == 3:
        images = images.unsqueeze(1)  # [N, 1, H, W]
    elif images.dim() == 4:
        images = images.permute(0, 3, 1, 2)  # [N, H, W, C] -> [N, C, H, W]
    else:
        raise UsageError(f"images must be [N, H, W] or [N, H, W, C], got shape {tuple(images.shape)}")
    if images.shape[1] != channels:
        raise UsageError(f"images have {images.shape[1]} channels, expected {channels} "
                         "(4-d input is read as [N, H, W, C])")
    return images


def uint8_to_normalized(images_uint8, name: str) -> torch.Tensor:
    """uint8 [N, H, W] or [N, H, W, C] (numpy or torch) -> float32 [N, C, H, W], normalised."""
    images = uint8_to_nchw(images_uint8, get_dataset_info(name).channels).float().div_(255.0)
    mean, std = _stats_view(name, images)
    return images.sub_(mean).div_(std).contiguous()


def generator_to_normalized(x: torch.Tensor, name: str) -> torch.Tensor:
    """Generator output [B, C, H, W] in [-1, 1] -> the normalised space (differentiable)."""
    mean, std = _stats_view(name, x)
    return ((x + 1.0) * 0.5 - mean) / std


def normalized_to_unit(x: torch.Tensor, name: str, clamp: bool = False) -> torch.Tensor:
    """Normalised [B, C, H, W] -> pixels in [0, 1] (the exact inverse; ``clamp=True`` clips the
    out-of-range values an augmentation or a synthetic image may have, e.g. before saving)."""
    mean, std = _stats_view(name, x)
    unit = x * std + mean
    return unit.clamp(0.0, 1.0) if clamp else unit


def is_image_folder_root(name: str, root: Union[str, Path]) -> bool:
    """Whether ``root`` holds ``name`` as an image folder (ROOT/train/<class>/...) rather than
    torchvision's files: true when torchvision's folder is absent and ``train/`` has a folder for
    every class. This is how the JPEG copy of CIFAR-10 is read (README: "CIFAR-10 on these
    machines"): under its own name and facts, not as a user's ``imagefolder`` dataset."""
    spec = get_dataset_info(name)
    if spec.torchvision_name == "ImageFolder":
        return True
    if os.path.isdir(data_folder(spec, root)):
        return False
    train = Path(root) / "train"
    return train.is_dir() and all((train / cls).is_dir() for cls in spec.classes)


def real_arrays(name: str, root: Union[str, Path], train: bool = True, download: bool = False,
                verify_checksums: bool = True) -> Tuple[object, object]:
    """(uint8 images [N, H, W] or [N, H, W, C], labels [N]) of one split, numpy or torch: from
    torchvision's files under ``root``, or from an image-folder root (``is_image_folder_root``).
    The one reader of real pixels for every command."""
    spec = get_dataset_info(name)
    if is_image_folder_root(name, root):
        from .image_folder import image_folder_arrays

        return image_folder_arrays(spec, root, train)
    if hasattr(torchvision_class(spec), "train_list"):
        return cifar_arrays(name, root, train=train, download=download, verify_checksums=verify_checksums)
    dataset = load_real(name, root, train=train, download=download)
    return dataset.data, dataset.targets


LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")


def describe_real_data(name: str, root: Union[str, Path]) -> dict:
    """How ``name``'s real data was read from ``root``, for the records of what was trained on: the
    reader, and for an image folder the file types and whether they are a lossy copy (JPEG), which
    changes what the numbers measured on it mean (README: "CIFAR-10 on these machines")."""
    if not is_image_folder_root(name, root):
        return {"dataset": name, "read_as": "torchvision files"}
    train = Path(root) / "train"
    suffixes = sorted({f.suffix.lower() for c in train.iterdir() if c.is_dir() for f in c.iterdir() if f.is_file()})
    lossy = any(s in LOSSY_SUFFIXES for s in suffixes)
    record = {"dataset": name, "read_as": "image folder", "file_types": suffixes, "lossy_copy": lossy}
    if lossy:
        record["note"] = (f"trained on a lossy ({', '.join(suffixes)}) copy of {get_dataset_info(name).title}, not the "
                          "original pixels")
    return record


def load_tensors(name: str, root: Union[str, Path], train: bool = True, download: bool = False,
                 device: Union[str, torch.device] = "cpu",
                 verify_checksums: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """(images float32 [N, C, H, W] normalised, labels int64 [N]) on ``device``."""
    spec = get_dataset_info(name)
    pixels, targets = real_arrays(name, root, train=train, download=download, verify_checksums=verify_checksums)
    # Convert on the target device: a uint8 copy travels, not a 4x larger float one.
    raw = uint8_to_nchw(pixels, spec.channels).to(device)
    images = raw.float().div_(255.0)
    mean, std = _stats_view(name, images)
    images = images.sub_(mean).div_(std).contiguous()
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.int64).to(device)
    logger.info("loaded %s %s split: %d images %s from %s", name, "train" if train else "test",
                len(labels), tuple(images.shape[1:]), root)
    return images, labels


def channel_stats(images_uint8, channels: int) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Per-channel (mean, std) of uint8 images scaled to [0, 1], over every pixel of every image:
    how the constants above are measured. Exact and fast: from each channel's histogram of the
    256 byte values, in float64."""
    images = uint8_to_nchw(images_uint8, channels)
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(channels):
        counts = torch.bincount(images[:, c].reshape(-1).long(), minlength=256).to(torch.float64).cpu()
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * (values - mean) ** 2).sum() / (n - 1)  # unbiased, like torch.std
        means.append(mean.item())
        stds.append(var.sqrt().item())
    return tuple(means), tuple(stds)


def class_indices(labels: torch.Tensor, num_classes: int) -> List[torch.Tensor]:
    """For each class c, the int64 indices i with labels[i] == c (on the labels' device)."""
    labels = _as_tensor(labels)
    if labels.dim() != 1:
        raise UsageError(f"labels must be 1-d, got shape {tuple(labels.shape)}")
    # One stable sort instead of num_classes boolean scans; counts give the class boundaries.
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=num_classes)
    if counts.numel() > num_classes:
        raise UsageError(f"labels hold values >= num_classes ({num_classes})")
    return list(torch.split(order, counts.tolist()))


def random_real_subset(labels: torch.Tensor, ipc: int, seed: int, num_classes: int) -> torch.Tensor:
    """Indices of ``ipc`` real images per class, int64 [ipc * num_classes] on the labels' device.

    Deterministic from ``seed`` (CPU generator, so the same on every device). Classes interleave
    like the distilled datasets (item i has class i % num_classes), and the images drawn for one
    class do not depend on ``ipc``: the subset for ipc=1 is the first 10 items of the subset for
    ipc=10 with the same seed.
    """
    if isinstance(ipc, bool) or not isinstance(ipc, int) or ipc < 1:
        raise UsageError(f"ipc must be a positive int, got {ipc!r}")
    per_class = class_indices(labels, num_classes)
    short = {c: len(idx) for c, idx in enumerate(per_class) if len(idx) < ipc}
    if short:
        raise UsageError(f"ipc={ipc} is more than some classes hold (class: count {short})")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for idx in per_class:
        perm = torch.randperm(len(idx), generator=generator)[:ipc]  # CPU, from the seed only
        chosen.append(idx[perm.to(idx.device)])
    return torch.stack(chosen, dim=1).reshape(-1)  # [ipc, num_classes] -> interleaved


DEFAULT_DATA_ROOT = "data"  # like torchvision's examples: ./data under the working directory


def default_data_root() -> str:
    """Where the real data is looked for when no root is given: ``$DISTILLED_DATASETS_DATA`` if set,
    else ./data. Every command (train, evaluate, select, distill-wang) uses this one rule."""
    return os.environ.get(DATA_ENV_VAR) or DEFAULT_DATA_ROOT


__all__: Sequence[str] = [
    "DATA_ENV_VAR", "DatasetNotFoundError", "list_datasets", "get_dataset_info", "torchvision_class", "data_folder",
    "load_real", "cifar_arrays", "is_image_folder_root", "real_arrays", "describe_real_data", "load_tensors", "uint8_to_nchw", "uint8_to_normalized", "generator_to_normalized",
    "normalized_to_unit", "channel_stats", "class_indices", "random_real_subset", "default_data_root",
]
