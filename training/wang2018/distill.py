"""The outer loop of Wang et al. (2018): learn pixels and step sizes by back-propagating through
the unrolled inner training (eqs. 3, 4, 9 and 10).

One iteration: draw the initial weights (fixed: the known init; random: ``nets_per_step``
fresh default-PyTorch inits; pool: ``nets_per_step`` draws from given weights), run the S x E
inner SGD steps on the distilled images with the learned rates, evaluate the outer objective
of the final weights on a batch of real images, average over the nets, and take one Adam step
on the pixels and the raw rates.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from distilled_datasets.errors import UsageError

from .distill_config import WangConfig
from .unroll import Params, balanced_labels, sample_init, softplus_inverse, unroll

logger = logging.getLogger(__name__)

# Seeds of the random inits drawn during distillation lie below this; held-out evaluation inits
# (evaluate.heldout_seeds) lie in [2**31, 2**31 + 2**30), so no evaluation net was ever seen in
# training. Everything stays below 2**32 because torch's CPU generator (mt19937) keeps only the
# low 32 bits of a seed: seeds 2**41 + i and i give the same numbers.
TRAIN_SEED_LIMIT = 2**30

Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_objective(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


def train_init_seed(cfg: WangConfig, iteration: int, net: int) -> int:
    seed = (cfg.seed * 1_000_003 + iteration) * cfg.nets_per_step + net
    return seed % TRAIN_SEED_LIMIT


class InitSource:
    """The initial weights theta_0 of each outer iteration (p(theta_0) of eq. 4)."""

    def __init__(self, cfg: WangConfig, model: nn.Module, init: Optional[Params] = None,
                 pool: Optional[Sequence[Params]] = None):
        self.cfg, self.model = cfg, model
        names = [n for n, _ in model.named_parameters()]
        if cfg.mode == "fixed":
            self.init = init if init is not None else sample_init(model, cfg.init_seed, cfg.init)
            _check_params(self.init, model, "init")
        elif cfg.mode == "pool":
            if not pool:
                raise UsageError("mode 'pool' needs a non-empty pool of weights (e.g. classifiers trained on real "
                                 "data); pass pool=[...] or --init-pool DIR")
            for i, params in enumerate(pool):
                _check_params(params, model, f"pool[{i}]")
            self.pool = [{k: params[k] for k in names} for params in pool]
        elif init is not None or pool:
            raise UsageError("mode 'random' draws its own inits; init and pool must be left out")

    def draw(self, iteration: int, generator: torch.Generator) -> List[Params]:
        cfg = self.cfg
        if cfg.mode == "fixed":
            return [self.init]
        if cfg.mode == "random":
            return [sample_init(self.model, train_init_seed(cfg, iteration, j), cfg.init)
                    for j in range(cfg.nets_per_step)]
        picks = torch.randint(len(self.pool), (cfg.nets_per_step,), generator=generator).tolist()
        return [self.pool[i] for i in picks]


def _check_params(params: Params, model: nn.Module, what: str) -> None:
    expected = {n: tuple(p.shape) for n, p in model.named_parameters()}
    found = {n: tuple(p.shape) for n, p in params.items()}
    if found != expected:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        wrong = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
        raise UsageError(f"{what} weights do not fit {type(model).__name__}: missing {missing}, unexpected "
                         f"{extra}, wrong shapes {wrong}")


@dataclass
class DistillResult:
    config: WangConfig
    images: torch.Tensor  # float32 [M, C, H, W], normalised space
    labels: torch.Tensor  # int64 [M], label of image j = j % num_classes
    lrs: torch.Tensor  # float32 [S * E], effective rates (after softplus)
    init: Optional[Params]  # the known init (fixed mode), else None
    history: List[Dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def distill(cfg: WangConfig, model: nn.Module, real_images: torch.Tensor, real_labels: torch.Tensor,
            num_classes: int, *, init: Optional[Params] = None, pool: Optional[Sequence[Params]] = None,
            objective: Optional[Objective] = None, progress: bool = True,
            callback: Optional[Callable[[int, "DistillState"], None]] = None) -> DistillResult:
    """Run ``cfg.iterations`` outer iterations; real_images [N, C, H, W] normalised, real_labels [N].

    ``objective(logits, labels)`` defaults to cross-entropy (eq. 3/4); the malicious variant
    passes its K -> T loss. ``callback(iteration, state)`` runs after every iteration (tests,
    checkpoints).
    """
    state = DistillState(cfg, model, real_images.shape[1:], num_classes, device=real_images.device)
    source = InitSource(cfg, model, init=init, pool=pool)
    objective = objective or cross_entropy_objective
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    start = time.perf_counter()
    running, count = 0.0, 0
    bar = tqdm(range(cfg.iterations), desc=f"distill-wang {cfg.dataset} {cfg.mode}", disable=not progress or None,
               unit="it", dynamic_ncols=True)
    for it in bar:
        idx = torch.randint(real_images.shape[0], (cfg.batch_size,), generator=generator).to(real_images.device)
        loss = state.step(source.draw(it, generator), real_images[idx], real_labels[idx], objective)
        running, count = running + loss, count + 1
        if (it + 1) % cfg.log_every == 0 or it + 1 == cfg.iterations:
            lrs = state.lrs()
            record = {"iteration": it + 1, "loss": running / count, "adam_lr": state.optimizer.param_groups[0]["lr"],
                      "step_lr_min": lrs.min().item(), "step_lr_max": lrs.max().item(),
                      "seconds": time.perf_counter() - start}
            state.history.append(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}", eta=f"{lrs.mean().item():.4f}")
            logger.info("iteration %d: outer loss %.4f, step rates %.4f..%.4f", it + 1, record["loss"],
                        record["step_lr_min"], record["step_lr_max"])
            running, count = 0.0, 0
        if callback is not None:
            callback(it, state)
    return DistillResult(cfg, state.images.detach().clone(), state.labels.clone(), state.lrs().detach().clone(),
                         {k: v.detach().clone() for k, v in source.init.items()} if cfg.mode == "fixed" else None,
                         state.history, time.perf_counter() - start)


class DistillState:
    """The learned tensors and their optimiser: pixels [M, C, H, W] and raw rates [S * E]."""

    def __init__(self, cfg: WangConfig, model: nn.Module, image_shape, num_classes: int, device=None):
        self.cfg, self.model = cfg, model
        num_images = cfg.images_per_class * num_classes
        g = torch.Generator().manual_seed(cfg.seed)
        # Pixels start as standard normal noise in the normalised space, as in the paper's code.
        self.images = torch.randn((num_images, *image_shape), generator=g).to(device).requires_grad_(True)
        self.labels = balanced_labels(num_images, num_classes, device=device)
        self.raw_lrs = torch.full((cfg.num_rates,), softplus_inverse(cfg.init_step_lr), device=device,
                                  requires_grad=True)
        # betas (0.5, 0.999) as in the paper's code: the outer gradients are noisy (new batch,
        # new nets every step), and a shorter first-moment memory follows them faster.
        self.optimizer = torch.optim.Adam([self.images, self.raw_lrs], lr=cfg.lr, betas=(0.5, 0.999))
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, cfg.decay_period, cfg.decay_factor)
        self.history: List[Dict[str, float]] = []

    def lrs(self) -> torch.Tensor:
        """Effective step sizes eta = softplus(raw) > 0, [S * E]."""
        return F.softplus(self.raw_lrs)

    def final_weights(self, init: Params) -> Params:
        params = {k: v.detach().requires_grad_(True) for k, v in init.items()}
        return unroll(self.model, params, self.images, self.labels, self.lrs(), self.cfg.steps, self.cfg.epochs)

    def step(self, inits: Sequence[Params], real_x: torch.Tensor, real_y: torch.Tensor, objective: Objective) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for init in inits:
            final = self.final_weights(init)
            loss = objective(functional_call(self.model, final, (real_x,)), real_y) / len(inits)
            # Backward per net frees each unrolled graph before the next one is built.
            loss.backward(inputs=[self.images, self.raw_lrs])
            total += loss.item()
        if not math.isfinite(total):
            raise FloatingPointError(
                f"the outer loss became {total}; lower --lr or --init-step-lr, or set --grad-clip"
            )
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([self.images, self.raw_lrs], self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return total
