"""Find a generator's config.json and model.safetensors: package default, local folder, or Hub.

Only these two files are ever read (JSON and safetensors): never a pickle, never remote code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional, Union

from .config import CONFIG_NAME, WEIGHTS_NAME
from .errors import GeneratorNotFoundError, UsageError, UsageTypeError

# Hub ids are "name" or "namespace/name" of letters, digits, '-', '_', '.'.
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")  # used with fullmatch


@dataclass(frozen=True)
class ResolvedFiles:
    """Where a generator's files were found. ``origin`` is "default", "local" or "hub"."""

    config_path: str
    weights_path: str
    origin: str
    location: str  # the default's name, the folder, or the repo id
    revision: Optional[str] = None  # the Hub commit the files come from

    def describe(self) -> str:
        if self.origin == "hub":
            return f"hub:{self.location}@{self.revision or 'main'}"
        return f"{self.origin}:{self.location}"


def default_dir(name: str) -> Path:
    """The folder of the default generator ``name`` that ships inside the package."""
    return Path(str(resources.files("distilled_datasets") / "defaults" / name))


def resolve_default(name: str) -> ResolvedFiles:
    folder = default_dir(name)
    if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise GeneratorNotFoundError(
            f"no default generator for {name!r} ships with this installation (looked in {folder}); "
            "pass repo_id='org/name' for a Hub repository or repo_id='path/to/run_dir' for a local one"
        )
    return ResolvedFiles(str(folder / CONFIG_NAME), str(folder / WEIGHTS_NAME), "default", name)


def resolve_local(folder: Union[str, os.PathLike]) -> ResolvedFiles:
    folder = Path(folder)
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
    if missing:
        raise GeneratorNotFoundError(
            f"local generator folder {folder} lacks {', '.join(missing)}; a generator folder holds "
            f"{CONFIG_NAME} and {WEIGHTS_NAME} (written by Generator.save_pretrained or `distilled-datasets train`)"
        )
    return ResolvedFiles(str(folder / CONFIG_NAME), str(folder / WEIGHTS_NAME), "local", str(folder))


def resolve_hub(repo_id: str, revision: Optional[str] = None, cache_dir: Optional[Union[str, os.PathLike]] = None,
                local_files_only: bool = False) -> ResolvedFiles:
    # Imported here so that loading the package default never pays for huggingface_hub.
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from ._version import __version__

    if not _REPO_ID.fullmatch(repo_id):  # fullmatch: '$' would accept a trailing newline
        raise UsageError(
            f"repo_id {repo_id!r} is neither an existing local folder nor a Hub id like 'org/name'"
        )
    where = f"{repo_id!r} at revision {revision or 'main'!r} on {constants.ENDPOINT}"
    paths = {}
    commit: Optional[str] = None
    for filename in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            paths[filename] = hf_hub_download(
                # The weights are fetched at the exact commit the config came from, so that a push
                # between the two downloads can never pair one commit's config with another's weights.
                repo_id, filename, revision=commit or revision, cache_dir=cache_dir,
                local_files_only=local_files_only, library_name="distilled-datasets", library_version=__version__,
            )
        # LocalEntryNotFoundError is also an EntryNotFoundError: it must be caught first.
        except LocalEntryNotFoundError as exc:
            raise GeneratorNotFoundError(
                f"could not fetch {filename} of {where}, and it is not in the cache "
                f"({cache_dir or constants.HF_HUB_CACHE}); connect once (and unset HF_HUB_OFFLINE / "
                "local_files_only) so that it is cached, check HF_ENDPOINT, or pass a local folder"
            ) from exc
        except RepositoryNotFoundError as exc:
            raise GeneratorNotFoundError(
                f"Hub repository {repo_id!r} was not found on {constants.ENDPOINT} (or it is private: log in "
                "with `hf auth login` or set HF_TOKEN); check the id, or pass a local folder"
            ) from exc
        except RevisionNotFoundError as exc:
            raise GeneratorNotFoundError(
                f"revision {revision!r} does not exist in Hub repository {repo_id!r} on {constants.ENDPOINT}; "
                "pass a branch, tag or commit hash that exists, or revision=None for 'main'"
            ) from exc
        except EntryNotFoundError as exc:
            raise GeneratorNotFoundError(
                f"{filename} is missing from {where}: it is not a distilled-datasets generator repository "
                f"(one holds {CONFIG_NAME} and {WEIGHTS_NAME}, as distilled_datasets.push_to_hub uploads them)"
            ) from exc
        except HfHubHTTPError as exc:
            raise GeneratorNotFoundError(
                f"the Hub refused {filename} of {where} ({exc}); check the id and your access rights "
                "(`hf auth login` or HF_TOKEN), or pass a local folder"
            ) from exc
        except (OSError, RuntimeError, ConnectionError) as exc:
            # Network failures surface differently across huggingface_hub versions (some raise the
            # HTTP client's own errors); whatever the form, the weights could not be fetched.
            raise GeneratorNotFoundError(
                f"could not fetch {filename} of {where} ({type(exc).__name__}: {exc}); check the connection "
                "and HF_ENDPOINT, set HF_HUB_OFFLINE=1 to use files cached earlier, or pass a local folder"
            ) from exc
        # Cached files live in .../snapshots/<commit>/<file>: the folder name is the exact revision.
        commit = commit or Path(paths[filename]).parent.name
    return ResolvedFiles(paths[CONFIG_NAME], paths[WEIGHTS_NAME], "hub", repo_id, commit)


def resolve(repo_id: Optional[Union[str, os.PathLike]], *, default_name: Optional[str] = None,
            revision: Optional[str] = None, cache_dir: Optional[Union[str, os.PathLike]] = None,
            local_files_only: bool = False) -> ResolvedFiles:
    """``None`` -> the package default ``default_name``; an existing folder -> read it; else a Hub id."""
    if revision is not None and not isinstance(revision, str):
        raise UsageTypeError(f"revision must be a str or None, got {type(revision).__name__}")
    if not isinstance(local_files_only, bool):
        raise UsageTypeError(f"local_files_only must be a bool, got {type(local_files_only).__name__}")
    if repo_id is None:
        if default_name is None:
            raise UsageError("repo_id is required: a Hub id like 'org/name' or a local folder")
        if revision is not None:  # the shipped default has one version: the installed one
            raise UsageError(f"revision={revision!r} applies to Hub repositories (repo_id='org/name'), not to the "
                             "generator shipped with the package")
        return resolve_default(default_name)
    if not isinstance(repo_id, (str, os.PathLike)):
        raise UsageTypeError(f"repo_id must be a str, a path or None, got {type(repo_id).__name__}")
    repo_id = os.fspath(repo_id)
    if repo_id.startswith("~"):  # a home-relative folder, as root and the CLI's paths take it
        repo_id = os.path.expanduser(repo_id)
    if os.path.isdir(repo_id):
        if revision is not None:
            raise UsageError(f"revision={revision!r} applies to Hub repositories, not to the local folder {repo_id}")
        return resolve_local(repo_id)
    if os.sep in repo_id.strip("/").replace("/", "", 1) or repo_id.startswith((".", "/", "~")):
        raise GeneratorNotFoundError(f"local generator folder {repo_id} does not exist")
    try:
        return resolve_hub(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
    except GeneratorNotFoundError as exc:
        # 'runs/mnist' is also a valid Hub id: a mistyped local folder must not read as a Hub failure only.
        raise GeneratorNotFoundError(f"{exc} (no local folder {repo_id!r} exists either)") from exc.__cause__
