"""Speed of `distill-latents` steps in float32 and in bf16 autocast (--precision), on the shipped
recipe of each dataset's default generator, measured in one process so that the ratio compares
like with like. Writes benchmarks/results/latents_speed.json.

Each dataset's steps run in rounds that alternate the two precisions (fp32, bf16, fp32, bf16, ...)
on one run whose codes and pool carry on between them, so a change of load on a shared machine
falls on both; the figure per precision is the median of its rounds' seconds per step. The recipe
is the programme's best row (50 codes per class, prefixes 1/10/50, a pool of 8 ConvNet3s trained
online, 2 SGD steps per draw), through the shipped default's generator, frozen.

    python benchmarks/latents_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from distilled_datasets.training.common.provenance import command_line, describe_hardware, other_runnable_processes
from distilled_datasets.training.generative.latent_distillation import LatentConfig, LatentDistillation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latent_sets import DATA_ROOTS, DEFAULTS, REPO  # noqa: E402  (where this machine keeps each dataset)

RESULT = REPO / "benchmarks" / "results" / "latents_speed.json"
RECIPE = dict(latents=50, prefixes=(1, 10, 50), pool=8, pool_steps=2, pool_life=100)
BEST_ROW_ITERATIONS = 1800  # the programme's best row (latents-trained-pool-1800)


def cpu_flags() -> List[str]:
    """The CPU features bf16 arithmetic runs on (empty where /proc/cpuinfo is missing)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return sorted({f for f in flags.split() if f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")})


def measure(dataset: str, data_root: str, rounds: int, steps: int, tmp: Path) -> Dict[str, Any]:
    config = LatentConfig(generator=str(DEFAULTS / dataset), out=str(tmp / dataset),
                          dataset=dataset, data_root=data_root, device="cpu", **RECIPE)
    run = LatentDistillation(config)
    seconds: Dict[str, List[float]] = {"fp32": [], "bf16": []}
    for _ in range(rounds):
        for precision in seconds:
            run.config.precision = precision
            run.train_step()  # warm-up: the first step of a precision after the other one
            start = time.perf_counter()
            for _ in range(steps):
                run.train_step()
            seconds[precision].append((time.perf_counter() - start) / steps)
        print(f"{dataset}: " + ", ".join(f"{p} {s[-1]:.2f} s/step" for p, s in seconds.items()), flush=True)
    median = {p: statistics.median(s) for p, s in seconds.items()}
    return {"seconds_per_step": {p: round(m, 3) for p, m in median.items()},
            "rounds_seconds_per_step": {p: [round(x, 3) for x in s] for p, s in seconds.items()},
            "bf16_speedup": round(median["fp32"] / median["bf16"], 2),
            f"hours_for_{BEST_ROW_ITERATIONS}_iterations": {p: round(m * BEST_ROW_ITERATIONS / 3600, 2)
                                                           for p, m in median.items()}}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"], choices=sorted(DATA_ROOTS))
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two precisions")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round and precision")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: one process per core)")
    parser.add_argument("--out", default=str(RESULT))
    args = parser.parse_args(argv)
    for name in ("rounds", "steps", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    record: Dict[str, Any] = {
        "benchmark": "latents_speed",
        "command": command_line(None if argv is None else ["python", sys.argv[0], *argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hardware": describe_hardware("cpu"), "cpu_bf16_features": cpu_flags(),
        "other_runnable_processes_at_start": other_runnable_processes(),
        "load_average_at_start": list(os.getloadavg()),
        "protocol": {"recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in RECIPE.items()},
                     "generator": "the shipped default of each dataset, frozen", "rounds": args.rounds,
                     "timed_steps_per_round": args.steps, "warmup_steps_per_round": 1,
                     "figure": "median over rounds of seconds per step; precisions alternate within a round"},
        "datasets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            record["datasets"][dataset] = measure(dataset, DATA_ROOTS[dataset], args.rounds, args.steps, Path(tmp))
    record["load_average_at_end"] = list(os.getloadavg())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".tmp")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, out)
    print(json.dumps({d: r["bf16_speedup"] for d, r in record["datasets"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
