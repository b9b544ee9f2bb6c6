"""Stored distilled images with a learned training schedule (Wang et al. 2018, "Dataset
Distillation"), loadable through the same dataset classes as the generators.

Unlike a generator, such a set is a fixed list of M images whose pixels were optimised together
with a sequence of S x E gradient steps: epoch e, step s trains on the images of
``step_indices[s]`` with rate ``lr_schedule[e * S + s]``. Their intended use is that schedule,
applied to raw float pixels (``images``, normalised space), from the initialisation they were
learned for (``init_state_dict()`` when a fixed init was stored, else a fresh net drawn as the
config's ``init`` says). The torchvision view (``dataset[i]`` -> (PIL image, int)) denormalises,
clamps to [0, 1] and quantises to uint8: it is lossy, and training on it with an ordinary recipe
is not what these images were made for.

Folder format ("distilled-datasets/images"): config.json (dataset, classes, channels,
image_size, normalization {mean, std}, num_images, steps, epochs, learning_rates, mode, model,
init, metrics, command, training) and model.safetensors with ``images`` float32 [M, C, H, W]
(normalised), ``labels`` int64 [M] (label of image j is j % num_classes, so that the dataset's
interleaved-class convention holds), ``lrs`` float32 [S * E] (effective, positive) and, for a
fixed init, ``init.<parameter name>``. JSON and safetensors only: never a pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .config import LIMITS, check_metadata_types, is_number, read_config_file
from .errors import InvalidGeneratorError

IMAGES_FORMAT_NAME = "distilled-datasets/images"
IMAGES_FORMAT_VERSION = 1
INIT_PREFIX = "init."
MAX_STEPS = 100_000  # steps and epochs of a learned schedule: bounded like every count of a config


def _require(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise InvalidGeneratorError(f"{path}: {message}; re-save it with `distilled-datasets distill-wang`")


@dataclass
class LearnedImages:
    """The contents of one learned-images folder, checked."""

    config: Dict[str, Any]
    images: torch.Tensor  # float32 [M, C, H, W], normalised space
    labels: torch.Tensor  # int64 [M]
    lrs: torch.Tensor  # float32 [S * E]
    init: Dict[str, torch.Tensor] = field(default_factory=dict)
    _pixels: Optional[np.ndarray] = field(default=None, repr=False)

    @classmethod
    def from_files(cls, config_path: str, weights_path: str,
                   config_data: Optional[Dict[str, Any]] = None) -> "LearnedImages":
        config = (config_data if config_data is not None
                  else read_config_file(config_path, formats=(IMAGES_FORMAT_NAME,)))
        try:
            tensors = load_file(weights_path)
        except (SafetensorError, OSError) as exc:
            raise InvalidGeneratorError(
                f"{weights_path} is not a readable safetensors file ({exc}); it may be truncated: download or "
                "save it again"
            ) from exc
        init = {k[len(INIT_PREFIX):]: v.float() for k, v in tensors.items() if k.startswith(INIT_PREFIX)}
        unknown = sorted(k for k in tensors if k not in ("images", "labels", "lrs") and not k.startswith(INIT_PREFIX))
        _require(not unknown, weights_path, f"unexpected tensors {unknown}")
        missing = [k for k in ("images", "labels", "lrs") if k not in tensors]
        _require(not missing, weights_path, f"missing tensors {missing}")
        real = [k for k in ("images", "lrs") if not tensors[k].is_floating_point()]  # complex would lose a part
        _require(not real, weights_path, f"{real} must be real floating-point tensors")
        out = cls(config, tensors["images"].float(), tensors["labels"], tensors["lrs"].float(), init)
        out._validate(config_path, weights_path)
        return out

    def _validate(self, config_path: str, weights_path: str) -> None:
        cfg = self.config
        for key in ("dataset", "num_classes", "channels", "image_size", "steps", "epochs", "normalization"):
            _require(key in cfg, config_path, f"missing key {key!r}")
        try:  # the keys a generator's config has too (its metrics are rows; these, one measured accuracy)
            check_metadata_types({k: v for k, v in cfg.items() if k != "metrics"})
        except InvalidGeneratorError as exc:
            raise InvalidGeneratorError(f"{config_path}: {exc}") from None
        metrics = cfg.get("metrics")
        accuracy = metrics.get("test_accuracy") if isinstance(metrics, dict) else None
        accuracy_ok = accuracy is None or is_number(accuracy) or (
            isinstance(accuracy, dict) and all(is_number(accuracy[k]) for k in ("mean", "std", "n") if k in accuracy))
        _require(metrics is None or (isinstance(metrics, dict) and accuracy_ok),
                 config_path,
                 "metrics must be an object; its test_accuracy a number or {'mean', 'std', 'n'} of numbers")
        for key, limit in (("num_classes", LIMITS["num_classes"]), ("channels", LIMITS["channels"]),
                           ("image_size", LIMITS["image_size"]), ("steps", MAX_STEPS), ("epochs", MAX_STEPS)):
            value = cfg[key]
            _require(isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limit, config_path,
                     f"{key} must be an int in 1..{limit}, got {value!r}")
        norm = cfg["normalization"]
        ok = isinstance(norm, dict) and all(
            isinstance(norm.get(k), list) and len(norm[k]) == cfg["channels"] for k in ("mean", "std"))
        _require(ok, config_path, "normalization must be {'mean': [...], 'std': [...]} with one value per channel")
        _require(all(s > 0 for s in norm["std"]), config_path, "normalization std must be > 0")
        m, k = self.images.shape[0], cfg["num_classes"]
        shape = (m, cfg["channels"], cfg["image_size"], cfg["image_size"])
        _require(tuple(self.images.shape) == shape, weights_path,
                 f"images have shape {list(self.images.shape)}, config says {list(shape)}")
        _require(bool(torch.isfinite(self.images).all()), weights_path, "images hold non-finite values")
        _require(m >= k and m % (cfg["steps"] * k) == 0, weights_path,
                 f"{m} images cannot form {cfg['steps']} balanced steps of {k} classes")
        _require(self.labels.dtype == torch.int64 and torch.equal(self.labels, torch.arange(m) % k), weights_path,
                 "labels must be int64 j % num_classes (classes interleave)")
        _require(tuple(self.lrs.shape) == (self.steps * self.epochs,), weights_path,
                 f"lrs must have steps * epochs = {self.steps * self.epochs} values, got {list(self.lrs.shape)}")
        _require(bool((self.lrs > 0).all()) and bool(torch.isfinite(self.lrs).all()), weights_path,
                 "lrs must be finite and > 0")
        if "num_images" in cfg:
            _require(cfg["num_images"] == m, config_path, f"num_images is {cfg['num_images']}, the file holds {m}")

    # ---- the schedule ----------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return int(self.config["steps"])

    @property
    def epochs(self) -> int:
        return int(self.config["epochs"])

    @property
    def num_classes(self) -> int:
        return int(self.config["num_classes"])

    @property
    def images_per_class(self) -> int:
        return self.images.shape[0] // self.num_classes

    @property
    def step_indices(self) -> List[List[int]]:
        """For each of the S steps, the indices of the images it trains on (contiguous, balanced)."""
        n = self.images.shape[0] // self.steps
        return [list(range(s * n, (s + 1) * n)) for s in range(self.steps)]

    @property
    def lr_schedule(self) -> List[float]:
        """The S * E rates in the order they are applied (epoch-major: index e * S + s)."""
        return [float(v) for v in self.lrs]

    def schedule(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor, float]]:
        """Yields (images [n, C, H, W] float normalised, labels [n], lr) for each of the S * E steps."""
        n, rates = self.images.shape[0] // self.steps, self.lr_schedule
        for e in range(self.epochs):
            for s in range(self.steps):
                yield self.images[s * n:(s + 1) * n], self.labels[s * n:(s + 1) * n], rates[e * self.steps + s]

    # ---- the torchvision view --------------------------------------------------------------

    @property
    def normalization(self) -> Dict[str, List[float]]:
        return dict(self.config["normalization"])

    def init_state_dict(self) -> Dict[str, torch.Tensor]:
        """The fixed initial weights the images were learned for (empty if none was stored)."""
        return {k: v.clone() for k, v in self.init.items()}

    def pixels(self) -> np.ndarray:
        """uint8 images as torchvision stores them: [M, H, W] (one channel) or [M, H, W, C].

        Denormalised (x * std + mean), clamped to [0, 1] and rounded to 1/255: lossy.
        """
        if self._pixels is None:
            norm = self.config["normalization"]
            mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, -1, 1, 1)
            std = torch.tensor(norm["std"], dtype=torch.float32).view(1, -1, 1, 1)
            unit = (self.images * std + mean).clamp(0.0, 1.0)
            pixels = (unit * 255.0).round().to(torch.uint8)
            pixels = pixels[:, 0] if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1)
            self._pixels = np.ascontiguousarray(pixels.numpy())
        return self._pixels

    def describe(self) -> List[str]:
        cfg = self.config
        rates = ", ".join(f"{v:.4g}" for v in self.lr_schedule[:6]) + (", ..." if len(self.lrs) > 6 else "")
        lines = [
            f"Learned images: {self.images.shape[0]} ({cfg.get('method', 'wang2018')}, mode {cfg.get('mode', '?')}, "
            f"model {cfg.get('model', '?')}, init {cfg.get('init', '?')})",
            f"Schedule: {self.steps} step(s) x {self.epochs} epoch(s), rates [{rates}]",
        ]
        acc = cfg.get("metrics", {}).get("test_accuracy") if isinstance(cfg.get("metrics"), dict) else None
        if isinstance(acc, dict) and isinstance(acc.get("mean"), (int, float)):
            spread = f" +- {acc['std']:.2f}" if acc.get("n", 1) > 1 and "std" in acc else ""
            lines.append(f"Measured: {acc['mean']:.2f}{spread}% test accuracy with the schedule (n={acc.get('n', 1)})")
        return lines
