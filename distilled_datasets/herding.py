"""Deployment-time selection: keep some of several generated candidates (herding, k-center or a mix).

A generator whose ``sampling.candidates`` is m > 1 synthesizes m images for every image it
returns, embeds them with a small feature network shipped in its weights (trained on the real
data, see ``distilled_datasets.training.selection.selector_fit``), and keeps them by *herding*: greedily, the
candidate that brings the running mean of the kept features closest to the real class mean. The
kept images come out in herding order, so every prefix of a chunk (the first ``ipc`` images of a
small set) is itself a herded selection. Selection runs per chunk, so an image still depends only
on (weights, seed, class, index).
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from .errors import UsageError

# The selector's own arguments; a config may override them (stored in config.json).
SELECTOR_DEFAULTS: Dict[str, int] = {"width": 16, "feature_dim": 64}


class FeatureNet(nn.Module):
    """Images in [-1, 1] [B, C, H, W] -> features [B, feature_dim]; ``head`` classifies them.

    ``class_means`` ([num_classes, feature_dim]) holds the mean feature of each class over the
    real training set: the herding target.
    """

    def __init__(self, channels: int, image_size: int, num_classes: int, width: int, feature_dim: int):
        super().__init__()
        if image_size % 4:
            raise UsageError(f"image_size must be a multiple of 4, got {image_size}")
        side = image_size // 4
        self.arguments = {"width": width, "feature_dim": feature_dim}  # what config.json records
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * side * side, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)
        self.register_buffer("class_means", torch.zeros(num_classes, feature_dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


SELECTION_METHODS = ("herding", "kcenter", "mix")


def select(method: str, features: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of ``k`` rows of ``features`` [N, D] (candidates), in selection order.

    - "herding": each pick brings the running mean of the picks closest to ``target`` (the real
      class mean): typical images, the set's mean right;
    - "kcenter": the candidate closest to ``target`` first, then each pick the candidate farthest
      from every earlier pick: coverage, the set spread over the class;
    - "mix": picks alternate between the two rules (even positions herding, odd k-center), so
      every prefix is half typical, half spread.
    Ties go to the first candidate, so the order is deterministic.
    """
    if method not in SELECTION_METHODS:
        raise UsageError(f"selection method must be one of {SELECTION_METHODS}, got {method!r}")
    if not 0 < k <= features.shape[0]:
        raise UsageError(f"cannot keep {k} of {features.shape[0]} candidates")
    chosen = []
    total = torch.zeros_like(target)
    taken = torch.zeros(features.shape[0], dtype=torch.bool)
    nearest = torch.full((features.shape[0],), float("inf"))  # distance to the closest pick so far
    for step in range(k):
        rule = "herding" if method == "herding" or (method == "mix" and step % 2 == 0) else "kcenter"
        if rule == "herding":
            score = ((total[None] + features) / (step + 1) - target[None]).norm(dim=1)
        elif step == 0:
            score = (features - target[None]).norm(dim=1)
        else:
            score = -nearest  # farthest from every pick
        score[taken] = float("inf")
        index = int(score.argmin())
        chosen.append(index)
        taken[index] = True
        total = total + features[index]
        nearest = torch.minimum(nearest, (features - features[index][None]).norm(dim=1))
    return torch.tensor(chosen, dtype=torch.long)


def herd(features: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of ``k`` rows of ``features`` [N, D], in herding order towards ``target`` [D]."""
    return select("herding", features, target, k)
