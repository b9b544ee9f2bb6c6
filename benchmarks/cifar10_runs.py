"""Keep the record of the runs that made the CIFAR-10 generator: each stage's config, log and last
sample grid copied into benchmarks/results/cifar10_runs/<run>/ (the checkpoints stay behind), and
the wall time of each stage as it ran on this machine, estimated from its log.

A run logs every --log-every steps its rate since it (re)started; the time of the steps since the
previous line is their number over that rate, and a run's time is the sum (a resumed run's log
was cut back to its checkpoint, so no step is counted twice).

    python benchmarks/cifar10_runs.py --runs-dir runs/programme/cifar10
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "cifar10_runs"
RUNS = ("c10-stage1", "c10-s2-paper", "c10-latents", "c10-latents-generator")
KEEP = ("train_config.json", "latent_config.json", "log.jsonl", "samples.png")


def wall_seconds(lines: List[Dict[str, Any]]) -> float:
    """Sum of (steps in a stretch) / (the rate logged at its end)."""
    total, previous = 0.0, 0  # every run here counts its steps from 0
    for line in lines:
        step, rate = line.get("step"), line.get("steps_per_s")
        if isinstance(step, int) and rate and step > previous:
            total += (step - previous) / rate
            previous = step
    return total


def main(argv: Optional[List[str]] = None) -> int:
    from distilled_datasets.files import atomic_write_json
    from distilled_datasets.training.common.provenance import command_line, describe_hardware

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "programme" / "cifar10"))
    args = parser.parse_args(argv)
    stages = {}
    for name in RUNS:
        run = Path(args.runs_dir) / name
        if not (run / "log.jsonl").is_file():
            continue
        kept = OUT / name
        kept.mkdir(parents=True, exist_ok=True)
        for file in KEEP:
            if (run / file).is_file():
                shutil.copyfile(run / file, kept / file)
        lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
        steps = max((line["step"] for line in lines if isinstance(line.get("step"), int)), default=0)
        stages[name] = {"steps": steps, "wall_seconds_from_log": round(wall_seconds(lines), 1),
                        "last_logged_rate_steps_per_s": lines[-1].get("steps_per_s") if lines else None,
                        "record": str(kept.relative_to(REPO))}
    atomic_write_json(OUT / "summary.json", {
        "what": "wall time of each stage of the CIFAR-10 generator as it ran here (one process per core, the other "
                "core busy with evaluations), summed from each run's logged rates",
        "command": command_line(None if argv is None else ["python", "benchmarks/cifar10_runs.py", *argv]),
        "hardware": describe_hardware("cpu"), "stages": stages})
    for name, stage in stages.items():
        print(f"{name}: {stage['steps']} steps, {stage['wall_seconds_from_log'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
