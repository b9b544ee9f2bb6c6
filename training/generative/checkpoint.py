"""Pickle-free checkpoints: tensors in safetensors, everything else in JSON.

A nested state (dicts, lists, tensors, numbers, strings) is flattened: each tensor is stored
under its path ("optimizer_g.state.0.exp_avg") and replaced in the JSON skeleton by
{"__tensor__": path}. Both files are written under temporary names and renamed, JSON last, so a
crash mid-write leaves the previous checkpoint intact and readable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch
from safetensors.torch import load_file, save_file

from distilled_datasets.errors import MissingFileError, UsageTypeError

PathLike = Union[str, os.PathLike]


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


def paths(prefix: PathLike) -> Tuple[Path, Path]:
    prefix = Path(prefix)
    return prefix.with_suffix(".safetensors"), prefix.with_suffix(".json")


def save_checkpoint(state: Dict[str, Any], prefix: PathLike) -> None:
    tensors: Dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "state", tensors)
    tensor_path, json_path = paths(prefix)
    tensor_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_t = tensor_path.with_name(f".{tensor_path.name}.tmp-{os.getpid()}")
    tmp_j = json_path.with_name(f".{json_path.name}.tmp-{os.getpid()}")
    save_file(tensors, str(tmp_t))
    tmp_j.write_text(json.dumps({"tensor_file": tensor_path.name, "state": skeleton}))
    # Tensors first, then the JSON that points at them: a reader that finds the JSON finds both.
    os.replace(tmp_t, tensor_path)
    os.replace(tmp_j, json_path)


def load_checkpoint(prefix: PathLike) -> Dict[str, Any]:
    tensor_path, json_path = paths(prefix)
    if not json_path.is_file() or not tensor_path.is_file():
        raise MissingFileError(f"no checkpoint at {json_path} (+ {tensor_path.name}); nothing to resume from")
    skeleton = json.loads(json_path.read_text())
    return _unflatten(skeleton["state"], load_file(str(tensor_path)))


def exists(prefix: PathLike) -> bool:
    return all(p.is_file() for p in paths(prefix))
