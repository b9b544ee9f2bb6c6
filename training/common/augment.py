"""Differentiable Siamese augmentation (DSA, Zhao & Bilen 2021).

Six operations -- color (brightness, saturation, contrast), crop (translation), cutout, flip,
scale, rotate -- each differentiable with respect to the images, so a loss computed on augmented
synthetic images still reaches the generator (or the learned pixels). "Siamese": calling with the
same ``seed`` and batch size draws the same random parameters, so a real and a synthetic batch are
transformed alike before they are compared.

Everything works on NORMALISED batches [B, C, H, W] (see training/common/real_data.py). Two consequences:
- the value 0 is the dataset's mean colour: crop, scale and rotate fill the uncovered border
  with 0, and cutout sets its square to 0, i.e. to the mean colour, not to black;
- color's brightness shift is in units of the dataset's std.

Each operation is a plain function of the images and explicit parameters (``translate(x, dx,
dy)``...), so it can be tested and reused alone; ``DSA`` only draws the parameters. Nothing in
``DSA.__call__`` reads a device tensor back to the host: parameters are drawn on the images'
device from a ``torch.Generator`` seeded on the CPU, and the op chosen for a call comes from a
CPU generator, so it runs inside a GPU inner loop without synchronising.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from distilled_datasets.errors import UsageError, UsageTypeError

OPS: Tuple[str, ...] = ("color", "crop", "cutout", "flip", "scale", "rotate")
DEFAULT_STRATEGY = "_".join(OPS)

# --- the operations: images [B, C, H, W], one parameter per sample ([B] tensors) -------------


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.dtype).view(-1, 1, 1, 1)  # [B] -> [B, 1, 1, 1]


def adjust_brightness(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Add ``shift[b]`` to every pixel of image b."""
    return x + _per_sample(shift, x)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's distance from its own channel mean (grey) by ``factor[b]``; 1 is the
    identity, 0 gives grey. A no-op on one-channel images."""
    grey = x.mean(dim=1, keepdim=True)  # [B, 1, H, W]
    return grey + (x - grey) * _per_sample(factor, x)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each image's distance from its mean value by ``factor[b]``; 1 is the identity."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # [B, 1, 1, 1]
    return mean + (x - mean) * _per_sample(factor, x)


def _sample_affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample ``x`` through the [B, 2, 3] affine map ``theta`` (output coordinates -> input
    coordinates, both in [-1, 1]); outside the input reads 0. Bilinear, so the gradient reaches
    every input pixel that contributes. Computed in at least float32 (autocast may hand us bf16)."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    grid = F.affine_grid(theta.to(dtype), list(x.shape), align_corners=False)  # [B, H, W, 2]
    out = F.grid_sample(x.to(dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.to(x.dtype)


def translate(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Move image b right by ``dx[b]`` and down by ``dy[b]`` pixels, filling with 0. Integer
    shifts land exactly on pixel centres (align_corners=False), so they copy pixels exactly."""
    _, _, h, w = x.shape
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=torch.float32)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * dx.float() / w  # the output at u reads the input at u - dx
    theta[:, 1, 2] = -2.0 * dy.float() / h
    return _sample_affine(x, theta)


def scale(x: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """Resample image b with its sampling grid stretched by ``sx[b]`` horizontally and ``sy[b]``
    vertically about the centre: > 1 shows a wider field (the content shrinks), 1 is the identity."""
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=torch.float32)
    theta[:, 0, 0] = sx.float()
    theta[:, 1, 1] = sy.float()
    return _sample_affine(x, theta)


def rotate(x: torch.Tensor, radians: torch.Tensor) -> torch.Tensor:
    """Rotate image b by ``radians[b]`` about its centre (0 is the identity)."""
    cos, sin = torch.cos(radians.float()), torch.sin(radians.float())
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=torch.float32)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin
    theta[:, 1, 1] = cos
    return _sample_affine(x, theta)


