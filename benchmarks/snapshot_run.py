"""Export the generator of a training run's last checkpoint as a generator folder, while the run
goes on (or after it stopped early): how the CIFAR-10 generator sizes were compared mid-training.

    python benchmarks/snapshot_run.py runs/cifar10/s1-w24 --out runs/cifar10/snap-w24
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    from distilled_datasets.training.generative.distillation import snapshot_generator

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run folder of `distilled-datasets train`")
    parser.add_argument("--out", required=True, help="the generator folder to write")
    args = parser.parse_args(argv)
    print(snapshot_generator(args.run, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
