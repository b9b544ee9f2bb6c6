"""Choose the CIFAR-10 generator's size by measurement: compare stage-1 runs of several widths,
trained side by side for the same wall time, by their samples and by the accuracy of what they give.

For each run (a `distilled-datasets train` folder, still training or not) at its last checkpoint:

1. snapshot the generator (benchmarks/snapshot_run.py) and save its sample grid
   (benchmarks/results/cifar10_size/<name>.png);
2. the raw generator at IPC 10 (seeded noise) in the harness;
3. 10 learned latent codes per class on it (prefix 10, --iterations steps: the lever the MNIST
   programme found), at IPC 10 in the harness.

Reduced protocol, labelled in each JSON (300 epochs, 1 run, on the CIFAR-10 JPEG copy, with the
copy's cost measured on its 1,017 original test images). One process per run, so two runs are
compared on two cores at once:

    python benchmarks/cifar10_size.py runs/cifar10/s1-w24 --name w24 --data-root data/cifar10-jpeg
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "eval" / "cifar10" / "size"
GRIDS = REPO / "benchmarks" / "results" / "cifar10_size"
CANONICAL = REPO.parent / "shared" / "data" / "CIFAR10-jpeg" / "canonical.npz"


def cli(argv: List[str], data_root: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DISTILLED_DATASETS_DATA": data_root, "TQDM_DISABLE": "1"}
    print("$ distilled-datasets " + " ".join(argv), flush=True)
    subprocess.run([sys.executable, "-m", "distilled_datasets.cli", *argv], check=True, env=env)


def main(argv: Optional[List[str]] = None) -> int:
    from distilled_datasets import Generator
    from distilled_datasets.preview import generator_grid, save_grid
    from distilled_datasets.training.generative.distillation import snapshot_generator

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a stage-1 run folder")
    parser.add_argument("--name", required=True, help="the candidate's name in the result files")
    parser.add_argument("--data-root", default=os.environ.get("DISTILLED_DATASETS_DATA", "data/cifar10-jpeg"))
    parser.add_argument("--original-test", default=str(CANONICAL))
    parser.add_argument("--work", default=str(REPO / "runs" / "cifar10" / "size"))
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args(argv)
    work = Path(args.work) / args.name
    snap = snapshot_generator(args.run, work / "snapshot")
    steps = Generator.from_pretrained(snap).metadata["training"]["steps_done"]
    GRIDS.mkdir(parents=True, exist_ok=True)
    save_grid(generator_grid(Generator.from_pretrained(snap), per_class=10), GRIDS / f"{args.name}.png")
    common = ["--dataset", "cifar10", "--ipc", "10", "--runs", "1", "--epochs", str(args.epochs), "--threads", "1",
              "--no-progress", "--original-test", args.original_test, "--overwrite"]
    cli(["evaluate", "--source", str(snap), "--label", f"stage 1 {args.name} ({steps} steps), raw samples",
         "--out", str(RESULTS / f"{args.name}_raw_ipc10.json"), *common], args.data_root)
    cli(["distill-latents", "--generator", str(snap), "--dataset", "cifar10", "--out", str(work / "latents"),
         "--latents", "10", "--prefixes", "10", "--iterations", str(args.iterations), "--device", "cpu",
         "--overwrite"], args.data_root)
    cli(["evaluate", "--source", str(work / "latents"),
         "--label", f"stage 1 {args.name} ({steps} steps) + 10 latent codes ({args.iterations} steps)",
         "--out", str(RESULTS / f"{args.name}_latents_ipc10.json"), *common], args.data_root)
    for kind in ("raw", "latents"):
        record = json.loads((RESULTS / f"{args.name}_{kind}_ipc10.json").read_text())
        print(f"{args.name} {kind}: {record['accuracy']['mean']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
