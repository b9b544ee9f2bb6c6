"""The ``distilled-datasets`` command line: preview, export and info (plus training commands).

Training subcommands (train, evaluate, publish, ...) live in
``distilled_datasets.training.commands``, which exposes ``register(subparsers)``; they are
imported lazily through importlib, only when a non-runtime command (or ``--help``) is asked for,
so the runtime commands never import training code and work without it. Every subparser sets
``func``: a callable ``func(args) -> int | None`` that runs the command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ._version import __version__
from .dataset_info import IMAGE_FOLDER, canonical_name, list_datasets
from .errors import DistilledDatasetsError, GeneratorNotFoundError, UsageError
from .files import (apply_umask, atomic_write_json, check_output, discard, move_into_place,
                    remove_stale_temporaries, temp_sibling, writing)
from .validation import ipc_int, non_negative_int

logger = logging.getLogger(__name__)

RUNTIME_COMMANDS = ("preview", "export", "info")
TRAINING_COMMANDS_MODULE = "distilled_datasets.training.commands"
EXPORT_FORMAT = "distilled-datasets/export"
EXPORT_METADATA_NAME = "export.json"
EXIT_USER_ERROR = 2  # every failure a user can fix (the package's errors); 1 is left to bugs (tracebacks)


# ---- dataset selection ---------------------------------------------------------------------

def dataset_name(value: str) -> str:
    """argparse type: "fashion-mnist" and "Fashion_MNIST" both mean "fashion_mnist"."""
    try:
        return canonical_name(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sample_dataset_name(value: str) -> str:
    """argparse type of the runtime commands' DATASET: a shipped dataset, or imagefolder (your own
    classes: a generator trained on an image folder, given by --repo-id)."""
    return IMAGE_FOLDER if value.lower() == IMAGE_FOLDER else dataset_name(value)


def open_dataset(args: argparse.Namespace, ipc: Optional[int] = None, seed: int = 0):
    """The dataset class of ``args.dataset`` on the weights that the common options select
    (``ipc`` None: the source's default, every image for stored learned images)."""
    from .datasets import dataset_class

    cls = dataset_class(args.dataset)
    logger.info("opening %s (ipc=%s, seed=%s, repo_id=%s, revision=%s)", cls.__name__, ipc, seed,
                args.repo_id, args.revision)
    return cls(args.cache_dir, ipc=ipc, seed=seed, repo_id=args.repo_id, revision=args.revision,
               local_files_only=args.local_files_only)


def class_folder_names(classes: Sequence[str]) -> List[str]:
    """File-system-safe class folders that sort in class order, as torchvision's ImageFolder needs.

    Each name starts with the class index ("0_T_shirt_top", "1_Trouser"; MNIST's "0 - zero"
    becomes "0_zero"), so ImageFolder gives every image the same label as the dataset.
    """
    width = len(str(len(classes) - 1))
    names = []
    for i, name in enumerate(classes):
        slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
        prefix = f"{i:0{width}d}_"
        names.append(slug if slug.startswith(prefix) else prefix + slug)
    assert len(set(names)) == len(names), names
    return names


# ---- commands ------------------------------------------------------------------------------

def cmd_preview(args: argparse.Namespace) -> int:
    from PIL.PngImagePlugin import PngInfo

    from .preview import dataset_grid

    if args.out.endswith(("/", os.sep)) or Path(args.out).suffix.lower() != ".png":
        # The grid is a PNG whatever the name says: a name that says otherwise (or a folder) is a mistake.
        raise UsageError(f"--out {args.out}: preview writes one PNG file; give a file name ending in .png")
    out = Path(args.out)
    _check_out(out, want_dir=False, overwrite=args.overwrite, inputs=(args.repo_id,))
    dataset = open_dataset(args, ipc=args.ipc, seed=args.seed)
    # The grid holds the dataset's own images: row c, column k = sample k of class c.
    grid = dataset_grid(dataset)
    tmp = temp_sibling(out, "tmp")
    try:
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            mark = PngInfo()
            mark.add_text(*PREVIEW_MARK)
            grid.save(tmp, format="PNG", pnginfo=mark)
            move_into_place(tmp, out, overwrite=args.overwrite)  # refuses an OUT that appeared meanwhile
    finally:
        discard(tmp)
    print(f"wrote {out} ({len(dataset.classes)} classes x {dataset.ipc} images, seed {args.seed}, "
          f"source {dataset.files.describe()})")
    return 0


def _export_metadata(dataset, args: argparse.Namespace) -> Dict[str, object]:
    return {
        "format": EXPORT_FORMAT, "library_version": __version__, "dataset": dataset.dataset_name, "ipc": dataset.ipc,
        "seed": args.seed, "source": dataset.files.describe(), "revision": dataset.files.revision,
        "classes": list(dataset.classes), "num_images": len(dataset),
    }


PREVIEW_MARK = ("Software", "distilled-datasets preview")  # a PNG text chunk: what --overwrite may replace


def _is_export_metadata(path: Path) -> bool:
    from .files import read_json

    try:
        return read_json(path, "export metadata").get("format") == EXPORT_FORMAT
    except (DistilledDatasetsError, AttributeError):  # unreadable, or JSON that is not an object
        return False


def _is_earlier_output(out: Path) -> bool:
    """What export and preview may replace: an empty folder, an earlier export (an image folder with
    its export.json, a safetensors file of this format) or a preview PNG (marked by its text chunk).
    Anything else, an ImageFolder dataset of the user's own photos included, is never replaced."""
    if out.is_dir():
        entries = list(out.iterdir())
        if not entries:
            return True
        marker = out / EXPORT_METADATA_NAME
        return _is_export_metadata(marker) and all(
            p == marker or (p.is_dir() and all(f.is_file() and f.suffix == ".png" for f in p.iterdir()))
            for p in entries)
    try:
        if out.suffix.lower() == ".png":
            from PIL import Image

            with Image.open(out) as image:
                return image.format == "PNG" and image.info.get(PREVIEW_MARK[0]) == PREVIEW_MARK[1]
        from safetensors import safe_open

        with safe_open(str(out), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == EXPORT_FORMAT
    except Exception:  # noqa: BLE001 -- anything unreadable is not an earlier output
        return False


def _check_out(out: Path, want_dir: bool, overwrite: bool, inputs=()) -> None:
    with writing(out):
        remove_stale_temporaries(out.parent, name=out.name)  # what a killed export of this OUT left
    check_output(out, overwrite=overwrite, want_dir=want_dir, inputs=inputs, own_kind=_is_earlier_output,
                 kind_name="distilled-datasets export or preview")


def _images(dataset):
    """Yields (index, uint8 array [H, W] or [H, W, C], label), with a tqdm bar over synthesis."""
    import numpy as np
    from tqdm import tqdm

    for index in tqdm(range(len(dataset)), desc=f"export {dataset.dataset_name}", unit="img",
                      disable=None, file=sys.stderr):
        image, label = dataset[index]
        yield index, np.asarray(image), label


def _export_imagefolder(dataset, args: argparse.Namespace, out: Path, tmp: Path) -> None:
    from PIL import Image

    folders = class_folder_names(dataset.classes)
    width = len(str(len(dataset) - 1))
    tmp.mkdir()
    for folder in folders:
        (tmp / folder).mkdir()
    for index, array, label in _images(dataset):
        Image.fromarray(array).save(tmp / folders[label] / f"{index:0{width}d}.png")
    atomic_write_json(tmp / EXPORT_METADATA_NAME, {**_export_metadata(dataset, args), "folders": folders})


def _export_safetensors(dataset, args: argparse.Namespace, out: Path, tmp: Path) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    images, labels = [], []
    for _, array, label in _images(dataset):
        images.append(array)
        labels.append(label)
    tensors = {
        "images": torch.from_numpy(np.stack(images)),  # uint8 [N, H, W] or [N, H, W, C], like torchvision's data
        "labels": torch.tensor(labels, dtype=torch.int64),  # [N]
    }
    # safetensors metadata is str -> str: lists go as JSON.
    metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in _export_metadata(dataset, args).items()}
    save_file(tensors, str(tmp), metadata=metadata)
    apply_umask(tmp)


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    want_dir = args.format == "imagefolder"
    # A name that says the other layout (a folder for a file, a file type for a folder) is a mistake.
    if not want_dir and (args.out.endswith(("/", os.sep)) or out.suffix.lower() != ".safetensors"):
        raise UsageError(f"--out {args.out}: --format safetensors writes one file; give a file name ending in "
                         ".safetensors")
    if want_dir and out.suffix.lower() in (".safetensors", ".png"):
        raise UsageError(f"--out {args.out}: --format imagefolder writes a folder; give a folder name without a "
                         f"{out.suffix} suffix (or --format safetensors for one file)")
    _check_out(out, want_dir=want_dir, overwrite=args.overwrite, inputs=(args.repo_id,))  # before any work
    # Everything is written under a hidden sibling name and moved onto OUT at the end (checked
    # again then), so a failed or interrupted export never leaves a half-written OUT; the sibling
    # is claimed now, so an unwritable folder fails before any synthesis.
    tmp = temp_sibling(out, "tmp")
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
        tmp.unlink()
    dataset = open_dataset(args, ipc=args.ipc, seed=args.seed)
    try:
        with writing(out):
            (_export_imagefolder if want_dir else _export_safetensors)(dataset, args, out, tmp)
            move_into_place(tmp, out, overwrite=args.overwrite)
    finally:
        discard(tmp)  # never raises: a failed cleanup must not hide the write's own error
    print(f"wrote {len(dataset)} images of {args.dataset} (ipc {dataset.ipc}, seed {args.seed}, "
          f"source {dataset.files.describe()}) to {out} [{args.format}]")
    return 0


def dataset_info_record(dataset) -> Dict[str, object]:
    """Everything ``info`` reports, as a JSON-ready dict (from the dataset's image source)."""
    return {"dataset": dataset.dataset_name, "dataset_class": type(dataset).__name__, **dataset.source.info()}


def format_info(info: Dict[str, object]) -> str:
    src = info["source"]
    kinds = {"default": "package default", "local": "local folder", "hub": "Hugging Face Hub"}
    where = kinds.get(src["kind"], src["kind"])
    lines = [
        f"dataset:       {info['dataset']} ({info['dataset_class']})",
        f"source:        {where}: {src['location']}" + (f" @ {src['revision']}" if src["revision"] else ""),
        f"config file:   {src['config_path']}",
        f"weights file:  {src['weights_path']}",
    ]
    if info["kind"] == "generator":
        cfg = info["generator"]
        lines += [
            f"architecture:  {cfg['architecture']} {json.dumps(cfg['arch_kwargs'], sort_keys=True)}",
            f"config:        noise_dim={cfg['noise_dim']} num_classes={cfg['num_classes']} "
            f"channels={cfg['channels']} image_size={cfg['image_size']}",
            f"parameters:    {info['num_parameters']:,}",
            "sampling:      " + " ".join(f"{k}={v}" for k, v in info["sampling"].items()),
            "seeds:         " + _seeds_line(info["sampling"]),
        ]
    else:
        images = info["images"]
        lines += [f"images:        {images['count']} stored ({images['per_class']} per class), "
                  f"{images['steps']} step(s) x {images['epochs']} epoch(s)",
                  "rates:         " + ", ".join(f"{v:.4g}" for v in images["learning_rates"])]
    for key, value in info["metadata"].items():
        if key == "dataset":
            continue  # already on the first line
        lines.append(f"{key + ':':<14} {value if isinstance(value, str) else json.dumps(value)}")
    training = info["training"]
    lines.append("training:      " + ("not recorded" if not training else ""))
    for key, value in (training or {}).items():
        lines.append(f"  {key}: {json.dumps(value, sort_keys=True)}")
    metrics = info["metrics"]
    lines.append("metrics:       " + ("not measured" if not metrics else ""))
    for row in (metrics.items() if isinstance(metrics, dict) else metrics or []):
        lines.append("  " + json.dumps(row, sort_keys=True))
    return "\n".join(lines)


def _seeds_line(sampling: Dict[str, object]) -> str:
    """What each seed gives (the dataset docstring's rule, spelled out for this generator)."""
    sets, latents = int(sampling.get("latent_sets", 1)), int(sampling.get("latents", 0))  # absent: the defaults
    if not latents:
        return "every seed: seeded noise (no learned sets)"
    held = "seed 0: a learned set" if sets == 1 else f"seeds 0..{sets - 1}: a learned set each"
    layer = sampling.get("latent_layer", "noise")
    where = "the input noise" if layer == "noise" else f"the {layer} feature map"
    return f"{held} ({latents} codes per class, in {where}); later seeds: seeded noise"


def cmd_info(args: argparse.Namespace) -> int:
    info = dataset_info_record(open_dataset(args))
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
# ---- parser --------------------------------------------------------------------------------

def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("generator weights")
    group.add_argument("--repo-id", default=None,
                       help="Hub id 'org/name' or a local generator folder "
                            "(default: the generator shipped with the package)")
    group.add_argument("--revision", default=None, help="Hub branch, tag or commit (Hub ids only)")
    group.add_argument("--cache-dir", default=None,
                       help="folder of the Hub cache, with the image cache under it (default: huggingface_hub's "
                            "cache; images in $DISTILLED_DATASETS_CACHE, else $XDG_CACHE_HOME/distilled-datasets, else "
                            "~/.cache/distilled-datasets)")
    group.add_argument("--local-files-only", action="store_true", help="never touch the network; use the Hub cache")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="log to stderr (-v info, -vv debug)")
    return common


