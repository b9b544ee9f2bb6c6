"""CLI: `distilled-datasets distill-wang` (Wang et al. 2018 dataset distillation) and
`distilled-datasets wang-pretrain` (classifiers trained on real data, for --init-pool).

Examples:
    distilled-datasets distill-wang --dataset mnist --mode fixed --images-per-class 1 --steps 1 \\
        --epochs 3 --iterations 4000 --out runs/wang_fixed
    distilled-datasets wang-pretrain --dataset mnist --nets 8 --out runs/mnist_pool
    distilled-datasets distill-wang --dataset mnist --init-pool runs/mnist_pool --malicious 0 1 \\
        --steps 1 --epochs 1 --iterations 500 --out runs/wang_attack
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from distilled_datasets.errors import UsageError
from distilled_datasets.validation import bounded_float, non_negative_int, positive_int

from . import HELP

logger = logging.getLogger(__name__)



def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="mnist, fashion_mnist or cifar10")
    p.add_argument("--model", default=None, help="network (default: lenet, or alexcifarnet for cifar10)")
    p.add_argument("--data-root", default=None,
                   help="folder with the real data in torchvision's layout "
                        "(default: $DISTILLED_DATASETS_DATA, else ./data)")
    p.add_argument("--download", action="store_true", help="let torchvision download the real data")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")


def register(subparsers) -> None:
    p = subparsers.add_parser("distill-wang", help=HELP["distill-wang"],
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--mode", choices=("fixed", "random", "pool"), default=None,
                   help="fixed: one known init; random: fresh inits every iteration; pool: draws from --init-pool "
                        "(default: fixed, or what --init-from/--init-pool imply)")
    p.add_argument("--images-per-class", type=positive_int, default=1, help="distilled images per class, all steps together")
    p.add_argument("--steps", type=positive_int, default=1, help="inner GD steps S (each on images-per-class/S per class)")
    p.add_argument("--epochs", type=positive_int, default=3, help="inner epochs E (the S steps repeated)")
    p.add_argument("--iterations", type=positive_int, default=2000, help="outer Adam iterations")
    p.add_argument("--batch-size", type=positive_int, default=1024, help="real images per outer iteration")
    p.add_argument("--nets-per-step", type=positive_int, default=1, help="initial weights per outer iteration (random/pool)")
    p.add_argument("--lr", type=bounded_float, default=0.01, help="Adam rate for pixels and raw step sizes")
    p.add_argument("--init-step-lr", type=bounded_float, default=0.02, help="initial inner step size")
    p.add_argument("--decay-every", type=non_negative_int, default=0,
                   help="multiply the Adam rate by --decay-factor every N iterations (0: iterations // 10)")
    p.add_argument("--decay-factor", type=bounded_float, default=0.5)
    p.add_argument("--grad-clip", type=bounded_float, default=0.0, help="clip the outer gradient norm (0: off)")
    p.add_argument("--init", choices=("default", "xavier"), default="default",
                   help="p(theta_0): the model's PyTorch init, or xavier-normal weights + zero biases (paper's code)")
    p.add_argument("--init-seed", type=non_negative_int, default=0, help="seed of the fixed init (mode fixed)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of pixels, real batches and random inits")
    p.add_argument("--malicious", type=non_negative_int, nargs=2, metavar=("K", "T"), default=None,
                   help="poisoning objective: steps make class K predicted as T, other classes kept")
    p.add_argument("--init-from", default=None,
                   help="fixed init: a .safetensors file of weights or a fixed-init result folder")
    p.add_argument("--init-pool", default=None, help="folder of *.safetensors weights: p(theta_0) for mode pool")
    p.add_argument("--eval-nets", type=non_negative_int, default=50,
                   help="random mode: held-out inits to evaluate on after distillation (0: skip)")
    p.add_argument("--eval-pool", default=None, help="pool mode: folder of held-out weights to evaluate on")
    p.add_argument("--out", required=True, help="result folder (config.json, model.safetensors, samples.png)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run_distill)

    p = subparsers.add_parser("wang-pretrain", help=HELP["wang-pretrain"])
    _common(p)
    p.add_argument("--nets", type=positive_int, default=8, help="how many classifiers")
    p.add_argument("--train-epochs", type=positive_int, default=2, help="SGD epochs per classifier")
    p.add_argument("--lr", type=bounded_float, default=0.01, help="SGD rate (momentum 0.9)")
    p.add_argument("--start", type=non_negative_int, default=0, help="index of the first net (nets already in --out are kept)")
    p.add_argument("--out", required=True, help="folder for net_XXX.safetensors")
    p.set_defaults(func=run_pretrain)


def _setup(args):
    import torch

    from ..common.provenance import resolve_device
    from ..common.real_data import default_data_root, get_dataset_info, load_tensors

    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    spec = get_dataset_info(args.dataset.strip().lower().replace("-", "_"))
    device = resolve_device(args.device)
    root = args.data_root or default_data_root()
    model_name = args.model or ("alexcifarnet" if spec.name == "cifar10" else "lenet")
    train = load_tensors(spec.name, root, train=True, download=args.download, device=device)
    test = load_tensors(spec.name, root, train=False, download=args.download, device=device)
    return spec, device, model_name, train, test


def run_distill(args) -> int:
    from ..common.model_zoo import build_model
    from ..common.provenance import command_line
    from ..wang2018.distill import distill
    from ..wang2018.distill_config import WangConfig
    from ..wang2018.heldout import evaluate_schedule, heldout_inits, summarize
    from ..wang2018.malicious import evaluate_attack, malicious_objective
    from distilled_datasets.files import check_output

    from ..wang2018.result_files import load_pool, load_weights, save_result

    out = Path(args.out)
    # The one output check of every command; a result folder holds config.json, model.safetensors, samples.png.
    check_output(out, overwrite=args.overwrite, want_dir=True, inputs=(args.init_from, args.init_pool),
                 own_kind=lambda folder: {p.name for p in folder.iterdir()} <= {"config.json", "model.safetensors",
                                                                               "samples.png", "README.md"},
                 kind_name="distill-wang result folder")
    if args.init_from and args.init_pool:
        raise UsageError("pass --init-from (one fixed init) or --init-pool (a pool), not both")
    mode = args.mode or ("pool" if args.init_pool else "fixed")
    if args.init_from and mode != "fixed":
        raise UsageError(f"--init-from gives one fixed init; it needs --mode fixed, got --mode {mode}")
    if (mode == "pool") != bool(args.init_pool):
        raise UsageError("--mode pool and --init-pool DIR go together")
    spec, device, model_name, (x, y), (xt, yt) = _setup(args)
    cfg = WangConfig(
        dataset=spec.name, model=model_name, mode=mode, images_per_class=args.images_per_class, steps=args.steps,
        epochs=args.epochs, iterations=args.iterations, batch_size=args.batch_size, nets_per_step=args.nets_per_step,
        lr=args.lr, init_step_lr=args.init_step_lr, decay_every=args.decay_every, decay_factor=args.decay_factor,
        grad_clip=args.grad_clip, seed=args.seed, init_seed=args.init_seed, init=args.init,
        malicious=tuple(args.malicious) if args.malicious else None,
    )
    model = build_model(model_name, spec.channels, spec.num_classes, spec.image_size).to(device)
    init = {k: v.to(device) for k, v in load_weights(args.init_from).items()} if args.init_from else None
    pool = [{k: v.to(device) for k, v in p.items()} for p in load_pool(args.init_pool)] if args.init_pool else None
    objective = malicious_objective(*cfg.malicious) if cfg.malicious else None
    result = distill(cfg, model, x, y, spec.num_classes, init=init, pool=pool, objective=objective)

    # Intended use: the learned steps applied to the known init / held-out inits / held-out nets.
    if mode == "fixed":
        nets, count = [result.init], 1
    elif mode == "random":
        nets, count = heldout_inits(model, args.eval_nets, cfg.init), args.eval_nets
    else:
        nets = [{k: v.to(device) for k, v in p.items()} for p in load_pool(args.eval_pool)] if args.eval_pool else []
        count = len(nets)
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
    from ..wang2018.pretrain import train_pool

    spec, device, model_name, (x, y), test = _setup(args)
    if args.nets < 1:
        raise UsageError(f"--nets must be >= 1, got {args.nets}")
    train_pool(model_name, spec.channels, spec.num_classes, spec.image_size, args.nets, x, y, out=args.out,
               epochs=args.train_epochs, lr=args.lr, test=test, start=args.start)
    print(f"wrote {args.nets} {model_name} classifiers trained on {spec.name} to {args.out}")
    return 0
