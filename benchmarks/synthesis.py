"""Synthesis speed and memory of the runtime package, on this machine, in one run.

Every figure is taken in fresh processes (median of --repeats), with the package's default MNIST
generator (or --repo-id):

- first time: an empty image cache, ``DistilledMNIST(ipc=N)`` constructed and ``materialize()``d
  (all cores), for N in 1, 10, 50, 1000;
- cached: the cache warm (an earlier process synthesized the set), construction + first item;
- DataLoader passes over IPC --loader-ipc against the same number of torchvision MNIST items
  (ToTensor + Normalize, batch 64, no workers): the first pass in a process that reads a warm
  cache, the first pass of a process that synthesizes (cache empty), and a second (steady) pass;
- peak RSS of constructing and materializing IPC 50, over a process that imported torch and
  torchvision.

Writes one JSON with the command, the hardware, the generator, every figure and each target of
the synthesis issue with met true/false (and by how much when not).

    python benchmarks/synthesis.py --out benchmarks/results/synthesis.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]

# (figure, comparison, limit) from the synthesis issue; reported as they are, met or not.
TARGETS = [
    ("first_time_ipc50_s", "<", 0.5),
    ("first_time_ipc1000_s", "<", 5.0),
    ("cached_construct_first_item_s", "<", 0.05),
    ("loader_ratio_first_pass_cached", "<=", 2.0),
    ("loader_ratio_steady_pass", "<=", 1.0),
]

# A fresh process: argv[1] = JSON {"kwargs", "ipc", "mode", "data_root", "loader_ipc"}.
FRESH = r"""
import json, resource, sys, time
spec = json.loads(sys.argv[1])
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
import torch, torchvision
base = peak_mb()
import distilled_datasets
from distilled_datasets import DistilledMNIST
out = {}
if spec["mode"] == "materialize":
    t0 = time.perf_counter()
    ds = DistilledMNIST(ipc=spec["ipc"], seed=0, **spec["kwargs"])
    t1 = time.perf_counter()
    ds.materialize()
    t2 = time.perf_counter()
    assert ds.data.shape[0] == spec["ipc"] * 10
    out = {"construct_s": t1 - t0, "materialize_s": t2 - t1, "rss_over_torch_mb": peak_mb() - base}
elif spec["mode"] == "first_item":
    t0 = time.perf_counter()
    ds = DistilledMNIST(ipc=spec["ipc"], seed=0, **spec["kwargs"])
    ds[0]
    out = {"construct_first_item_s": time.perf_counter() - t0}
else:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    def timed(ds):
        t0, n = time.perf_counter(), 0
        for images, _ in DataLoader(ds, batch_size=64, shuffle=False, num_workers=0):
            n += images.shape[0]
        assert n == len(ds)
        return time.perf_counter() - t0
    n = spec["loader_ipc"] * 10
    if spec["mode"] == "loader_real":
        real = Subset(datasets.MNIST(spec["data_root"], train=True, transform=transform, download=False), range(n))
        out = {"first_pass_s": timed(real), "steady_pass_s": timed(real)}
    else:
        ds = DistilledMNIST(transform=transform, ipc=spec["loader_ipc"], seed=0, **spec["kwargs"])
        out = {"first_pass_s": timed(ds), "steady_pass_s": timed(ds)}
