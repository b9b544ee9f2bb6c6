"""`distilled-datasets publish RUN_DIR --repo-id ORG/NAME`: card, samples and weights to the Hub."""

from __future__ import annotations

import argparse
import os

from . import HELP


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "publish", help=HELP["publish"],
        description="Writes config.json, model.safetensors, README.md (model card from hub_cards/, filled with "
                    "the run's recipe and the accuracies of --results) and samples.png, then uploads them "
                    "through huggingface_hub (HF_TOKEN or `hf auth login`), and/or writes them to --out.")
    parser.add_argument("run_dir", help="a run directory or any folder holding config.json + model.safetensors")
    parser.add_argument("--repo-id", help="Hub repository to create/update, e.g. ORG/NAME")
    parser.add_argument("--out", help="also (or only) write the repository folder here (never a run folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--results", nargs="*", default=[], metavar="JSON",
                        help="evaluation JSON files (distilled-datasets evaluate) to show in the model card")
    parser.add_argument("--half", action="store_true", help="store float16 weights (loading gives float32)")
    parser.add_argument("--private", action="store_true", default=None, help="create the repository private")
    parser.add_argument("--branch", help="push to this branch (created if missing) instead of main")
    parser.add_argument("--commit-message")
    parser.add_argument("--license", default="mit")
    parser.add_argument("--package-default", action="store_true",
                        help="the folder becomes a default shipped inside the package (card shows no repo_id)")
    parser.add_argument("--notes", help="a paragraph shown under the measured table (how the numbers were obtained)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..publishing.publish_generator import publish

    where = publish(args.run_dir, repo_id=args.repo_id, out=args.out, results=args.results, half=args.half,
                    private=args.private, branch=args.branch, commit_message=args.commit_message,
                    license=args.license, results_root=os.getcwd(),
                    package_default=args.package_default, notes=args.notes, overwrite=args.overwrite)
    if args.repo_id:
        print(f"published to {args.repo_id}" + (f" (branch {args.branch})" if args.branch else ""))
    if args.out:
        print(f"wrote {where}")
    return 0