def _dataset_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", type=sample_dataset_name,
                        help=f"one of: {', '.join(list_datasets())}, or {IMAGE_FOLDER} (a generator trained on "
                             "your own image folder, given by --repo-id)")


def _sample_options(parser: argparse.ArgumentParser) -> None:
    _dataset_argument(parser)
    parser.add_argument("--ipc", type=ipc_int, default=None,
                        help="images per class (default: 10 for a generator, all of them for stored learned images)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="which distilled set (default 0)")


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distilled-datasets",
        description="Distilled MNIST, Fashion-MNIST and CIFAR-10: preview, export and inspect generators.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()

    p = sub.add_parser("preview", parents=[common], help="write a PNG grid: one row per class")
    _sample_options(p)
    p.add_argument("--out", required=True, help="PNG file to write (a name ending in .png)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier preview at OUT (never another PNG)")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("export", parents=[common], help="write a distilled set as ImageFolder PNGs or safetensors")
    _sample_options(p)
    p.add_argument("--out", required=True,
                   help="folder (imagefolder: OUT/<class>/<index>.png) or file ending in .safetensors (safetensors)")
    p.add_argument("--format", choices=("imagefolder", "safetensors"), default="imagefolder",
                   help="imagefolder: PNGs that torchvision.datasets.ImageFolder reads; safetensors: one file of "
                        "uint8 'images' and int64 'labels' (default: imagefolder)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier export at OUT (never a folder or file this command did not write)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("info", parents=[common], help="show where a generator comes from, its config and metrics")
    _dataset_argument(p)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_info)

    if command not in RUNTIME_COMMANDS:
        _register_training(sub, command)
    return parser


def _register_training(subparsers, command: Optional[str]) -> None:
    """The training commands: ``command`` in full, the others as one-line stubs (training.commands)."""
    try:
        module = importlib.import_module(TRAINING_COMMANDS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in (TRAINING_COMMANDS_MODULE, "distilled_datasets.training"):
            return  # not installed: the runtime commands still work
        logger.warning("training commands unavailable: %s", exc)
        return
    module.register(subparsers, command)


def _command(argv: Sequence[str]) -> Optional[str]:
    """The subcommand asked for (the first argument that is not an option), or None."""
    return next((a for a in argv if not a.startswith("-")), None)


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A command's warnings are for its user: the message, not the package's source line.
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    args.argv = ["distilled-datasets", *argv]  # what commands record as their command line
    # The package's own logger gets a stderr handler for this command only (main() may run
    # several times in one process, e.g. in tests, and the root logger belongs to the caller).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    package_logger = logging.getLogger("distilled_datasets")
    level_before = package_logger.level
    package_logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG))
    package_logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            return int(args.func(args) or 0)
    except DistilledDatasetsError as exc:
        # The package's own errors are the user's to fix: one line, exit code 2 (as argparse's usage
        # errors). Anything else is a bug: it keeps its traceback, and Python's exit code 1.
        logger.debug("command failed", exc_info=True)  # -vv: the traceback, for bug reports
        hint = ""
        # Only where --repo-id names the generator read (publish's is where it pushes; the training
        # commands name theirs otherwise).
        if isinstance(exc, GeneratorNotFoundError) and args.command in RUNTIME_COMMANDS and args.repo_id is None:
            hint = " (on the command line: --repo-id ORG/NAME or --repo-id PATH)"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(level_before)


if __name__ == "__main__":
    sys.exit(main())