print(json.dumps(out))
"""


def fresh(spec: Dict[str, Any], cache: str, threads: Optional[int] = None) -> Dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISTILLED_DATASETS_CACHE": cache}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run([sys.executable, "-c", FRESH, json.dumps(spec)], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(runs: List[Dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def generator_record(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    from distilled_datasets import DistilledMNIST

    ds = DistilledMNIST(ipc=1, cache=False, **kwargs)
    gen = ds.generator
    return {"source": ds.files.describe(), "architecture": gen.config.architecture,
            "num_parameters": gen.num_parameters, "sampling": gen.sampling.to_dict(),
            "weights": "trained" if gen.metadata.get("training") else "untrained"}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo-id", default=None, help="generator to measure (default: the package's MNIST one)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "synthesis.json"))
    parser.add_argument("--data-root", default=None, help="torchvision MNIST root (default: $DISTILLED_DATASETS_DATA)")
    parser.add_argument("--ipcs", type=int, nargs="+", default=[1, 10, 50, 1000])
    parser.add_argument("--loader-ipc", type=int, default=100, help="IPC of the DataLoader comparison")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from distilled_datasets.files import atomic_write_json
    from distilled_datasets.training.common.provenance import (command_line, describe_hardware,
                                                                  other_runnable_processes)
    from distilled_datasets.training.common.real_data import default_data_root

    data_root = args.data_root or default_data_root()
    kwargs = {"repo_id": args.repo_id} if args.repo_id else {}
    started, load_start, busy = time.perf_counter(), os.getloadavg(), other_runnable_processes()
    figures: Dict[str, Any] = {"first_time": {}}
    with tempfile.TemporaryDirectory() as tmp:
        def empty_cache() -> str:
            return tempfile.mkdtemp(dir=tmp)

        for ipc in args.ipcs:
            runs = [fresh({"kwargs": kwargs, "ipc": ipc, "mode": "materialize"}, empty_cache())
                    for _ in range(args.repeats)]
            figures["first_time"][str(ipc)] = {
                "images": ipc * 10, "materialize_s": median_of(runs, "materialize_s"),
                "construct_s": median_of(runs, "construct_s"),
                "rss_over_torch_mb": median_of(runs, "rss_over_torch_mb"), "runs": runs}
        warm = empty_cache()
        fresh({"kwargs": kwargs, "ipc": args.loader_ipc, "mode": "materialize"}, warm)  # fills the cache
        cached = [fresh({"kwargs": kwargs, "ipc": 50, "mode": "first_item"}, warm) for _ in range(args.repeats)]
        figures["cached_construct_first_item_s"] = median_of(cached, "construct_first_item_s")
        spec = {"kwargs": kwargs, "loader_ipc": args.loader_ipc, "data_root": str(data_root)}
        real = [fresh({**spec, "mode": "loader_real"}, warm) for _ in range(args.repeats)]
        warm_runs = [fresh({**spec, "mode": "loader"}, warm) for _ in range(args.repeats)]
        cold_runs = [fresh({**spec, "mode": "loader"}, empty_cache()) for _ in range(args.repeats)]
    real_first, real_steady = median_of(real, "first_pass_s"), median_of(real, "steady_pass_s")
    figures["loader"] = {
        "items": args.loader_ipc * 10,
        "protocol": "DataLoader(batch_size=64, shuffle=False, num_workers=0), ToTensor + Normalize, fresh processes; "
                    "real = the first N items of torchvision MNIST train; 'cached' = the image cache holds the set; "
                    "'first time' = empty cache (the pass synthesizes); steady = a second pass in the same process",
        "real_first_pass_s": real_first, "real_steady_pass_s": real_steady,
        "distilled_first_pass_cached_s": median_of(warm_runs, "first_pass_s"),
        "distilled_first_pass_first_time_s": median_of(cold_runs, "first_pass_s"),
        "distilled_steady_pass_s": median_of(warm_runs, "steady_pass_s"),
    }
    values = {
        "first_time_ipc50_s": figures["first_time"].get("50", {}).get("materialize_s"),
        "first_time_ipc1000_s": figures["first_time"].get("1000", {}).get("materialize_s"),
        "cached_construct_first_item_s": figures["cached_construct_first_item_s"],
        "loader_ratio_first_pass_cached": figures["loader"]["distilled_first_pass_cached_s"] / real_first,
        "loader_ratio_steady_pass": figures["loader"]["distilled_steady_pass_s"] / real_steady,
    }
    figures["loader"]["ratio_first_pass_first_time"] = (
        figures["loader"]["distilled_first_pass_first_time_s"] / real_first)
    targets = {}
    for name, op, limit in TARGETS:
        value = values[name]
        met = None if value is None else (value < limit if op == "<" else value <= limit)
        targets[name] = {"value": value, "target": f"{op} {limit}", "met": met,
                         "short_by": None if met or value is None else value - limit}
    result = {
        "benchmark": "synthesis", "command": command_line(None if argv is None else
                                                          ["python", "benchmarks/synthesis.py", *argv]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "hardware": describe_hardware("cpu"),
        "load_average_1_5_15min": {"start": list(load_start), "end": list(os.getloadavg())},
        "other_runnable_processes_at_start": busy,
        "generator": generator_record(kwargs), "settings": {"repeats": args.repeats, "ipcs": args.ipcs,
                                                             "loader_ipc": args.loader_ipc, "seed": 0,
                                                             "statistic": "median over fresh processes"},
        "targets": targets, "figures": figures, "runtime_s": time.perf_counter() - started,
    }
    atomic_write_json(args.out, result)
    for name, t in targets.items():
        shown = "not measured" if t["value"] is None else f"{t['value']:.3f}"
        print(f"{name}: {shown} (target {t['target']}): {'met' if t['met'] else 'NOT met'}")
    print(f"wrote {args.out} in {result['runtime_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
