"""Synthesis speed and memory of the runtime package, on this machine, in one run, against the
machine's own limit.

For each dataset (default: MNIST and CIFAR-10, the package's default generators, or
``--generator DATASET=FOLDER_OR_HUB_ID``), every figure is taken in fresh processes (median of
--repeats):

- first time: an empty image cache, ``DistilledX(ipc=N)`` constructed and ``materialize()``d
  (all cores), for N in 1, 10, 50, 1000; each beside the physical limit of this machine for that
  work: N * classes images x the generator's FLOPs per image (counted by torch's FlopCounterMode)
  / the float32 matmul rate of all cores, measured in this run (best of several 2048^3 matmuls);
- cached: the cache warm (an earlier process synthesized the set), construction + first item;
- MNIST-likes: DataLoader passes over IPC --loader-ipc against the same number of torchvision items
  (ToTensor + Normalize, batch 64, no workers): the first pass in a process that reads a warm
  cache, the first pass of a process that synthesizes (cache empty), and a second (steady) pass;
- peak RSS of constructing and materializing IPC 50, over a process that imported torch and
  torchvision.

Writes one JSON with the command, the hardware, the load, the generators, every figure and each
target of the synthesis issues with met true/false (and by how much when not).

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

# (dataset kinds, figure, comparison, limit) from the synthesis issues; reported as they are, met or not.
TARGETS = [
    ("all", "first_time_ipc50_ratio_to_limit", "<=", 2.0),
    ("all", "first_time_ipc1000_ratio_to_limit", "<=", 2.0),
    ("all", "cached_construct_first_item_s", "<", 0.05),
    ("grey", "loader_ratio_first_pass_cached", "<=", 2.0),
    ("grey", "loader_ratio_steady_pass", "<=", 1.0),
]

# A fresh process: argv[1] = JSON {"dataset", "kwargs", "ipc", "mode", "data_root", "loader_ipc"}.
FRESH = r"""
import json, resource, sys, time
spec = json.loads(sys.argv[1])
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
import torch, torchvision
base = peak_mb()
import distilled_datasets
from distilled_datasets.datasets import dataset_class
Distilled = dataset_class(spec["dataset"])
out = {}
if spec["mode"] == "materialize":
    t0 = time.perf_counter()
    ds = Distilled(ipc=spec["ipc"], seed=0, **spec["kwargs"])
    t1 = time.perf_counter()
    ds.materialize()
    t2 = time.perf_counter()
    assert len(ds.data) == spec["ipc"] * len(ds.classes)
    out = {"construct_s": t1 - t0, "materialize_s": t2 - t1, "rss_over_torch_mb": peak_mb() - base}
elif spec["mode"] == "first_item":
    t0 = time.perf_counter()
    ds = Distilled(ipc=spec["ipc"], seed=0, **spec["kwargs"])
    ds[0]
    out = {"construct_first_item_s": time.perf_counter() - t0}
else:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms
    from distilled_datasets.dataset_info import get_dataset_info
    info = get_dataset_info(spec["dataset"])
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(info.mean, info.std)])
    def timed(ds):
        t0, n = time.perf_counter(), 0
        for images, _ in DataLoader(ds, batch_size=64, shuffle=False, num_workers=0):
            n += images.shape[0]
        assert n == len(ds)
        return time.perf_counter() - t0
    n = spec["loader_ipc"] * 10
    if spec["mode"] == "loader_real":
        real_class = getattr(datasets, info.torchvision_name)
        real = Subset(real_class(spec["data_root"], train=True, transform=transform, download=False), range(n))
        out = {"first_pass_s": timed(real), "steady_pass_s": timed(real)}
    else:
        ds = Distilled(transform=transform, ipc=spec["loader_ipc"], seed=0, **spec["kwargs"])
        out = {"first_pass_s": timed(ds), "steady_pass_s": timed(ds)}
