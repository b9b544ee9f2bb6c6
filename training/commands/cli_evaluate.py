"""`distilled-datasets evaluate`: the evaluation harness on the command line.

One JSON per ipc value: ``--out`` may hold ``{ipc}`` (needed when several ipc values are given);
without ``--out`` the files go to ``--out-dir`` as
``eval_{dataset}_{label}[_{protocol}][_{model}]_ipc{ipc}.json`` (protocol and model only when
they are not the headline's fixed / convnet3).
"""

from __future__ import annotations

import argparse
import logging
import os

from distilled_datasets.errors import DistilledDatasetsError, GeneratorNotFoundError, OutputExistsError
from distilled_datasets.files import atomic_write_json, read_json

from ..common.config_flags import add_dataclass_flags, apply_flags
from ..common.distributed import Distributed
from ..common.provenance import command_line, resolve_device

from . import HELP

logger = logging.getLogger(__name__)


def _replaceable(out: str) -> None:
    """--resume and --overwrite touch only an evaluation record: never a generator's weights, a run's
    config or any other file that happens to be named as --out."""
    from ..evaluation.records import read_record

    try:
        read_record(out, "--out")
    except DistilledDatasetsError as exc:
        raise OutputExistsError(f"--out {out} is not an evaluation record; --resume and --overwrite replace only "
                                f"evaluation records ({exc})") from None


def register(subparsers) -> None:
    from ..evaluation.eval_target import EvalTarget
    from ..evaluation.harness import EvalConfig

    p = subparsers.add_parser(
        "evaluate", help=HELP["evaluate"],
        description="Train a model of the zoo from scratch on SOURCE's training set, RUNS times (run r: dataset "
                    "seed r, model-init seed r), test each once at the end on the full real test split, and "
                    "write a JSON per ipc with the command, hardware, protocol, seeds, per-run accuracies and "
                    "times. Headline protocol: fixed, ConvNet3, SGD 0.01 momentum 0.9 wd 5e-4, batch 256, "
                    "1000 epochs, lr x0.1 at half, DSA, 5 runs; a difference in those training settings (or a "
                    "test limit, or one dataset seed for every run) is marked reduced in the JSON, with its reasons. "
                    "Another "
                    "--model (cross-architecture) or --protocol resample is another protocol, not a reduced one: "
                    "the JSON names it (protocol.model, protocol.name).")
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="log to stderr (-v info, -vv debug)")
    add_dataclass_flags(p.add_argument_group("what is measured, and where the records go (EvalTarget)"), EvalTarget)
    p.add_argument("--resume", action="store_true", help="reuse the finished runs of an existing matching --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing complete JSON")
    add_dataclass_flags(p.add_argument_group("protocol and execution (EvalConfig)"), EvalConfig)
    p.set_defaults(func=run)


def output_path(target, config, ipc, label: str) -> str:
    from ..evaluation.harness import slug

    if target.out is not None:
        return target.out.replace("{ipc}", str(ipc))
    parts = ["eval", target.dataset, slug(label)]
    if config.protocol != "fixed":
        parts.append(config.protocol)
    if config.model != "convnet3":
        parts.append(config.model)
    parts.append("whole" if ipc is None else f"ipc{ipc}")
    return os.path.join(target.out_dir, "_".join(parts) + ".json")


def run(args: argparse.Namespace) -> int:
    from ..evaluation.eval_target import EvalTarget

    # cli.main adds a --repo-id hint to "not found" errors when args.repo_id is None; this command
    # names its weights with --source, so it gives its own hint instead.
    args.repo_id = args.source or EvalTarget.source  # the flag of EvalTarget.source
    try:
        return _run(args)
    except GeneratorNotFoundError as exc:
        raise GeneratorNotFoundError(f"{exc} (on the command line: --source ORG/NAME or --source RUN_DIR)") from exc


