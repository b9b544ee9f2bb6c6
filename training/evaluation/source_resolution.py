"""Where the evaluation harness's training images come from: the package default generator, a
run directory or Hub id, a dataset class (+ its keyword arguments), "random-real" or "whole".

A dataset class is read item by item through ``__getitem__`` -- exactly what a user's training
loop gets (uint8 PIL images) -- then converted to float and normalised with the dataset spec's
constants, so a measured accuracy is the accuracy of the dataset users download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from distilled_datasets.dataset_info import IMAGE_FOLDER
from distilled_datasets.datasets import DATASET_CLASSES, DistilledImageFolder
from distilled_datasets.errors import UsageError, UsageTypeError
from distilled_datasets.files import sha256_file

from ..common.real_data import get_dataset_info, uint8_to_normalized

TensorPair = Tuple[torch.Tensor, torch.Tensor]
SPECIAL_SOURCES = ("default", "random-real", "whole")


@dataclass
class Source:
    kind: str  # "random-real", "whole" or "dataset"
    dataset_cls: Optional[type] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)
    given: str = ""  # what the caller passed, for the JSON and the default label


def resolve_source(source: Any, dataset: Optional[str], revision: Optional[str],
                    dataset_kwargs: Optional[Dict[str, Any]]) -> Tuple[Source, str]:
    """(source, dataset name). A dataset class names its dataset; strings need ``dataset``."""
    kwargs = dict(dataset_kwargs or {})
    if isinstance(source, type):
        name = getattr(source, "dataset_name", None) or dataset
        if not name:
            raise UsageError(f"dataset is required: {source.__name__} has no dataset_name")
        if dataset is not None and dataset != name:
            raise UsageError(f"dataset={dataset!r} does not match {source.__name__} (a {name!r} dataset)")
        get_dataset_info(name)
        if revision is not None:
            kwargs["revision"] = revision
        bad = sorted({"ipc", "seed", "train", "transform", "target_transform"} & set(kwargs))
        if bad:
            raise UsageError(f"dataset_kwargs must not set {bad}: the harness sets ipc and seed per run and "
                             "reads untransformed items")
        return Source("dataset", source, kwargs, f"{source.__module__}.{source.__qualname__}"), name
    if not isinstance(source, (str, os.PathLike)):
        raise UsageTypeError(f"source must be a str, a path or a dataset class, got {type(source).__name__}")
    if dataset is None:
        raise UsageError(f"dataset is required for source {os.fspath(source)!r}; valid values: "
                         f"{sorted(DATASET_CLASSES)}")
    classes = {**DATASET_CLASSES, IMAGE_FOLDER: DistilledImageFolder}  # imagefolder: facts from the data root
    if dataset != IMAGE_FOLDER:
        get_dataset_info(dataset)
    if dataset not in classes:
        raise UsageError(f"dataset {dataset!r} has no distilled dataset class; valid values: {sorted(classes)}")
    given = os.fspath(source)
    if dataset_kwargs and given in ("random-real", "whole"):
        raise UsageError(f"dataset_kwargs apply to generator sources, not to {given!r}")
    if given in ("random-real", "whole"):
        if revision is not None:
            raise UsageError(f"revision applies to Hub ids, not to source {given!r}")
        return Source(given, given=given), dataset
    if given == "default":
        if dataset == IMAGE_FOLDER:
            raise UsageError("no generator of your own classes ships with the package: pass the run folder or Hub id "
                             "of one as the source (--source RUN)")
        if revision is not None:
            raise UsageError("revision applies to Hub ids, not to the package default")
        return Source("dataset", classes[dataset], kwargs, given), dataset
    kwargs.update(repo_id=given, revision=revision)
    return Source("dataset", classes[dataset], kwargs, given), dataset


def register_image_folder_source(src: Source, root) -> str:
    """The registered dataset name of ``--dataset imagefolder``: the folder at ``root`` as the source
    generator was trained on it (its image size, channels and classes), or, for real images alone
    (random-real, whole), as train reads it by default (the first image's size and channels)."""
    from ..common.image_folder import register_for_generator, register_image_folder

    if src.kind == "dataset":
        return register_for_generator(root, src.dataset_cls(ipc=1, **src.kwargs).generator).name
    return register_image_folder(root).name


def describe_source(src: Source, ds: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {"kind": src.kind, "given": src.given}
    if src.kind != "dataset":
        return out
    out["class"] = f"{src.dataset_cls.__module__}.{src.dataset_cls.__qualname__}"
    out["kwargs"] = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in src.kwargs.items()
                     if isinstance(v, (str, int, float, bool, type(None), os.PathLike))}
    files = getattr(ds, "files", None)
    learned = getattr(ds, "learned", None)
    if files is not None and learned is not None:  # stored learned images (Wang et al. 2018)
        out.update(generator=files.describe(), origin=files.origin, location=files.location,
                   revision=files.revision, weights_sha256=sha256_file(files.weights_path),
                   learned_images={k: learned.config.get(k) for k in ("method", "mode", "model", "steps", "epochs")})
    elif files is not None:  # a DistilledDataset: pin exactly which weights were measured
        gen = ds.generator
        # The digest of the bytes the generator was loaded from, not a later read of the file.
        out.update(generator=files.describe(), origin=files.origin, location=files.location,
                   revision=files.revision, weights_sha256=gen.weights_sha256 or sha256_file(files.weights_path),
                   generator_config=gen.config.to_dict(), generator_sampling=gen.sampling.to_dict(),
                   generator_parameters=gen.num_parameters,
                   generator_library_version=gen.metadata.get("library_version"))
    return out


def default_label(src: Source) -> str:
    if src.kind == "random-real":
        return "random real"
    if src.kind == "whole":
        return "whole training set"
    return src.given if src.given != "default" else "default generator"


def as_normalized(pair: TensorPair, name: str, device: torch.device) -> TensorPair:
    images, labels = pair
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:
        images = uint8_to_normalized(images, name)
    return images.float().to(device), torch.as_tensor(labels, dtype=torch.int64).to(device)


def read_items(ds: Any, name: str, device: torch.device) -> TensorPair:
    """Every item of ``ds`` through ``__getitem__`` (PIL image, int), as a user's loop sees them:
    uint8 pixels -> float -> normalised with the dataset spec's constants."""
    if hasattr(ds, "materialize"):
        ds.materialize()  # synthesize all chunks at once (threads); items are then lookups
    images, labels = [], []
    for i in range(len(ds)):
        image, label = ds[i]
        images.append(np.asarray(image))
        labels.append(int(label))
    pixels = np.stack(images)  # uint8 [N, H, W] or [N, H, W, C]
    if pixels.dtype != np.uint8:
        raise UsageTypeError(f"{type(ds).__name__} items are {pixels.dtype} images; the harness reads uint8 images")
    return uint8_to_normalized(pixels, name).to(device), torch.tensor(labels, dtype=torch.int64, device=device)
