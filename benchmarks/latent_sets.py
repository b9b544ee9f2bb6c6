"""The learned sets behind the shipped defaults' seeds: one latent distillation per seed.

Set 0 is the default as it was shipped (its codes learned from the generator's seed-0 noise).
Sets 1.. are learned by the same recipe -- the iterations, rates, prefixes, loss and DSA recorded in
the default's config.json -- from the generator's own seed-s noise, with seed s also drawing
the matching networks, real batches and augmentations. The generator is the shipped one, frozen:
a default holds one generator and several code sets, so a set whose recipe fine-tuned the
generator (CIFAR-10's set 0) gives the later sets its fine-tuned weights, learned no further.

    python benchmarks/latent_sets.py commands --dataset mnist --seeds 1 2 3 4 --runs-dir runs/sets
        (prints one distill-latents command per seed, for a queue; base: a copy of the default)
    python benchmarks/latent_sets.py join --dataset mnist --seeds 1 2 3 4 --runs-dir runs/sets
        (`distilled-datasets join-sets` of the base and those sets, written over the default; then
        `python benchmarks/publish_defaults.py` refreshes its card)
    python benchmarks/latent_sets.py grid --dataset mnist
        (benchmarks/results/sets/<dataset>.png: row s is the IPC 1 set of seed s, for every learned
        set and the first seed past them)
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = REPO / "distilled_datasets" / "defaults"
RESULTS = REPO / "benchmarks" / "results" / "sets"
RECIPE_FLAGS = ("latents", "code_layer", "prefixes", "iterations", "lr", "real_per_class", "embed_model",
                "match_layers", "nets_per_step", "loss", "pool", "pool_steps", "pool_life", "pool_lr", "precision")
# What a recipe written before a flag existed ran with: that flag's value then.
RECIPE_BEFORE_FLAG = {"code_layer": "noise", "precision": "fp32"}
DATA_ROOTS = {"mnist": "../shared/data", "fashion_mnist": "../shared/data", "cifar10": "data/cifar10-jpeg"}


def base_folder(dataset: str, runs_dir: Path, set0: Optional[Path] = None) -> Path:
    """Set 0 and the generator of every set: ``set0`` when given, else a copy of the default as shipped
    before any set was added."""
    if set0 is not None:
        if not (set0 / "latent_config.json").is_file() or not (set0 / "model.safetensors").is_file():
            raise SystemExit(f"--set0 {set0}: not a finished distill-latents run (latent_config.json, "
                             f"model.safetensors)")
        return set0
    base = runs_dir / dataset / "base"
    if not base.is_dir():
        sampling = json.loads((DEFAULTS / dataset / "config.json").read_text())["sampling"]
        if sampling.get("latent_sets", 1) > 1:
            raise SystemExit(f"the {dataset} default already holds {sampling['latent_sets']} sets; its set-0 base is "
                             f"the default before they were joined (git history), not the default now")
        shutil.copytree(DEFAULTS / dataset, base)
    return base


def set_command(dataset: str, seed: int, runs_dir: Path, recipe: Dict, base: Path, data_root: str) -> str:
    flags: List[str] = ["distilled-datasets", "distill-latents", "--dataset", dataset, "--generator", str(base),
                        "--out", str(runs_dir / dataset / f"set{seed}"), "--data-root", data_root,
                        "--seed", str(seed), "--lr-generator", "0", "--dsa" if recipe["dsa"] else "--no-dsa"]
    for key in RECIPE_FLAGS:
        value = recipe.get(key, RECIPE_BEFORE_FLAG.get(key))
        if value is None:
            raise SystemExit(f"the default's recipe has no {key!r}: cannot repeat it")
        flags.append("--" + key.replace("_", "-"))
        flags.extend(str(v) for v in value) if isinstance(value, list) else flags.append(str(value))
    return shlex.join(flags)


def keep_records(dataset: str, runs: List[Path], seeds: List[int]) -> None:
    """Each set's run config and log into benchmarks/results/sets/<dataset>/set<s>/ (runs/ is not kept)."""
    for seed, run in zip(seeds, runs):
        kept = RESULTS / dataset / f"set{seed}"
        kept.mkdir(parents=True, exist_ok=True)
        for name in ("latent_config.json", "log.jsonl"):
            shutil.copyfile(run / name, kept / name)


def write_grid(dataset: str) -> int:
    import warnings

    import numpy as np

    from distilled_datasets.datasets import dataset_class
    from distilled_datasets.preview import image_grid, save_grid

    cls = dataset_class(dataset)
    sets = cls(ipc=1, cache=False).generator.sampling.latent_sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the last row is past the learned sets on purpose
        rows = [np.asarray(cls(ipc=1, seed=seed, cache=False).data) for seed in range(sets + 1)]
    out = RESULTS / f"{dataset}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(image_grid(np.stack(rows)), out)
    print(f"{out}: rows = seeds 0..{sets} (seed {sets} holds no learned set), columns = classes")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    from distilled_datasets.files import read_json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("commands", "join", "grid"))
    parser.add_argument("--dataset", required=True, choices=sorted(DATA_ROOTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[], help="the sets to learn (1 and up)")
    parser.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "sets")
    parser.add_argument("--data-root", help="the real data the sets are matched to (default: ../shared/data, "
                                             "CIFAR-10: data/cifar10-jpeg)")
    parser.add_argument("--set0", type=Path, help="a finished distill-latents run: set 0, and the recipe and "
                                                   "generator of the other sets (default: the shipped default)")
    args = parser.parse_args(argv)
    if args.action == "grid":
        return write_grid(args.dataset)
    if not args.seeds:
        parser.error(f"{args.action} needs --seeds")
    if min(args.seeds) < 1:
        parser.error("--seeds: set 0 is the shipped one; give seeds of 1 and up")
    if args.action == "join" and args.seeds != list(range(1, len(args.seeds) + 1)):
        parser.error(f"--seeds: join takes 1..S in order (seed s gives set s), got {args.seeds}")
    base = base_folder(args.dataset, args.runs_dir, args.set0)
    if args.set0 is not None:
        recipe = read_json(base / "latent_config.json", "distill-latents run config")
    else:
        recipe = read_json(base / "config.json", "default config")["training"]["latents"]
    if args.action == "commands":
        data_root = args.data_root or DATA_ROOTS[args.dataset]
        for seed in args.seeds:
            print(set_command(args.dataset, seed, args.runs_dir, recipe, base, data_root))
        return 0
    from distilled_datasets.training.generative.latent_sets import join_set_folders

    parts = [base] + [args.runs_dir / args.dataset / f"set{s}" for s in args.seeds]
    join_set_folders([str(p) for p in parts], str(DEFAULTS / args.dataset), overwrite=True)
    keep_records(args.dataset, parts if args.set0 is not None else parts[1:],
                 ([0] if args.set0 is not None else []) + args.seeds)
    print(f"{DEFAULTS / args.dataset}: sets of seeds 0, {', '.join(map(str, args.seeds))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
