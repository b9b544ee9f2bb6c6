"""A training run's folder: what may be written there, by whom, and when a run may continue.

- ``prepare_run_folder``: a new run refuses a folder that already holds anything unless
  ``overwrite`` (then only the run's own files are removed; anything else is left alone);
  a resumed run needs its saved config.
- ``RunLock``: one writer per run folder (an exclusive lock on ``.lock``), so two commands at
  once never interleave checkpoints; temporaries that a killed writer left are removed once the
  lock is held.
- ``resume_conflicts``: the settings that differ between a saved run and a resumed one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterable, List, Union

from distilled_datasets.errors import MissingFileError, OutputExistsError

PathLike = Union[str, os.PathLike]

LOCK_NAME = ".lock"


def prepare_run_folder(out: PathLike, own_files: Iterable[str], resume: bool, overwrite: bool,
                       config_name: str) -> Path:
    """Check (and with ``overwrite`` clear) ``out`` before a run starts writing there."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} is a file, not a folder; choose another --out")
    if resume:
        if not (out / config_name).is_file():
            raise MissingFileError(f"--resume: {out / config_name} does not exist; start the run without --resume")
        return out
    entries = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME) if out.is_dir() else []
    if entries and not overwrite:
        raise OutputExistsError(f"--out {out} already holds {', '.join(entries[:5])}"
                                f"{' ...' if len(entries) > 5 else ''}; pass --resume to continue that run or "
                                "--overwrite to start over (the run's own files are replaced)")
    for name in own_files:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


class RunLock:
    """Context manager: hold the exclusive lock of a run folder, or refuse at once."""

    def __init__(self, out: PathLike):
        self.path = Path(out) / LOCK_NAME
        self.handle = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.close()
            raise OutputExistsError(f"another process is training in {self.path.parent} (it holds {self.path}); "
                                    "wait for it to finish or choose another --out") from None
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _flat(data: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "feature_layers":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def resume_conflicts(saved: Dict[str, Any], wanted: Dict[str, Any], may_change: Iterable[str]) -> List[str]:
    """Dotted names of the settings that differ between two config dicts, outside ``may_change``."""
    a, b, free = _flat(saved), _flat(wanted), set(may_change)
    return sorted(k for k in set(a) | set(b) if k not in free and a.get(k) != b.get(k))
