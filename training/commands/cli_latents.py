"""`distilled-datasets distill-latents`: learn the latent codes of a generator's distilled set."""

from __future__ import annotations

import argparse

from distilled_datasets.cli import sample_dataset_name

from ..common.config_flags import add_dataclass_flags, apply_flags

from . import HELP


def register(subparsers) -> None:
    from ..generative.latent_distillation import LatentConfig

    parser = subparsers.add_parser(
        "distill-latents", help=HELP["distill-latents"],
        description="Optimises K latent codes per class so that every prefix of the set (the first P images per "
                    "class, P in --prefixes) matches the real data's class means in the features of networks drawn "
                    "at every step (distribution matching in the generator's latent space). Writes a new generator "
                    "folder whose first K samples per class are the learned ones; load it with the "
                    "dataset's class, e.g. DistilledFashionMNIST(repo_id=OUT).")
    parser.add_argument("--resume", action="store_true",
                        help="continue --out from its last checkpoint with its saved settings (only more iterations, "
                             "the data location, device, logging and the result's --chunk-size and --layout may "
                             "change)")
    parser.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out")
    add_dataclass_flags(parser, LatentConfig, skip=("dataset",))
    parser.add_argument("--dataset", type=sample_dataset_name, default=None,
                        help="the real dataset matched: mnist, fashion_mnist, cifar10, or imagefolder (the image "
                             "folder the generator was trained on, as --data-root) (default: mnist)")
    parser.set_defaults(func=run)

    joiner = subparsers.add_parser(
        "join-sets", help=HELP["join-sets"],
        description="Writes one generator folder holding the learned sets of PARTS in order: seed s of the result "
                    "gives exactly the images of part s. The parts are distill-latents results through the same "
                    "generator weights (learn the later seeds with --seed s --lr-generator 0 from the first "
                    "part); a seed past the last set gives seeded noise, with a warning.")
    joiner.add_argument("parts", nargs="+", help="generator folders or Hub ids, one learned set each (seed order)")
    joiner.add_argument("--out", required=True, help="the joined generator folder")
    joiner.add_argument("--overwrite", action="store_true", help="replace a generator folder already at --out")
    joiner.set_defaults(func=run_join)


def run_join(args: argparse.Namespace) -> int:
    from ..generative.latent_sets import join_set_folders

    out = join_set_folders(args.parts, args.out, overwrite=args.overwrite)
    print(f"{len(args.parts)} learned sets (seeds 0..{len(args.parts) - 1}) joined into {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    from distilled_datasets.errors import UsageError

    from ..common.distributed import Distributed
    from ..generative.latent_distillation import LatentConfig, distill_latents, saved_latent_config

    if args.resume and args.out is None:
        raise UsageError("--resume needs --out: the run folder to continue")
    config = apply_flags(args, saved_latent_config(args.out) if args.resume else LatentConfig())
    out = distill_latents(config, resume=args.resume, overwrite=args.overwrite)
    if Distributed.from_env().is_main:  # under torchrun rank 0 wrote it, and says so once
        print(f"generator with {config.latents} learned latents per class saved to {out} "
              f"(load it with repo_id={str(out)!r})")
    return 0
