"""Configs of a generative-distillation run: one dataclass per stage plus the run's own.

Every field becomes a command-line flag (``--stage1-steps``, ``--stage2-lambda-local``, ...), and
the whole config is saved as train_config.json in the run directory.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from distilled_datasets.dataset_info import IMAGE_FOLDER, canonical_name, list_datasets
from distilled_datasets.errors import UsageError

from ..common.config_flags import add_dataclass_flags, apply_flags, check_bounds, flag_name

STAGES = ("1", "2", "both")
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


def _help(default: Any, text: str, **metadata: Any) -> Any:
    """A field whose ``text`` is its flag's help (one place for both: config_flags reads it)."""
    return field(default=default, metadata={"help": text, **metadata})


@dataclass
class Stage1Config:
    """Conditional GAN training."""

    steps: int = _help(20000, "generator updates")
    batch_size: int = _help(64, "real and generated images per update")
    lr_g: float = _help(2e-4, "Adam rate of the generator")
    lr_d: float = _help(2e-4, "Adam rate of the critic")
    beta1: float = _help(0.0, "Adam beta1 of both networks")
    beta2: float = _help(0.9, "Adam beta2 of both networks")
    gan_loss: str = _help("hinge", "hinge (spectral-norm critic) or wgan-gp (DiM's recipe)")
    n_critic: int = _help(1, "critic updates per generator update (5 is usual for wgan-gp)")
    aux_weight: float = _help(0.2, "weight of the auxiliary-classifier (AC-GAN) loss")
    projection: bool = _help(True, "class projection in the critic's score (see gan.Discriminator)")
    d_width: int = _help(64, "critic width")


@dataclass
class Stage2Config:
    """Global-local distillation: the cGAN loss plus matching through a random model pool."""

    steps: int = _help(5000, "generator updates")
    batch_size: int = _help(64, "real and generated images per update")
    lr_g: float = _help(5e-6, "Adam rate of the generator (DiM's stage-2 rate)")
    lr_d: float = _help(5e-6, "Adam rate of the critic")
    lambda_global: float = _help(0.01, "weight of the logit matching loss")
    lambda_local: float = _help(0.001, "weight of the intermediate-feature matching loss (0: DiM, global only)")
    gan_weight: float = _help(1.0, "weight of the cGAN loss (0: matching alone)")
    pool: Tuple[str, ...] = _help(("convnet3", "resnet10", "resnet18"), "architectures of the random model pool")
    # The stage whose output the local loss reads, per pool model; a model not named uses its
    # default: block2 of ConvNet3, layer2 (the second residual stage) of ResNets.
    feature_layers: Dict[str, str] = field(default_factory=dict, metadata={
        "parse": _parse_layers, "metavar": "MODEL=LAYER",
        "help": "per-model feature layer of the local loss, e.g. convnet3=block2 resnet18=layer2",
        "default_text": "block2 of convnet3, layer2 of ResNets"})
    online_steps: int = _help(1, "SGD steps of the drawn pool model on real batches before each matching step")
    online_lr: float = _help(0.01, "SGD rate of those steps")
    reinit_every: int = _help(1, "draws of a pool model between fresh initialisations")
    dsa: bool = _help(True, "Siamese augmentation of both batches before matching")
    match: str = _help("paired", "paired: sample i against sample i (the paper); class_mean: per-class means")


@dataclass
class RunConfig:
    out: Optional[str] = field(default=None, metadata={"help": "the run directory", "default_text": "runs/DATASET"})
    dataset: str = field(default="mnist", metadata={
        "help": "mnist, fashion_mnist, cifar10, or imagefolder "
                "(your own classes: --data-root holds train/<class>/...)"})
    data_root: Optional[str] = _help(None, "the real data: torchvision's files or an image folder "
                                           "(None: $DISTILLED_DATASETS_DATA, else ./data)")
    download: bool = _help(False, "let torchvision download the real data")
    image_size: Optional[int] = _help(None, "image folders only: the side images are resized and cropped to "
                                            "(None: the first training image's)")
    channels: Optional[int] = _help(None, "image folders only: 1 (grey) or 3 (RGB) (None: the first training "
                                          "image's)")
    stage: str = _help("both", "1 (the cGAN), 2 (distillation from --init-from) or both")
    init_from: Optional[str] = _help(None, "a stage-1 run directory to start stage 2 from")
    architecture: str = _help("small", "generator architecture")
    noise_dim: int = _help(100, "size of the generator's input noise")
    width: Optional[int] = _help(None, "generator width (None: the architecture's default)")
    seed: int = _help(0, "seed of the weights, batches and noise")
    device: str = _help("auto", "auto (CUDA when present), cpu, cuda, cuda:N")
    checkpoint_every: int = _help(1000, "steps between checkpoints (the run resumes from the last one)")
    sample_every: int = _help(1000, "steps between sample grids in the run directory")
    log_every: int = _help(100, "steps between lines of log.jsonl")
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
            raise UsageError(f"--stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "2" and not self.init_from:
            raise UsageError("stage 2 alone needs --init-from: a run directory holding a stage-1 generator")
        if self.stage1.gan_loss not in ("hinge", "wgan-gp"):
            raise UsageError(f"--stage1-gan-loss must be 'hinge' or 'wgan-gp', got {self.stage1.gan_loss!r}")
        for name, value in [("stage1.steps", self.stage1.steps), ("stage2.steps", self.stage2.steps),
                            ("stage2.online_steps", self.stage2.online_steps),
                            ("stage1.batch_size", self.stage1.batch_size),
                            ("stage2.batch_size", self.stage2.batch_size),
                            ("stage1.n_critic", self.stage1.n_critic),
                            ("stage2.reinit_every", self.stage2.reinit_every),
                            ("checkpoint_every", self.checkpoint_every), ("sample_every", self.sample_every),
                            ("log_every", self.log_every)]:
            if value < (0 if name.endswith("steps") else 1):
                raise UsageError(f"{flag_name(name)} must be {'>= 0' if name.endswith('steps') else '>= 1'}, "
                                 f"got {value}")
        if self.stage2.match not in ("paired", "class_mean"):
            raise UsageError(f"--stage2-match must be 'paired' or 'class_mean', got {self.stage2.match!r}")
        if min(self.stage2.lambda_global, self.stage2.lambda_local, self.stage2.gan_weight) < 0:
            raise UsageError("--stage2-lambda-global, --stage2-lambda-local and --stage2-gan-weight must be >= 0")
        # Every rate and Adam beta now, not when its stage starts (stage 2 after all of stage 1's steps).
        for name in ("stage1.lr_g", "stage1.lr_d", "stage2.lr_g", "stage2.lr_d", "stage2.online_lr"):
            stage, key = name.split(".")
            value = getattr(getattr(self, stage), key)
            if not 0 < value <= 10:
                raise UsageError(f"{flag_name(name)} must be a rate in (0, 10], got {value}")
        for name in ("stage1.beta1", "stage1.beta2"):
            value = getattr(self.stage1, name.split(".")[1])
            if not 0 <= value < 1:
                raise UsageError(f"{flag_name(name)} must be in [0, 1), got {value}")
        if self.stage1.aux_weight < 0:
            raise UsageError(f"{flag_name('stage1.aux_weight')} must be >= 0, got {self.stage1.aux_weight}")

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