print(json.dumps(out))
"""


def fresh(spec: Dict[str, Any], cache: str) -> Dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISTILLED_DATASETS_CACHE": cache, "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-c", FRESH, json.dumps(spec)], capture_output=True, text=True, env=env,
                          timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(runs: List[Dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """The float32 matmul rate of ``threads`` threads: the best of ``repeats`` timings of 4 products."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b  # warm-up: allocation and kernel selection
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(4):
                a @ b
            best = min(best, time.perf_counter() - start)
        return 4 * 2 * size ** 3 / best / 1e9
    finally:
        torch.set_num_threads(before)


def generator_record(dataset: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """What was measured, and its FLOPs per image (a forward pass of one synthesis row, per image)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from distilled_datasets.datasets import dataset_class

    ds = dataset_class(dataset)(ipc=1, cache=False, **kwargs)
    gen = ds.generator
    batch = 100
    noise, labels = torch.randn(batch, gen.config.noise_dim), torch.arange(batch) % gen.config.num_classes
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        gen(noise, labels)
    return {"source": ds.files.describe(), "architecture": gen.config.architecture,
            "arch_kwargs": gen.config.arch_kwargs, "num_parameters": gen.num_parameters,
            "sampling": gen.sampling.to_dict(), "weights": "trained" if gen.metadata.get("training") else "untrained",
            "flops_per_image": counter.get_total_flops() / batch * max(1, gen.sampling.candidates),
            "flops_counted": "convolutions and linear layers (torch.utils.flop_counter), per image kept"}


def measure_dataset(dataset: str, kwargs: Dict[str, Any], args, gflops: float, tmp: str) -> Dict[str, Any]:
    from distilled_datasets.dataset_info import get_dataset_info

    info = get_dataset_info(dataset)
    gen = generator_record(dataset, kwargs)
    figures: Dict[str, Any] = {"generator": gen, "first_time": {}}

    def empty_cache() -> str:
        return tempfile.mkdtemp(dir=tmp)

    for ipc in args.ipcs:
        runs = [fresh({"dataset": dataset, "kwargs": kwargs, "ipc": ipc, "mode": "materialize"}, empty_cache())
                for _ in range(args.repeats)]
        images = ipc * info.num_classes
        limit = images * gen["flops_per_image"] / (gflops * 1e9)
        seconds = median_of(runs, "materialize_s")
        figures["first_time"][str(ipc)] = {
            "images": images, "materialize_s": seconds, "limit_s": limit, "ratio_to_limit": seconds / limit,
            "construct_s": median_of(runs, "construct_s"), "rss_over_torch_mb": median_of(runs, "rss_over_torch_mb"),
            "runs": runs}
    warm = empty_cache()
    fresh({"dataset": dataset, "kwargs": kwargs, "ipc": 50, "mode": "materialize"}, warm)  # fills the cache
    cached = [fresh({"dataset": dataset, "kwargs": kwargs, "ipc": 50, "mode": "first_item"}, warm)
              for _ in range(args.repeats)]
    figures["cached_construct_first_item_s"] = median_of(cached, "construct_first_item_s")
    values = {"cached_construct_first_item_s": figures["cached_construct_first_item_s"]}
    for ipc in ("50", "1000"):
        values[f"first_time_ipc{ipc}_ratio_to_limit"] = figures["first_time"].get(ipc, {}).get("ratio_to_limit")
    if info.channels == 1:  # the DataLoader comparison against torchvision's in-memory MNIST-likes
        spec = {"dataset": dataset, "kwargs": kwargs, "loader_ipc": args.loader_ipc, "data_root": args.data_root}
        fresh({**spec, "ipc": args.loader_ipc, "mode": "materialize"}, warm)
        real = [fresh({**spec, "mode": "loader_real"}, warm) for _ in range(args.repeats)]
        warm_runs = [fresh({**spec, "mode": "loader"}, warm) for _ in range(args.repeats)]
        cold_runs = [fresh({**spec, "mode": "loader"}, empty_cache()) for _ in range(args.repeats)]
        real_first, real_steady = median_of(real, "first_pass_s"), median_of(real, "steady_pass_s")
        figures["loader"] = {
            "items": args.loader_ipc * 10,
            "protocol": "DataLoader(batch_size=64, shuffle=False, num_workers=0), ToTensor + Normalize, fresh "
                        "processes; real = the first N items of the torchvision training split; 'cached' = the image "
                        "cache holds the set; 'first time' = empty cache (the pass synthesizes); steady = a second "
                        "pass in the same process",
            "real_first_pass_s": real_first, "real_steady_pass_s": real_steady,
            "distilled_first_pass_cached_s": median_of(warm_runs, "first_pass_s"),
            "distilled_first_pass_first_time_s": median_of(cold_runs, "first_pass_s"),
            "distilled_steady_pass_s": median_of(warm_runs, "steady_pass_s"),
        }
        figures["loader"]["ratio_first_pass_first_time"] = (
            figures["loader"]["distilled_first_pass_first_time_s"] / real_first)
        values["loader_ratio_first_pass_cached"] = figures["loader"]["distilled_first_pass_cached_s"] / real_first
        values["loader_ratio_steady_pass"] = figures["loader"]["distilled_steady_pass_s"] / real_steady
    targets = {}
    for kinds, name, op, limit in TARGETS:
        if kinds == "grey" and info.channels != 1:
            continue
        value = values.get(name)
        met = None if value is None else (value < limit if op == "<" else value <= limit)
        targets[name] = {"value": value, "target": f"{op} {limit}", "met": met,
                         "short_by": None if met or value is None else value - limit}
    figures["targets"] = targets
    return figures


def parse_generators(items: List[str]) -> Dict[str, str]:
    generators = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--generator takes DATASET=FOLDER_OR_HUB_ID, got {item!r}")
        dataset, where = item.split("=", 1)
        generators[dataset] = where
    return generators


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    parser.add_argument("--generator", nargs="*", default=[], metavar="DATASET=WHERE",
                        help="measure this generator for DATASET instead of the package's default")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "synthesis.json"))
    parser.add_argument("--data-root", default=None,
                        help="torchvision root of MNIST (default: $DISTILLED_DATASETS_DATA)")
    parser.add_argument("--ipcs", type=int, nargs="+", default=[1, 10, 50, 1000])
    parser.add_argument("--loader-ipc", type=int, default=100, help="IPC of the DataLoader comparison")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from distilled_datasets.files import atomic_write_json
    from distilled_datasets.training.common.provenance import (command_line, describe_hardware,
                                                                  other_runnable_processes)
    from distilled_datasets.training.common.real_data import default_data_root

    args.data_root = str(args.data_root or default_data_root())
    generators = parse_generators(args.generator)
    started, load_start, busy = time.perf_counter(), os.getloadavg(), other_runnable_processes()
    cores = len(os.sched_getaffinity(0))
    limit = {"matmul_gflops_all_cores": matmul_gflops(cores), "matmul_gflops_one_thread": matmul_gflops(1),
             "cores": cores, "how": "float32 2048x2048 @ 2048x2048, best of 5 timings of 4 products, torch threads = "
                                    "cores (and 1); measured before the datasets, in this process"}
    datasets = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            kwargs = {"repo_id": generators[dataset]} if dataset in generators else {}
            datasets[dataset] = measure_dataset(dataset, kwargs, args, limit["matmul_gflops_all_cores"], tmp)
    limit["matmul_gflops_all_cores_at_end"] = matmul_gflops(cores)
    result = {
        "benchmark": "synthesis", "command": command_line(None if argv is None else
                                                          ["python", "benchmarks/synthesis.py", *argv]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "hardware": describe_hardware("cpu"),
        "load_average_1_5_15min": {"start": list(load_start), "end": list(os.getloadavg())},
        "other_runnable_processes_at_start": busy, "machine_limit": limit,
        "settings": {"repeats": args.repeats, "ipcs": args.ipcs, "loader_ipc": args.loader_ipc, "seed": 0,
                     "statistic": "median over fresh processes"},
        "datasets": datasets, "runtime_s": time.perf_counter() - started,
    }
    atomic_write_json(args.out, result)
    for dataset, figures in datasets.items():
        for name, t in figures["targets"].items():
            shown = "not measured" if t["value"] is None else f"{t['value']:.3f}"
            print(f"{dataset} {name}: {shown} (target {t['target']}): {'met' if t['met'] else 'NOT met'}")
    print(f"wrote {args.out} in {result['runtime_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
