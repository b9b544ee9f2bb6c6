"""File helpers every writer in the package uses: atomic writes and content hashes.

An atomic write produces the file under a hidden unique name in the same folder and renames it
into place (a rename within one file system is atomic), so a reader sees the old file or the
new one, never half of one; if the writer fails, the temporary file is removed. Temporary files
are created by the writer itself, so they get the user's umask (tempfile's are private, 0600).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Union

from .errors import DamagedFileError, DistilledDatasetsError, MissingFileError, OutputExistsError, WriteError

PathLike = Union[str, os.PathLike]


def temp_sibling(path: PathLike, kind: str = "tmp") -> Path:
    """A hidden, unique name next to ``path`` (same folder, so a rename onto ``path`` is atomic)."""
    path = Path(path)
    return path.parent / f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _umask() -> int:
    try:  # Linux states it without changing it (os.umask can only be read by setting it)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: PathLike) -> None:
    """Give a file the permissions of a file created normally (0666 minus the umask): some writers
    (safetensors) create private 0600 files, which other users of a shared folder cannot read."""
    os.chmod(path, 0o666 & ~_umask())


def discard(path: PathLike) -> None:
    """Remove a temporary file or folder, never raising: the cleanup after a failed write must not
    hide that write's own error (on a read-only disk the cleanup fails too)."""
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<kind>[a-z]+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


ASIDE_KIND = "aside"  # an --overwrite's set-aside previous run: restored (run_folder.py), never removed here


def remove_stale_temporaries(folder: PathLike, name: str = None, any_writer: bool = False) -> List[Path]:
    """Remove what killed writers left in ``folder`` (temp_sibling's hidden names; of ``name`` only, if
    given): those whose process is gone, or all of them with ``any_writer`` (the caller holds the
    folder's lock, so no other writer is alive). Returns what was removed."""
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = TEMPORARY_NAME.match(entry.name)
        if match is None or (name is not None and match["name"] != name) or match["kind"] == ASIDE_KIND:
            continue
        if any_writer or not process_alive(int(match["pid"])):
            discard(entry)
            removed.append(entry)
    return removed


def atomic_write(path: PathLike, writer: Callable[[str], Any], umask_mode: bool = True) -> Path:
    """Call ``writer(temporary_path)`` to produce the file, then rename it onto ``path``. On failure
    the temporary is removed and the write's own error is raised (a WriteError for an OSError).

    ``umask_mode=False`` skips setting the mode from the umask, for writers that create the file
    with Python's ``open`` (which already honours it): the image cache writes thousands of files."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        writer(str(tmp))
        if umask_mode:
            apply_umask(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        discard(tmp)
        raise WriteError(f"could not write {path}: {exc}") from exc
    except BaseException:
        discard(tmp)
        raise
    return path


def atomic_write_text(path: PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_json(path: PathLike, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


MAX_JSON_BYTES = 64 << 20  # records, run configs and logs of this package are kilobytes
MAX_INT_DIGITS = 20  # every count, seed and size in them fits in 64 bits


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json_text(text: str) -> Any:
    """``json.loads`` within bounds: integers of at most MAX_INT_DIGITS digits and no NaN/Infinity
    (ValueError), nesting within Python's recursion limit (RecursionError)."""
    return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)


def read_json(path: PathLike, what: str) -> Any:
    """The JSON content of ``path`` (a file a user may have edited or damaged), parsed within bounds;
    a missing, unreadable, oversized or damaged file is an error naming it."""
    try:
        size = os.path.getsize(path)
        if size > MAX_JSON_BYTES:
            raise DamagedFileError(f"{what} {path} is {size:,} bytes, more than any file this package writes "
                                   f"({MAX_JSON_BYTES:,})")
        with open(path, "rb") as f:
            return parse_json_text(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise MissingFileError(f"{what} {path} does not exist") from None
    except RecursionError:
        raise DamagedFileError(f"{what} {path} is nested too deeply to be a file of this package") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise DamagedFileError(f"{what} {path} cannot be read ({exc}); it may be truncated or damaged") from None


def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What os.link raises where the file system has no hard links (vfat, exFAT, some network and FUSE mounts).
NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EXDEV}


def _place_new_file(tmp: Path, out: Path) -> None:
    try:
        os.link(tmp, out)  # raises FileExistsError if out exists, whatever appeared meanwhile
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in NO_HARD_LINKS:
            raise
        # No hard links here: look, then rename (only a writer creating OUT in between is not refused).
        if out.exists() or out.is_symlink():
            raise FileExistsError(errno.EEXIST, "exists", str(out)) from None
        os.rename(tmp, out)
    else:
        tmp.unlink()


