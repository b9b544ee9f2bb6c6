"""`distilled-datasets distill-latents`: learn the latent codes of a generator's distilled set."""

from __future__ import annotations

import argparse

from distilled_datasets.cli import dataset_name

from ..common.config_flags import add_dataclass_flags, apply_flags

from . import HELP


def register(subparsers) -> None:
    from ..generative.latent_distillation import LatentConfig

    parser = subparsers.add_parser(
        "distill-latents", help=HELP["distill-latents"],
        description="Optimises K latent codes per class so that every prefix of the set (the first P images per "
                    "class, P in --prefixes) matches the real data's class means in the features of networks drawn "
                    "at every step (distribution matching in the generator's latent space). Writes a new generator "
                    "folder whose first K samples per class are the learned ones; load it with "
                    "DistilledMNIST(repo_id=OUT).")
    parser.add_argument("--resume", action="store_true",
                        help="continue --out from its last checkpoint with its saved settings (only iterations, "
                             "data location, device and logging may change)")
    parser.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out")
    add_dataclass_flags(parser, LatentConfig, skip=("dataset",))
    parser.add_argument("--dataset", type=dataset_name, default=None, help="the real dataset matched (default: mnist)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from distilled_datasets.errors import UsageError

    from ..generative.latent_distillation import LatentConfig, distill_latents, saved_latent_config

    if args.resume and args.out is None:
        raise UsageError("--resume needs --out: the run folder to continue")
    config = apply_flags(args, saved_latent_config(args.out) if args.resume else LatentConfig())
    out = distill_latents(config, resume=args.resume, overwrite=args.overwrite)
    print(f"generator with {config.latents} learned latents per class saved to {out} "
          f"(load it with repo_id={str(out)!r})")
    return 0
