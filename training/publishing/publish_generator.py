"""Publish a trained generator: the runtime folder format, a model card filled with the run's
recipe and its *measured* accuracies, samples.png; written to a folder and/or pushed to the Hub.

Accuracies come only from evaluation JSON files (training/evaluation/harness.py). A result measured on
generator weights must carry the SHA-256 of exactly the weights being published; baseline
results (random real subset, whole training set) are shown for comparison.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from distilled_datasets import Generator
from distilled_datasets.config import WEIGHTS_NAME
from distilled_datasets.errors import DistilledDatasetsError, UsageError, WriteError
from distilled_datasets.files import (discard, move_into_place, remove_stale_temporaries, sha256_file, temp_sibling,
                                     writing)
from distilled_datasets.repository import save_repository

from ..evaluation.records import read_record

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


def protocol_label(protocol: Dict[str, Any]) -> str:
    """'fixed, 1000 ep' or 'fixed, REDUCED: 300 ep, 3 runs (...)' — the reduction is never hidden."""
    name = protocol.get("name", "?")
    epochs = protocol.get("epochs")
    text = f"{name}, {epochs} ep" if epochs else name
    if protocol.get("reduced"):
        reasons = "; ".join(protocol.get("reduced_reasons") or [])
        text = f"{text}, REDUCED ({reasons})" if reasons else f"{text}, REDUCED"
    return text


BASELINES = ("random-real", "whole")  # results that measure real data, not a generator


def metric_rows(result_files: Sequence[PathLike], weights_sha256: str, relative_to: Optional[PathLike] = None,
                dataset: Optional[str] = None, sampling: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Model-card rows from evaluation JSONs (each checked: records.py). A generator's result must
    pin exactly the weights being published, and (where it records one) the ``sampling`` they are
    published with: `select` changes the images while the weights stay byte-identical. A record without
    ``weights_sha256`` is accepted only as a baseline (random real subset, whole training set) of the
    generator's own ``dataset``."""
    rows = []
    for path in result_files:
        try:
            record = read_record(path, "--results")
        except DistilledDatasetsError as exc:
            raise UsageError(f"--results {path} is not an evaluation JSON (distilled-datasets evaluate): "
                             f"{exc}") from exc
        if not record.get("complete", True):
            raise UsageError(f"{path} is an unfinished evaluation (complete: false); let it finish first")
        if dataset is not None and record["dataset"] != dataset:
            raise UsageError(f"{path} measures {record['dataset']}, not {dataset}: it does not belong on this card")
        source = record["source"]
        measured = source.get("weights_sha256")
        if measured is None and source.get("kind") not in BASELINES:
            raise UsageError(f"{path} names no weights_sha256, so it cannot be shown as a result of these weights "
                             f"(only baselines, {'/'.join(BASELINES)}, measure no generator); evaluate them again")
        if measured is not None and measured != weights_sha256:
            raise UsageError(
                f"{path} was measured on weights {measured[:12]}..., not on the weights being published "
                f"({weights_sha256[:12]}...); evaluate the published folder itself (e.g. after --half)"
            )
        measured_sampling = source.get("generator_sampling")
        if measured is not None and sampling is not None and measured_sampling not in (None, sampling):
            changed = sorted(k for k in set(sampling) | set(measured_sampling)
                             if sampling.get(k) != measured_sampling.get(k))
            raise UsageError(f"{path} was measured with another sampling of these weights ({', '.join(changed)} "
                             "differ, as after `select`); evaluate the published folder itself")
        acc = record["accuracy"]
        shown = os.path.relpath(path, relative_to) if relative_to else os.path.basename(path)
        rows.append({
            "method": record.get("method", "?") + ("" if measured else " (baseline)"),
            "dataset": record["dataset"],
            "protocol": protocol_label(record.get("protocol", {})),
            "model": record.get("model"), "ipc": record.get("ipc"),
            "mean": acc["mean"], "std": acc["std"], "runs": acc.get("n"), "result": shown,
        })
    rows.sort(key=lambda r: (r["model"] or "", r["ipc"] or 0, r["method"], r["protocol"]))
    return rows


def check_out_folder(out: Path, run_dir: Path, overwrite: bool) -> None:
    """files.check_output for a generator folder: never a training run folder, a file, or a folder
    holding anything but a generator's files; a published folder may be re-published onto itself
    (new results in its card) with ``overwrite`` (it is read whole before it is replaced)."""
    from ..common.generator_folder import check_folder_out

    same = out.exists() and run_dir.exists() and out.resolve() == run_dir.resolve()
    check_folder_out(out, overwrite, inputs=() if same else (run_dir,))


