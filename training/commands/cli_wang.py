"""CLI: `distilled-datasets distill-wang` (Wang et al. 2018 dataset distillation) and
`distilled-datasets wang-pretrain` (classifiers trained on real data, for --init-pool)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Optional

from distilled_datasets.cli import dataset_name

from . import HELP

logger = logging.getLogger(__name__)

DISTILL_WANG_HELP = """Learn the pixels of a few images per class and the step sizes of a short training run on them
(Wang et al. 2018, Dataset Distillation), so that the run takes a network from its initialisation
(one fixed, random ones, or a pretrained pool) to a good model.

Examples:
    distilled-datasets distill-wang --dataset mnist --mode fixed --images-per-class 1 --steps 1 \\
        --epochs 3 --iterations 4000 --out runs/wang_fixed
    distilled-datasets wang-pretrain --dataset mnist --nets 8 --out runs/mnist_pool
    distilled-datasets distill-wang --dataset mnist --init-pool runs/mnist_pool --malicious 0 1 \\
        --steps 1 --epochs 1 --iterations 500 --out runs/wang_attack
"""


def register(subparsers) -> None:
    from ..common.config_flags import add_dataclass_flags
    from ..wang2018.command_config import DistillWangSetup, PretrainConfig
    from ..wang2018.distill_config import WangConfig

    p = subparsers.add_parser("distill-wang", help=HELP["distill-wang"],
                              description=DISTILL_WANG_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=dataset_name, required=True, help="mnist, fashion_mnist or cifar10")
    add_dataclass_flags(p, WangConfig, skip=("dataset",))
    add_dataclass_flags(p, DistillWangSetup)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run_distill)

    p = subparsers.add_parser("wang-pretrain", help=HELP["wang-pretrain"])
    add_dataclass_flags(p, PretrainConfig, skip=("dataset",))
    p.add_argument("--dataset", type=dataset_name, required=True, help="mnist, fashion_mnist or cifar10")
    p.set_defaults(func=run_pretrain)


def _setup(setup, dataset: str, model: Optional[str]):
    import torch

    from ..common.provenance import resolve_device
    from ..common.real_data import default_data_root, get_dataset_info, load_tensors
    from ..wang2018.command_config import default_model

    if setup.threads is not None:
        torch.set_num_threads(setup.threads)
    spec = get_dataset_info(dataset)
    device = resolve_device(setup.device)
    root = setup.data_root or default_data_root()
    train = load_tensors(spec.name, root, train=True, download=setup.download, device=device)
    test = load_tensors(spec.name, root, train=False, download=setup.download, device=device)
    return spec, device, model or default_model(spec.name), train, test


def run_distill(args) -> int:
    from distilled_datasets.files import check_output, check_writable

    from ..common.config_flags import apply_flags, given_flags
    from ..common.model_zoo import build_model
    from ..common.provenance import command_line
    from ..common.real_data import get_dataset_info
    from ..wang2018.command_config import DistillWangSetup, default_model
    from ..wang2018.distill import distill
    from ..wang2018.distill_config import WangConfig
    from ..wang2018.heldout import evaluate_schedule, heldout_inits, summarize
    from ..wang2018.malicious import evaluate_attack, malicious_objective
    from ..wang2018.result_files import load_pool, load_weights, save_result

    setup = apply_flags(args, DistillWangSetup())
    recipe = given_flags(args, WangConfig, skip=("dataset",))
    mode = setup.resolve_mode(recipe.pop("mode", None))
    out = Path(setup.out)
    # A result folder holds config.json, model.safetensors, samples.png (and a card).
    check_output(out, overwrite=args.overwrite, want_dir=True, inputs=(setup.init_from, setup.init_pool),
                 own_kind=lambda folder: {p.name for p in folder.iterdir()} <= {"config.json", "model.safetensors",
                                                                               "samples.png", "README.md"},
                 kind_name="distill-wang result folder")
    check_writable(out)  # an unwritable --out fails now, not after the distillation
    # The recipe is checked (UsageError, exit 2) before the data loads.
    name = get_dataset_info(args.dataset).name
    cfg = WangConfig(dataset=name, model=recipe.pop("model", None) or default_model(name), mode=mode, **recipe)
    spec, device, model_name, (x, y), (xt, yt) = _setup(setup, args.dataset, cfg.model)
    model = build_model(model_name, spec.channels, spec.num_classes, spec.image_size).to(device)
    like = dict(model.named_parameters())  # every weight file given must fit this model

    def on_device(params):
        return {k: v.to(device) for k, v in params.items()}

    # Every input is read before the distillation, so a bad one costs nothing.
    init = on_device(load_weights(setup.init_from, like)) if setup.init_from else None
    pool = [on_device(p) for p in load_pool(setup.init_pool, like, dataset=spec.name)] if setup.init_pool else None
    held_out = ([on_device(p) for p in load_pool(setup.eval_pool, like, "--eval-pool", dataset=spec.name)]
                if mode not in ("fixed", "random") and setup.eval_pool else [])
    objective = malicious_objective(*cfg.malicious) if cfg.malicious else None
    result = distill(cfg, model, x, y, spec.num_classes, init=init, pool=pool, objective=objective)

    # Intended use: the learned steps applied to the known init / held-out inits / held-out nets.
    if mode == "fixed":
        nets, count = [result.init], 1
    elif mode == "random":
        nets, count = heldout_inits(model, setup.eval_nets, cfg.init), setup.eval_nets
    else:
        nets, count = held_out, len(held_out)
    metrics = {}
    if count:
        if cfg.malicious:
            res = evaluate_attack(model, result.images, result.labels, result.lrs, cfg.steps, cfg.epochs, nets, xt, yt,
                                  *cfg.malicious)
            metrics = {f"{when}_{k}": summarize([r[k] for r in res[when]])["mean"]
                       for when in ("before", "after") for k in res[when][0]}
        else:
            res = evaluate_schedule(model, result.images, result.labels, result.lrs, cfg.steps, cfg.epochs, nets,
                                    xt, yt, count=count)
            metrics = {"test_accuracy": summarize(res["after"]), "test_accuracy_before": summarize(res["before"]),
                       "eval_nets": count}
    save_result(result, out, list(spec.classes), metrics=metrics, command=command_line(args.argv))
    print(f"wrote {out}: {result.images.shape[0]} images, {cfg.steps} step(s) x {cfg.epochs} epoch(s), "
          f"rates {[round(v, 4) for v in result.lrs.tolist()]}")
    for key, value in metrics.items():
        print(f"  {key}: {value}")
    return 0


def run_pretrain(args) -> int:
    from ..common.config_flags import apply_flags
    from ..wang2018.command_config import PretrainConfig
    from ..wang2018.pretrain import train_pool

    config = apply_flags(args, PretrainConfig(dataset=args.dataset))
    config.validate()
    spec, device, model_name, (x, y), test = _setup(config, config.dataset, config.model)
    train_pool(model_name, spec.channels, spec.num_classes, spec.image_size, config.nets, x, y, out=config.out,
               epochs=config.train_epochs, lr=config.lr, test=test, start=config.start, dataset=spec.name)
    print(f"wrote {config.nets} {model_name} classifiers trained on {spec.name} to {config.out}")
    return 0
