"""Attach a candidate selector to a trained generator (see distilled_datasets/herding.py).

The selector is a small classifier trained on the real training set; its penultimate features
of the real images give one mean per class, the target that herding keeps the synthesized
candidates closest to. Trained briefly on purpose: it only has to place images, not to be a
strong classifier.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
import os
from typing import Dict, Optional, Union

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from distilled_datasets import Generator
from distilled_datasets.errors import InvalidGeneratorError
from distilled_datasets.cli import dataset_name
from distilled_datasets.config import LIMITS
from distilled_datasets.herding import SELECTION_METHODS, SELECTOR_DEFAULTS, FeatureNet
from distilled_datasets.validation import (UsageError, bounded_float, check_number, check_positive_int,
                                          non_negative_int, positive_int)

from ..common.config_flags import check_bounds
from ..common.distributed import Distributed
from ..common.real_data import default_data_root, get_dataset_info, real_arrays, uint8_to_nchw

logger = logging.getLogger(__name__)


def real_unit_range(name: str, root, download: bool = False, verify_checksums: bool = True):
    """(images float32 [N, C, H, W] in [-1, 1], the generator's range; labels int64 [N])."""
    pixels, targets = real_arrays(name, root, train=True, download=download, verify_checksums=verify_checksums)
    images = uint8_to_nchw(pixels, get_dataset_info(name).channels).float().div_(127.5).sub_(1.0)
    return images, torch.as_tensor(np.asarray(targets), dtype=torch.int64)


class _Classifier(nn.Module):
    """FeatureNet features then its head, as one module (so DDP sees every parameter used)."""

    def __init__(self, net: FeatureNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.head(self.net(x))


def fit_selector(images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                 selector_kwargs: Optional[Dict[str, int]] = None, epochs: int = 2, batch_size: int = 128,
                 lr: float = 0.05, seed: int = 0, dist: Distributed = Distributed()) -> FeatureNet:
    """Train a FeatureNet classifier on (images in [-1, 1], labels); store its real class means.

    Under torchrun every rank draws the same batch order and takes its share of each batch; the
    loss of a share is weighted by its size, so DDP's average is the loss of the whole batch."""
    kwargs = {**SELECTOR_DEFAULTS, **(selector_kwargs or {})}
    torch.manual_seed(seed)
    net = FeatureNet(images.shape[1], images.shape[2], num_classes, **kwargs)
    model = dist.wrap(_Classifier(net))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    rng = torch.Generator().manual_seed(seed)
    steps = epochs * -(-len(labels) // batch_size)
    with tqdm(total=steps, desc="selector", unit="step", disable=not dist.is_main or None) as bar:
        for _ in range(epochs):
            order = torch.randperm(len(labels), generator=rng)
            for start in range(0, len(labels), batch_size):
                index = order[start:start + batch_size]
                if dist.active:
                    share = torch.tensor_split(index, dist.world_size)[dist.rank]
                    loss = nn.functional.cross_entropy(model(images[share]), labels[share], reduction="sum")
                    loss = loss * dist.world_size / len(index)
                else:
                    loss = nn.functional.cross_entropy(model(images[index]), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    net.eval()
    with torch.no_grad():
        features = torch.cat([net(images[i:i + 2000]) for i in range(0, len(labels), 2000)])
        correct = sum(int((net.head(net(images[i:i + 2000])).argmax(1) == labels[i:i + 2000]).sum())
                      for i in range(0, len(labels), 2000))
        for c in range(num_classes):
            if not bool((labels == c).any()):
                raise UsageError(f"class {c} has no real training image: its herding target is undefined")
            net.class_means[c] = features[labels == c].mean(0)
    logger.info("selector: %.2f%% training accuracy, %d parameters", 100 * correct / len(labels),
                sum(p.numel() for p in net.parameters()))
    return net


def selecting_sampling(generator: Generator, candidates: int, selector_kwargs: Optional[Dict[str, int]],
                       selection: str = "herding"):
    """``generator``'s sampling with selection on; checks candidates and selector arguments (learned
    codes are already a selected set: the two do not combine, and SamplingConfig says so)."""
    try:
        return dataclasses.replace(generator.sampling, candidates=candidates, selector=dict(selector_kwargs or {}),
                                   selection=selection)
    except InvalidGeneratorError as exc:
        raise UsageError(f"cannot select among candidates of this generator: {exc}") from None


def attach_selector(generator: Generator, selector: FeatureNet, candidates: int,
                    selection: str = "herding") -> Generator:
    """A copy of ``generator`` that keeps 1 in ``candidates`` synthesized images (herding.select)."""
    out = generator.derive(selecting_sampling(generator, candidates, selector.arguments, selection))
    out.selector.load_state_dict(selector.state_dict())
    return out.eval()


@dataclass
class SelectConfig:
    """Every field is a flag of ``distilled-datasets select`` (the generator folder is its argument)."""

    out: Optional[str] = field(default=None, metadata={"help": "the new generator folder (required)"})
    dataset: Optional[str] = field(default=None, metadata={
        "help": "the real dataset the selector is fitted on, e.g. mnist (required)", "type": dataset_name})
    data_root: Optional[str] = field(default=None, metadata={
        "help": "the real data: torchvision's files or an image folder (None: $DISTILLED_DATASETS_DATA, else ./data)"})
    download: bool = field(default=False, metadata={"help": "let torchvision download the real data"})
    candidates: int = field(default=8, metadata={
        "help": "images synthesized per image kept (1: no selector; then give --noise-scale)",
        "max": LIMITS["candidates"], "type": positive_int})
    noise_scale: Optional[float] = field(default=None, metadata={
        "help": "truncation: multiply the deployment noise (< 1: more typical images)", "type": bounded_float})
    selection: str = field(default="herding", metadata={
        "help": "herding (typical images), kcenter (coverage) or mix (alternating picks)", "choices": SELECTION_METHODS})
    selector_width: int = field(default=SELECTOR_DEFAULTS["width"], metadata={
        "help": "selector network width", "type": positive_int})
    selector_feature_dim: int = field(default=SELECTOR_DEFAULTS["feature_dim"], metadata={
        "help": "selector feature size", "type": positive_int})
    epochs: int = field(default=2, metadata={"help": "selector training epochs on the real data", "type": positive_int})
    seed: int = field(default=0, metadata={"type": non_negative_int})

    def validate(self) -> None:
        """The one check of a selection's settings, from flags or from Python, before any work."""
        check_bounds(self)
        if not self.out:
            raise UsageError("out is required: the new generator folder (--out)")
        if not self.dataset:
            raise UsageError("dataset is required: the real dataset the selector is fitted on (--dataset)")
        get_dataset_info(self.dataset)
        check_positive_int("candidates", self.candidates, LIMITS["candidates"])
        for name in ("epochs", "selector_width", "selector_feature_dim"):
            check_positive_int(name, getattr(self, name))
        if self.noise_scale is not None:
            check_number("noise_scale", self.noise_scale, 0.0, strict=True)
        if self.candidates == 1 and self.noise_scale is None:
            raise UsageError("nothing to select: pass candidates >= 2 (keep 1 in M) and/or noise_scale (truncation)")
        if self.selection not in SELECTION_METHODS:
            raise UsageError(f"selection must be one of {list(SELECTION_METHODS)}, got {self.selection!r}")

    @property
    def selector_kwargs(self) -> Dict[str, int]:
        return {"width": self.selector_width, "feature_dim": self.selector_feature_dim}


def fit_selection(run_dir: Union[str, os.PathLike], config: SelectConfig,
                  dist: Distributed = Distributed()) -> Generator:
    """Load ``run_dir``'s generator and choose how its deployment noise becomes images: with
    ``candidates`` > 1 a selector is fitted on the dataset's real training set and attached;
    ``noise_scale`` < 1 truncates the noise (typical images, 1x synthesis)."""
    config.validate()
    candidates, noise_scale, selection = config.candidates, config.noise_scale, config.selection
    generator = Generator.from_pretrained(run_dir)
    spec = get_dataset_info(config.dataset)
    if generator.metadata.get("dataset") not in (None, spec.name):
        raise UsageError(f"{run_dir} holds a {generator.metadata['dataset']} generator, not {spec.name}")
    if noise_scale is not None:
        # candidates=1 also turns off a selection the generator had (the earlier defaults' herding).
        off = {"candidates": 1, "selector": None, "selection": "herding"} if candidates == 1 else {}
        generator = generator.derive(dataclasses.replace(generator.sampling, noise_scale=noise_scale, **off),
                                     selection={"method": "truncation", "noise_scale": noise_scale})
    if candidates == 1:
        return generator
    # Check the selector arguments, and that the result's passes fit, before minutes of training.
    try:
        generator.derive(selecting_sampling(generator, candidates, config.selector_kwargs, selection)).check_pass_size()
    except InvalidGeneratorError as exc:
        raise UsageError(f"--candidates {candidates}: {exc}") from None
    images, labels = real_unit_range(spec.name, config.data_root or default_data_root(), download=config.download)
    selector = fit_selector(images, labels, generator.config.num_classes, config.selector_kwargs,
                            epochs=config.epochs, seed=config.seed, dist=dist)
    generator = attach_selector(generator, selector, candidates, selection)
    generator.metadata["selection"] = {"method": selection, "candidates": candidates,
                                       "selector_epochs": config.epochs, "selector_seed": config.seed,
                                       "fitted_on": f"{spec.name} training split",
                                       "noise_scale": generator.sampling.noise_scale}
    return generator
