"""Stage 2's leverage over training: how much of the generator's update the matching losses
actually make, and how much class structure the pool models carry when they are matched through.

For each variant of the stage-2 recipe this runs real stage-2 steps from a stage-1 checkpoint
(so the pool models evolve as in training) and, at every step, measures on the generator's
parameters the gradient norms of the weighted cGAN loss, of lambda_global * global and of
lambda_local * local (each alone, through autograd.grad), and the real test accuracy of the pool
model the step matched through. The JSON gives per variant the median ratios
||grad matching|| / ||grad cGAN|| and the pool accuracy, with the command and the hardware.

    python benchmarks/stage2_leverage.py --init-from runs/mnist_s1 --dataset mnist --steps 40
"""

from __future__ import annotations

import argparse
import copy
import datetime
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import torch

from distilled_datasets.files import atomic_write_json
from distilled_datasets.training.common.provenance import command_line, describe_hardware
from distilled_datasets.training.common.real_data import load_tensors
from distilled_datasets.training.generative.distillation import CONFIG_FILE, GenerativeDistillation
from distilled_datasets.training.generative.run_config import RunConfig, load_config

REPO = Path(__file__).resolve().parents[1]

# name -> stage-2 settings that differ from the recipe's defaults.
VARIANTS: Dict[str, Dict[str, Any]] = {
    "paper weights (0.01 / 0.001), fresh pool model each draw": {},
    "CPU recipe of the shipped defaults (0.1 / 0.01, pool convnet3 resnet10)": {
        "lambda_global": 0.1, "lambda_local": 0.01, "pool": ("convnet3", "resnet10"), "batch_size": 32},
    "paper weights, pool models kept 100 draws (trained online)": {"reinit_every": 100},
    "paper weights, 20 online steps per draw": {"online_steps": 20},
}


def grad_norm(loss: torch.Tensor, params: List[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))


def pool_accuracy(model: torch.nn.Module, test) -> float:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = int((model(test[0]).argmax(1) == test[1]).sum())
    model.train(was_training)
    return 100.0 * correct / len(test[1])


def measure(base: RunConfig, settings: Dict[str, Any], steps: int, test) -> Dict[str, Any]:
    config = copy.deepcopy(base)
    for key, value in settings.items():
        setattr(config.stage2, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        config.out = tmp
        run = GenerativeDistillation(config)
        run.stage = "2"
        run._make_optimizers()
        params = [p for p in run.generator.parameters() if p.requires_grad]
        rows = []
        s2 = config.stage2
        for _ in range(steps):
            run.critic_step(s2.batch_size)
            terms, name = run.generator_terms(s2.batch_size)
            row = {"model": name, "pool_accuracy": pool_accuracy(run.pool.models[name], test),
                   "gan": grad_norm(s2.gan_weight * terms["gan"], params),
                   "global": grad_norm(s2.lambda_global * terms["global"], params),
                   "local": grad_norm(s2.lambda_local * terms["local"], params),
                   "global_unweighted": grad_norm(terms["global"], params),
                   "local_unweighted": grad_norm(terms["local"], params)}
            run.opt_g.zero_grad(set_to_none=True)
            run.weighted_total(terms).backward()
            run.opt_g.step()
            rows.append(row)
    median = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    ratio = lambda key: statistics.median(r[key] / max(r["gan"], 1e-12) for r in rows)  # noqa: E731
    return {
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "stage2": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config.stage2).items()},
        "steps": steps,
        "median_grad_norm": {k: median(k) for k in ("gan", "global", "local")},
        "median_ratio_to_gan": {"global": ratio("global"), "local": ratio("local")},
        # The weight at which each term's gradient would match the cGAN loss's (median over steps).
        "lambda_for_parity": {k: statistics.median(r["gan"] / max(r[f"{k}_unweighted"], 1e-12) for r in rows)
                              for k in ("global", "local")},
        "pool_accuracy": {"mean": statistics.mean(r["pool_accuracy"] for r in rows),
                          "max": max(r["pool_accuracy"] for r in rows)},
        "per_step": rows,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init-from", required=True, help="a stage-1 run folder (its checkpoint and config)")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--steps", type=int, default=40, help="stage-2 steps measured per variant")
    parser.add_argument("--test-images", type=int, default=2000, help="real test images for the pool accuracy")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "stage2_leverage_{dataset}.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    stage1 = load_config(Path(args.init_from) / CONFIG_FILE)
    base = RunConfig(dataset=args.dataset, data_root=args.data_root or stage1.data_root, stage="2",
                     init_from=args.init_from, architecture=stage1.architecture, width=stage1.width,
                     noise_dim=stage1.noise_dim, device="cpu", stage1=stage1.stage1)
    images, labels = load_tensors(args.dataset, base.data_root, train=False)
    test = (images[:args.test_images], labels[:args.test_images])
    results = {}
    for name, settings in VARIANTS.items():
        print(f"measuring: {name}", file=sys.stderr)
        results[name] = measure(base, settings, args.steps, test)
        print(f"  ratio to cGAN (global, local): {results[name]['median_ratio_to_gan']}, pool accuracy "
              f"{results[name]['pool_accuracy']['mean']:.1f}%", file=sys.stderr)
    out = args.out.format(dataset=args.dataset)
    atomic_write_json(out, {
        "benchmark": "stage2_leverage", "dataset": args.dataset, "init_from": args.init_from,
        "stage1_steps": GenerativeDistillation._init_from_recipe(args.init_from).get("stage1_steps_done"),
        "variants": results, "command": command_line(), "hardware": describe_hardware("cpu"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
