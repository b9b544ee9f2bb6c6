"""Train a classifier from scratch on a (small) training set and test it once: the inner loop of
the evaluation harness (training/evaluation/harness.py).

Speed without changing the protocol: the whole training set is one tensor on the device (no
DataLoader, no per-item work), batches are index gathers, nothing in the inner loop reads a value
back to the host (the running loss stays a device tensor), the test split runs in large batches
under ``inference_mode``. On CUDA: bf16 autocast, channels_last, cudnn.benchmark. The
interchangeable speed options (instance norm kernel, memory format, threads) are measured by
benchmarks/trainer_variants.py; the defaults below are the fastest measured on CPU. On a shared
CPU, one intra-op thread (EvalConfig.threads=1) is much faster than two for small batches.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from distilled_datasets.errors import UsageError
from distilled_datasets.validation import check_int, check_number, check_positive_int

logger = logging.getLogger(__name__)

Batch = Tuple[torch.Tensor, torch.Tensor]  # (images [B, C, H, W] normalised, labels int64 [B])

NORM_CHOICES = ("auto", "groupnorm", "instancenorm")

# DESIGN.md's headline protocol, the one place its numbers live: TrainConfig and the harness's
# EvalConfig default to it, and a result that differs from it anywhere is marked "reduced".
HEADLINE = {"epochs": 1000, "runs": 5, "batch_size": 256, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
            "lr_decay_factor": 0.1, "lr_decay_epoch": 500, "augment": "DSA"}


@dataclass
class TrainConfig:
    """Optimisation (the protocol) and execution options (speed only, same mathematics)."""

    epochs: int = HEADLINE["epochs"]
    batch_size: int = HEADLINE["batch_size"]
    lr: float = HEADLINE["lr"]
    momentum: float = HEADLINE["momentum"]
    weight_decay: float = HEADLINE["weight_decay"]
    lr_decay_epoch: Optional[int] = None  # None: epochs // 2 (the protocol's "lr x0.1 at half")
    lr_decay_factor: float = HEADLINE["lr_decay_factor"]
    # Execution: results are the same function of the seed; only the speed differs.
    test_batch_size: Optional[int] = None  # None: 4096 on CUDA, 500 on CPU (memory-bound there)
    norm: str = "auto"  # how GroupNorm(C, C) (= instance norm) runs: see resolve_norm
    channels_last: Optional[bool] = None  # None: on CUDA only
    amp: Optional[bool] = None  # bf16 autocast; None: on CUDA only (this CPU has no fast bf16)
    deterministic: bool = False  # CUDA: no cudnn.benchmark, deterministic kernels (slower)
    progress: bool = True

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            check_positive_int(name, getattr(self, name))
        for name in ("lr", "lr_decay_factor"):
            check_number(name, getattr(self, name), 0.0, strict=True)
        for name in ("momentum", "weight_decay"):
            check_number(name, getattr(self, name), 0.0)
        if self.lr_decay_epoch is not None:
            check_int("lr_decay_epoch", self.lr_decay_epoch, 0)
        if self.norm not in NORM_CHOICES:
            raise UsageError(f"norm must be one of {NORM_CHOICES}, got {self.norm!r}")

    @property
    def decay_epoch(self) -> int:
        return self.epochs // 2 if self.lr_decay_epoch is None else self.lr_decay_epoch

    def protocol_dict(self) -> Dict[str, object]:
        """The hyperparameters that define the result (execution options excluded)."""
        keys = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_decay_factor")
        out = {k: asdict(self)[k] for k in keys}
        out["lr_decay_epoch"] = self.decay_epoch
        out["optimizer"] = "SGD"
        return out


# ---- training sets ---------------------------------------------------------------------------


class FixedSet:
    """A training set fixed for the whole run: images [N, C, H, W], labels [N], on the device.
    Each epoch visits every image once in a fresh random order (the run's generator)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.dim() != 4 or labels.dim() != 1 or len(images) != len(labels) or len(labels) == 0:
            raise UsageError(f"need images [N, C, H, W] and labels [N] with N >= 1, got {tuple(images.shape)} "
                             f"and {tuple(labels.shape)}")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int, rng: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=rng, device=self.images.device)
        for start in range(0, len(self), batch_size):
            idx = order[start:start + batch_size]
            yield self.images[idx], self.labels[idx]


class ResampledSet:
    """DiM-style: each epoch is ``ipc * num_classes`` images with balanced labels (shuffled), and
    each batch is generated from fresh noise. ``to_normalized`` maps the generator's [-1, 1]
    output to the normalised space; images are float, never quantised to uint8."""

    def __init__(self, generator: nn.Module, ipc: int, num_classes: int, noise_dim: int,
                 to_normalized: Callable[[torch.Tensor], torch.Tensor], noise_scale: float = 1.0,
                 device: torch.device = torch.device("cpu")):
        self.generator, self.ipc, self.num_classes = generator, ipc, num_classes
        self.noise_dim, self.noise_scale, self.to_normalized = noise_dim, noise_scale, to_normalized
        self.labels = torch.arange(num_classes, device=device).repeat(ipc)  # [ipc * num_classes]

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int, rng: torch.Generator) -> Iterator[Batch]:
        labels = self.labels[torch.randperm(len(self), generator=rng, device=self.labels.device)]
        for start in range(0, len(self), batch_size):
            y = labels[start:start + batch_size]
            noise = torch.randn(len(y), self.noise_dim, generator=rng, device=y.device) * self.noise_scale
            with torch.no_grad():  # not inference_mode: these tensors enter autograd as inputs
                x = self.to_normalized(self.generator(noise, y).float())
            yield x, y


