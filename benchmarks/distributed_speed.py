"""Training steps per second with 1 and with N processes (torchrun), the same global batch.

Each setting trains a fresh run for --steps steps (stage 1, then stage 2 with a ConvNet3 pool)
on the real data and reads the rate the run logs (log.jsonl, steps_per_s, after a warm-up). On a
CPU the processes share the machine's cores (one intra-op thread each); on a GPU machine each
process takes one GPU.

    python benchmarks/distributed_speed.py --nproc 1 2 --out benchmarks/results/distributed_speed.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--dataset", "mnist", "--architecture", "small", "--stage1-d-width", "32", "--stage1-batch-size",
         "64", "--stage2-batch-size", "32", "--stage2-pool", "convnet3", "--stage2-lr-g", "2e-5", "--stage2-lr-d",
         "2e-5", "--checkpoint-every", "100000", "--sample-every", "100000", "--log-every", "10"]


def measure(nproc: int, stage: str, steps: int, device: str, env: Dict[str, str]) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        argv = [*TRAIN, "--stage", "1", "--stage1-steps", str(steps), "--out", str(out), "--device", device]
        if stage == "2":
            first = Path(tmp) / "stage1"
            subprocess.run([sys.executable, "-m", "distilled_datasets.cli", *TRAIN, "--stage", "1", "--stage1-steps",
                            "1", "--out", str(first), "--device", device], env=env, check=True, capture_output=True)
            argv = [*TRAIN, "--stage", "2", "--init-from", str(first), "--stage2-steps", str(steps), "--out", str(out),
                    "--device", device]
        launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                        f"--nproc_per_node={nproc}"]
        started = time.perf_counter()
        done = subprocess.run([*launcher, "-m", "distilled_datasets.cli", *argv], env=env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {"processes": nproc, "stage": stage, "steps": steps, "wall_s": round(time.perf_counter() - started, 2),
            "steps_per_s": records[-1]["steps_per_s"], "images_per_s": None}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", default=os.environ.get("DISTILLED_DATASETS_DATA", "data"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "distributed_speed.json"))
    args = parser.parse_args(argv)

    from distilled_datasets.files import atomic_write_json
    from distilled_datasets.training.common.provenance import (command_line, describe_hardware,
                                                                  other_runnable_processes)

    env = {**os.environ, "DISTILLED_DATASETS_DATA": args.data_root, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
           "PYTHONWARNINGS": "ignore"}
    load, busy = os.getloadavg(), other_runnable_processes()
    rows = []
    for stage in ("1", "2"):
        for nproc in args.nproc:
            row = measure(nproc, stage, args.steps, args.device, env)
            batch = 64 if stage == "1" else 32
            row["images_per_s"] = round(row["steps_per_s"] * batch, 1)
            rows.append(row)
            print(f"stage {stage}, {nproc} process(es): {row['steps_per_s']} steps/s", file=sys.stderr)
    atomic_write_json(args.out, {
        "benchmark": "distributed_speed", "rows": rows,
        "protocol": "fresh runs on the real training set; stage 1 global batch 64, stage 2 global batch 32 with a "
                    "ConvNet3 pool; steps/s as the run logs it at its last step; one intra-op thread per process",
        "command": command_line(), "hardware": describe_hardware(args.device),
        "load_average_at_start": list(load), "other_runnable_processes_at_start": busy,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
