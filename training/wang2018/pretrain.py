"""Classifiers trained on real data: the p(theta_0) of the malicious (sec. 3.6) and adaptation
(sec. 3.5) experiments. Each net starts from its own default init and is trained with plain SGD
(momentum) for a few epochs; a pool is a folder of such weights, one .safetensors file each.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from distilled_datasets.errors import UsageError

from ..common.model_zoo import build_model
from .result_files import load_weights, save_weights
from .unroll import Params, accuracy, sample_init

logger = logging.getLogger(__name__)

# Pool nets are trained classifiers, not held-out inits: net i starts from the default init with
# seed POOL_SEED_BASE + i (and shuffles with it). 3 * 2**30 keeps them apart from distillation
# (< 2**30) and evaluation (2**31 + i) seeds; torch seeds are effectively 32-bit.
POOL_SEED_BASE = 3 * 2**30


def train_classifier(model: nn.Module, init: Params, x: torch.Tensor, y: torch.Tensor, epochs: int = 2,
                     batch_size: int = 128, lr: float = 0.01, momentum: float = 0.9, seed: int = 0,
                     progress: bool = True, desc: str = "pretrain") -> Params:
    """SGD on real images x [N, C, H, W] (normalised), labels y [N]; returns the trained weights."""
    model.load_state_dict(init, strict=True)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    generator = torch.Generator().manual_seed(seed)
    batches = (x.shape[0] + batch_size - 1) // batch_size
    for epoch in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator).to(x.device)
        for i in tqdm(range(batches), desc=f"{desc} epoch {epoch + 1}/{epochs}", disable=not progress or None,
                      leave=False, unit="batch"):
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def train_pool(model_name: str, channels: int, num_classes: int, image_size: int, count: int, x: torch.Tensor,
               y: torch.Tensor, out: Optional[Union[str, Path]] = None, epochs: int = 2, lr: float = 0.01,
               test: Optional[tuple] = None, progress: bool = True, start: int = 0,
               dataset: Optional[str] = None) -> List[Params]:
    """Train ``count`` classifiers (net i from the default init with seed POOL_SEED_BASE + start + i).

    With ``out``, net i is saved as out/net_{start+i:03d}.safetensors and an existing file is
    loaded instead of retrained (a pool can be built in several sittings), if it was trained the
    same way (model, epochs, rate and ``dataset``, recorded in its metadata): else refused.
    """
    model = build_model(model_name, channels=channels, num_classes=num_classes, image_size=image_size).to(x.device)
    recipe = {"model": model_name, "epochs": str(epochs), "lr": str(lr), **({"dataset": dataset} if dataset else {})}
    pool = []
    for i in range(start, start + count):
        path = Path(out) / f"net_{i:03d}.safetensors" if out is not None else None
        if path is not None and path.is_file():
            _check_same_recipe(path, recipe)
            saved = load_weights(path, dict(model.named_parameters()), "wang-pretrain --out")  # must fit the model
            pool.append({k: v.to(x.device) for k, v in saved.items()})
            continue
        init = sample_init(model, POOL_SEED_BASE + i)
        params = train_classifier(model, init, x, y, epochs=epochs, lr=lr, seed=POOL_SEED_BASE + i,
                                  progress=progress, desc=f"pretrain net {i}")
        if test is not None:
            acc = 100.0 * accuracy(model, params, *test).float().mean().item()
            logger.info("pretrained net %d: test accuracy %.2f%%", i, acc)
        if path is not None:
            save_weights(params, path, metadata=recipe)
        pool.append(params)
    return pool


def _check_same_recipe(path: Path, recipe: Dict[str, str]) -> None:
    """A saved net is reused only if it was trained as asked now (a pool of another dataset or recipe
    in the same --out would otherwise be passed off as this one)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            saved = handle.metadata() or {}
    except Exception as exc:  # noqa: BLE001 -- any unreadable file: the same answer
        raise UsageError(f"wang-pretrain --out: {path} is not a readable safetensors file ({exc})") from None
    differ = {k: (saved.get(k), v) for k, v in recipe.items() if saved.get(k) != v}
    if differ:
        said = ", ".join(f"{k} {old!r} (now {new!r})" for k, (old, new) in differ.items())
        raise UsageError(f"wang-pretrain --out: {path} was trained otherwise: {said}; choose another --out, or "
                         "delete the nets to train them again")
