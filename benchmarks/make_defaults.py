"""Make the package's default generators: the commands that produced what ships, in order.

1. The stage-2 network of the earlier default (git 34503d3: stage 1 for 6.5k / 5k steps, stage 2
   with lambda 0.1 / 0.01, see README), taken from git without its herding selector;
2. ``distill-latents`` on it (the recipe below, the best of the accuracy programme), with a
   synthesis chunk of 1, so that any ipc costs exactly its images;
3. ``publish`` into distilled_datasets/defaults/<dataset> (float32 weights).

Then measure them (README: the evaluate commands are in each result JSON) and refresh the cards
with ``python benchmarks/publish_defaults.py``.

    python benchmarks/make_defaults.py --dataset mnist --data-root ../shared/data
    python benchmarks/make_defaults.py --dataset cifar10 --from runs/programme/cifar10/c10-latents

CIFAR-10 had no earlier default: its generator is made from scratch by the programme's CIFAR-10 rows
(stage 1, stage 2, learned codes; benchmarks/programme.py), and the best of them is published here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
EARLIER = "34503d3"  # the commit whose defaults are the starting networks
# The latent-distillation recipe of the shipped defaults (see the programme table in the README).
LATENTS = ["--latents", "50", "--prefixes", "1", "10", "50", "--iterations", "600", "--chunk-size", "1"]


def extract_earlier_default(dataset: str, folder: Path) -> Path:
    """The earlier default generator of ``dataset`` (config.json + model.safetensors) from git."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        blob = subprocess.run(["git", "-C", str(REPO), "show",
                               f"{EARLIER}:distilled_datasets/defaults/{dataset}/{name}"],
                              check=True, capture_output=True).stdout
        (folder / name).write_bytes(blob)
    return folder


def run(argv: List[str], env) -> None:
    print("$ distilled-datasets " + " ".join(argv), flush=True)
    subprocess.run([sys.executable, "-m", "distilled_datasets.cli", *argv], check=True, env=env)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=("mnist", "fashion_mnist", "cifar10"))
    parser.add_argument("--from", dest="source", default=None,
                        help="cifar10: the programme's generator folder to ship (its stages were built by "
                             "`python benchmarks/programme.py --dataset cifar10`)")
    parser.add_argument("--data-root", default=os.environ.get("DISTILLED_DATASETS_DATA", "data"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "defaults"))
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more distill-latents flags (after the recipe's)")
    args = parser.parse_args(argv)
    env = {**os.environ, "DISTILLED_DATASETS_DATA": args.data_root, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    if args.dataset == "cifar10":  # made from scratch here: stage 1, stage 2, codes (benchmarks/programme.py)
        if args.source is None:
            parser.error("--dataset cifar10 needs --from: the programme's chosen generator folder")
        run(["publish", args.source, "--out", str(REPO / "distilled_datasets" / "defaults" / "cifar10"),
             "--package-default", "--overwrite"], env)
        return 0
    runs = Path(args.runs_dir) / args.dataset
    with tempfile.TemporaryDirectory() as tmp:
        earlier = extract_earlier_default(args.dataset, Path(tmp) / "earlier")
        run(["select", str(earlier), "--out", str(runs / "earlier-default"), "--dataset", args.dataset,
             "--candidates", "1", "--noise-scale", "1.0", "--overwrite"], env)
    run(["distill-latents", "--generator", str(runs / "earlier-default"), "--dataset", args.dataset, "--out",
         str(runs / "latents"), "--device", "cpu", *LATENTS, *args.extra, "--overwrite"], env)
    run(["publish", str(runs / "latents"), "--out", str(REPO / "distilled_datasets" / "defaults" / args.dataset),
         "--package-default", "--overwrite"], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
