"""The networks a generator is matched through, for stage 2 and for the latent codes alike.

A pool holds one slot per entry of ``architectures`` (an architecture may fill several slots).
``draw`` picks a slot at random, builds a fresh network there when the slot is empty or its
network has been drawn ``life`` times, and trains it ``online_steps`` SGD steps on real batches,
so matching happens through networks at many stages of training. With ``fresh_each_draw`` every
draw is a new, untrained network of the first architecture and the pool keeps nothing (DM's
setting).

The caller decides how a drawn network is used (train or eval mode, frozen while the generator is
matched through it: ``frozen``); the pool only trains its own networks, between draws.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from distilled_datasets.errors import UsageError

Batch = Tuple[torch.Tensor, torch.Tensor]


class NetworkPool:
    def __init__(self, architectures: Sequence[str], build: Callable[[str], nn.Module], *, online_steps: int = 1,
                 online_lr: float = 0.01, life: int = 1, fresh_each_draw: bool = False):
        if not architectures:
            raise UsageError("the network pool must name at least one architecture")
        self.architectures = list(architectures)
        self.build, self.online_steps, self.online_lr, self.life = build, online_steps, online_lr, life
        self.fresh_each_draw = fresh_each_draw
        slots = 0 if fresh_each_draw else len(self.architectures)
        self.nets: List[Optional[nn.Module]] = [None] * slots
        self.optimizers: List[Optional[torch.optim.Optimizer]] = [None] * slots
        self.draws = [0] * slots  # draws of each slot's network since it was built

    @staticmethod
    def life_in_draws(steps: int, online_steps: int) -> int:
        """A life given in SGD steps (re-initialised once it has trained ``steps``) as a number of draws."""
        return max(1, math.ceil(steps / max(online_steps, 1)))

    def _fresh(self, slot: int) -> None:
        net = self.build(self.architectures[slot])
        self.nets[slot], self.draws[slot] = net, 0
        self.optimizers[slot] = torch.optim.SGD(net.parameters(), lr=self.online_lr, momentum=0.9)

    def draw(self, rng: torch.Generator, real_batch: Callable[[], Batch],
             augment: Optional[Callable] = None) -> Tuple[int, nn.Module]:
        """(slot, network): slot -1 for a fresh network. ``rng`` (a CPU generator) picks the slot and
        the DSA seeds of the online steps, so a run's draws follow its own random stream."""
        if self.fresh_each_draw:
            return -1, self.build(self.architectures[0])
        slot = int(torch.randint(len(self.architectures), (1,), generator=rng))
        if self.nets[slot] is None or self.draws[slot] >= self.life:
            self._fresh(slot)
        self.draws[slot] += 1
        net, optimizer = self.nets[slot], self.optimizers[slot]
        net.train()
        for p in net.parameters():  # a caller may have frozen it when it was last matched through
            p.requires_grad_(True)
        for _ in range(self.online_steps):
            images, labels = real_batch()
            if augment is not None:
                images = augment(images, seed=int(torch.randint(2**31 - 1, (1,), generator=rng)))
            loss = F.cross_entropy(net(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return slot, net

    def state(self) -> Dict[str, Any]:
        return {"draws": list(self.draws),
                "nets": [None if n is None else n.state_dict() for n in self.nets],
                "optimizers": [None if o is None else o.state_dict() for o in self.optimizers]}

    def load(self, state: Dict[str, Any]) -> None:
        """Restore ``state()``; builds networks, drawing from torch's generator (restore that after)."""
        if len(state["nets"]) != len(self.nets):
            raise ValueError(f"the saved pool has {len(state['nets'])} networks, this run's {len(self.nets)}")
        for slot, (net_state, opt_state) in enumerate(zip(state["nets"], state["optimizers"])):
            if net_state is None:
                continue
            self._fresh(slot)
            self.nets[slot].load_state_dict(net_state)
            self.optimizers[slot].load_state_dict(opt_state)
        self.draws = [int(d) for d in state["draws"]]

    @staticmethod
    def frozen(model: nn.Module) -> "_Frozen":
        """Context: the model's parameters take no gradient while the generator is matched through it."""
        return _Frozen(model)


class _Frozen:
    def __init__(self, model: nn.Module):
        self.params: List[nn.Parameter] = [p for p in model.parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)