def move_into_place(tmp: PathLike, out: PathLike, overwrite: bool) -> None:
    """Rename a finished file or folder ``tmp`` onto ``out``, refusing at that very moment an
    ``out`` that exists (a non-empty folder, or any file) unless ``overwrite``.

    Without ``overwrite`` nothing is ever replaced: a file goes in with a hard link, which fails if
    ``out`` appeared meanwhile; a folder with a rename, which fails on a non-empty folder. With it,
    an old folder is swapped out first and deleted last, so ``out`` is never half written.
    """
    tmp, out = Path(tmp), Path(out)
    try:
        if tmp.is_dir():
            if overwrite and out.is_dir() and any(out.iterdir()):
                old = temp_sibling(out, "old")
                os.replace(out, old)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, out)  # onto nothing or an empty folder; a non-empty one raises
        elif overwrite:
            os.replace(tmp, out)
        else:
            _place_new_file(tmp, out)
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        raise OutputExistsError(f"{out} exists ({'a folder' if out.is_dir() else 'a file'}); pass --overwrite to "
                                "replace it") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise OutputExistsError(f"{out} exists and is not empty; pass --overwrite to replace it") from exc
        raise WriteError(f"could not write {out}: {exc}") from exc


@contextmanager
def writing(out: PathLike) -> Iterator[None]:
    """Report a failed write of ``out`` (full or read-only disk...) as a WriteError naming it."""
    try:
        yield
    except DistilledDatasetsError:
        raise
    except OSError as exc:
        raise WriteError(f"could not write {out}: {exc}") from exc


def check_writable(out: PathLike) -> None:
    """Before any long work: ``out``'s folder can take a file (a WriteError naming it, else)."""
    probe = temp_sibling(out, "probe")
    with writing(out):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        probe.touch()
    discard(probe)


# What marks a training run's folder (its config, checkpoints, log): never replaced by another
# command's output, whatever the flags.
RUN_MARKERS = ("train_config.json", "latent_config.json", "checkpoints", "log.jsonl")


def is_run_folder(path: PathLike) -> bool:
    path = Path(path)
    return path.is_dir() and any((path / name).exists() for name in RUN_MARKERS)


def _within(inner: Path, outer: Path) -> bool:
    try:
        inner.resolve().relative_to(outer.resolve())
        return True
    except ValueError:
        return False


def check_output(out: PathLike, *, overwrite: bool, want_dir: bool, inputs=(), own_kind=None,
                 kind_name: str = "output", run_folder_ok: bool = False, flag: str = "--out") -> None:
    """The one check before a command writes ``out`` (refusals are OutputExistsError: exit code 2).

    Refused whatever the flags: ``out`` is (or holds) one of the command's ``inputs``; ``out`` is a
    training run folder (unless ``run_folder_ok``, for the run's own command); ``out`` is a file
    where a folder is written or the other way round. Refused without ``overwrite``: ``out`` exists
    (a file, or a non-empty folder). Refused with it: an ``out`` that ``own_kind(out)`` says is not
    this command's kind of output (``kind_name``). A path the system cannot even look up (a name
    too long, a component that is a file) is a WriteError naming it."""
    with writing(out):
        _check_output(Path(out), overwrite, want_dir, inputs, own_kind, kind_name, run_folder_ok, flag)


def _check_output(out: Path, overwrite: bool, want_dir: bool, inputs, own_kind, kind_name: str, run_folder_ok: bool,
                  flag: str) -> None:
    for given in inputs:
        if given is not None and Path(given).exists() and out.exists() and _within(Path(given), out):
            raise OutputExistsError(f"{flag} {out} is (or holds) this command's input {given}; writing there would "
                                    f"destroy it: choose another {flag}")
    if not out.exists() and not out.is_symlink():
        return
    if want_dir and not out.is_dir():
        raise OutputExistsError(f"{flag} {out} is a file, not a folder; choose another {flag}")
    if not want_dir and out.is_dir():
        raise OutputExistsError(f"{flag} {out} is a folder; this command writes one file there")
    if not run_folder_ok and is_run_folder(out):
        raise OutputExistsError(f"{flag} {out} is a training run folder; writing there would replace its "
                                f"checkpoints and log: choose another {flag}")
    if out.is_dir() and not any(out.iterdir()):
        return
    if not overwrite:
        raise OutputExistsError(f"{flag} {out} exists and is not empty; pass --overwrite to replace it")
    if own_kind is not None and not own_kind(out):
        raise OutputExistsError(f"{flag} {out} is not a {kind_name}; --overwrite replaces only that: choose another "
                                f"{flag}")