def cutout(x: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, size_h: int, size_w: int) -> torch.Tensor:
    """Set a ``size_h`` x ``size_w`` rectangle centred on (``cy[b]``, ``cx[b]``) to 0 -- the
    dataset's mean colour in the normalised space -- clipped to the image. Differentiable: the
    gradient is 0 inside the rectangle and passes unchanged elsewhere."""
    _, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top = (cy.long() - size_h // 2).view(-1, 1, 1)
    left = (cx.long() - size_w // 2).view(-1, 1, 1)
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)  # [B, H, W]
    return x * (~inside).unsqueeze(1).to(x.dtype)


def flip(x: torch.Tensor, mirror: torch.Tensor) -> torch.Tensor:
    """Mirror image b left-right where ``mirror[b]`` is True."""
    return torch.where(mirror.view(-1, 1, 1, 1), x.flip(3), x)


# --- DSA: draws the parameters ---------------------------------------------------------------


class DSA:
    """Differentiable Siamese augmentation with DSA's default strengths.

    ``strategy``: ops joined by "_" (any of ``OPS``), or "none" for the identity.
    ``flip=False`` drops flip from the strategy. ``scale``: factors in [1/scale, scale] per axis;
    ``rotate_degrees``: angles in [-rotate_degrees, rotate_degrees]; ``crop_ratio``: shifts of up
    to round(crop_ratio * size) pixels per axis; ``cutout_ratio``: the square's side as a
    fraction of the image; ``brightness``: shift in [-brightness/2, brightness/2];
    ``saturation``: factor in [1 - saturation/2, 1 + saturation/2]; ``contrast``: factor in
    [1 - contrast, 1 + contrast]. (With the defaults these are DSA's ranges: brightness +-0.5,
    saturation [0, 2], contrast [0.5, 1.5].) Every strength 0 (scale 1) is the identity.
    ``one_op_per_call``: apply one op of the strategy, drawn per call (DSA's single mode);
    otherwise all of them, in strategy order.
    ``same_for_batch``: one parameter draw shared by every sample of the batch, so that batches
    of different sizes get the same transform with the same seed; by default each sample gets its
    own draw (two batches of the same size and seed are still transformed alike, sample by sample).
    """

    def __init__(self, strategy: str = DEFAULT_STRATEGY, flip: bool = True, scale: float = 1.2,
                 rotate_degrees: float = 15.0, crop_ratio: float = 0.125, cutout_ratio: float = 0.5,
                 brightness: float = 1.0, saturation: float = 2.0, contrast: float = 0.5,
                 one_op_per_call: bool = True, same_for_batch: bool = False):
        if not isinstance(strategy, str):
            raise UsageTypeError(f"strategy must be a str of ops joined by '_', got {type(strategy).__name__}")
        tokens = [] if strategy in ("", "none") else strategy.split("_")
        unknown = [t for t in tokens if t not in OPS]
        if unknown:
            raise UsageError(f"strategy {strategy!r} has unknown ops {unknown}; valid ops: {list(OPS)} "
                             "(joined by '_'), or 'none'")
        if len(set(tokens)) != len(tokens):
            raise UsageError(f"strategy {strategy!r} names an op twice")
        for name, value, low in (("scale", scale, 1.0), ("rotate_degrees", rotate_degrees, 0.0),
                                 ("crop_ratio", crop_ratio, 0.0), ("cutout_ratio", cutout_ratio, 0.0),
                                 ("brightness", brightness, 0.0), ("saturation", saturation, 0.0),
                                 ("contrast", contrast, 0.0)):
            if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
                    or value < low):
                raise UsageError(f"{name} must be a number >= {low}, got {value!r}")
        if crop_ratio >= 1 or cutout_ratio > 1:
            raise UsageError(f"crop_ratio must be < 1 and cutout_ratio <= 1, got {crop_ratio!r}, {cutout_ratio!r}")
        self.ops: List[str] = [t for t in tokens if flip or t != "flip"]
        self.scale_ratio, self.rotate_degrees = float(scale), float(rotate_degrees)
        self.crop_ratio, self.cutout_ratio = float(crop_ratio), float(cutout_ratio)
        self.brightness, self.saturation, self.contrast = float(brightness), float(saturation), float(contrast)
        self.one_op_per_call = bool(one_op_per_call)
        self.same_for_batch = bool(same_for_batch)
        self._apply: Dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
            "color": self._color, "crop": self._crop, "cutout": self._cutout,
            "flip": self._flip, "scale": self._scale, "rotate": self._rotate,
        }

    @classmethod
    def for_dataset(cls, name: str, **kwargs) -> "DSA":
        """DSA with flip only where the dataset's spec allows it (CIFAR-10; not MNIST or
        Fashion-MNIST: see their facts in distilled_datasets/dataset_info.py for why)."""
        from .real_data import get_dataset_info

        return cls(flip=get_dataset_info(name).flip, **kwargs)

    @property
    def strategy(self) -> str:
        return "_".join(self.ops) or "none"

    def __repr__(self) -> str:
        return (f"DSA(strategy={self.strategy!r}, scale={self.scale_ratio}, rotate_degrees={self.rotate_degrees}, "
                f"crop_ratio={self.crop_ratio}, cutout_ratio={self.cutout_ratio}, brightness={self.brightness}, "
                f"saturation={self.saturation}, contrast={self.contrast}, one_op_per_call={self.one_op_per_call}, "
                f"same_for_batch={self.same_for_batch})")

    def __call__(self, x: torch.Tensor, seed: Optional[int] = None) -> torch.Tensor:
        """Augmented copy of ``x`` [B, C, H, W] (same shape, dtype and device).

        Same ``seed`` and batch size -> same op and same parameters (Siamese). ``seed=None``
        draws a seed from torch's global CPU generator (so ``torch.manual_seed`` makes it
        reproducible)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise UsageError(f"x must be a [B, C, H, W] tensor, got {getattr(x, 'shape', type(x).__name__)}")
        if not self.ops:
            return x
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())  # CPU tensor: no device sync
        # The op choice and the device generator's seed come from a CPU generator, so they are
        # known on the host without reading anything back from the device.
        cpu = torch.Generator().manual_seed(int(seed))
        if self.one_op_per_call:
            ops = [self.ops[int(torch.randint(len(self.ops), (1,), generator=cpu))]]
        else:
            ops = self.ops
        device_gen = torch.Generator(device=x.device).manual_seed(int(torch.randint(0, 2**62, (1,), generator=cpu)))
        for op in ops:
            x = self._apply[op](x, device_gen)
        return x

    # Parameter draws: [B] tensors on x's device (one value repeated when same_for_batch).

    def _uniform(self, x: torch.Tensor, gen: torch.Generator, low: float, high: float) -> torch.Tensor:
        n = 1 if self.same_for_batch else x.shape[0]
        u = torch.rand(n, generator=gen, device=x.device)
        return (low + (high - low) * u).expand(x.shape[0])

    def _integers(self, x: torch.Tensor, gen: torch.Generator, low: int, high: int) -> torch.Tensor:
        """Integers in [low, high)."""
        n = 1 if self.same_for_batch else x.shape[0]
        return torch.randint(low, high, (n,), generator=gen, device=x.device).expand(x.shape[0])

    def _color(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, s, c = self.brightness, self.saturation, self.contrast
        x = adjust_brightness(x, self._uniform(x, gen, -b / 2, b / 2))
        x = adjust_saturation(x, self._uniform(x, gen, 1 - s / 2, 1 + s / 2))
        return adjust_contrast(x, self._uniform(x, gen, 1 - c, 1 + c))

    def _crop(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        max_y = int(self.crop_ratio * x.shape[2] + 0.5)
        max_x = int(self.crop_ratio * x.shape[3] + 0.5)
        dx = self._integers(x, gen, -max_x, max_x + 1)
        dy = self._integers(x, gen, -max_y, max_y + 1)
        return translate(x, dx, dy)

    def _cutout(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        _, _, h, w = x.shape
        size_h, size_w = int(self.cutout_ratio * h + 0.5), int(self.cutout_ratio * w + 0.5)
        if size_h == 0 or size_w == 0:
            return x
        # Centres anywhere in the image: the square may hang over the border (then less is cut).
        return cutout(x, self._integers(x, gen, 0, h), self._integers(x, gen, 0, w), size_h, size_w)

    def _flip(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return flip(x, self._uniform(x, gen, 0.0, 1.0) < 0.5)

    def _scale(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        r = self.scale_ratio
        return scale(x, self._uniform(x, gen, 1 / r, r), self._uniform(x, gen, 1 / r, r))

    def _rotate(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        limit = math.radians(self.rotate_degrees)
        return rotate(x, self._uniform(x, gen, -limit, limit))
