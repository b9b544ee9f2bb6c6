"""Reading model.safetensors as untrusted data: the header is checked against the tensors the
config needs before any tensor is allocated, the bytes are hashed as they are loaded, and every
value must be representable in the dtype it is computed in.

safetensors' own loader allocates whatever a header declares. A file (from the Hub, from a user)
may declare other shapes than the architecture's, dtypes the package cannot compute with (float8,
complex), or float64 values that overflow float32 (1e30 becomes inf: every image black). Each is
refused here by name, with the file, before it costs memory or gives silently wrong images.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Dict, Tuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes

from .errors import InvalidGeneratorError, UnreadableWeightsError

# safetensors dtype names the package computes with (as float32, or int64 for integer tensors).
FLOAT_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64}
INT_DTYPES = {"I64": torch.int64, "I32": torch.int32}
DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4}
LFS_POINTER_START = b"version https://git-lfs.github.com/spec/"  # a clone without `git lfs pull`
MAX_HEADER_BYTES = 16 * 1024 * 1024  # a header lists names, dtypes and shapes: kilobytes, not megabytes


@dataclass(frozen=True)
class WeightsFile:
    """What was read: the tensors (as stored) and the SHA-256 of exactly the bytes they came from."""

    tensors: Dict[str, torch.Tensor]
    sha256: str


def _header(handle: BinaryIO, file_size: int, where: str) -> Tuple[dict, int]:
    """(the header without its metadata, its length in bytes), read from the start of ``handle``."""
    start = handle.read(8)
    if start == LFS_POINTER_START[:8] and handle.read(len(LFS_POINTER_START) - 8) == LFS_POINTER_START[8:]:
        raise UnreadableWeightsError(f"{where} is a Git LFS pointer, not the weights: the repository was cloned "
                                     "without its LFS files; run `git lfs pull` in it (or download it with "
                                     "huggingface_hub)")
    if len(start) < 8:
        raise UnreadableWeightsError(f"{where} is {len(start)} bytes: too short for a safetensors file")
    (size,) = struct.unpack("<Q", start)
    if size > min(MAX_HEADER_BYTES, file_size - 8):
        raise UnreadableWeightsError(f"{where} declares a {size}-byte header in a {file_size}-byte file: not a "
                                     "safetensors file, or a truncated one")
    try:
        header = json.loads(handle.read(size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UnreadableWeightsError(f"{where} has an unreadable safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise InvalidGeneratorError(f"{where}: the safetensors header is not an object")
    header.pop("__metadata__", None)
    return header, size


def read_weights(path: str, expected: Dict[str, Tuple[Tuple[int, ...], bool]], where: str = "") -> WeightsFile:
    """Read ``path`` whose tensors must be exactly ``expected`` ({name: (shape, is_float)});
    ``where`` names the file in errors about its contents (default: the path).

    The header is read and checked first (names, shapes, dtypes, and the file's size against them),
    so nothing is allocated for a file that does not fit; then the bytes are read once, hashed and
    loaded from the same bytes."""
    try:
        with open(path, "rb") as handle:
            file_size = os.fstat(handle.fileno()).st_size
            header, header_size = _header(handle, file_size, path)
            _check_header(header, expected, where or path)
            # Only then the tensors' bytes, and only a file of exactly the size its checked header gives:
            # a huge (or sparse) file is refused before it is read into memory.
            needed = 8 + header_size + sum(math.prod(expected[name][0]) * DTYPE_BYTES[header[name]["dtype"]]
                                           for name in expected)
            if file_size != needed:
                raise UnreadableWeightsError(f"{path} is {file_size:,} bytes; its header declares {needed:,}: it is "
                                             "truncated, padded or damaged")
            handle.seek(0)
            data = handle.read()
    except OSError as exc:
        raise UnreadableWeightsError(f"{path} cannot be read ({exc})") from exc
    try:
        tensors = load_bytes(data)
    except SafetensorError as exc:
        raise UnreadableWeightsError(f"{path} is not a readable safetensors file ({exc}); it may be truncated or "
                                     "damaged") from exc
    return WeightsFile(tensors=tensors, sha256=hashlib.sha256(data).hexdigest())


def _check_header(header: dict, expected: Dict[str, Tuple[Tuple[int, ...], bool]], where: str) -> None:
    """The header lists exactly the expected tensors, each with its shape and a dtype this package reads."""
    missing, unexpected = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or unexpected:
        raise InvalidGeneratorError(f"{where} does not match the architecture: missing keys {missing[:8]}, "
                                    f"unexpected keys {unexpected[:8]}")
    for name, (shape, is_float) in expected.items():
        entry = header[name]
        if not isinstance(entry, dict):
            raise InvalidGeneratorError(f"{where}: the header entry of {name} is not an object")
        dtype, found = entry.get("dtype"), entry.get("shape")
        if not isinstance(found, list) or [int(v) if isinstance(v, int) else None for v in found] != list(shape):
            raise InvalidGeneratorError(f"{where}: {name} has shape {found}, the architecture needs {list(shape)}")
        allowed = FLOAT_DTYPES if is_float else INT_DTYPES
        if dtype not in allowed:
            raise InvalidGeneratorError(f"{where}: {name} is stored as {dtype!r}; this package reads "
                                        f"{sorted(allowed)} for it (float8, complex and other dtypes are refused)")


def check_representable(name: str, value: torch.Tensor, compute: torch.dtype, where: str) -> torch.Tensor:
    """``value`` cast to ``compute``, refused if it has (or the cast makes) NaN or Inf values."""
    cast = value.to(compute)
    if cast.is_floating_point() and not bool(torch.isfinite(cast).all()):
        finite_before = bool(torch.isfinite(value).all()) if value.is_floating_point() else True
        why = (f"values beyond {compute}'s range (stored as {value.dtype}; they become Inf)" if finite_before
               else "NaN or Inf values; the weights are damaged")
        raise InvalidGeneratorError(f"{where}: {name} holds {why}")
    return cast
