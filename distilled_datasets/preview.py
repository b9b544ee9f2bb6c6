"""Sample grids: one row per class, the first ``per_class`` images a dataset with that seed holds."""

from __future__ import annotations

import os
from typing import Union

import numpy as np
from PIL import Image

from .generator import Generator
from .synthesis import inference_copy, synthesize_chunk


def sample_grid(generator: Generator, per_class: int = 10, seed: int = 0, padding: int = 2) -> Image.Image:
    """A PIL image: row c holds samples 0..per_class-1 of class c (the dataset's own images)."""
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    generator = inference_copy(generator)  # once, not per chunk (a no-op for a loaded generator)
    size = generator.sampling.chunk_size
    chunks = -(-per_class // size)
    rows = []
    for label in range(generator.config.num_classes):
        row = np.concatenate([synthesize_chunk(generator, seed, label, j) for j in range(chunks)])[:per_class]
        rows.append(row)
    images = np.stack(rows)  # [classes, per_class, H, W(, C)]
    classes, cols, h, w = images.shape[:4]
    channels = images.shape[4] if images.ndim == 5 else None
    shape = (classes * (h + padding) + padding, cols * (w + padding) + padding)
    canvas = np.full(shape + ((channels,) if channels else ()), 255, dtype=np.uint8)
    for r in range(classes):
        for c in range(cols):
            top, left = padding + r * (h + padding), padding + c * (w + padding)
            canvas[top:top + h, left:left + w] = images[r, c]
    return Image.fromarray(canvas)


def save_sample_grid(generator: Generator, path: Union[str, os.PathLike], per_class: int = 10, seed: int = 0) -> None:
    """Write the grid as PNG via a temporary name, so a reader never sees half a file."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}.png"
    sample_grid(generator, per_class=per_class, seed=seed).save(tmp)
    os.replace(tmp, path)
