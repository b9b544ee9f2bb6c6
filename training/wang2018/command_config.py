"""The settings of the two Wang 2018 commands besides the recipe (WangConfig): where the data is,
where to compute, what to start from and where to write. Every field is a flag (config_flags), and
``validate`` is each command's one check, before any data is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from distilled_datasets.errors import UsageError
from distilled_datasets.validation import check_positive_int

from .distill_config import MODES


def default_model(dataset: str) -> str:
    return "alexcifarnet" if dataset == "cifar10" else "lenet"


@dataclass
class WangSetup:
    """The flags both commands share."""

    data_root: Optional[str] = field(default=None, metadata={
        "help": "folder with the real data in torchvision's layout, or an image folder (None: "
                "$DISTILLED_DATASETS_DATA, else ./data)"})
    download: bool = field(default=False, metadata={"help": "let torchvision download the real data"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    threads: Optional[int] = field(default=None, metadata={"help": "torch CPU threads (None: torch's)", "max": 1024})
    out: Optional[str] = field(default=None, metadata={"help": "the output folder (required)"})

    def validate(self) -> None:
        from ..common.config_flags import check_bounds

        check_bounds(self)
        if not self.out:
            raise UsageError("out is required: the output folder (--out)")
        if self.threads is not None:
            check_positive_int("threads", self.threads, 1024)


@dataclass
class DistillWangSetup(WangSetup):
    """``distill-wang``'s flags besides the recipe's."""

    init_from: Optional[str] = field(default=None, metadata={
        "help": "fixed init: a .safetensors file of weights or a fixed-init result folder"})
    init_pool: Optional[str] = field(default=None, metadata={
        "help": "folder of *.safetensors weights: p(theta_0) for mode pool"})
    eval_nets: int = field(default=50, metadata={
        "help": "random mode: held-out inits to evaluate on after distillation (0: skip)"})
    eval_pool: Optional[str] = field(default=None, metadata={
        "help": "pool mode: folder of held-out weights to evaluate on"})

    def resolve_mode(self, mode: Optional[str]) -> str:
        """The mode asked for (or the one --init-from / --init-pool imply), checked against them."""
        self.validate()
        if self.eval_nets < 0:
            raise UsageError(f"eval_nets must be >= 0, got {self.eval_nets}")
        if self.init_from and self.init_pool:
            raise UsageError("pass --init-from (one fixed init) or --init-pool (a pool), not both")
        mode = mode or ("pool" if self.init_pool else "fixed")
        if mode not in MODES:
            raise UsageError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if self.init_from and mode != "fixed":
            raise UsageError(f"--init-from gives one fixed init; it needs --mode fixed, got --mode {mode}")
        if (mode == "pool") != bool(self.init_pool):
            raise UsageError("--mode pool and --init-pool DIR go together")
        return mode


@dataclass
class PretrainConfig(WangSetup):
    """``wang-pretrain``: classifiers trained on real data, one .safetensors file each in ``out``."""

    dataset: Optional[str] = field(default=None, metadata={"help": "mnist, fashion_mnist or cifar10 (required)"})
    model: Optional[str] = field(default=None, metadata={"help": "network",
                                                         "default_text": "lenet, or alexcifarnet for cifar10"})
    nets: int = field(default=8, metadata={"help": "how many classifiers"})
    train_epochs: int = field(default=2, metadata={"help": "SGD epochs per classifier"})
    lr: float = field(default=0.01, metadata={"help": "SGD rate (momentum 0.9)"})
    start: int = field(default=0, metadata={"help": "index of the first net (nets already in --out are kept)"})

    def validate(self) -> None:
        from distilled_datasets.validation import check_number

        super().validate()
        if not self.dataset:
            raise UsageError("dataset is required: the real dataset the classifiers learn (--dataset)")
        for name in ("nets", "train_epochs"):
            check_positive_int(name, getattr(self, name))
        check_number("lr", self.lr, 0.0, strict=True)
        if self.start < 0:
            raise UsageError(f"start must be >= 0, got {self.start}")
