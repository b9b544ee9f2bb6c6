"""A training run's folder: what may be written there, by whom, and when a run may continue.

- ``prepare_run_folder``: a new run refuses a folder that already holds anything unless
  ``overwrite`` (then only the run's own files are set aside, and deleted once the new run has
  started -- put back if it cannot start; anything else is left alone); a resumed run needs its
  saved config.
- ``RunLock``: one writer per run folder (an exclusive lock on ``.lock``), so two commands at
  once never interleave checkpoints; temporaries that a killed writer left are removed once the
  lock is held.
- ``resume_conflicts``: the settings that differ between a saved run and a resumed one.
- ``check_resume``: refuse a resumed run whose settings differ, naming each one.
- ``trim_log``: the run's log cut back to the step a resumed run continues from.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

from distilled_datasets.errors import MissingFileError, OutputExistsError, UsageError
from distilled_datasets.files import (ASIDE_KIND, TEMPORARY_NAME, atomic_write_text, discard, process_alive,
                                      temp_sibling)

from .config_flags import named

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

LOCK_NAME = ".lock"


def prepare_run_folder(out: PathLike, own_files: Iterable[str], resume: bool, overwrite: bool,
                       config_name: str) -> Optional[Path]:
    """Check (and with ``overwrite`` clear) ``out`` before a run starts writing there. Returns the
    hidden folder the previous run's own files were moved to (None: there were none), for
    ``forget_previous_run`` once the new run has started or ``restore_previous_run`` if it cannot."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} is a file, not a folder; choose another --out")
    if resume:
        if not (out / config_name).is_file():
            raise MissingFileError(f"--resume: {out / config_name} does not exist; start the run without --resume")
        return None
    entries = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME) if out.is_dir() else []
    if entries and not overwrite:
        raise OutputExistsError(f"--out {out} already holds {', '.join(entries[:5])}"
                                f"{' ...' if len(entries) > 5 else ''}; pass --resume to continue that run or "
                                "--overwrite to start over (the run's own files are replaced)")
    out.mkdir(parents=True, exist_ok=True)
    present = [name for name in own_files if os.path.lexists(out / name)]
    if not present:
        return None
    # A hidden name of this process: if it is killed, the next run in the folder puts the files back
    # (recover_previous_runs); the cleanup of temporaries leaves such folders alone.
    aside = temp_sibling(out / "previous-run", kind=ASIDE_KIND)
    aside.mkdir()
    for name in present:
        os.replace(out / name, aside / name)
    return aside


def restore_previous_run(aside: Optional[Path], out: PathLike) -> None:
    """The new run could not start: its predecessor's files go back where they were."""
    if aside is None:
        return
    for entry in aside.iterdir():
        target = Path(out) / entry.name
        if os.path.lexists(target):  # written by the run that failed
            discard(target)
        os.replace(entry, target)
    aside.rmdir()


def forget_previous_run(aside: Optional[Path]) -> None:
    """The new run has started: its predecessor's files go (a failure to delete them costs disk only)."""
    if aside is not None:
        discard(aside)


def recover_previous_runs(out: PathLike) -> List[Path]:
    """Put back the files an --overwrite set aside when its process was killed before its run started
    (it held the lock, so none of the run's own files were written since). Returns the folders restored."""
    restored = []
    for entry in sorted(Path(out).iterdir()) if Path(out).is_dir() else []:
        match = TEMPORARY_NAME.match(entry.name)
        if match and match["kind"] == ASIDE_KIND and entry.is_dir() and not process_alive(int(match["pid"])):
            restore_previous_run(entry, out)
            restored.append(entry)
    return restored


class RunLock:
    """Context manager: hold the exclusive lock of a run folder, or refuse at once."""

    def __init__(self, out: PathLike):
        self.path = Path(out) / LOCK_NAME
        self.handle = None
        self.created: Optional[Path] = None  # the outermost folder that taking the lock made

    def __enter__(self) -> "RunLock":
        folder = self.path.parent
        missing = [p for p in [folder, *folder.parents] if not p.exists()]
        self.created = missing[-1] if missing else None
        folder.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.close()
            raise OutputExistsError(f"another process is training in {self.path.parent} (it holds {self.path}); "
                                    "wait for it to finish or choose another --out") from None
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            if exc_type is not None and [p.name for p in self.path.parent.iterdir()] == [LOCK_NAME]:
                self.path.unlink()  # a run refused before its first file leaves nothing behind
                if self.created is not None:
                    for folder in [self.path.parent, *self.path.parent.parents]:
                        folder.rmdir()  # empty: made by this lock alone
                        if folder == self.created:
                            break
        except OSError:
            pass  # tidying up must never hide the error that ended the run
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


def _get(data: Dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def check_resume(out: PathLike, saved: Dict[str, Any], wanted: Dict[str, Any], may_change: Iterable[str]) -> None:
    """Refuse to resume ``out`` with settings that differ from the saved ones outside ``may_change``."""
    conflicts = resume_conflicts(saved, wanted, may_change)
    if conflicts:
        raise UsageError(f"--resume: {out} was trained with other settings; these differ: "
                         + "; ".join(f"{named(k)}: saved {_get(saved, k)!r}, asked {_get(wanted, k)!r}"
                                     for k in conflicts)
                         + ". Resume with the saved settings, or start a new run in another --out")


def trim_log(path: Path, step: int) -> None:
    """Drop log records of steps after ``step`` (written before a kill, and trained again now), and
    lines that are not records (the half-written last line of a killed writer, an edit), with a
    warning: the log is a record of the run, never an input to it."""
    if not path.is_file():
        return
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("step", 0), int):
            dropped += 1
            continue
        if record.get("step", 0) <= step:
            kept.append(line)
    if dropped:
        logger.warning("%s: dropped %d line(s) that are not log records (a killed writer's last line?)", path, dropped)
    atomic_write_text(path, "".join(line + "\n" for line in kept))
