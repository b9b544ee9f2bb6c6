"""CIFAR-10's python batches (``cifar-10-batches-py``), read without trusting the pickle format.

The release is a set of pickled dicts. torchvision unpickles them with ``pickle.load``, which runs
whatever a file names: a file planted in a data folder would run its code in every command that
reads the data. Here a restricted unpickler admits only what the format needs to rebuild its arrays
(numpy's array reconstructors and dtype, ``_codecs.encode`` for byte strings); anything else is
refused by name. Then every field is checked (uint8 rows of 3072 bytes, one int label in 0..9 per
row), and the md5 sums of the official release are checked as torchvision checks them (unless
``verify_checksums=False``, for a local subset). ``download=True`` fetches and unpacks the archive
with torchvision's own downloader, which checks the archive's md5; the files are then read here.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any, List, Tuple, Union

import numpy as np

from distilled_datasets.errors import DamagedFileError

# (module, name) pairs a CIFAR batch may name: numpy's array rebuilding under numpy 1 and 2 module
# paths, and the byte-string helper of protocol-2 pickles written by Python 3.
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})
MAX_BATCH_BYTES = 512 * 1024 * 1024  # an official batch is 31 MB; a bigger file is not one
ROW_BYTES = 3 * 32 * 32


class RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, numbers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch file")
        return super().find_class(module, name)


def load_batch(path: Union[str, os.PathLike]) -> dict:
    """One batch file as a dict (keys as str), through the restricted unpickler."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise DamagedFileError(f"{path} is {size} bytes, larger than any CIFAR batch: not a CIFAR file")
    try:
        with open(path, "rb") as handle:
            data = RestrictedUnpickler(io.BytesIO(handle.read()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, RecursionError) as exc:
        raise DamagedFileError(f"{path} is not a readable CIFAR batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise DamagedFileError(f"{path} does not hold a CIFAR batch (a dict), but {type(data).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in data.items()}


def batch_arrays(path: Union[str, os.PathLike], num_classes: int) -> Tuple[np.ndarray, List[int]]:
    """(uint8 [n, 32, 32, 3], labels) of one batch file, every field checked."""
    batch = load_batch(path)
    data = batch.get("data")
    labels = batch.get("labels", batch.get("fine_labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != ROW_BYTES:
        found = f"{type(data).__name__} {getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}"
        raise DamagedFileError(f"{path}: 'data' must be uint8 rows of {ROW_BYTES} bytes, found {found}")
    if not isinstance(labels, list) or len(labels) != len(data) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < num_classes for v in labels):
        raise DamagedFileError(f"{path}: 'labels' must be {len(data)} ints in 0..{num_classes - 1}")
    # Rows hold the red plane, then green, then blue: [n, 3, 32, 32] -> [n, 32, 32, 3] as torchvision gives it.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def class_names(folder: Path, meta: dict) -> List[str]:
    names = load_batch(folder / meta["filename"]).get(meta["key"])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DamagedFileError(f"{folder / meta['filename']}: {meta['key']!r} must be a list of class names")
    return names
