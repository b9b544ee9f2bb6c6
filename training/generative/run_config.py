"""Configs of a generative-distillation run: one dataclass per stage plus the run's own.

Every field becomes a command-line flag (``--stage1-steps``, ``--stage2-lambda-local``, ...), and
the whole config is saved as train_config.json in the run directory.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from distilled_datasets.dataset_info import canonical_name, list_datasets
from distilled_datasets.errors import UsageError

from ..common.config_flags import add_dataclass_flags, apply_flags, check_bounds

STAGES = ("1", "2", "both")
IMAGE_FOLDER = "imagefolder"  # --dataset for the user's own images: --data-root holds train/<class>/...
# What a resumed run may change (more steps, where the data is, how often it logs); any other
# setting changes what is trained, and a resume that changes it is refused (README: "Resuming").
MAY_CHANGE_ON_RESUME = ("out", "world_size", "stage1.steps", "stage2.steps", "checkpoint_every", "sample_every",
                        "log_every", "device", "data_root", "download")


def _parse_layers(items) -> Dict[str, str]:
    layers = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--stage2-feature-layers takes MODEL=LAYER items, got {item!r}")
        model, layer = item.split("=", 1)
        layers[model] = layer
    return layers


@dataclass
class Stage1Config:
    """Conditional GAN training."""

    steps: int = 20000  # generator updates
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    gan_loss: str = "hinge"  # "hinge" (spectral-norm critic) or "wgan-gp" (DiM's recipe)
    n_critic: int = 1  # critic updates per generator update (5 is usual for wgan-gp)
    aux_weight: float = 0.2  # auxiliary-classifier (AC-GAN) loss weight
    projection: bool = True  # class projection in the critic's score (see gan.Discriminator)
    d_width: int = 64


@dataclass
class Stage2Config:
    """Global-local distillation: the cGAN loss plus matching through a random model pool."""

    steps: int = 5000
    batch_size: int = 64
    lr_g: float = 5e-6  # DiM's stage-2 generator rate
    lr_d: float = 5e-6
    lambda_global: float = 0.01
    lambda_local: float = 0.001  # 0 is DiM (global only)
    gan_weight: float = 1.0  # weight of the cGAN loss in stage 2 (0: matching alone)
    pool: Tuple[str, ...] = ("convnet3", "resnet10", "resnet18")
    # Stage whose output the local loss reads, per pool model ("" = the model's default:
    # block2 of ConvNet3, layer2 (second residual stage) of ResNets).
    feature_layers: Dict[str, str] = field(default_factory=dict, metadata={
        "parse": _parse_layers, "metavar": "MODEL=LAYER",
        "help": "per-model feature layer, e.g. convnet3=block2 resnet18=layer2"})
    online_steps: int = 1  # SGD steps on real batches before each matching step
    online_lr: float = 0.01
    reinit_every: int = 1  # draws of a pool model between fresh initialisations
    dsa: bool = True  # Siamese augmentation of both batches before matching
    match: str = "paired"  # "paired": sample i vs sample i (the paper); "class_mean": per-class means


@dataclass
class RunConfig:
    out: Optional[str] = field(default=None, metadata={"help": "the run directory (default: runs/DATASET)"})
    dataset: str = field(default="mnist", metadata={
        "help": "mnist, fashion_mnist, cifar10, or imagefolder "
                "(your own classes: --data-root holds train/<class>/...)"})
    data_root: Optional[str] = None  # None: $DISTILLED_DATASETS_DATA, else ./data
    download: bool = False
    # Image folders only: the side images are resized and cropped to, and 1 (grey) or 3 (RGB)
    # channels; None: taken from the first training image.
    image_size: Optional[int] = None
    channels: Optional[int] = None
    stage: str = "both"
    init_from: Optional[str] = None  # a stage-1 run directory to start stage 2 from
    architecture: str = "small"
    noise_dim: int = 100
    width: Optional[int] = None  # generator width override (architecture default otherwise)
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1000
    sample_every: int = 1000
    log_every: int = 100
    # Processes that trained the run (torchrun sets it; recorded, not a flag).
    world_size: int = field(default=1, metadata={"flag": False})
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)

    def validate(self) -> None:
        check_bounds(self)
        if self.dataset != IMAGE_FOLDER:  # "fashion-mnist" as every other command takes it
            try:
                self.dataset = canonical_name(self.dataset)
            except UsageError:
                raise UsageError(f"--dataset must be one of {list_datasets() + [IMAGE_FOLDER]}, "
                                 f"got {self.dataset!r}") from None
        if self.out is None:
            self.out = f"runs/{self.dataset}"
        if self.dataset != IMAGE_FOLDER and (self.image_size is not None or self.channels is not None):
            raise UsageError(f"--image-size and --channels apply to --dataset {IMAGE_FOLDER} only; {self.dataset} has "
                             "its own")
        if self.stage not in STAGES:
            raise UsageError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "2" and not self.init_from:
            raise UsageError("stage 2 alone needs --init-from: a run directory holding a stage-1 generator")
        if self.stage1.gan_loss not in ("hinge", "wgan-gp"):
            raise UsageError(f"stage1 gan_loss must be 'hinge' or 'wgan-gp', got {self.stage1.gan_loss!r}")
        for name, value in [("stage1.steps", self.stage1.steps), ("stage2.steps", self.stage2.steps),
                            ("stage1.batch_size", self.stage1.batch_size),
                            ("stage2.batch_size", self.stage2.batch_size),
                            ("stage1.n_critic", self.stage1.n_critic),
                            ("stage2.reinit_every", self.stage2.reinit_every),
                            ("checkpoint_every", self.checkpoint_every), ("sample_every", self.sample_every),
                            ("log_every", self.log_every)]:
            if value < (0 if name.endswith("steps") else 1):
                raise UsageError(f"{name} must be {'>= 0' if name.endswith('steps') else '>= 1'}, got {value}")
        if self.stage2.match not in ("paired", "class_mean"):
            raise UsageError(f"stage2 match must be 'paired' or 'class_mean', got {self.stage2.match!r}")
        if min(self.stage2.lambda_global, self.stage2.lambda_local, self.stage2.gan_weight) < 0:
            raise UsageError("stage2 lambda_global, lambda_local and gan_weight must be >= 0")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "RunConfig":
        data = dict(data)
        s1, s2 = Stage1Config(**data.pop("stage1", {})), dict(data.pop("stage2", {}))
        s2["pool"] = tuple(s2.get("pool", Stage2Config.pool))
        return cls(stage1=s1, stage2=Stage2Config(**s2), **data)


# ---- command line -----------------------------------------------------------------------------

_SECTIONS = (("", RunConfig), ("stage1-", Stage1Config), ("stage2-", Stage2Config))


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (config_flags.py); only the flags given override a config."""
    for prefix, cls in _SECTIONS:
        add_dataclass_flags(parser.add_argument_group(f"{prefix.rstrip('-') or 'run'} options"), cls, prefix)


def config_from_args(args: argparse.Namespace, base: Optional[RunConfig] = None) -> RunConfig:
    """Apply the flags that were given onto ``base`` (defaults, or a resumed run's config)."""
    config = base or RunConfig()
    for prefix, cls in _SECTIONS:
        apply_flags(args, getattr(config, prefix.rstrip("-")) if prefix else config, prefix)
    config.validate()
    return config


def save_config(config: RunConfig, path) -> None:
    from distilled_datasets.files import atomic_write_json

    atomic_write_json(path, config.to_dict())


def load_config(path) -> RunConfig:
    from distilled_datasets.errors import DamagedFileError
    from distilled_datasets.files import read_json

    data = read_json(path, "run config")
    if not isinstance(data, dict) or not data:
        raise DamagedFileError(f"run config {path} does not hold a training config (a JSON object of its settings)")
    try:
        return RunConfig.from_dict(data)
    except (TypeError, AttributeError) as exc:
        raise DamagedFileError(f"run config {path} does not hold a training config ({exc})") from exc
