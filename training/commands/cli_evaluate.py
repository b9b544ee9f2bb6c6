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
import shlex
import sys
from distilled_datasets.errors import UsageError

logger = logging.getLogger(__name__)

_TRI = {"auto": None, "on": True, "off": False}


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def register(subparsers) -> None:
    from distilled_datasets.cli import dataset_name

    from ..common.model_zoo import list_models

    p = subparsers.add_parser(
        "evaluate", help="train a classifier on a distilled set (or a baseline) and test it on the real test split",
        description="Train a model of the zoo from scratch on SOURCE's training set, RUNS times (run r: dataset "
                    "seed r, model-init seed r), test each once at the end on the full real test split, and "
                    "write a JSON per ipc with the command, hardware, protocol, seeds, per-run accuracies and "
                    "times. Headline protocol: fixed, ConvNet3, SGD 0.01 momentum 0.9 wd 5e-4, batch 256, "
                    "1000 epochs, lr x0.1 at half, DSA, 5 runs; any difference is marked reduced in the JSON.")
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="log to stderr (-v info, -vv debug)")
    p.add_argument("--dataset", required=True, type=dataset_name, help="mnist, fashion_mnist or cifar10")
    p.add_argument("--source", default="default",
                   help="'default' (the package's generator), a run directory, a Hub id 'org/name', "
                        "'random-real' (ipc real images per class) or 'whole' (the whole real training set)")
    p.add_argument("--revision", default=None, help="Hub branch, tag or commit (Hub ids only)")
    p.add_argument("--cache-dir", default=None, help="Hub cache directory (default: huggingface_hub's)")
    p.add_argument("--ipc", type=positive_int, nargs="+", default=None,
                   help="images per class; several values give one JSON each (not used by --source whole)")
    p.add_argument("--runs", type=positive_int, default=5, help="runs r = 0..RUNS-1 (default 5)")
    p.add_argument("--run-indices", type=int, nargs="+", default=None, metavar="R",
                   help="measure only these runs of 0..RUNS-1 (one part of an evaluation split across processes "
                        "or machines; join the parts with `distilled-datasets merge-evaluations`)")
    p.add_argument("--model", default="convnet3", choices=list_models(), help="architecture trained (default convnet3)")
    p.add_argument("--protocol", default="fixed", choices=("fixed", "resample"),
                   help="fixed: the set of seed r for the whole run; resample: fresh generator noise every batch")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="training epochs (default 1000; for --source whole the default is --whole-epochs)")
    p.add_argument("--whole-epochs", type=positive_int, default=None,
                   help="epochs for --source whole when --epochs is not given (default 20)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--lr-decay-epoch", type=int, default=None, help="default: half of the epochs")
    p.add_argument("--lr-decay-factor", type=float, default=0.1)
    p.add_argument("--no-augment", action="store_true", help="train without DSA (marks the result reduced)")
    p.add_argument("--data-root", default=None,
                   help="folder with the real data in torchvision's layout (default: $DISTILLED_DATASETS_DATA, "
                        "else ./data)")
    p.add_argument("--download", action="store_true", help="let torchvision download the real data if missing")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--label", default=None, help='the method\'s name in the JSON, e.g. "global+local"')
    p.add_argument("--out", default=None, help="JSON path; may contain {ipc} (required with several --ipc)")
    p.add_argument("--out-dir", default="results", help="folder for default-named JSONs (default results/)")
    p.add_argument("--resume", action="store_true", help="reuse the finished runs of an existing matching --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing complete JSON")
    execution = p.add_argument_group("execution (speed only; the results do not change)")
    execution.add_argument("--threads", type=positive_int, default=None,
                           help="torch intra-op threads (default: torch's). On a shared CPU use 1: measured 10x "
                                "faster than 2 at IPC 1 under load (benchmarks/results/trainer_variants.json)")
    execution.add_argument("--norm", default="auto", choices=("auto", "groupnorm", "instancenorm"),
                           help="kernel for instance norm (mathematically equal)")
    execution.add_argument("--channels-last", default="auto", choices=tuple(_TRI))
    execution.add_argument("--amp", default="auto", choices=tuple(_TRI), help="bf16 autocast (auto: CUDA only)")
    execution.add_argument("--deterministic", action="store_true",
                           help="CUDA: deterministic kernels, no cudnn.benchmark")
    execution.add_argument("--test-batch-size", type=positive_int, default=None)
    p.add_argument("--test-limit", type=positive_int, default=None,
                   help="test on the first N test images only (quick checks; marks the result reduced)")
    execution.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    p.set_defaults(func=run)


