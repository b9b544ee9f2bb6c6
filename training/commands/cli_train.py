"""`distilled-datasets train`: stage 1, stage 2 or both, resumable."""

from __future__ import annotations

import argparse
import logging

from distilled_datasets.errors import MissingFileError, UsageError

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    from ..generative.run_config import add_config_arguments

    parser = subparsers.add_parser(
        "train", help="train a generator with global-local generative distillation",
        description="Stage 1 trains a conditional GAN on the real training set; stage 2 adds "
                    "lambda_global * logit matching + lambda_local * feature matching through a random "
                    "model pool. The run directory ends up loadable with DistilledMNIST(repo_id=RUN_DIR).")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint (its saved config; "
                             "step-count flags given here extend it)")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..generative.distillation import GenerativeDistillation
    from ..generative.run_config import config_from_args, load_config

    if args.resume:
        if args.out is None:
            raise UsageError("--resume needs --out: the run directory to continue")
        saved = Path(args.out) / "train_config.json"
        if not saved.is_file():
            raise MissingFileError(f"--resume: {saved} does not exist; start the run without --resume")
        config = config_from_args(args, base=load_config(saved))
    else:
        config = config_from_args(args)
    out = GenerativeDistillation(config, resume=args.resume).run()
    print(f"generator saved to {out} (load it with repo_id={str(out)!r})")
    return 0
