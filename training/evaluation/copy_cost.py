"""The cost of a lossy copy of the test split: the same trained model on original and copied pixels.

CIFAR-10 reaches these machines only as a JPEG (quality 75) copy (README: "CIFAR-10 on these
machines"), with the original pixels of a prefix of the canonical test batch beside it
(``canonical.npz``: ``test_prefix_images`` uint8 [n, 32, 32, 3], ``test_prefix_jpeg_paths`` the
copy's file of each, ``test_batch_labels``). Every run of an evaluation given such a file is
tested on both versions of those images, so each CIFAR-10 record says how much the copy moves its
own models' accuracy. The file is read with ``allow_pickle=False``: arrays only, never objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
from PIL import Image

from distilled_datasets.dataset_info import get_dataset_info
from distilled_datasets.errors import DamagedFileError, MissingFileError, UsageError

from ..common.real_data import uint8_to_normalized

KEYS = ("test_prefix_images", "test_prefix_jpeg_paths", "test_batch_labels")


@dataclass
class CopyCostSet:
    """The same test images twice: original and copied pixels (normalised [n, C, H, W]), one label set."""

    path: str
    original: torch.Tensor
    copy: torch.Tensor
    labels: torch.Tensor

    def describe(self) -> Dict[str, Any]:
        return {"file": self.path, "images": len(self.labels),
                "what": "each run's trained model, tested on the original pixels of these test images and on "
                        "their copies in the data root (the copy's cost: original minus copy)"}


def load_copy_cost_set(path: str, data_root: str, dataset: str, device: torch.device) -> CopyCostSet:
    """Read ``path`` (a canonical.npz) and the copies it names under ``data_root``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in KEYS if k not in archive.files]
            if missing:
                raise UsageError(f"original_test {path} lacks {missing}: it must be the canonical.npz that comes "
                                 "with the CIFAR-10 JPEG copy")
            original, names = archive["test_prefix_images"], archive["test_prefix_jpeg_paths"]
            labels = archive["test_batch_labels"][:len(names)]
    except FileNotFoundError as exc:
        raise MissingFileError(f"original_test {path} does not exist") from exc
    except (ValueError, OSError, MemoryError) as exc:  # not an npz, object arrays (allow_pickle=False), huge shapes
        raise DamagedFileError(f"original_test {path} is not a readable array archive ({exc!r:.200})") from exc
    if original.dtype != np.uint8 or original.ndim != 4 or len(original) != len(names):
        raise UsageError(f"original_test {path}: test_prefix_images must be uint8 [n, H, W, C] with one path each")
    classes = get_dataset_info(dataset).num_classes
    if labels.dtype.kind not in "iu" or labels.shape != (len(names),) or (
            len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < classes):
        raise UsageError(f"original_test {path}: test_batch_labels must hold an integer class in 0..{classes - 1} for "
                         f"each of its {len(names)} images")
    copies = []
    for name in names:
        file = Path(data_root) / str(name)
        if os.path.isabs(str(name)) or ".." in Path(str(name)).parts:
            raise UsageError(f"original_test {path} names {name!r}: paths must lie inside the data root")
        if not file.is_file():
            raise MissingFileError(f"original_test: {file} does not exist; --data-root must be the unpacked copy "
                                   "(the folder holding train/ and test/) that the archive's paths refer to")
        try:
            with Image.open(file) as image:
                copies.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
        except OSError as exc:  # PIL's UnidentifiedImageError too
            raise DamagedFileError(f"original_test: {file} is not a readable image ({exc})") from None
        if copies[-1].shape != original.shape[1:]:
            raise UsageError(f"original_test: {file} is {copies[-1].shape}, its original {original.shape[1:]}")
    copy = np.stack(copies)
    return CopyCostSet(path=path, original=uint8_to_normalized(original, dataset).to(device),
                       copy=uint8_to_normalized(copy, dataset).to(device),
                       labels=torch.as_tensor(labels.astype(np.int64)).to(device))


def measure(cost_set: CopyCostSet, test: Callable[[torch.Tensor, torch.Tensor], Tuple[int, int]]) -> Dict[str, Any]:
    """One run's accuracies on both versions; ``test(images, labels) -> (correct, total)``."""
    original, total = test(cost_set.original, cost_set.labels)
    copied, _ = test(cost_set.copy, cost_set.labels)
    return {"images": total, "original_correct": original, "copy_correct": copied,
            "original_accuracy": round(100.0 * original / total, 4), "copy_accuracy": round(100.0 * copied / total, 4)}


def summarize(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Means over the runs that carry a measurement (accuracy points; gap = original - copy)."""
    measured = [r["original_test"] for r in runs if r.get("original_test")]
    if not measured:
        return {}
    original = np.array([m["original_accuracy"] for m in measured])
    copied = np.array([m["copy_accuracy"] for m in measured])
    gap = original - copied
    return {"n": len(measured), "original_mean": round(float(original.mean()), 4),
            "copy_mean": round(float(copied.mean()), 4), "gap_mean": round(float(gap.mean()), 4),
            "gap_std": round(float(gap.std()), 4)}
