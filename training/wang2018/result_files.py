"""Save a distillation result as a runtime-loadable folder, and read it (or plain weights) back.

The folder is the runtime's "distilled-datasets/images" format (distilled_datasets/learned_images.py):
config.json + model.safetensors (+ samples.png). Everything is written under a temporary name and
renamed, tensors first and config last, so an interrupted save never leaves a config pointing at
half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from distilled_datasets._version import __version__
from distilled_datasets.config import CONFIG_NAME, SAMPLES_NAME, WEIGHTS_NAME
from distilled_datasets.errors import DamagedFileError, MissingFileError, UsageError
from distilled_datasets.files import atomic_write, atomic_write_json, discard, move_into_place, temp_sibling, writing
from distilled_datasets.learned_images import IMAGES_FORMAT_NAME, IMAGES_FORMAT_VERSION, INIT_PREFIX, LearnedImages
from distilled_datasets.preview import image_grid

from ..common.provenance import command_line
from ..common.real_data import get_dataset_info
from .distill import DistillResult
from .unroll import Params

PathLike = Union[str, os.PathLike]


def result_config(result: DistillResult, classes: List[str], metrics: Optional[Dict[str, Any]] = None,
                  command: Optional[str] = None, extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    cfg = result.config
    spec = get_dataset_info(cfg.dataset)
    init = {"fixed": "stored", "random": cfg.init, "pool": "pool"}[cfg.mode]
    return {
        "format": IMAGES_FORMAT_NAME,
        "format_version": IMAGES_FORMAT_VERSION,
        "library_version": __version__,
        "method": "wang2018",
        "dataset": cfg.dataset,
        "classes": list(classes),
        "num_classes": len(classes),
        "channels": spec.channels,
        "image_size": spec.image_size,
        "normalization": {"mean": list(spec.mean), "std": list(spec.std)},
        "num_images": int(result.images.shape[0]),
        "images_per_class": cfg.images_per_class,
        "steps": cfg.steps,
        "epochs": cfg.epochs,
        "learning_rates": [float(v) for v in result.lrs],
        "mode": cfg.mode,
        "model": cfg.model,
        # "stored": the fixed init is in model.safetensors (init.*); "default"/"xavier": draw a
        # fresh net that way (unroll.sample_init); "pool": trained weights the images expect.
        "init": init,
        "objective": {"malicious": list(cfg.malicious)} if cfg.malicious else "cross_entropy",
        "training": {**cfg.to_dict(), "seconds": round(result.seconds, 1), "history": result.history[-20:]},
        "metrics": metrics or {},
        "command": command if command is not None else command_line(),
        **(extra or {}),
    }


def sample_grid(result: DistillResult) -> Image.Image:
    """One row per step, its images left to right (class j % K), denormalised and clamped."""
    cfg, images = result.config, result.images.detach().cpu()
    spec = get_dataset_info(cfg.dataset)
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    pixels = ((images * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)  # [M, H, W, C]
    pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    return image_grid(pixels.reshape(cfg.steps, -1, *pixels.shape[1:]).numpy())


def save_result(result: DistillResult, folder: PathLike, classes: List[str], metrics: Optional[Dict[str, Any]] = None,
                command: Optional[str] = None, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write the result folder whole: built beside ``folder`` and moved into place (an earlier result
    there is replaced at once, never file by file), so a failure leaves the old folder or none."""
    folder = Path(folder)
    with writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        staged = temp_sibling(folder)
        try:
            staged.mkdir()
            _write_result(result, staged, classes, metrics, command, extra)
            move_into_place(staged, folder, overwrite=True)
        finally:
            discard(staged)  # gone already when it was moved into place
    return folder


def _write_result(result: DistillResult, folder: Path, classes: List[str], metrics: Optional[Dict[str, Any]],
                  command: Optional[str], extra: Optional[Dict[str, Any]]) -> None:
    tensors = {
        "images": result.images.detach().float().cpu().contiguous(),
        "labels": result.labels.detach().to(torch.int64).cpu().contiguous(),
        "lrs": result.lrs.detach().float().cpu().contiguous(),
    }
    if result.init is not None:
        tensors.update({INIT_PREFIX + k: v.detach().float().cpu().contiguous() for k, v in result.init.items()})
    atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp, metadata={"format": IMAGES_FORMAT_NAME}))
    grid = sample_grid(result)
    atomic_write(folder / SAMPLES_NAME, lambda tmp: grid.save(tmp, format="PNG"))
    atomic_write_json(folder / CONFIG_NAME, result_config(result, classes, metrics, command, extra))


def load_result(folder: PathLike) -> LearnedImages:
    """The runtime's checked view of a saved folder."""
    folder = Path(folder)
    return LearnedImages.from_files(str(folder / CONFIG_NAME), str(folder / WEIGHTS_NAME))


def save_weights(params: Params, path: PathLike, metadata: Optional[Dict[str, str]] = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in params.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_weights(path: PathLike, like: Optional[Params] = None, flag: str = "--init-from") -> Params:
    """Weights for ``--init-from``: a .safetensors file of parameters, or a saved result folder
    (its stored fixed init). ``like``: the model's parameters, whose names and shapes they must have."""
    path = Path(path)
    params = _read_weights(path, flag)
    if like is not None and {k: tuple(v.shape) for k, v in params.items()} != {k: tuple(v.shape) for k, v in
                                                                              like.items()}:
        raise UsageError(f"{flag} {path}: its weights do not fit the model (names or shapes differ); pass weights "
                         "of the same --model, as wang-pretrain or a fixed-init distill-wang writes them")
    return params


def _read_weights(path: Path, flag: str) -> Params:
    if path.is_dir():
        learned = load_result(path)
        if not learned.init:
            raise UsageError(f"--init-from {path}: this result stores no init (mode {learned.config.get('mode')!r}); "
                             "pass a fixed-init result folder or a .safetensors file of weights")
        return dict(learned.init)
    if not path.is_file():
        raise MissingFileError(f"{flag} {path}: no such file or folder")
    try:
        return {k: v.float() for k, v in load_file(str(path)).items()}
    except (SafetensorError, OSError) as exc:
        raise DamagedFileError(f"{flag} {path} is not a readable safetensors file ({exc}); write it again") from None


def load_pool(folder: PathLike, like: Optional[Params] = None, flag: str = "--init-pool",
              dataset: Optional[str] = None) -> List[Params]:
    """Every *.safetensors file of ``folder`` (sorted by name), e.g. trained classifiers; each must fit
    ``like`` (the model's parameters) when given, and a net whose metadata names the dataset it was
    trained on (wang-pretrain writes it) must name ``dataset``."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        raise MissingFileError(f"{flag} {folder}: no *.safetensors weight files there; write some with "
                                "`distilled-datasets wang-pretrain --out DIR`")
    pool = [load_weights(f, like, flag) for f in files]  # each readable (else a DamagedFileError naming it)
    for f in files if dataset else ():
        with safe_open(str(f), framework="pt") as handle:
            trained_on = (handle.metadata() or {}).get("dataset")
        if trained_on not in (None, dataset):
            raise UsageError(f"{flag} {f} was trained on {trained_on}, not {dataset}; pass a pool of {dataset} nets "
                             f"(wang-pretrain --dataset {dataset})")
    return pool
