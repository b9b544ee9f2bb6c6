"""`distilled-datasets train`: stage 1, stage 2 or both, resumable."""

from __future__ import annotations

import argparse
import logging

from distilled_datasets.errors import UsageError

from . import HELP

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    from ..generative.run_config import add_config_arguments

    parser = subparsers.add_parser(
        "train", help=HELP["train"],
        description="Stage 1 trains a conditional GAN on the real training set; stage 2 adds "
                    "lambda_global * logit matching + lambda_local * feature matching through a random "
                    "model pool. The run directory ends up loadable with the dataset's class, e.g. "
                    "DistilledCIFAR10(repo_id=RUN_DIR), or DistilledImageFolder for --dataset imagefolder.")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint, with its saved settings (only "
                             "more steps of the stage still ahead, logging, device and the data's location may "
                             "change)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in a non-empty --out (the run's own files there are replaced)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..common.distributed import Distributed
    from ..generative.distillation import saved_config, train
    from ..generative.run_config import config_from_args

    if args.resume and args.out is None:
        raise UsageError("--resume needs --out: the run directory to continue")
    config = config_from_args(args, base=saved_config(args.out) if args.resume else None)
    out = train(config, resume=args.resume, overwrite=args.overwrite)
    if Distributed.from_env().is_main:  # under torchrun rank 0 wrote it, and says so once
        print(f"generator saved to {out} (load it with repo_id={str(out)!r})")
    return 0
