"""Sample grids: one row per class, the images a dataset of that seed holds, left to right."""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from .files import atomic_write
from .generator import Generator
from .synthesis import inference_copy, synthesize_chunks
from .validation import check_positive_int

PADDING = 2  # white pixels between and around the images


def image_grid(images: np.ndarray) -> Image.Image:
    """uint8 [rows, cols, H, W] or [rows, cols, H, W, C] -> one PIL image, row r = images[r]."""
    rows, cols = images.shape[:2]
    tensor = torch.from_numpy(np.ascontiguousarray(images)).flatten(0, 1)  # [rows * cols, H, W(, C)]
    tensor = tensor[:, None] if tensor.dim() == 3 else tensor.permute(0, 3, 1, 2)  # [N, C, H, W]
    grid = make_grid(tensor, nrow=cols, padding=PADDING, pad_value=255)  # uint8 [3 or C, h, w]
    if images.ndim == 4:
        return Image.fromarray(grid[0].numpy())  # make_grid repeats one channel three times
    return Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy())


def generator_grid(generator: Generator, per_class: int = 10, seed: int = 0) -> Image.Image:
    """Row c holds samples 0..per_class-1 of class c: the images ``DistilledX(seed=seed)`` holds."""
    check_positive_int("per_class", per_class)
    generator = inference_copy(generator)  # once, not per chunk (a no-op for a loaded generator)
    chunks = -(-per_class // generator.sampling.chunk_size)
    classes = generator.config.num_classes
    keys = [(label, j) for j in range(chunks) for label in range(classes)]  # row order: one pass per row
    made = dict(zip(keys, synthesize_chunks(generator, seed, keys)))
    rows = [np.concatenate([made[(label, j)] for j in range(chunks)])[:per_class] for label in range(classes)]
    return image_grid(np.stack(rows))


def dataset_grid(dataset) -> Image.Image:
    """Row c holds the ``ipc`` images of class c of a distilled dataset, in index order."""
    dataset.materialize()
    num_classes = len(dataset.classes)
    rows = [[np.asarray(dataset.source.image(c, k)) for k in range(dataset.ipc)] for c in range(num_classes)]
    return image_grid(np.stack([np.stack(row) for row in rows]))


def save_grid(grid: Image.Image, path: Union[str, os.PathLike]) -> None:
    """Write a grid as PNG, atomically (a reader never sees half a file)."""
    atomic_write(path, lambda tmp: grid.save(tmp, format="PNG"))
