"""Tiny learnable data shared by the harness tests: class c lights patch c of a 4x4 grid."""

from __future__ import annotations

import numpy as np
import torch

from distilled_datasets.training.evaluation.harness import EvalConfig


def patch_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """uint8 [N, 28, 28]: class c lights the 7x7 patch c of a 4x4 grid (plus noise)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(len(labels), 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, k = divmod(int(c), 4)
        images[i, 7 * r:7 * r + 7, 7 * k:7 * k + 7] = 230
    return images


def tiny_split(per_class: int, seed: int):
    labels = np.tile(np.arange(10), per_class)
    return torch.from_numpy(patch_images(labels, seed)), torch.from_numpy(labels).long()


TRAIN, TEST = tiny_split(3, seed=1), tiny_split(4, seed=2)


def fast(**kw) -> EvalConfig:
    """A reduced config: few epochs, one thread-friendly CPU run, no progress bars."""
    base = dict(epochs=2, runs=1, device="cpu", progress=False)
    return EvalConfig(**{**base, **kw})
