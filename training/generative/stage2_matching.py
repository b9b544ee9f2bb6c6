"""Stage 2 pieces: the global (logit) and local (intermediate-feature) matching losses measured
through the random model pool (common/network_pool.py), and the layer each pool model is read at.

Real and synthetic batches carry the same labels, pair by pair; both go through the same model
drawn from the pool (with the same DSA parameters), and the generator is pulled towards
producing images whose logits (global) and mid-level features (local) look like real ones.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from distilled_datasets.errors import UsageError

from ..common.model_zoo import StagedNet, build_model

MATCH_MODES = ("paired", "class_mean")


def class_means(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class mean of [B, ...] values -> [classes present, D] (classes in increasing order)."""
    flat = values.float().flatten(1)
    onehot = F.one_hot(labels, num_classes).to(flat.dtype)  # [B, K]
    counts = onehot.sum(0)
    present = counts > 0
    return (onehot.t() @ flat)[present] / counts[present, None]


def global_loss(logits_syn: torch.Tensor, logits_real: torch.Tensor, labels: Optional[torch.Tensor] = None,
                num_classes: int = 0) -> torch.Tensor:
    """Mean squared difference of log-softmax outputs over (batch, classes); [B, K] -> scalar.

    With ``labels``, the per-class means of the log-softmax outputs are compared instead (the
    "class_mean" mode): the generator is then not pulled towards one average image per class.
    """
    syn, real = F.log_softmax(logits_syn.float(), 1), F.log_softmax(logits_real.float(), 1)
    if labels is not None:
        syn, real = class_means(syn, labels, num_classes), class_means(real, labels, num_classes)
    return (syn - real).pow(2).mean()


def local_loss(features_syn: torch.Tensor, features_real: torch.Tensor, labels: Optional[torch.Tensor] = None,
               num_classes: int = 0) -> torch.Tensor:
    """Mean squared difference of intermediate features; [B, ...] -> scalar (per-class means with
    ``labels``, as in global_loss)."""
    if labels is not None:
        features_syn = class_means(features_syn, labels, num_classes)
        features_real = class_means(features_real, labels, num_classes)
    return (features_syn.float() - features_real.float()).pow(2).mean()


def matching_losses(model: StagedNet, layer: str, syn: torch.Tensor, real: torch.Tensor,
                    augment: Optional[Callable] = None, seed: Optional[int] = None, mode: str = "paired",
                    labels: Optional[torch.Tensor] = None, num_classes: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """(global, local) between a synthetic and a real batch of the same labels.

    "paired" (the paper's losses) compares sample i of one batch with sample i of the other; since
    the pairs are random draws of the same class, its minimum also shrinks the spread of the
    synthetic features. "class_mean" compares per-class means (distribution matching), which
    needs ``labels`` and ``num_classes``.

    The model's parameters must not receive gradients: the caller freezes them (see
    NetworkPool.frozen); the real branch needs no graph at all.
    """
    if mode not in MATCH_MODES:
        raise UsageError(f"match mode must be one of {MATCH_MODES}, got {mode!r}")
    if mode == "class_mean" and labels is None:
        raise UsageError("class_mean matching needs the batch labels")
    if augment is not None:
        syn, real = augment(syn, seed=seed), augment(real, seed=seed)  # Siamese: same parameters
    with torch.no_grad():
        logits_real, feat_real = model.forward_features(real, layer)
    logits_syn, feat_syn = model.forward_features(syn, layer)
    by = (labels, num_classes) if mode == "class_mean" else (None, 0)
    return global_loss(logits_syn, logits_real, *by), local_loss(feat_syn, feat_real, *by)


def feature_layers(names: Sequence[str], chosen: Dict[str, str], shape: Tuple[int, int, int]) -> Dict[str, str]:
    """{pool model: the stage whose output the local loss reads}: ``chosen``'s, else the model's default
    (read from a model built for the purpose; ``shape`` is (channels, classes, image size)). Checked
    when the run starts, not when stage 2 does: a model outside the pool or a stage it lacks is refused."""
    outside = sorted(set(chosen) - set(names))
    if outside:
        raise UsageError(f"--stage2-feature-layers names {outside}, which --stage2-pool {list(names)} does not hold")
    layers = {}
    for name in names:
        model = build_model(name, *shape)
        layers[name] = chosen.get(name) or model.default_feature_layer
        if layers[name] not in model.feature_layers:
            raise UsageError(f"--stage2-feature-layers {name}={layers[name]}: {name} has no stage "
                             f"{layers[name]!r}; valid values: {model.feature_layers}")
    return layers
