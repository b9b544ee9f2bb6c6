"""The intended use of Wang et al. distilled images, measured: apply the learned S x E steps and
rates to given initial weights (the known init, held-out random inits, or held-out trained
nets) and test the result on the real test split. One number per init, never a best-of.
"""

from __future__ import annotations

import logging
import statistics
from typing import Dict, Iterable, List, Sequence

import torch
from torch import nn
from tqdm import tqdm

from distilled_datasets.errors import UsageError

from .distill import TRAIN_SEED_LIMIT
from .unroll import Params, accuracy, apply_schedule, sample_init

logger = logging.getLogger(__name__)

# Held-out inits: seeds 2**31 + i, never drawn during distillation (< 2**30). Not above 2**32:
# torch's CPU generator keeps only the low 32 bits of a seed (see distill.TRAIN_SEED_LIMIT).
HELDOUT_SEED_BASE = 2**31
HELDOUT_SEED_LIMIT = 2**31 + 2**30
assert HELDOUT_SEED_BASE >= TRAIN_SEED_LIMIT


def heldout_seeds(n: int, offset: int = 0) -> List[int]:
    if offset < 0 or HELDOUT_SEED_BASE + offset + n > HELDOUT_SEED_LIMIT:
        raise UsageError(f"held-out seeds must stay in [{HELDOUT_SEED_BASE}, {HELDOUT_SEED_LIMIT}); "
                         f"got offset {offset}, n {n}")
    return [HELDOUT_SEED_BASE + offset + i for i in range(n)]


def heldout_inits(model: nn.Module, n: int, distribution: str, offset: int = 0) -> Iterable[Params]:
    """``n`` fresh inits (lazily: 200 LeNets need not sit in memory at once)."""
    for seed in heldout_seeds(n, offset):
        yield sample_init(model, seed, distribution)


def summarize(values: Sequence[float]) -> Dict[str, float]:
    """mean, population std (ddof 0, as numpy's default), min, max and n, in percent if given so."""
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def evaluate_schedule(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, lrs: torch.Tensor, steps: int,
                      epochs: int, inits: Iterable[Params], test_x: torch.Tensor, test_y: torch.Tensor,
                      count: int = None, progress: bool = True, desc: str = "evaluate") -> Dict[str, List[float]]:
    """Test accuracy (%) of each init before and after the learned steps: {"before": [...], "after": [...]}."""
    before, after = [], []
    for init in tqdm(inits, total=count, desc=desc, disable=not progress or None, unit="net"):
        before.append(100.0 * accuracy(model, init, test_x, test_y).float().mean().item())
        trained = apply_schedule(model, init, images, labels, lrs, steps, epochs)
        after.append(100.0 * accuracy(model, trained, test_x, test_y).float().mean().item())
    if after:
        logger.info("%s: %d nets, accuracy %.2f%% -> %.2f%% (mean)", desc, len(after),
                    statistics.fmean(before), statistics.fmean(after))
    return {"before": before, "after": after}