# ---- model preparation -----------------------------------------------------------------------


def _swap_instance_norm(model: nn.Module) -> int:
    """Replace each GroupNorm(C, C) (instance norm) by the equal InstanceNorm2d(C, affine=True)."""
    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.GroupNorm) and child.num_groups == child.num_channels:
                norm = nn.InstanceNorm2d(child.num_channels, eps=child.eps, affine=child.affine,
                                         track_running_stats=False)
                if child.affine:
                    norm.weight, norm.bias = child.weight, child.bias  # same Parameters
                setattr(module, name, norm)
                swapped += 1
    return swapped


def resolve_norm(norm: str, device: torch.device) -> str:
    # "auto" keeps GroupNorm(C, C), the model's own module. On CPU it is the faster kernel in every
    # measured case (benchmarks/results/trainer_variants.json, one thread, images per CPU-second:
    # training at IPC 1 / 10 / 50: 223 / 200 / 156 vs InstanceNorm2d's 200 / 163 / 139; test
    # 431 vs 388), and channels_last is slower on CPU in every case too. Not measured on CUDA.
    return "groupnorm" if norm == "auto" else norm


def prepare_model(model: nn.Module, device: torch.device, config: TrainConfig) -> nn.Module:
    """Move ``model`` to ``device`` in the memory format and norm kernel that ``config`` asks."""
    if resolve_norm(config.norm, device) == "instancenorm":
        _swap_instance_norm(model)
    model = model.to(device)
    if _channels_last(config, device):
        model = model.to(memory_format=torch.channels_last)
    return model


def _channels_last(config: TrainConfig, device: torch.device) -> bool:
    return device.type == "cuda" if config.channels_last is None else bool(config.channels_last)


def _amp(config: TrainConfig, device: torch.device) -> bool:
    return device.type == "cuda" if config.amp is None else bool(config.amp)


def _autocast(config: TrainConfig, device: torch.device):
    if not _amp(config, device):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def execution_dict(config: TrainConfig, device: torch.device) -> Dict[str, object]:
    """The execution options as they resolve on ``device`` (for result JSONs)."""
    return {"norm": resolve_norm(config.norm, device), "channels_last": _channels_last(config, device),
            "amp": "bf16 autocast" if _amp(config, device) else None,
            "cudnn_benchmark": device.type == "cuda" and not config.deterministic,
            "deterministic": config.deterministic,
            "test_batch_size": config.test_batch_size or (4096 if device.type == "cuda" else 500)}


@contextlib.contextmanager
def cuda_backend(config: TrainConfig, device: torch.device):
    """cudnn.benchmark (or deterministic kernels) for the duration of a run; restored after."""
    if device.type != "cuda":
        yield
        return
    before = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
              torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cudnn.benchmark = not config.deterministic
    torch.backends.cudnn.deterministic = config.deterministic
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not config.deterministic
    try:
        yield
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
         torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) = before


# ---- train and test --------------------------------------------------------------------------


@dataclass
class TrainResult:
    final_loss: float  # mean training loss of the last epoch (augmented batches)
    steps: int
    images_seen: int
    seconds: float


def train_model(model: nn.Module, train_set, config: TrainConfig, device: torch.device, seed: int,
                augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                desc: str = "train") -> TrainResult:
    """SGD (momentum, weight decay) from the model's current weights for ``config.epochs`` epochs,
    lr x ``lr_decay_factor`` at ``decay_epoch``. ``seed`` drives the batch order (and the noise
    of a ResampledSet); ``augment`` (DSA) draws from torch's global generator, which the caller
    seeds. Returns when done; the model is left in train mode."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    rng = torch.Generator(device=device).manual_seed(seed)
    channels_last = _channels_last(config, device)
    steps = images = 0
    epoch_loss = torch.zeros((), device=device)
    start = time.perf_counter()
    bar = tqdm(range(config.epochs), desc=desc, unit="ep", leave=False, disable=not config.progress or None,
               mininterval=2.0)
    with cuda_backend(config, device):
        for epoch in bar:
            if epoch == config.decay_epoch:
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * config.lr_decay_factor
            epoch_loss = torch.zeros((), device=device)
            epoch_images = 0
            for x, y in train_set.batches(config.batch_size, rng):
                if augment is not None:
                    x = augment(x)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(config, device):
                    loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                # Sum on the device: no host sync per step.
                epoch_loss = epoch_loss + loss.detach().float() * len(y)
                epoch_images += len(y)
                steps += 1
            images += epoch_images
            epoch_loss = epoch_loss / epoch_images
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return TrainResult(final_loss=float(epoch_loss), steps=steps, images_seen=images, seconds=seconds)


def test_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig,
                  device: torch.device) -> Tuple[int, int]:
    """(correct, total) of ``model`` (eval mode) on the whole test split, in large batches."""
    batch_size = config.test_batch_size or (4096 if device.type == "cuda" else 500)
    channels_last = _channels_last(config, device)
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.inference_mode(), cuda_backend(config, device):
        for start in range(0, len(labels), batch_size):
            x = images[start:start + batch_size].to(device, non_blocking=True)
            y = labels[start:start + batch_size].to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(config, device):
                logits = model(x)
            correct += (logits.argmax(1) == y).sum()
    return int(correct), len(labels)


test_accuracy.__test__ = False  # not a pytest test, despite the name