def output_path(args: argparse.Namespace, ipc, label: str) -> str:
    from ..evaluation.harness import slug

    if args.out is not None:
        return args.out.replace("{ipc}", str(ipc))
    parts = ["eval", args.dataset, slug(label)]
    if args.protocol != "fixed":
        parts.append(args.protocol)
    if args.model != "convnet3":
        parts.append(args.model)
    parts.append("whole" if ipc is None else f"ipc{ipc}")
    return os.path.join(args.out_dir, "_".join(parts) + ".json")


def run(args: argparse.Namespace) -> int:
    from distilled_datasets.errors import OutputExistsError
    from distilled_datasets.errors import GeneratorNotFoundError

    # cli.main adds a --repo-id hint to "not found" errors when args.repo_id is None; this command
    # names its weights with --source, so it gives its own hint instead.
    args.repo_id = args.source
    try:
        return _run(args, OutputExistsError)
    except GeneratorNotFoundError as exc:
        raise GeneratorNotFoundError(f"{exc} (on the command line: --source ORG/NAME or --source RUN_DIR)") from exc


def _run(args: argparse.Namespace, OutputExistsError: type) -> int:  # noqa: N803

    from ..evaluation.sources import default_label, resolve_source
    from ..evaluation.harness import DEFAULT_WHOLE_EPOCHS, EvalConfig, evaluate, wanted_runs

    whole = args.source == "whole"
    if whole and args.ipc:
        raise UsageError("--ipc does not apply to --source whole (it trains on every training image); drop it")
    if not whole and not args.ipc:
        raise UsageError("--ipc is required (e.g. --ipc 1 10 50) unless --source whole")
    if args.whole_epochs is not None and not whole:
        raise UsageError("--whole-epochs applies to --source whole only; use --epochs")
    if args.run_indices is not None:
        try:  # fail fast, before any data loads
            wanted_runs(args.run_indices, args.runs)
        except ValueError as exc:
            raise UsageError(f"--run-indices: {exc}") from None
    ipcs = [None] if whole else list(dict.fromkeys(args.ipc))
    if args.out is not None and len(ipcs) > 1 and "{ipc}" not in args.out:
        raise UsageError(f"--out {args.out!r} needs '{{ipc}}' in its name with several --ipc values "
                         "(one JSON per ipc), e.g. results/eval_ipc{ipc}.json")
    dataset_kwargs = {"root": args.cache_dir} if args.cache_dir else None
    config = EvalConfig(
        protocol=args.protocol, model=args.model, runs=args.runs, epochs=args.epochs,
        whole_epochs=args.whole_epochs or DEFAULT_WHOLE_EPOCHS, batch_size=args.batch_size, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, lr_decay_epoch=args.lr_decay_epoch,
        lr_decay_factor=args.lr_decay_factor, augment=not args.no_augment, data_root=args.data_root,
        download=args.download, device=args.device, label=args.label, threads=args.threads, norm=args.norm,
        channels_last=_TRI[args.channels_last], amp=_TRI[args.amp], deterministic=args.deterministic,
        test_batch_size=args.test_batch_size, test_limit=args.test_limit, progress=not args.no_progress)
    src, _ = resolve_source(args.source, args.dataset, args.revision, dataset_kwargs)  # fail fast
    label = args.label or default_label(src)
    outs = [output_path(args, ipc, label) for ipc in ipcs]
    for out in outs:
        if os.path.exists(out) and not (args.resume or args.overwrite):
            raise OutputExistsError(f"{out} exists; pass --resume to continue it or --overwrite to replace it")
    command = " ".join(shlex.quote(a) for a in ["distilled-datasets"] + sys.argv[1:])
    for ipc, out in zip(ipcs, outs):
        record = evaluate(args.source, dataset=args.dataset, ipc=ipc, config=config, revision=args.revision,
                          dataset_kwargs=dataset_kwargs, out=out, resume=args.resume, command=command,
                          run_indices=args.run_indices)
        acc, proto = record["accuracy"], record["protocol"]
        reduced = f" REDUCED: {'; '.join(proto['reduced_reasons'])}" if proto["reduced"] else ""
        if not record["complete"]:
            reduced += f" (part: runs {[r['run'] for r in record['runs']]} of {len(record['seeds'])})"
        print(f"{record['method']} | {args.dataset} | ipc {ipc if ipc is not None else 'all'} | {args.model} | "
              f"{args.protocol}: {acc['mean']:.2f} +- {acc['std']:.2f} % over {acc['n']} runs "
              f"({record['time']['mean_run_seconds']:.0f} s/run) -> {out}{reduced}")
    return 0
