"""`distilled-datasets publish RUN_DIR --repo-id ORG/NAME`: card, samples and weights to the Hub."""

from __future__ import annotations

import argparse
import os

from . import HELP


def register(subparsers) -> None:
    from ..common.config_flags import add_dataclass_flags
    from ..publishing.publish_generator import PublishOptions

    parser = subparsers.add_parser(
        "publish", help=HELP["publish"],
        description="Writes config.json, model.safetensors, README.md (model card from hub_cards/, filled with "
                    "the run's recipe and the accuracies of --results) and samples.png, then uploads them "
                    "through huggingface_hub (HF_TOKEN or `hf auth login`), and/or writes them to --out.")
    parser.add_argument("run_dir", help="a run directory or any folder holding config.json + model.safetensors")
    add_dataclass_flags(parser, PublishOptions)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..common.config_flags import apply_flags
    from ..publishing.publish_generator import PublishOptions, publish

    options = apply_flags(args, PublishOptions())
    where = publish(args.run_dir, options, results_root=os.getcwd())
    if options.repo_id:
        print(f"published to {options.repo_id}" + (f" (branch {options.branch})" if options.branch else ""))
    if options.out:
        print(f"wrote {where}")
    return 0
