"""Stage 1 pieces: the conditional discriminator and the cGAN losses.

The discriminator has two heads on a shared conv trunk: an adversarial score and an auxiliary
classifier (AC-GAN). The auxiliary loss makes the generator produce images that a classifier
assigns to their label, which is what a distilled training set needs. The adversarial loss is
hinge (with spectral norm: stable with one critic step, cheap on a CPU) or WGAN-GP (DiM's
reference recipe, several critic steps).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from distilled_datasets.errors import UsageError

GAN_LOSSES = ("hinge", "wgan-gp")


class Discriminator(nn.Module):
    """[B, C, s, s] -> (score [B], class logits [B, classes]). Three stride-2 convs, s -> s/8."""

    def __init__(self, channels: int, num_classes: int, image_size: int, width: int = 64,
                 spectral: bool = True, projection: bool = True):
        super().__init__()
        wrap = spectral_norm if spectral else (lambda m: m)
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.trunk = nn.Sequential(
            wrap(nn.Conv2d(channels, width, 3, 1, 1)), act(),
            wrap(nn.Conv2d(width, width, 4, 2, 1)), act(),          # s/2
            wrap(nn.Conv2d(width, 2 * width, 4, 2, 1)), act(),      # s/4
            wrap(nn.Conv2d(2 * width, 4 * width, 3, 2, 1)), act(),  # ceil(s/8)
        )
        self.adv = wrap(nn.Linear(4 * width, 1))
        self.aux = nn.Linear(4 * width, num_classes)
        # Projection discriminator (Miyato & Koyama 2018): the score gets <embed(y), h>, so the
        # critic judges "is this a real image *of class y*" without pushing the generator towards
        # the few easiest-to-classify images, as a strong auxiliary-classifier loss alone does.
        self.project = wrap(nn.Embedding(num_classes, 4 * width)) if projection else None

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x).sum(dim=(2, 3))  # global sum pooling: [B, 4w]
        score = self.adv(h).squeeze(1)
        if self.project is not None:
            if labels is None:
                raise UsageError("a projection discriminator needs the labels")
            score = score + (self.project(labels) * h).sum(1)
        return score, self.aux(h)


def discriminator_loss(kind: str, d: Discriminator, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor,
                       aux_weight: float, gp_weight: float = 10.0) -> torch.Tensor:
    """Critic loss on a real batch and a (detached) fake batch with the same labels."""
    both = torch.cat([real, fake])
    score, logits = d(both, torch.cat([labels, labels]))
    s_real, s_fake = score.chunk(2)
    if kind == "hinge":
        adv = F.relu(1 - s_real).mean() + F.relu(1 + s_fake).mean()
    elif kind == "wgan-gp":
        adv = s_fake.mean() - s_real.mean() + gp_weight * gradient_penalty(d, real, fake, labels)
    else:
        raise UsageError(f"gan_loss must be one of {GAN_LOSSES}, got {kind!r}")
    # The classifier head learns from real images only, so it never learns the generator's flaws.
    aux = F.cross_entropy(logits[: real.shape[0]], labels)
    return adv + aux_weight * aux


def generator_loss(kind: str, d: Discriminator, fake: torch.Tensor, labels: torch.Tensor,
                   aux_weight: float) -> torch.Tensor:
    score, logits = d(fake, labels)
    adv = -score.mean()  # the same form for hinge and WGAN generators
    return adv + aux_weight * F.cross_entropy(logits, labels)


def gradient_penalty(d: Discriminator, real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: (||grad_x D(x_hat)|| - 1)^2 on random interpolates x_hat."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score, _ = d(mixed, labels)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
