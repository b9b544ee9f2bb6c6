"""Join learned sets into one generator: seed s of the result gives the set of part s.

A latent distillation (latent_distillation.py) learns one set of codes. The sets of several runs
through the *same* generator weights -- one run per seed, each from its own start -- become one
generator folder whose ``sampling.latent_sets`` = S sets are stored as latents [S, classes, K,
noise_dim]; a seed of S or more gets seeded noise only (and a warning at run time).

Every part must hold the same generator network (byte for byte), the same number of codes per
class and the same sampling, so that joining changes no image of any part: seed s of the result
gives exactly the images of part s at seed 0.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Sequence

import torch

from distilled_datasets import Generator
from distilled_datasets.errors import UsageError


def _part_description(generator: Generator) -> dict:
    training = generator.metadata.get("training") or {}
    return training.get("latents", training)  # a latent run records its recipe under "latents"


def join_sets(parts: Sequence[Generator]) -> Generator:
    """One generator holding the learned sets of ``parts`` in order (each part's set 0)."""
    if len(parts) < 2:
        raise UsageError(f"join-sets needs at least two generator folders, got {len(parts)}")
    first = parts[0]
    for i, part in enumerate(parts):
        if part.latents is None:
            raise UsageError(f"part {i} has no learned latent codes (sampling latents = 0): nothing to join")
        if part.sampling.latent_sets != 1:
            raise UsageError(f"part {i} already holds {part.sampling.latent_sets} sets; join single-set folders")
        if part.config != first.config or part.sampling != first.sampling:
            raise UsageError(f"part {i} differs from part 0 in its architecture or sampling "
                             f"({part.config.to_dict()} {part.sampling.to_dict()} vs {first.config.to_dict()} "
                             f"{first.sampling.to_dict()}): its images would change when joined")
        mine, theirs = part.net.state_dict(), first.net.state_dict()
        if any(not torch.equal(mine[k], theirs[k]) for k in theirs):
            raise UsageError(f"part {i} holds other generator weights than part 0: sets learned through different "
                             "networks cannot share one (learn the later sets with --lr-generator 0 from part 0)")
    for i, part in enumerate(parts):
        twin = next((j for j in range(i) if torch.equal(parts[j].latents, part.latents)), None)
        if twin is not None:
            raise UsageError(f"parts {twin} and {i} hold the same codes: seeds {twin} and {i} would give the same "
                             "images (give each set once)")
        learned_from = _part_description(part).get("seed")
        if learned_from is not None and learned_from != i:  # the order gives the seeds: part s is seed s's set
            raise UsageError(f"part {i} was learned with --seed {learned_from}, so it is not set {i}: give the parts "
                             f"in seed order (the part learned with --seed s at position s)")
    training = dict(first.metadata.get("training") or {})
    training["sets"] = [_part_description(part) for part in parts]
    sampling = dataclasses.replace(first.sampling, latent_sets=len(parts))
    joined = first.derive(sampling, training=training)
    with torch.no_grad():
        for s, part in enumerate(parts):
            joined.latents[s].copy_(part.latents[0])
    return joined


def join_set_folders(folders: Sequence[str], out: str, overwrite: bool = False) -> Path:
    """Load the generator folders (or Hub ids), join their sets and write the result to ``out``
    (built beside it and moved into place; an existing non-empty ``out`` only with ``overwrite``)."""
    from ..common.generator_folder import check_folder_out, write_folder

    check_folder_out(out, overwrite, inputs=tuple(folders))  # before loading anything
    parts: List[Generator] = [Generator.from_pretrained(folder) for folder in folders]
    return write_folder(join_sets(parts), out, overwrite, inputs=tuple(folders))