def _run(args: argparse.Namespace) -> int:
    from ..evaluation.eval_target import EvalTarget
    from ..evaluation.harness import EvalConfig
    from ..evaluation.source_resolution import default_label, resolve_source

    target = apply_flags(args, EvalTarget())
    config = apply_flags(args, EvalConfig())
    config.__post_init__()  # the flags given are checked like constructor arguments
    target.validate(config.runs, args.whole_epochs)  # the flag as given; fail fast, before any data loads
    ipcs = target.ipcs()
    dataset_kwargs = {"root": target.cache_dir} if target.cache_dir else None
    src, _ = resolve_source(target.source, target.dataset, target.revision, dataset_kwargs)  # fail fast
    label = config.label or default_label(src)
    outs = [output_path(target, config, ipc, label) for ipc in ipcs]
    for out in outs:
        if os.path.lexists(out):
            if not (args.resume or args.overwrite):
                raise OutputExistsError(f"{out} exists; pass --resume to continue it or --overwrite to replace it")
            _replaceable(out)
    dist = Distributed.from_env(resolve_device(config.device).type)
    if dist.active:  # torchrun: each rank measures its runs, rank 0 merges the parts
        config.device = str(dist.device(resolve_device(config.device)))
    for ipc, out in zip(ipcs, outs):
        record = _evaluate_on_ranks(dist, args, target, config, ipc, out, dataset_kwargs)
        acc, proto = record["accuracy"], record["protocol"]
        reduced = f" REDUCED: {'; '.join(proto['reduced_reasons'])}" if proto["reduced"] else ""
        if not record["complete"]:
            reduced += f" (part: runs {[r['run'] for r in record['runs']]} of {len(record['seeds'])})"
        seconds = record["time"].get("mean_run_seconds")
        per_run = f" ({seconds:.0f} s/run)" if seconds is not None else ""
        print(f"{record['method']} | {target.dataset} | ipc {ipc if ipc is not None else 'all'} | {config.model} | "
              f"{config.protocol}: {acc['mean']:.2f} +- {acc['std']:.2f} % over {acc['n']} runs{per_run} "
              f"-> {out}{reduced}")
    return 0


def _evaluate_on_ranks(dist, args, target, config, ipc, out, dataset_kwargs):
    """One process: the evaluation. Several (torchrun): rank r measures runs r, r + N, ... into a
    part file beside ``out``; rank 0 merges the parts into ``out`` (merge-evaluations) and removes them."""
    from ..evaluation.harness import evaluate, wanted_runs
    from ..evaluation.merge import merge_evaluations

    command = command_line(args.argv)
    indices = None if target.run_indices is None else list(target.run_indices)
    if not dist.active:
        return evaluate(target.source, dataset=target.dataset, ipc=ipc, config=config, revision=target.revision,
                        dataset_kwargs=dataset_kwargs, out=out, resume=args.resume, command=command,
                        run_indices=indices)
    runs = wanted_runs(indices, config.runs)
    mine = runs[dist.rank::dist.world_size]
    part = f"{out}.rank{dist.rank}-of-{dist.world_size}.json"
    if mine:
        if args.resume and os.path.isfile(out) and not os.path.exists(part):
            # A finished torchrun evaluation leaves only the merged record (its parts are removed): each
            # rank resumes its runs from that record, instead of measuring them again.
            atomic_write_json(part, read_json(out, "--resume: evaluation"))  # a WriteError names part if it fails
        evaluate(target.source, dataset=target.dataset, ipc=ipc, config=config, revision=target.revision,
                 dataset_kwargs=dataset_kwargs, out=part, resume=args.resume, command=command, run_indices=mine)
    dist.barrier()
    parts = [f"{out}.rank{r}-of-{dist.world_size}.json" for r in range(dist.world_size) if runs[r::dist.world_size]]
    record = merge_evaluations(parts, out=out, command=command) if dist.is_main and len(parts) > 1 else None
    if dist.is_main and len(parts) == 1:  # fewer runs than ranks
        os.replace(parts[0], out)
    dist.barrier()
    if dist.is_main:
        for path in parts:
            if os.path.exists(path):
                os.remove(path)
    return dist.broadcast(record if record is not None else (read_json(out, "evaluation") if dist.is_main else None))
