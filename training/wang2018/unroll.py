"""The functional inner loop: theta_{i+1} = theta_i - eta_i * grad_theta l(x~_i, theta_i)  (eq. 9).

Weights are a plain dict {parameter name: tensor} run through the module with
``torch.func.functional_call``, so the final weights stay a differentiable function of the
distilled pixels, the learned rates and the initial weights (``create_graph=True``), which is
what the outer loop back-propagates through (S steps x E epochs).

Step order: epoch e, step s uses images ``step_slices(M, S)[s]`` and rate index e * S + s.
Images are stored so that the images of step s are contiguous and their labels cycle through
the classes (label of image j = j % num_classes); see ``balanced_labels``.
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from distilled_datasets.errors import UsageError

from .distill_config import INIT_DISTRIBUTIONS

Params = Dict[str, torch.Tensor]


def softplus_inverse(value: float) -> float:
    """raw such that softplus(raw) == value (> 0): how the raw rates are initialised."""
    if not value > 0:
        raise UsageError(f"a learning rate must be > 0, got {value!r}")
    return value + math.log(-math.expm1(-value))  # log(exp(v) - 1), stable for small and large v


def balanced_labels(num_images: int, num_classes: int, device=None) -> torch.Tensor:
    """int64 [M]: 0, 1, ..., K-1, 0, 1, ... (every step of M/S images, M/S a multiple of K, is balanced)."""
    if num_images % num_classes:
        raise UsageError(f"the number of images ({num_images}) must be a multiple of num_classes ({num_classes})")
    return torch.arange(num_images, device=device) % num_classes


def step_slices(num_images: int, steps: int) -> List[slice]:
    """Which images each step uses: ``steps`` contiguous, equal slices of [0, num_images)."""
    if num_images % steps:
        raise UsageError(f"{num_images} images cannot be split into {steps} equal steps")
    n = num_images // steps
    return [slice(s * n, (s + 1) * n) for s in range(steps)]


@torch.no_grad()
def sample_init(model: nn.Module, seed: int, distribution: str = "default") -> Params:
    """Fresh initial weights theta_0 ~ p(theta_0), reproducible from ``seed``.

    ``distribution``:
    - "default": the model's own PyTorch initialisation, i.e. each layer's ``reset_parameters``
      (Conv2d/Linear: weights kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in),
      1/sqrt(fan_in)); biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
    - "xavier": what the paper's code used (its default ``--init xavier --init_param 1``):
      weights of rank >= 2 xavier-normal with gain 1, every other parameter zero (biases).
    The global RNG is not touched (forked for "default", a private generator for "xavier").
    """
    if distribution == "default":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for module in model.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        return {name: p.detach().clone() for name, p in model.named_parameters()}
    if distribution == "xavier":
        generator = torch.Generator().manual_seed(seed)
        params = {}
        for name, p in model.named_parameters():
            value = torch.zeros(p.shape, dtype=p.dtype)
            if p.dim() >= 2:
                nn.init.xavier_normal_(value, gain=1.0, generator=generator)
            params[name] = value.to(p.device)
        return params
    raise UsageError(f"init distribution must be one of {list(INIT_DISTRIBUTIONS)}, got {distribution!r}")


def inner_loss(model: nn.Module, params: Mapping[str, torch.Tensor], images: torch.Tensor,
               labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(functional_call(model, dict(params), (images,)), labels)


def unroll(model: nn.Module, params: Params, images: torch.Tensor, labels: torch.Tensor, lrs: torch.Tensor,
           steps: int, epochs: int, create_graph: bool = True) -> Params:
    """Run the S x E inner SGD steps; returns the final weights.

    images [M, C, H, W], labels [M], lrs [S * E] (effective, positive rates). With
    ``create_graph`` the result is differentiable w.r.t. images, lrs and the initial params
    (second-order terms included); without it each step is detached (evaluation).
    """
    if lrs.shape != (steps * epochs,):
        raise UsageError(f"lrs must have shape [{steps * epochs}] (steps * epochs), got {list(lrs.shape)}")
    slices = step_slices(images.shape[0], steps)
    names = list(params)
    if not create_graph:
        params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    for e in range(epochs):
        for s, sl in enumerate(slices):
            loss = inner_loss(model, params, images[sl], labels[sl])
            grads = torch.autograd.grad(loss, [params[k] for k in names], create_graph=create_graph)
            lr = lrs[e * steps + s]
            if create_graph:
                params = {k: params[k] - lr * g for k, g in zip(names, grads)}
            else:
                params = {k: (params[k] - lr.detach() * g).detach().requires_grad_(True) for k, g in zip(names, grads)}
    if not create_graph:
        params = {k: v.detach() for k, v in params.items()}
    return params


def apply_schedule(model: nn.Module, init: Params, images: torch.Tensor, labels: torch.Tensor, lrs: torch.Tensor,
                   steps: int, epochs: int) -> Params:
    """The intended use of a distilled set: train ``init`` with the learned steps and rates (no graph)."""
    with torch.enable_grad():
        return unroll(model, init, images.detach(), labels, lrs.detach(), steps, epochs, create_graph=False)


@torch.no_grad()
def accuracy(model: nn.Module, params: Optional[Params], images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 2048) -> torch.Tensor:
    """Predictions' correctness, bool [N] (``params=None`` uses the module's own weights)."""
    correct = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i:i + batch_size]
        logits = model(x) if params is None else functional_call(model, dict(params), (x,))
        correct.append(logits.argmax(1) == labels[i:i + batch_size])
    return torch.cat(correct)


@torch.no_grad()
def predictions(model: nn.Module, params: Params, images: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Predicted classes, int64 [N]."""
    out = [functional_call(model, dict(params), (images[i:i + batch_size],)).argmax(1)
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out)
