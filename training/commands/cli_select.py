"""`distilled-datasets select RUN_DIR --out DIR --candidates M`: deployment-time selection (herding,
k-center, a mix) or truncation of a generator's noise."""

from __future__ import annotations

import argparse

from . import HELP


def register(subparsers) -> None:
    from distilled_datasets.cli import dataset_name
    from distilled_datasets.herding import SELECTION_METHODS
    from distilled_datasets.validation import bounded_float, non_negative_int, positive_int

    parser = subparsers.add_parser(
        "select", help=HELP["select"],
        description="Trains a small classifier on the real training set, stores it and its per-class mean "
                    "features with the generator, and sets sampling.candidates=M: each chunk then synthesizes "
                    "M times more images and keeps, by herding, those whose features best match the real class "
                    "mean. Writes a new generator folder (the input is left as it is); evaluate and publish it "
                    "like any generator.")
    parser.add_argument("run_dir", help="a run directory or any generator folder")
    parser.add_argument("--out", required=True, help="the new generator folder")
    parser.add_argument("--dataset", required=True, type=dataset_name,
                        help="the real dataset the selector is fitted on, e.g. mnist")
    parser.add_argument("--data-root", default=None, help="torchvision root holding the real training set "
                        "(default: $DISTILLED_DATASETS_DATA, else ./data)")
    parser.add_argument("--download", action="store_true", help="let torchvision download it")
    parser.add_argument("--candidates", type=positive_int, default=8,
                        help="images synthesized per image kept (1: no selector; then give --noise-scale)")
    parser.add_argument("--noise-scale", type=bounded_float, default=None,
                        help="truncation: multiply the deployment noise (< 1: more typical images)")
    parser.add_argument("--selection", choices=SELECTION_METHODS, default="herding",
                        help="herding (typical images), kcenter (coverage) or mix (alternating picks)")
    parser.add_argument("--selector-width", type=positive_int, default=16)
    parser.add_argument("--selector-feature-dim", type=positive_int, default=64)
    parser.add_argument("--epochs", type=positive_int, default=2, help="selector training epochs on the real data")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..common.distributed import Distributed
    from ..selection.selector_fit import check_folder_out, select, write_folder

    check_folder_out(args.out, args.overwrite, inputs=(args.run_dir,))  # before minutes of work
    dist = Distributed.from_env("cpu")  # under torchrun the selector trains on every rank's share
    generator = select(args.run_dir, args.dataset, args.data_root, args.candidates,
                       selector_kwargs={"width": args.selector_width, "feature_dim": args.selector_feature_dim},
                       epochs=args.epochs, seed=args.seed, download=args.download, selection=args.selection,
                       noise_scale=args.noise_scale, dist=dist)
    if dist.is_main:
        write_folder(generator, args.out, args.overwrite, inputs=(args.run_dir,))
    dist.barrier()
    how = [f"keeps 1 in {args.candidates} candidates by {args.selection}"] if args.candidates > 1 else []
    if args.noise_scale is not None:
        how.append(f"noise x {args.noise_scale}")
    print(f"wrote {args.out} ({', '.join(how)})")
    return 0
