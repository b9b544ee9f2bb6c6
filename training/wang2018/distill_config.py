"""The recipe of one Wang et al. (2018) distillation run, as a small dataclass that travels with
the result (config.json "training" section)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from distilled_datasets.dataset_info import get_dataset_info
from distilled_datasets.errors import UsageError
from distilled_datasets.validation import check_known_keys, check_number, check_positive_int

MODES = ("fixed", "random", "pool")
INIT_DISTRIBUTIONS = ("default", "xavier")  # see unroll.sample_init


@dataclass
class WangConfig:
    """Hyper-parameters of the bi-level optimisation (defaults follow the paper's code for MNIST).

    Inner loop: ``steps`` SGD steps, each on ``images_per_class / steps`` images of every class
    (balanced, fixed labels), repeated for ``epochs`` epochs; step i of the unrolled sequence uses
    its own learned rate eta_i = softplus(raw_i), so there are ``steps * epochs`` rates.
    Outer loop: Adam (``lr``) on pixels and raw rates, ``iterations`` updates, each on a real
    batch of ``batch_size`` images; the Adam rate is multiplied by ``decay_factor`` every
    ``decay_every`` iterations (0: every iterations // 10, so ten decays as in the paper's
    40-of-400-epochs schedule).

    Modes: ``fixed`` (one known init, drawn with ``init_seed`` unless weights are given),
    ``random`` (``nets_per_step`` fresh inits per iteration) and ``pool``
    (``nets_per_step`` draws per iteration from given weights, e.g. trained classifiers).
    ``init`` names p(theta_0) for the fixed and random modes: "default" (the model's PyTorch
    init) or "xavier" (the paper's code: xavier-normal weights, zero biases).
    ``malicious = (K, T)`` swaps the objective for the K -> T poisoning loss of eq. (10).
    """

    dataset: str = field(default="mnist", metadata={"help": "mnist, fashion_mnist or cifar10"})
    model: str = field(default="lenet", metadata={"help": "network",
                                                  "default_text": "lenet, or alexcifarnet for cifar10"})
    mode: str = field(default="fixed", metadata={
        "help": "fixed: one known init; random: fresh inits every iteration; pool: draws from --init-pool",
        "default_text": "fixed, or what --init-from/--init-pool imply", "choices": MODES})
    images_per_class: int = field(default=1, metadata={"help": "distilled images per class, all steps together"})
    steps: int = field(default=1, metadata={"help": "inner GD steps S (each on images-per-class/S per class)"})
    epochs: int = field(default=3, metadata={"help": "inner epochs E (the S steps repeated)"})
    iterations: int = field(default=2000, metadata={"help": "outer Adam iterations"})
    batch_size: int = field(default=1024, metadata={"help": "real images per outer iteration"})
    nets_per_step: int = field(default=1, metadata={"help": "initial weights per outer iteration (random/pool)"})
    lr: float = field(default=0.01, metadata={"help": "Adam rate for pixels and raw step sizes"})
    init_step_lr: float = field(default=0.02, metadata={"help": "initial inner step size"})
    decay_every: int = field(default=0, metadata={
        "help": "multiply the Adam rate by --decay-factor every N iterations (0: iterations // 10)"})
    decay_factor: float = 0.5
    grad_clip: float = field(default=0.0, metadata={"help": "clip the outer gradient norm (0: off)"})
    seed: int = field(default=0, metadata={"help": "seed of pixels, real batches and random inits"})
    init_seed: int = field(default=0, metadata={"help": "seed of the fixed init (mode fixed)"})
    init: str = field(default="default", metadata={
        "help": "p(theta_0): the model's PyTorch init, or xavier-normal weights + zero biases (paper's code)",
        "choices": INIT_DISTRIBUTIONS})
    malicious: Optional[Tuple[int, int]] = field(default=None, metadata={
        "help": "poisoning objective: steps make class K predicted as T, other classes kept", "nargs": 2, "type": int,
        "metavar": ("K", "T")})
    log_every: int = field(default=50, metadata={"help": "outer iterations between log lines"})

    def __post_init__(self):
        from ..common.config_flags import check_bounds

        check_bounds(self)
        if self.mode not in MODES:
            raise UsageError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.init not in INIT_DISTRIBUTIONS:
            raise UsageError(f"init must be one of {list(INIT_DISTRIBUTIONS)}, got {self.init!r}")
        for name in ("images_per_class", "steps", "epochs", "iterations", "batch_size", "nets_per_step", "log_every"):
            check_positive_int(name, getattr(self, name))
        for name in ("lr", "init_step_lr", "decay_factor"):
            check_number(name, getattr(self, name), 0.0, strict=True)
        if self.images_per_class % self.steps:
            raise UsageError(
                f"images_per_class ({self.images_per_class}) must be a multiple of steps ({self.steps}): every "
                "step uses the same number of images of every class"
            )
        for name in ("decay_every", "seed", "init_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be an int >= 0, got {value!r}")
        if not isinstance(self.grad_clip, (int, float)) or self.grad_clip < 0:
            raise UsageError(f"grad_clip must be >= 0, got {self.grad_clip!r}")
        if self.malicious is not None:
            pair = tuple(self.malicious)
            if len(pair) != 2 or not all(isinstance(c, int) and not isinstance(c, bool) for c in pair) \
                    or pair[0] == pair[1] or min(pair) < 0:
                raise UsageError(f"malicious must be two different class indices (K, T), got {self.malicious!r}")
            classes = get_dataset_info(self.dataset).num_classes
            if max(pair) >= classes:
                raise UsageError(f"malicious (--malicious K T) must be class indices of {self.dataset}, "
                                 f"0..{classes - 1}, got {self.malicious!r}")
            self.malicious = (int(pair[0]), int(pair[1]))

    @property
    def num_rates(self) -> int:
        return self.steps * self.epochs

    @property
    def decay_period(self) -> int:
        return self.decay_every or max(1, self.iterations // 10)

    def to_dict(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        data["malicious"] = list(self.malicious) if self.malicious else None
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "WangConfig":
        check_known_keys(data, [f.name for f in dataclasses.fields(cls)], "WangConfig")
        data = dict(data)
        if data.get("malicious") is not None:
            data["malicious"] = tuple(data["malicious"])
        return cls(**data)
