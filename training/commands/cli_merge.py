"""`distilled-datasets merge-evaluations`: join the parts of one evaluation (see eval_merge.py)."""

from __future__ import annotations

import argparse

from . import HELP


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "merge-evaluations", help=HELP["merge-evaluations"],
        description="Merge the runs of several parts of one evaluation (same dataset, ipc, protocol and source "
                    "weights; e.g. `evaluate --run-indices 0 1` on one machine and `--run-indices 2 3 4` on "
                    "another) into one JSON; it is complete when every run of the protocol is present. A run "
                    "found in two parts must have the same result in both.")
    p.add_argument("parts", nargs="+", help="evaluation JSON files (at least two)")
    p.add_argument("--out", required=True, help="merged JSON (may be one of the parts; written atomically)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out that is not one of the parts (never a file of another kind)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..common.provenance import command_line
    from ..evaluation.merge import check_merge_out, merge_evaluations

    command = command_line(args.argv)
    check_merge_out(args.out, args.parts, args.overwrite)
    record = merge_evaluations(args.parts, out=args.out, command=command)
    acc = record["accuracy"]
    state = "complete" if record["complete"] else f"incomplete: {acc['n']} of {len(record['seeds'])} runs"
    print(f"{record['method']} | {record['dataset']} | ipc {record['ipc']}: {acc['mean']:.2f} +- {acc['std']:.2f} % "
          f"over {acc['n']} runs ({state}) -> {args.out}")
    return 0
