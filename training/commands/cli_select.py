"""`distilled-datasets select RUN_DIR --out DIR --candidates M`: deployment-time selection (herding,
k-center, a mix) or truncation of a generator's noise."""

from __future__ import annotations

import argparse

from . import HELP


def register(subparsers) -> None:
    from ..common.config_flags import add_dataclass_flags
    from ..selection.selector_fit import SelectConfig

    parser = subparsers.add_parser(
        "select", help=HELP["select"],
        description="Trains a small classifier on the real training set, stores it and its per-class mean "
                    "features with the generator, and sets sampling.candidates=M: each chunk then synthesizes "
                    "M times more images and keeps some of them by --selection in the classifier's feature space "
                    "(herding: those whose features best match the real class mean; kcenter: coverage; mix: "
                    "alternately). Writes a new generator folder (the input is left as it is); evaluate and publish it "
                    "like any generator.")
    parser.add_argument("run_dir", help="a run directory or any generator folder")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it holds an earlier selection")
    add_dataclass_flags(parser, SelectConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..common.config_flags import apply_flags
    from ..common.distributed import Distributed
    from ..common.generator_folder import check_folder_out, write_folder
    from ..selection.selector_fit import SelectConfig, fit_selection

    config = apply_flags(args, SelectConfig())
    config.validate()  # the flags, checked like a config built in Python
    check_folder_out(config.out, args.overwrite, inputs=(args.run_dir,))  # before minutes of work
    dist = Distributed.from_env("cpu")  # under torchrun the selector trains on every rank's share
    generator = fit_selection(args.run_dir, config, dist=dist)
    if dist.is_main:
        write_folder(generator, config.out, args.overwrite, inputs=(args.run_dir,))
    dist.barrier()
    how = [f"keeps 1 in {config.candidates} candidates by {config.selection}"] if config.candidates > 1 else []
    if config.noise_scale is not None:
        how.append(f"noise x {config.noise_scale}")
    print(f"wrote {config.out} ({', '.join(how)})")
    return 0