@dataclass
class PublishOptions:
    """Where and how a generator is published; every field is a flag of ``distilled-datasets publish``."""

    repo_id: Optional[str] = field(default=None, metadata={"help": "Hub repository to create/update, e.g. ORG/NAME"})
    out: Optional[str] = field(default=None, metadata={
        "help": "also (or only) write the repository folder here (never a run folder)"})
    overwrite: bool = field(default=False, metadata={"help": "replace a non-empty --out"})
    results: Tuple[str, ...] = field(default=(), metadata={
        "help": "evaluation JSON files (distilled-datasets evaluate) to show in the model card", "metavar": "JSON",
        "nargs": "*"})
    half: bool = field(default=False, metadata={"help": "store float16 weights (loading gives float32)"})
    private: Optional[bool] = field(default=None, metadata={"help": "create the repository private"})
    branch: Optional[str] = field(default=None, metadata={"help": "push to this branch (created if missing) "
                                                                  "instead of main"})
    commit_message: Optional[str] = field(default=None, metadata={"help": "the Hub commit's message"})
    license: str = field(default="mit", metadata={"help": "the license named in the model card"})
    package_default: bool = field(default=False, metadata={
        "help": "the folder becomes a default shipped inside the package (card shows no repo_id)"})
    notes: Optional[str] = field(default=None, metadata={
        "help": "a paragraph shown under the measured table (how the numbers were obtained)"})


# The HTTP clients huggingface_hub has used across its versions (requests; httpx, and its httpx2 fork in 2.x):
# an error raised from one of them means the Hub was not reached.
HTTP_CLIENTS = ("httpx", "httpx2", "requests", "urllib3", "h11", "httpcore")


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UsageError(f"--repo-id {repo_id!r} is not a Hub repository id like ORG/NAME ({exc})") from None


def _push(staged: Path, repo_id: str, o: "PublishOptions", token: Optional[str], message: str) -> None:
    """Upload the staged folder in one commit; a refusal or an unreachable Hub is the user's to fix (one line)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=o.private, exist_ok=True)
        if o.branch is not None:
            api.create_branch(repo_id, branch=o.branch, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(staged), revision=o.branch,
                          commit_message=o.commit_message or message)
    except OfflineModeIsEnabled:
        raise WriteError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set; unset it, or write a folder with --out "
                         "and upload it later") from None
    except HfHubHTTPError as exc:
        raise WriteError(f"the Hub refused the push to {repo_id} ({exc}); check the id and your write access "
                         "(`hf auth login` or HF_TOKEN), or try again later if it is a server error (5xx)") from None
    except Exception as exc:  # noqa: BLE001 -- the HTTP client's own errors differ across huggingface_hub versions
        if not isinstance(exc, (ConnectionError, TimeoutError)) and \
                type(exc).__module__.split(".")[0] not in HTTP_CLIENTS:
            raise  # not a network failure (a local file error, a bug): it keeps its traceback
        raise WriteError(f"could not reach the Hub to push {repo_id} ({type(exc).__name__}: {exc}); check the "
                         "connection and HF_ENDPOINT, or write a folder with --out and upload it later") from None
    logger.info("pushed to %s", repo_id)


def publish(run_dir: PathLike, options: PublishOptions, *, token: Optional[str] = None,
            results_root: Optional[PathLike] = None) -> Path:
    """Stage the repository folder, check the results against its weights, then write/push it."""
    o = options
    repo_id, out, overwrite, results, half = o.repo_id, o.out, o.overwrite, o.results, o.half
    if repo_id is None and out is None:
        raise UsageError("publish needs --repo-id (repo_id=: push to the Hub) and/or --out (out=: write a folder)")
    if repo_id is not None:
        _check_repo_id(repo_id)  # before any work
    if out is not None:
        remove_stale_temporaries(Path(out).parent, name=Path(out).name)  # what a killed publish of this OUT left
        check_out_folder(Path(out), Path(run_dir), overwrite)  # before any work
    generator = Generator.from_pretrained(run_dir)
    generator.metadata["license"] = o.license
    if o.package_default:  # the card then shows loading without repo_id
        generator.metadata["package_default"] = True
    if o.notes:  # shown under the measured table, e.g. how the numbers were obtained
        generator.metadata["notes"] = o.notes
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "repo"
        save_repository(generator, staged, half=half, samples=False, repo_id=repo_id)  # weights: their hash is checked
        generator.metadata["metrics"] = metric_rows(results, sha256_file(staged / WEIGHTS_NAME), results_root,
                                                    dataset=generator.metadata.get("dataset"),
                                                    sampling=generator.sampling.to_dict())
        save_repository(generator, staged, half=half, samples=True, repo_id=repo_id)
        if out is not None:
            out = Path(out)
            check_out_folder(out, Path(run_dir), overwrite)  # again: it may have changed meanwhile
            incoming = temp_sibling(out, "incoming")
            try:
                with writing(out):
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copytree(staged, incoming)
                    move_into_place(incoming, out, overwrite=overwrite)
            finally:
                discard(incoming)
            logger.info("wrote %s", out)
        if repo_id is not None:
            _push(staged, repo_id, o, token, f"Publish generator from {Path(run_dir).name}")
    return Path(out) if out is not None else Path(run_dir)
