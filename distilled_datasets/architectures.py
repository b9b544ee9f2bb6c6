"""Registered conditional generator architectures.

Every architecture maps ``(noise [B, noise_dim], labels [B]) -> images [B, C, H, W]`` in
[-1, 1], and takes ``channels_last=True`` to compute its convolutions in that memory format (the
same images up to float rounding; synthesis uses it for the "class_rows" layout). The registry is a
plain dict: a name is registered once and refused the second time.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

from .errors import UsageError

_ARCHITECTURES: Dict[str, Callable[..., nn.Module]] = {}

# Default keyword arguments of each registered architecture; a config may override them.
ARCHITECTURE_DEFAULTS: Dict[str, dict] = {}


def register_architecture(name: str, defaults: dict) -> Callable:
    """Decorator: register ``builder(noise_dim, num_classes, channels, image_size, **kwargs)``."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _ARCHITECTURES:
            raise UsageError(f"generator architecture {name!r} is already registered")
        _ARCHITECTURES[name] = builder
        ARCHITECTURE_DEFAULTS[name] = dict(defaults)
        return builder

    return wrap


def list_architectures() -> List[str]:
    return sorted(_ARCHITECTURES)


def build_architecture(name: str, **kwargs) -> nn.Module:
    if name not in _ARCHITECTURES:
        raise UsageError(f"unknown generator architecture {name!r}; valid values: {list_architectures()}")
    return _ARCHITECTURES[name](**kwargs)


class _UpBlock(nn.Sequential):
    """Nearest 2x upsampling, then conv-BN-ReLU: [B, c_in, s, s] -> [B, c_out, 2s, 2s]."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class UpsamplingGenerator(nn.Module):
    """Label-conditioned generator: [z, embed(y)] -> linear -> (s/4)^2 map -> two 2x up blocks.

    Nearest upsampling + conv rather than transposed convs avoids checkerboard artefacts. The
    label enters twice, through the input embedding and through a per-class bias of the first
    feature map, so that every class has its own starting point even for the same noise.
    BatchNorm runs on its running statistics in eval mode, so an image never depends on the
    other images of its batch.
    """

    def __init__(self, noise_dim: int, num_classes: int, channels: int, image_size: int,
                 width: int, embed_dim: int):
        super().__init__()
        if image_size % 4:
            raise UsageError(f"image_size must be a multiple of 4, got {image_size}")
        self.start = image_size // 4
        self.width = width
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.project = nn.Linear(noise_dim + embed_dim, 4 * width * self.start * self.start)
        self.class_bias = nn.Embedding(num_classes, 4 * width)
        self.stem = nn.Sequential(nn.BatchNorm2d(4 * width), nn.ReLU(inplace=True))
        self.up = nn.Sequential(_UpBlock(4 * width, 2 * width), _UpBlock(2 * width, width))
        self.to_image = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.class_bias.weight)

    # Where learned codes may live instead of the input noise (sampling.latent_layer): the feature
    # map right after the projection ("stem", [4w, s/4, s/4]) or after the first up block ("up1",
    # [2w, s/2, s/2]); deeper codes hold more of each image, at more numbers per image.
    CODE_LAYERS = ("stem", "up1")

    def code_shape(self, layer: str) -> Tuple[int, ...]:
        quarter = self.start
        return {"stem": (4 * self.width, quarter, quarter), "up1": (2 * self.width, 2 * quarter, 2 * quarter)}[layer]

    def encode(self, noise: torch.Tensor, labels: torch.Tensor, layer: str,
               channels_last: bool = False) -> torch.Tensor:
        """The feature map at ``layer`` (CODE_LAYERS) that ``noise`` gives: [B, *code_shape(layer)];
        ``channels_last`` as in forward, so that encode + decode is forward's exact computation."""
        h = self.project(torch.cat([noise, self.embed(labels)], dim=1))
        h = h.view(-1, 4 * self.width, self.start, self.start)  # [B, 4w, s/4, s/4]
        if layer == "stem":
            return h
        if channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        return self.up[0](self.stem(h + self.class_bias(labels)[:, :, None, None]))

    def decode(self, h: torch.Tensor, labels: torch.Tensor, layer: str, channels_last: bool = False) -> torch.Tensor:
        """Images from the codes ``h`` at ``layer`` ("noise" or one of CODE_LAYERS): the rest of the
        forward pass, so that a trainer of codes in any layer calls one method."""
        if layer == "noise":
            h, layer = self.encode(h, labels, "stem"), "stem"
        if channels_last:
            # Every conv then runs its channels-last kernel (the weights stay as they are): measured
            # 1.7x faster per image on a CPU for these small channel counts (benchmarks/synthesis.py).
            h = h.contiguous(memory_format=torch.channels_last)
        if layer == "stem":
            h = self.up(self.stem(h + self.class_bias(labels)[:, :, None, None]))
        else:
            h = self.up[1](h)
        return torch.tanh(self.to_image(h))  # [B, C, s, s]

    def forward(self, noise: torch.Tensor, labels: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        return self.decode(noise, labels, "noise", channels_last)


# DiM-size: noise 100 and about 3M parameters at 28x28 (most of them in the projection).
@register_architecture("dim", defaults={"width": 64, "embed_dim": 100})
def _dim(**kwargs) -> nn.Module:
    return UpsamplingGenerator(**kwargs)


# Small: a few hundred thousand parameters, trains on a laptop CPU.
@register_architecture("small", defaults={"width": 24, "embed_dim": 32})
def _small(**kwargs) -> nn.Module:
    return UpsamplingGenerator(**kwargs)
