"""Running under ``torchrun``: who this process is, and the few collective operations training needs.

``torchrun --nproc_per_node N`` (or a multi-node launch) sets RANK, WORLD_SIZE and LOCAL_RANK;
``Distributed.from_env`` then joins the process group (NCCL on GPUs, gloo on CPUs). Without
torchrun the same code runs as one process (world size 1) and every helper here is a no-op, so
one code path serves one CPU, one GPU and many machines.

How the package splits work (README, "From one process to many"): every rank draws the same
global batch indices and noise from a random stream seeded alike on all ranks, and takes its own
slice of them, so the global batch and the learning rates mean what they mean in one process;
DistributedDataParallel averages the gradients; BatchNorm statistics are taken over the global
batch (``GlobalBatchNorm2d``). Rank 0 alone writes checkpoints, logs and sample grids.
"""

from __future__ import annotations

import atexit
import datetime
import os
from dataclasses import dataclass
from typing import Any, List

import torch
import torch.distributed as dist
from torch import nn

from distilled_datasets.errors import UsageError


def _leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device_type: str = "cpu") -> "Distributed":
        """The torchrun context of this process (joining the process group once), or one process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            backend = "nccl" if device_type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
            # Left to interpreter shutdown, Gloo's worker threads can still hold tensors while Python is torn
            # down, and the process aborts (SIGABRT, "terminate called without an active exception"; seen
            # here under load): the group is destroyed while the interpreter is still whole.
            atexit.register(_leave_process_group)
        return cls(rank=rank, world_size=world, local_rank=local)

    def device(self, device: torch.device) -> torch.device:
        """One GPU per local rank; CPUs are shared."""
        if self.active and device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def share(self, global_size: int, what: str = "batch size") -> slice:
        """This rank's slice of a global batch of ``global_size`` (which must split evenly)."""
        if global_size % self.world_size:
            raise UsageError(f"the {what} {global_size} must be a multiple of the number of processes "
                             f"({self.world_size}) so that every process takes an equal share of each global batch")
        part = global_size // self.world_size
        return slice(self.rank * part, (self.rank + 1) * part)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def gather(self, value: Any) -> List[Any]:
        """Every rank's ``value`` (picklable, CPU), in rank order, on every rank."""
        if not self.active:
            return [value]
        values: List[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum_gradients(self, parameters: List[torch.Tensor]) -> None:
        """Replace each parameter's gradient by its sum over the ranks (a missing one counts as zero)."""
        if not self.active:
            return
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)

    def sum_number(self, value: float) -> float:
        """The sum over the ranks of a number each rank holds."""
        if not self.active:
            return value
        on = torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
        box = torch.tensor([value], dtype=torch.float64, device=on)
        dist.all_reduce(box)
        return float(box)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DistributedDataParallel when there are several processes."""
        if not self.active:
            return module
        device_ids = [self.local_rank] if next(module.parameters()).is_cuda else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are taken over the global batch of every process,
    on CPUs too (torch's SyncBatchNorm runs on GPUs only). The reduction is differentiable, so the
    gradients are those of one process holding the whole batch. Same parameters and buffers as
    BatchNorm2d: checkpoints and saved generators do not change."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), count])  # [2C + 1]
        stats = all_reduce(stats)
        channels = x.shape[1]
        n = stats[-1]
        mean = stats[:channels] / n
        var = stats[channels:2 * channels] / n - mean * mean  # biased, as BatchNorm normalises with
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))
        y = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def use_global_batch_norm(module: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d of ``module`` for a GlobalBatchNorm2d holding the same tensors."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.BatchNorm2d:
                swapped = GlobalBatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum,
                                            affine=child.affine, track_running_stats=child.track_running_stats)
                swapped.load_state_dict(child.state_dict())
                swapped.to(next(iter(child.state_dict().values())).device)
                setattr(parent, name, swapped)
    return module
