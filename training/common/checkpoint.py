"""Pickle-free checkpoints, one file each: the tensors in safetensors, the rest as JSON in the
same file's metadata.

A nested state (dicts, lists, tensors, numbers, strings) is flattened: each tensor is stored
under its path ("opt_g.state.0.exp_avg") and replaced in the JSON skeleton by {"__tensor__":
path}. The file is written under a temporary name and renamed (files.atomic_write), so whatever
the moment of a kill, the checkpoint on disk is the previous complete one or the new complete
one, never a mix of two steps. Temporaries left by a killed writer are removed by
``remove_stale_temporaries`` when the run starts again.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, List, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from distilled_datasets import files
from distilled_datasets.errors import DistilledDatasetsError, MissingFileError, UsageTypeError
from distilled_datasets.files import atomic_write

PathLike = Union[str, os.PathLike]

CHECKPOINT_FORMAT = "distilled-datasets/checkpoint"


class CheckpointError(DistilledDatasetsError, ValueError):
    """A checkpoint exists but cannot be read (truncated, damaged, or not a checkpoint)."""


def _flatten(value: Any, path: str, tensors: Dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().cpu().contiguous()
        return {"__tensor__": path}
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            raise UsageTypeError(f"checkpoint keys must be str or int at {path!r}")
        # int keys (optimizer state indices) are kept apart so they come back as ints.
        return {"__dict__": [[k, _flatten(v, f"{path}.{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_flatten(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise UsageTypeError(f"cannot checkpoint {type(value).__name__} at {path!r}")


def _unflatten(value: Any, tensors: Dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        return {k: _unflatten(v, tensors) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [_unflatten(v, tensors) for v in value]
    return value


def save_checkpoint(state: Dict[str, Any], path: PathLike) -> Path:
    """Write ``state`` as one file, atomically."""
    tensors: Dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "state", tensors)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": CHECKPOINT_FORMAT, "state": json.dumps(skeleton)}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_checkpoint(path: PathLike) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no checkpoint at {path}; nothing to resume from")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
        if metadata.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is not a distilled-datasets checkpoint (format {metadata.get('format')!r})")
        state = _unflatten(json.loads(metadata["state"]), tensors)
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} does not hold a run's state (an object), but {type(state).__name__}")
        return state
    except (SafetensorError, OSError, KeyError, ValueError, TypeError, AttributeError, IndexError,
            RecursionError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint {path} is damaged or truncated ({type(exc).__name__}: {exc}); delete it "
                              "to restart the run from scratch, or restore it from a copy") from exc


def remove_stale_temporaries(folder: PathLike) -> List[Path]:
    """Delete the temporary files that killed writers left in ``folder`` (the caller holds the run's
    lock, so none of them is being written); returns what was removed."""
    return files.remove_stale_temporaries(folder, any_writer=True)


@contextmanager
def restoring(path: PathLike):
    """Wrap the restore of a run from ``path``'s state: a state that loads but does not fit the run
    (an edited or foreign checkpoint: missing keys, other shapes) is a CheckpointError naming it."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        if isinstance(exc, DistilledDatasetsError):
            raise
        raise CheckpointError(f"checkpoint {path} does not hold this run's state ({type(exc).__name__}: {exc}); "
                              "delete it to restart the run from scratch, or restore it from a copy") from exc
