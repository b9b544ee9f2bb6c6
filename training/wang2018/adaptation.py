"""Distillation from pre-trained weights (sec. 3.5): the inner steps start from classifiers
trained on dataset A and the images are distilled for dataset B (mode "pool" on B's data with
A's classifiers). This module holds the honest baseline: the same pre-trained weights, a random
real subset of B of the same size, the same S x E step structure, one constant rate chosen on a
validation split of B (never on its test split).
"""

from __future__ import annotations

import logging
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from distilled_datasets.errors import UsageError

from ..common.real_data import random_real_subset
from .unroll import Params, accuracy, apply_schedule

logger = logging.getLogger(__name__)


def split_validation(x: torch.Tensor, y: torch.Tensor, size: int, seed: int = 0
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, val_x, val_y): a fixed random ``size`` images of the training split are
    set aside for choosing hyper-parameters; distillation and baselines use only the rest."""
    if not 0 < size < x.shape[0]:
        raise UsageError(f"validation size must be in (0, {x.shape[0]}), got {size}")
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed)).to(x.device)
    val, train = perm[:size], perm[size:]
    return x[train], y[train], x[val], y[val]


def real_subset_schedule(x: torch.Tensor, y: torch.Tensor, images_per_class: int, num_classes: int, seed: int
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """A random real subset in the distilled layout: image j has class j % num_classes."""
    idx = random_real_subset(y, images_per_class, seed, num_classes)
    return x[idx], y[idx]


def mean_accuracy(model: nn.Module, nets: Sequence[Params], images: torch.Tensor, labels: torch.Tensor,
                  lr: float, steps: int, epochs: int, eval_x: torch.Tensor, eval_y: torch.Tensor) -> List[float]:
    """Accuracy (%) of each net after S x E steps at constant rate ``lr`` on (images, labels)."""
    lrs = torch.full((steps * epochs,), float(lr), device=images.device)
    out = []
    for params in nets:
        stepped = apply_schedule(model, params, images, labels, lrs, steps, epochs)
        out.append(100.0 * accuracy(model, stepped, eval_x, eval_y).float().mean().item())
    return out


def tune_baseline_lr(model: nn.Module, nets: Sequence[Params], x: torch.Tensor, y: torch.Tensor,
                     images_per_class: int, num_classes: int, steps: int, epochs: int, grid: Sequence[float],
                     val_x: torch.Tensor, val_y: torch.Tensor, subset_seeds: Sequence[int]) -> Dict[str, object]:
    """The grid rate with the best mean validation accuracy over ``nets`` x ``subset_seeds``."""
    scores = {}
    for lr in grid:
        accs = []
        for seed in subset_seeds:
            images, labels = real_subset_schedule(x, y, images_per_class, num_classes, seed)
            accs += mean_accuracy(model, nets, images, labels, lr, steps, epochs, val_x, val_y)
        scores[float(lr)] = sum(accs) / len(accs)
        logger.info("baseline lr %.4g: validation accuracy %.2f%%", lr, scores[float(lr)])
    best = max(scores, key=scores.get)
    return {"best_lr": best, "validation_accuracy": scores}
