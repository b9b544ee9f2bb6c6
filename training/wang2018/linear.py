"""The linear case of sec. 3.3, exactly (float64).

Data d [N, D], targets t [N], loss l(theta) = ||d theta - t||^2 / (2N) (eq. 5). One GD step on M
synthetic points (d~ [M, D], t~ [M]) with rate eta gives (eq. 6)

    theta_1 = A theta_0 + b,   A = I - (eta / M) d~^T d~,   b = (eta / M) d~^T t~.

theta_1 is optimal for every theta_0 iff A = 0 and b = theta* (eq. 8), which needs
rank(d~^T d~) = D, hence M >= D. With M < D, A keeps eigenvalue 1 on null(d~) (dimension >= D - M):
moving theta_0 along such a direction v moves theta_1 by the same amount, so the loss after the
step grows without bound along v, and even its average over theta_0 ~ N(0, I) stays at least
(D - M) * sigma_min(d)^2 / (2N) above the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F

from distilled_datasets.errors import UsageError

DTYPE = torch.float64


def make_problem(n: int, d: int, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """A random least-squares problem with independent feature columns: (d [N, D], t [N])."""
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, d, generator=g, dtype=DTYPE)
    targets = data @ torch.randn(d, generator=g, dtype=DTYPE) + 0.5 * torch.randn(n, generator=g, dtype=DTYPE)
    return data, targets


def loss(data: torch.Tensor, targets: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    return (data @ theta - targets).pow(2).sum() / (2 * data.shape[0])


def optimum(data: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(theta*, l(theta*)) from the normal equations d^T d theta* = d^T t."""
    theta = torch.linalg.solve(data.T @ data, data.T @ targets)
    return theta, loss(data, targets, theta)


def step_map(syn_data: torch.Tensor, syn_targets: torch.Tensor, eta: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(A [D, D], b [D]) of theta_1 = A theta_0 + b (eq. 6)."""
    m, dim = syn_data.shape
    a = torch.eye(dim, dtype=syn_data.dtype) - (eta / m) * syn_data.T @ syn_data
    return a, (eta / m) * syn_data.T @ syn_targets


def one_step(syn_data: torch.Tensor, syn_targets: torch.Tensor, eta: torch.Tensor,
             theta0: torch.Tensor) -> torch.Tensor:
    """theta_0 - eta * grad l((d~, t~), theta_0), literally (eq. 2)."""
    m = syn_data.shape[0]
    return theta0 - (eta / m) * syn_data.T @ (syn_data @ theta0 - syn_targets)


def expected_loss(data: torch.Tensor, targets: torch.Tensor, syn_data: torch.Tensor, syn_targets: torch.Tensor,
                  eta: torch.Tensor) -> torch.Tensor:
    """E over theta_0 ~ N(0, I) of l(theta_1), in closed form: (||d b - t||^2 + ||d A||_F^2) / (2N)."""
    a, b = step_map(syn_data, syn_targets, eta)
    n = data.shape[0]
    return ((data @ b - targets).pow(2).sum() + (data @ a).pow(2).sum()) / (2 * n)


@dataclass
class LinearDistillation:
    syn_data: torch.Tensor  # [M, D]
    syn_targets: torch.Tensor  # [M]
    eta: torch.Tensor  # scalar > 0
    objective: float  # expected loss after the step (eq. 4 with a Gaussian p(theta_0))


def distill_linear(data: torch.Tensor, targets: torch.Tensor, m: int, seed: int = 0, iterations: int = 200
                   ) -> LinearDistillation:
    """Learn (d~, t~, eta), eta = softplus(raw), minimising the expected loss with L-BFGS (float64)."""
    g = torch.Generator().manual_seed(seed)
    dim = data.shape[1]
    syn_data = (torch.randn(m, dim, generator=g, dtype=DTYPE) / dim ** 0.5).requires_grad_(True)
    syn_targets = torch.randn(m, generator=g, dtype=DTYPE).requires_grad_(True)
    raw_eta = torch.zeros((), dtype=DTYPE, requires_grad=True)
    params = [syn_data, syn_targets, raw_eta]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, tolerance_grad=1e-14, tolerance_change=1e-16,
                            history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = expected_loss(data, targets, syn_data, syn_targets, F.softplus(raw_eta))
        value.backward()
        return value

    opt.step(closure)
    with torch.no_grad():
        eta = F.softplus(raw_eta)
        value = expected_loss(data, targets, syn_data, syn_targets, eta).item()
    return LinearDistillation(syn_data.detach(), syn_targets.detach(), eta.detach(), value)


def null_direction(syn_data: torch.Tensor) -> torch.Tensor:
    """A unit vector v with d~ v = 0 (exists when M < D): A v = v, so theta_1 moves with theta_0 along v."""
    m, dim = syn_data.shape
    if m >= dim and torch.linalg.matrix_rank(syn_data) == dim:
        raise UsageError(f"d~ has full column rank {dim}; it has no null direction")
    _, _, vh = torch.linalg.svd(syn_data, full_matrices=True)
    return vh[-1]


def excess_lower_bound(data: torch.Tensor, m: int) -> float:
    """(D - M) * sigma_min(d)^2 / (2N): no (d~, t~, eta) with M < D averages below optimum + this."""
    n, dim = data.shape
    sigma_min = torch.linalg.svdvals(data).min().item()
    return max(dim - m, 0) * sigma_min ** 2 / (2 * n)
