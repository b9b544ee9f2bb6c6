"""Configs of a generative-distillation run: one dataclass per stage plus the run's own.

Every field becomes a command-line flag (``--stage1-steps``, ``--stage2-lambda-local``, ...), and
the whole config is saved as train_config.json in the run directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple
from distilled_datasets.errors import UsageError

STAGES = ("1", "2", "both")


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
    pool: Tuple[str, ...] = ("convnet3", "resnet10", "resnet18")
    # Stage whose output the local loss reads, per pool model ("" = the model's default:
    # block2 of ConvNet3, layer2 (second residual stage) of ResNets).
    feature_layers: Dict[str, str] = field(default_factory=dict)
    online_steps: int = 1  # SGD steps on real batches before each matching step
    online_lr: float = 0.01
    reinit_every: int = 1  # draws of a pool model between fresh initialisations
    dsa: bool = True  # Siamese augmentation of both batches before matching
    match: str = "paired"  # "paired": sample i vs sample i (the paper); "class_mean": per-class means


@dataclass
class RunConfig:
    out: str = "runs/mnist"
    dataset: str = "mnist"
    data_root: Optional[str] = None  # None: $DISTILLED_DATASETS_DATA, else ./data
    download: bool = False
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
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise UsageError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "2" and not self.init_from:
            raise UsageError("stage 2 alone needs --init-from: a run directory holding a stage-1 generator")
        if self.stage1.gan_loss not in ("hinge", "wgan-gp"):
            raise UsageError(f"stage1 gan_loss must be 'hinge' or 'wgan-gp', got {self.stage1.gan_loss!r}")
        for name, value in [("stage1.steps", self.stage1.steps), ("stage2.steps", self.stage2.steps),
                            ("stage1.batch_size", self.stage1.batch_size), ("stage2.batch_size", self.stage2.batch_size),
                            ("stage1.n_critic", self.stage1.n_critic), ("stage2.reinit_every", self.stage2.reinit_every),
                            ("checkpoint_every", self.checkpoint_every), ("sample_every", self.sample_every),
                            ("log_every", self.log_every)]:
            if value < (0 if name.endswith("steps") else 1):
                raise UsageError(f"{name} must be {'>= 0' if name.endswith('steps') else '>= 1'}, got {value}")
        if self.stage2.match not in ("paired", "class_mean"):
            raise UsageError(f"stage2 match must be 'paired' or 'class_mean', got {self.stage2.match!r}")
        if self.stage2.lambda_global < 0 or self.stage2.lambda_local < 0:
            raise UsageError("stage2 lambda_global and lambda_local must be >= 0")

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
    """One flag per config field; defaults are None so only given flags override."""
    for prefix, cls in _SECTIONS:
        group = parser.add_argument_group(f"{prefix.rstrip('-') or 'run'} options")
        for f in dataclasses.fields(cls):
            if f.name in ("stage1", "stage2"):
                continue
            flag = f"--{prefix}{f.name.replace('_', '-')}"
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            dest = f"{prefix.replace('-', '_')}{f.name}"
            if isinstance(default, bool):
                group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                                   help=f"(default: {default})")
            elif isinstance(default, tuple):
                group.add_argument(flag, dest=dest, nargs="+", default=None, help=f"(default: {' '.join(default)})")
            elif isinstance(default, dict):
                group.add_argument(flag, dest=dest, nargs="+", default=None, metavar="MODEL=LAYER",
                                   help="per-model feature layer, e.g. convnet3=block2 resnet18=layer2")
            else:
                kind = type(default) if default is not None else str
                if f.name == "width":
                    kind = int
                group.add_argument(flag, dest=dest, type=kind, default=None, help=f"(default: {default})")


def _parse_layers(items) -> Dict[str, str]:
    layers = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--stage2-feature-layers takes MODEL=LAYER items, got {item!r}")
        model, layer = item.split("=", 1)
        layers[model] = layer
    return layers


def config_from_args(args: argparse.Namespace, base: Optional[RunConfig] = None) -> RunConfig:
    """Apply the flags that were given onto ``base`` (defaults, or a resumed run's config)."""
    config = base or RunConfig()
    for prefix, cls in _SECTIONS:
        target = config if not prefix else getattr(config, prefix.rstrip("-").replace("-", ""))
        for f in dataclasses.fields(cls):
            if f.name in ("stage1", "stage2"):
                continue
            value = getattr(args, f"{prefix.replace('-', '_')}{f.name}", None)
            if value is None:
                continue
            if f.name == "pool":
                value = tuple(value)
            elif f.name == "feature_layers":
                value = _parse_layers(value)
            setattr(target, f.name, value)
    config.validate()
    return config


def save_config(config: RunConfig, path) -> None:
    from distilled_datasets.files import atomic_write_json

    atomic_write_json(path, config.to_dict())


def load_config(path) -> RunConfig:
    with open(path, encoding="utf-8") as f:
        return RunConfig.from_dict(json.load(f))
