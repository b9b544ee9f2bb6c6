"""Measure the evaluation trainer's execution options (same mathematics, different speed).

Variants: instance norm as GroupNorm(C, C) (the model's own module) or InstanceNorm2d, NCHW or
channels_last, torch intra-op threads. Training throughput is measured with the harness's own
loop (DSA on, fixed set of IPC x 10 random images, ConvNet3), test throughput as inference over
batches of several sizes. Variants run interleaved, ``--rounds`` times, and the median is kept.

Two clocks: wall time, and process CPU time (images per CPU-second). On a shared machine the
wall clock mostly measures the other jobs (the load average is recorded next to the numbers);
with one thread, images per CPU-second is the stable measure of how much work a variant costs.

    python benchmarks/trainer_variants.py --out benchmarks/results/trainer_variants.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Dict, List, Optional, Tuple

import torch


def _load() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def train_speed(norm: str, channels_last: bool, threads: int, images: int, epochs: int,
                device: torch.device) -> Tuple[float, float]:
    """(images per wall second, images per process CPU second) of the training loop."""
    from distilled_datasets.training.common.augment import DSA
    from distilled_datasets.training.common.model_zoo import build_model
    from distilled_datasets.training.evaluation.classifier_training import (
        FixedSet,
        TrainConfig,
        prepare_model,
        train_model,
    )

    torch.set_num_threads(threads)
    cfg = TrainConfig(epochs=epochs, norm=norm, channels_last=channels_last, progress=False)
    torch.manual_seed(0)
    x = torch.randn(images, 1, 28, 28, device=device)
    y = (torch.arange(images) % 10).to(device)
    model = prepare_model(build_model("convnet3", 1, 10, 28), device, cfg)
    cpu = time.process_time()
    result = train_model(model, FixedSet(x, y), cfg, device, seed=0, augment=DSA.for_dataset("mnist"))
    return result.images_seen / result.seconds, result.images_seen / (time.process_time() - cpu)


def test_speed(norm: str, channels_last: bool, threads: int, batch: int, images: int,
               device: torch.device) -> Tuple[float, float]:
    from distilled_datasets.training.common.model_zoo import build_model
    from distilled_datasets.training.evaluation.classifier_training import TrainConfig, prepare_model, test_accuracy

    torch.set_num_threads(threads)
    cfg = TrainConfig(norm=norm, channels_last=channels_last, test_batch_size=batch, progress=False)
    model = prepare_model(build_model("convnet3", 1, 10, 28), device, cfg)
    x, y = torch.randn(images, 1, 28, 28, device=device), torch.zeros(images, dtype=torch.long, device=device)
    test_accuracy(model, x[:batch], y[:batch], cfg, device)  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    test_accuracy(model, x, y, cfg, device)
    return images / (time.perf_counter() - start), images / (time.process_time() - cpu)


def main(argv: Optional[List[str]] = None) -> int:
    from distilled_datasets.files import atomic_write_json
    from distilled_datasets.training.common.provenance import command_line, describe_hardware, resolve_device

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/trainer_variants.json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--train-images", type=int, default=600, help="images trained per measurement")
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--test-batches", type=int, nargs="+", default=[500, 1000])
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    threads_default = torch.get_num_threads()
    thread_options = sorted({1, threads_default})
    variants = [(norm, cl, t) for t in thread_options for norm in ("groupnorm", "instancenorm") for cl in (False, True)]
    train: Dict[str, List[Tuple[float, float]]] = {}
    test: Dict[str, List[Tuple[float, float]]] = {}
    load_before = _load()
    for rnd in range(args.rounds):
        for norm, cl, t in variants:
            for ipc in args.ipc:
                n = ipc * 10
                key = f"ipc{ipc} {norm} {'channels_last' if cl else 'nchw'} threads={t}"
                epochs = max(1, args.train_images // n)
                train.setdefault(key, []).append(train_speed(norm, cl, t, n, epochs, device))
            for batch in args.test_batches:
                key = f"batch{batch} {norm} {'channels_last' if cl else 'nchw'} threads={t}"
                test.setdefault(key, []).append(test_speed(norm, cl, t, batch, args.test_images, device))
        print(f"round {rnd + 1}/{args.rounds} done, load {_load()}", file=sys.stderr, flush=True)
    torch.set_num_threads(threads_default)
    def summary(d: Dict[str, List[Tuple[float, float]]]) -> Dict[str, Dict[str, object]]:
        return {k: {"wall_median": round(statistics.median(w for w, _ in v), 1),
                    "cpu_median": round(statistics.median(c for _, c in v), 1),
                    "wall_all": [round(w, 1) for w, _ in v], "cpu_all": [round(c, 1) for _, c in v]}
                for k, v in d.items()}

    result = {
        "what": "ConvNet3 (MNIST shape) images/second of the evaluation trainer under execution variants",
        "command": command_line(),
        "hardware": describe_hardware(device),
        "load_average_before": load_before, "load_average_after": _load(),
        "rounds": args.rounds, "train_images_per_measurement": args.train_images, "test_images": args.test_images,
        "train_images_per_second": summary(train), "test_images_per_second": summary(test),
        "note": "cpu_* = images per process CPU second (all threads together); wall_* = per wall second",
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_write_json(args.out, result)
    rows = sorted(result["train_images_per_second"].items()) + sorted(result["test_images_per_second"].items())
    for key, row in rows:
        print(f"{key:50s} wall {row['wall_median']:8.1f} img/s   cpu {row['cpu_median']:8.1f} img/CPU-s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
