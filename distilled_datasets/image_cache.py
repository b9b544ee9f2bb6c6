"""A cache of synthesized images, the way torchvision keeps processed files: a set is synthesized
once per machine, then read back in milliseconds by every later process and DataLoader worker.

Where: ``ROOT/distilled_datasets_cache`` when the dataset is given a ``root``; otherwise
``$DISTILLED_DATASETS_CACHE``, else ``$XDG_CACHE_HOME/distilled-datasets`` (``~/.cache/...``).

What: one file per synthesized chunk, under a folder named by everything the bytes depend on --
the SHA-256 of the weights as they were loaded, the generator and sampling config, the synthesis
scheme's version -- then the seed, the class and the chunk index. A file is the SHA-256 of its payload
followed by the payload (the chunk's uint8 pixels); a file of the wrong size or whose hash does
not match (truncated, damaged) is never returned: it is synthesized again and rewritten.

Trust: the cache detects damage (a checksum per entry), it does not authenticate: whoever can
write the cache folder can change the images later processes read. Keep it in a folder only you
write (the default is under your home), or pass ``cache=False``.

Safety: entries are written atomically (temporary name, then rename), so processes and workers
writing the same entry at once each leave a complete file with the same bytes. A cache that
cannot be written (read-only or full disk) costs one warning and the set is synthesized as if
there were no cache; it never raises.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Set, Tuple, Union

import numpy as np

from .errors import WriteError
from .files import atomic_write

logger = logging.getLogger(__name__)

CACHE_ENV_VAR = "DISTILLED_DATASETS_CACHE"
ROOT_SUBFOLDER = "distilled_datasets_cache"
# Bumped whenever synthesis.py would give other bytes for the same weights and config.
SCHEME_VERSION = 2  # 2: seeds past a generator's learned sets give seeded noise, not set 0
_DIGEST = 32  # bytes of SHA-256 at the start of every entry

PathLike = Union[str, os.PathLike]


def default_cache_dir(root: Optional[PathLike] = None) -> Path:
    if root is not None:
        return Path(root) / ROOT_SUBFOLDER
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "distilled-datasets"


class ImageCache:
    """The cached chunks of one generator's sets (every seed). ``get`` returns None on a miss."""

    def __init__(self, folder: PathLike, weights_sha256: str, config: Dict[str, Any]):
        self.base = Path(folder)
        self.config = config
        # The SHA-256 of the bytes the generator was loaded from (Generator.weights_sha256), never a
        # later read of the file: weights changed on disk in between cannot file their images under
        # the key of the weights that made them, or the other way round.
        what = {"weights_sha256": weights_sha256, "config": config, "scheme": SCHEME_VERSION}
        self.key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]
        self.warned = False
        self.folders_made: Set[Path] = set()

    def path(self, seed: int, label: int, chunk: int) -> Path:
        return self.base / self.key / f"seed{seed}" / f"class{label}_chunk{chunk}.bin"

    def get(self, seed: int, label: int, chunk: int, shape: Tuple[int, ...]) -> Optional[np.ndarray]:
        path = self.path(seed, label, chunk)
        try:
            data = path.read_bytes()
        except OSError:
            return None  # not there (or unreadable): synthesize
        size = int(np.prod(shape))
        payload = data[_DIGEST:]
        if len(data) != _DIGEST + size or hashlib.sha256(payload).digest() != data[:_DIGEST]:
            logger.warning("cached chunk %s is damaged (size %d, expected %d, or hash mismatch); synthesizing it "
                           "again", path, len(data), _DIGEST + size)
            return None
        return np.frombuffer(payload, dtype=np.uint8).reshape(shape).copy()

    def put(self, seed: int, label: int, chunk: int, pixels: np.ndarray) -> None:
        payload = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
        path = self.path(seed, label, chunk)

        def write(tmp: str) -> None:
            Path(tmp).write_bytes(hashlib.sha256(payload).digest() + payload)

        try:
            if path.parent not in self.folders_made:  # one mkdir per folder, not per chunk
                path.parent.mkdir(parents=True, exist_ok=True)
                self.folders_made.add(path.parent)
            try:
                atomic_write(path, write, umask_mode=False)
            except WriteError:  # the folder was removed under us: make it again, once
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, write, umask_mode=False)
        except OSError as exc:  # read-only or full disk: the set is still synthesized, only not kept
            if not self.warned:
                self.warned = True
                warnings.warn(f"distilled-datasets cannot write its image cache at {self.base} ({exc}); images are "
                              f"synthesized without it. It sits under root/{ROOT_SUBFOLDER} (command line: "
                              f"--cache-dir) when one is given, else in ${CACHE_ENV_VAR}: point either at a "
                              "writable folder, or pass cache=False to turn it off",
                              RuntimeWarning, stacklevel=3)
