"""Training data from any folder of images in torchvision's ImageFolder layout: the user's own classes.

The folder holds ``train/<class>/<image>`` (and ``test/<class>/<image>`` to measure against):
class names come from the sub-folders (sorted, as ImageFolder does); every image is resized on its
shorter side and centre-cropped to ``image_size`` and converted to ``channels`` (1: grey, 3: RGB);
the per-channel mean and std are measured over the training images. ``register_image_folder``
registers these facts as the dataset ``imagefolder:<name>``, so every part of training reads
them like MNIST's; the generator records them in config.json, which is how
``DistilledImageFolder`` loads it back without the folder.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torchvision
from PIL import Image
from torchvision.transforms import functional as TF

from distilled_datasets.dataset_info import IMAGE_FOLDER_PREFIX, DatasetInfo, register_dataset
from distilled_datasets.errors import DamagedFileError, MissingFileError, UsageError
from distilled_datasets.validation import check_int

logger = logging.getLogger(__name__)

SPLITS = {True: "train", False: "test"}


def split_folder(root, train: bool) -> Path:
    folder = Path(root) / SPLITS[train]
    if not folder.is_dir():
        raise MissingFileError(f"{folder} does not exist: an image-folder dataset needs ROOT/train/<class>/<image> "
                               "(and ROOT/test/<class>/<image> to evaluate against), with ROOT given as --data-root")
    return folder


def _image_folder(folder: str) -> torchvision.datasets.ImageFolder:
    """torchvision's listing of ``folder``; its refusals (no class folders, a class folder without images)
    as errors that say what the layout must be."""
    try:
        return torchvision.datasets.ImageFolder(folder)
    except FileNotFoundError as exc:
        raise MissingFileError(f"{folder} is not an image folder ({exc}); it needs one sub-folder per class, each "
                               "holding that class's images") from None


@lru_cache(maxsize=8)
def _arrays(folder: str, image_size: int, channels: int) -> Tuple[np.ndarray, np.ndarray, Tuple[str, ...]]:
    dataset = _image_folder(folder)
    mode = "L" if channels == 1 else "RGB"
    images = []
    for path, _ in dataset.samples:
        try:
            with Image.open(path) as image:
                image = image.convert(mode)
        except OSError as exc:  # PIL's UnidentifiedImageError too: a damaged or truncated file
            raise DamagedFileError(f"{path} is not a readable image ({exc}); replace or remove it") from None
        if image.size != (image_size, image_size):  # already the right size: no resampling
            image = TF.center_crop(TF.resize(image, image_size), [image_size, image_size])
        images.append(np.asarray(image, dtype=np.uint8))
    labels = np.asarray(dataset.targets, dtype=np.int64)
    return np.stack(images), labels, tuple(dataset.classes)


def image_folder_arrays(info: DatasetInfo, root, train: bool) -> Tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, H, W] or [N, H, W, C] and int64 labels [N] of one split."""
    images, labels, classes = _arrays(str(split_folder(root, train)), info.image_size, info.channels)
    if classes != info.classes:
        raise UsageError(f"{split_folder(root, train)} has the classes {list(classes)}, the training split "
                         f"{list(info.classes)}; both splits need the same class folders")
    return images, labels


def register_image_folder(root, image_size: Optional[int] = None, channels: Optional[int] = None,
                          name: Optional[str] = None) -> DatasetInfo:
    """Measure ``root``'s training split and register it as ``imagefolder:<name>`` (default: the
    folder's name). ``image_size`` defaults to the first image's shorter side (a multiple of 4,
    as the generators need), ``channels`` to 1 for grey first images, else 3."""
    from .real_data import channel_stats

    folder = split_folder(root, train=True)
    probe = _image_folder(str(folder))
    if not probe.samples:
        raise UsageError(f"{folder} holds no images in class sub-folders")
    try:
        with Image.open(probe.samples[0][0]) as first:
            channels = channels or (1 if first.mode in ("1", "L", "I", "I;16", "F") else 3)
            size_given = image_size is not None
            image_size = image_size or min(first.size)
    except OSError as exc:
        raise DamagedFileError(f"{probe.samples[0][0]} is not a readable image ({exc}); replace or remove it") from None
    check_int("channels", channels, 1, 3)
    if channels == 2:
        raise UsageError("channels must be 1 (grey) or 3 (RGB), got 2")
    taken = "" if size_given else " (the shorter side of the first image; pass --image-size to choose one)"
    check_int("image_size", image_size, 4, 1024)
    if image_size % 4:
        raise UsageError(f"image_size must be a multiple of 4 (the generators upsample twice by 2), got "
                         f"{image_size}{taken}")
    images, _, classes = _arrays(str(folder), image_size, channels)
    mean, std = channel_stats(images, channels)
    info = DatasetInfo(name=f"{IMAGE_FOLDER_PREFIX}{name or Path(root).resolve().name}", title=name or Path(root).name,
                       classes=classes, channels=channels, image_size=image_size,
                       mean=tuple(round(v, 4) for v in mean), std=tuple(round(max(v, 1e-3), 4) for v in std),
                       flip=False, torchvision_name="ImageFolder", hub_dataset=name or Path(root).name)
    logger.info("image folder %s: %d images of %d classes, %dx%d, %d channel(s)", root, len(images), len(classes),
                image_size, image_size, channels)
    return register_dataset(info, replace=True)  # the same folder read at another size, in the same process



def register_for_generator(root, generator) -> DatasetInfo:
    """Register ``root`` as the image folder ``generator`` was trained on: at its image size and
    channels, under its dataset name, and refused when the folder holds other classes."""
    trained_on = generator.metadata.get("dataset") or ""
    if not trained_on.startswith(IMAGE_FOLDER_PREFIX):
        raise UsageError(f"--dataset imagefolder takes a generator trained on an image folder; this one was trained "
                         f"on {trained_on or 'an unnamed dataset'}")
    classes = _image_folder(str(split_folder(root, train=True))).classes  # a listing: nothing read yet
    if list(classes) != list(generator.metadata.get("classes") or []):
        raise UsageError(f"--data-root {root} holds the classes {list(classes)}, the generator was trained on "
                         f"{generator.metadata.get('classes')}: pass the image folder it was trained on")
    cfg = generator.config
    return register_image_folder(root, cfg.image_size, cfg.channels, name=trained_on[len(IMAGE_FOLDER_PREFIX):])
