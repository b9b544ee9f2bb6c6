"""Malicious data poisoning (sec. 3.6, eq. 10): distilled images whose steps make trained
classifiers label class K as class T while keeping every other class.

The objective l_{K->T}(x, theta_1) is the cross-entropy of the stepped weights on a real batch
whose class-K labels are replaced by T (the other labels unchanged). p(theta_0) is a pool of
classifiers trained on real data (pretrain.py), so the images never see the attacked weights;
the attack is measured on held-out trained nets.
"""

from __future__ import annotations

from typing import Dict, Iterable, List

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .distill import Objective
from .unroll import Params, apply_schedule, predictions


def poison_labels(labels: torch.Tensor, attack: int, target: int) -> torch.Tensor:
    """labels [N] with every ``attack`` replaced by ``target``."""
    return torch.where(labels == attack, torch.full_like(labels, target), labels)


def malicious_objective(attack: int, target: int) -> Objective:
    def objective(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, poison_labels(labels, attack, target))

    return objective


def attack_metrics(pred: torch.Tensor, labels: torch.Tensor, attack: int, target: int) -> Dict[str, float]:
    """In percent: k_to_t (class-K test images predicted T), k_accuracy, other_accuracy (all classes but K)."""
    is_k = labels == attack
    return {
        "k_to_t": 100.0 * (pred[is_k] == target).float().mean().item(),
        "k_accuracy": 100.0 * (pred[is_k] == attack).float().mean().item(),
        "other_accuracy": 100.0 * (pred[~is_k] == labels[~is_k]).float().mean().item(),
    }


def evaluate_attack(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, lrs: torch.Tensor, steps: int,
                    epochs: int, nets: Iterable[Params], test_x: torch.Tensor, test_y: torch.Tensor, attack: int,
                    target: int, progress: bool = True) -> Dict[str, List[Dict[str, float]]]:
    """Per held-out net: attack metrics before and after applying the distilled steps."""
    before, after = [], []
    for params in tqdm(list(nets), desc="evaluate attack", disable=not progress or None, unit="net"):
        before.append(attack_metrics(predictions(model, params, test_x), test_y, attack, target))
        stepped = apply_schedule(model, params, images, labels, lrs, steps, epochs)
        after.append(attack_metrics(predictions(model, stepped, test_x), test_y, attack, target))
    return {"before": before, "after": after}
