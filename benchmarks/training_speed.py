"""Training speed: seconds per 1000 images for stage 1 (cGAN), stage 2 (global-local matching)
and evaluation (ConvNet3 training under the fixed protocol), on this machine's CPU and on CUDA
when present. Writes benchmarks/results/training_speed.json.

"Images" are real training images consumed: a stage-1/2 step draws one real batch for the critic
(per critic step) and one for the generator (stage 2 also draws ``online_steps`` batches to train
the pool model), so seconds per 1000 images = seconds per step * 1000 / (batch * batches per step).
The full-recipe time is extrapolated from the measured per-step times and the recipe's step counts.

    python benchmarks/training_speed.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from distilled_datasets.training.common.augment import DSA
from distilled_datasets.training.common.model_zoo import build_model
from distilled_datasets.training.common.provenance import command_line, describe_hardware
from distilled_datasets.training.common.real_data import load_tensors
from distilled_datasets.training.evaluation.classifier_training import FixedSet, TrainConfig, prepare_model, train_model
from distilled_datasets.training.generative.distillation import GenerativeDistillation
from distilled_datasets.training.generative.run_config import RunConfig, Stage1Config, Stage2Config

RESULT = Path(__file__).parent / "results" / "training_speed.json"


def _time_steps(run: GenerativeDistillation, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        run.train_step()
    if run.cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        run.train_step()
    if run.cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def measure_stage(stage: str, args, device: str, pool: List[str], tmp: Path) -> Dict[str, Any]:
    s1 = Stage1Config(batch_size=args.batch_size, d_width=args.d_width)
    s2 = Stage2Config(batch_size=args.batch_size, pool=tuple(pool) if pool else Stage2Config.pool)
    config = RunConfig(out=str(tmp / f"stage{stage}"), dataset=args.dataset, data_root=args.data_root,
                       stage="both", architecture=args.architecture, device=device, stage1=s1, stage2=s2)
    run = GenerativeDistillation(config)
    run.stage = stage  # stage 2 from a fresh generator: only the speed is measured here
    run._make_optimizers()
    per_step = _time_steps(run, args.steps, args.warmup)
    batches = s1.n_critic + 1 + (s2.online_steps if stage == "2" else 0)
    return {"stage": stage, "pool": pool if stage == "2" else None, "batch_size": args.batch_size,
            "real_batches_per_step": batches, "seconds_per_step": round(per_step, 4),
            "seconds_per_1000_images": round(per_step * 1000 / (args.batch_size * batches), 3),
            "steps_timed": args.steps, "generator": run.generator.config.to_dict(),
            "generator_parameters": run.generator.num_parameters}


def measure_evaluation(args, device: str) -> Dict[str, Any]:
    dev = torch.device(device)
    images, labels = load_tensors(args.dataset, args.data_root, train=True, device=dev)
    subset = torch.arange(args.eval_images, device=dev)
    model = prepare_model(build_model("convnet3", images.shape[1], 10, images.shape[-1]).to(dev), dev,
                          TrainConfig(epochs=1))
    config = TrainConfig(epochs=args.eval_epochs, progress=False)
    torch.manual_seed(0)
    result = train_model(model, FixedSet(images[subset], labels[subset]), config, dev, seed=0,
                         augment=DSA.for_dataset(args.dataset))
    return {"model": "convnet3", "batch_size": config.batch_size, "augment": "DSA", "images": result.images_seen,
            "seconds": round(result.seconds, 3),
            "seconds_per_1000_images": round(result.seconds * 1000 / result.images_seen, 3)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--architecture", default="small")
    parser.add_argument("--d-width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--eval-images", type=int, default=500)
    parser.add_argument("--eval-epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads on CPU")
    parser.add_argument("--out", default=str(RESULT))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import tempfile

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    record: Dict[str, Any] = {
        "benchmark": "training_speed",
        "command": command_line(None if argv is None else ["python", sys.argv[0], *argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()), "torch_threads": torch.get_num_threads(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)}, "devices": {},
    }
    recipe = RunConfig()
    for device in devices:
        with tempfile.TemporaryDirectory() as tmp:
            stage1 = measure_stage("1", args, device, [], Path(tmp))
            stage2 = {tuple(p): measure_stage("2", args, device, p, Path(tmp))
                      for p in (["convnet3"], list(recipe.stage2.pool))}
        evaluation = measure_evaluation(args, device)
        full = stage1["seconds_per_step"] * recipe.stage1.steps + \
            stage2[tuple(recipe.stage2.pool)]["seconds_per_step"] * recipe.stage2.steps
        record["devices"][device] = {
            "hardware": describe_hardware(device), "stage1": stage1,
            "stage2": [stage2[k] for k in stage2], "evaluation": evaluation,
            "default_recipe_seconds_estimate": {
                "stage1_steps": recipe.stage1.steps, "stage2_steps": recipe.stage2.steps,
                "seconds": round(full, 1), "note": "per-step time x the default RunConfig step counts"},
        }
    if "cuda" not in record["devices"]:
        record["cuda"] = "not measured: no CUDA device on this machine (no GPU was lent to this task)"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(json.dumps({d: {"stage1_s_per_1000": v["stage1"]["seconds_per_1000_images"],
                          "stage2_s_per_1000": [s["seconds_per_1000_images"] for s in v["stage2"]],
                          "eval_s_per_1000": v["evaluation"]["seconds_per_1000_images"]}
                      for d, v in record["devices"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
